"""API keys in SQLite: hashed, created, revoked, listed; and the `python -m api keys` CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from api.__main__ import main
from api.auth import Principal, hash_key
from api.db import connect
from api.keys import ApiKeyError, KeyStore, api_keys, check_new_key


@pytest.fixture
def keys(database_url: str) -> KeyStore:
    return KeyStore(connect(database_url))


def test_create_lookup_revoke(keys: KeyStore) -> None:
    info, secret = keys.create("alice", "officer")
    assert keys.lookup(secret) == Principal(f"alice#{info.id}", "officer", None)
    with keys.engine.connect() as conn:
        stored = conn.execute(select(api_keys.c.key_hash)).scalar_one()
    assert stored == hash_key(secret) and secret not in stored
    plant_info, plant_secret = keys.create("logger", "plant", "ss-001", {"ss-001"})
    assert keys.lookup(plant_secret) == Principal(f"logger#{plant_info.id}", "plant", "ss-001")
    revoked = keys.revoke(info.id)
    assert revoked.revoked_at is not None
    assert keys.lookup(secret) is None
    assert keys.revoke(info.id).revoked_at == revoked.revoked_at  # idempotent
    assert [k.id for k in keys.list()] == [info.id, plant_info.id]
    assert [k.id for k in keys.list(include_revoked=False)] == [plant_info.id]
    assert keys.lookup("pw_not-a-key") is None


def test_revoke_unknown(keys: KeyStore) -> None:
    with pytest.raises(ApiKeyError, match="no key with id 42"):
        keys.revoke(42)


@pytest.mark.parametrize(
    ("name", "role", "plant", "message"),
    [
        ("x", "root", None, "role must be one of"),
        ("x", "plant", None, "needs --plant"),
        ("x", "plant", "ss-999", "not in the registry"),
        ("x", "plant", "SS 1", "must match"),
        ("x", "plant", "ss-001\n", "must match"),
        ("x", "viewer", "ss-001", "only plant keys name a plant"),
        ("", "viewer", None, "name must be"),
        ("\x00", "viewer", None, "control characters"),
        ("bob\nadmin", "viewer", None, "control characters"),
    ],
)
def test_check_new_key_refuses(name: str, role: str, plant: str | None, message: str) -> None:
    with pytest.raises(ApiKeyError, match=message):
        check_new_key(name, role, plant, {"ss-001"})


def test_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path}/cli.db"
    monkeypatch.setenv("PLANTWATCH_DATABASE_URL", url)
    assert main(["keys", "create", "--role", "plant", "--name", "logger", "--plant", "ss-001"]) == 0
    out = capsys.readouterr().out
    secret = out.split("key: ")[1].split()[0]
    assert KeyStore(connect(url)).lookup(secret) == Principal("logger#1", "plant", "ss-001")
    assert main(["keys", "create", "--role", "plant", "--name", "x", "--plant", "nope"]) == 2
    assert "not in the registry" in capsys.readouterr().err
    assert main(["keys", "list"]) == 0
    assert "plant=ss-001" in capsys.readouterr().out
    assert main(["keys", "revoke", "1"]) == 0
    assert KeyStore(connect(url)).lookup(secret) is None
    assert main(["keys", "revoke", "7"]) == 2
