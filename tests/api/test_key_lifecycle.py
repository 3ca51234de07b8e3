"""Keys that expire and rotate, and the environment's admin key revoked (issue 23).

Each test failed before the fix: keys never expired, there was no rotation, and the admin
key from PLANTWATCH_ADMIN_KEY could not be revoked at all.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.__main__ import main
from api.db import connect
from api.keys import InvalidKeyRequest, KeyStore
from tests.api.support import ADMIN, ADMIN_KEY
from tests.builders import FUEL_METERS, registry_toml

TOML = registry_toml({"ss-a": ("stainless_steel", FUEL_METERS)})


def test_a_key_is_refused_once_it_expires(tmp_path: Path) -> None:
    keys = KeyStore(connect(f"sqlite:///{tmp_path}/k.db"))
    until = datetime.now(UTC) + timedelta(days=30)
    _, secret = keys.create("alice", "viewer", expires_at=until)
    assert keys.lookup(secret) is not None
    assert keys.lookup(secret, now=until - timedelta(seconds=1)) is not None
    assert keys.lookup(secret, now=until) is None
    assert keys.list()[0].as_dict()["expires_at"] == until.isoformat()
    with pytest.raises(InvalidKeyRequest, match="future"):
        keys.create("bob", "viewer", expires_at=datetime.now(UTC) - timedelta(seconds=1))


def test_rotation_gives_a_new_key_and_retires_the_old_after_its_grace(tmp_path: Path) -> None:
    keys = KeyStore(connect(f"sqlite:///{tmp_path}/k.db"))
    created = datetime.now(UTC)
    old, old_secret = keys.create(
        "logger", "plant", "ss-a", expires_at=created + timedelta(days=90)
    )
    new, new_secret = keys.rotate(old.id, grace=timedelta(hours=2))
    assert (new.name, new.role, new.plant) == ("logger", "plant", "ss-a")
    assert new.expires_at is not None and new.expires_at > created + timedelta(days=89)
    now = datetime.now(UTC)
    assert keys.lookup(old_secret, now=now) is not None  # still in its grace period
    assert keys.lookup(old_secret, now=now + timedelta(hours=2, seconds=1)) is None
    assert keys.lookup(new_secret, now=now + timedelta(hours=3)) is not None
    listed = {k.id: k for k in keys.list()}
    assert listed[old.id].replaced_by == new.id
    with pytest.raises(InvalidKeyRequest, match="already rotated"):
        keys.rotate(old.id)


@pytest.mark.integration
def test_rotate_over_http_and_revoke_the_environment_admin_key(
    make_client: Callable[..., TestClient],
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    client = make_client(TOML, alert_engine_enabled=False)
    made = client.post(
        "/api/v1/keys",
        json={"name": "olga", "role": "officer", "expires_in_days": 30},
        headers=ADMIN,
    )
    assert made.status_code == 201, made.text
    assert made.json()["expires_at"] is not None
    rotated = client.post(
        f"/api/v1/keys/{made.json()['id']}/rotate", json={"grace_hours": 0}, headers=ADMIN
    )
    assert rotated.status_code == 201, rotated.text
    old = {"Authorization": f"Bearer {made.json()['key']}"}
    new = {"Authorization": f"Bearer {rotated.json()['key']}"}
    assert client.get("/api/v1/alerts", headers=old).status_code == 401
    assert client.get("/api/v1/alerts", headers=new).status_code == 200
    audited = client.get("/api/v1/audit", params={"action": "key.rotated"}, headers=ADMIN)
    assert [e["target"] for e in audited.json()["entries"]] == [f"key:{made.json()['id']}"]

    monkeypatch.setenv("PLANTWATCH_DATABASE_URL", database_url)
    monkeypatch.setenv("PLANTWATCH_ADMIN_KEY", ADMIN_KEY)
    assert main(["keys", "revoke-admin"]) == 0
    assert "admin key revoked" in capsys.readouterr().out
    assert client.get("/api/v1/keys", headers=ADMIN).status_code == 401
    assert client.get("/api/v1/alerts", headers=new).status_code == 200
