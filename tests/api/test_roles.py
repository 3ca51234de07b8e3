"""Each role does exactly what it should: the full matrix over the API's endpoints."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from api.keys import KeyStore
from scripts.devstack import Server
from tests.api.support import ADMIN_KEY
from tests.builders import FUEL_METERS, registry_toml

pytestmark = pytest.mark.integration

TOML = registry_toml(
    {"ss-a": ("stainless_steel", FUEL_METERS), "ss-b": ("stainless_steel", FUEL_METERS)}
)
USAGE = "?start=2026-03-01T00:00:00%2B08:00&end=2026-03-02T00:00:00%2B08:00"


def reading() -> bytes:
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    return json.dumps({"ts": now_ms - 1000, "values": {"volume_m3": 100.0}}).encode()


# (method, path) -> roles allowed; everyone else gets 403 (and no key 401)
READ = {"admin", "officer", "viewer"}
OWN_PLANT = READ | {"plant-a"}
MATRIX: list[tuple[str, str, set[str], int]] = [
    ("GET", "/api/v1/kpi/gas-share", READ, 200),
    ("GET", "/api/v1/kpi/gas-share?format=csv", READ, 200),
    ("GET", "/api/v1/kpi/gas-share/history?year=2026", READ, 200),
    ("GET", "/api/v1/plants", READ, 200),
    ("GET", "/api/v1/plants/ss-a", OWN_PLANT, 200),
    ("GET", "/api/v1/plants/ss-b", READ, 200),
    ("GET", "/api/v1/plants?format=csv", READ, 200),
    ("GET", "/api/v1/plants/ss-a/latest", OWN_PLANT, 200),
    ("GET", "/api/v1/plants/ss-b/latest", READ, 200),
    ("GET", "/api/v1/plants/ss-a/latest?format=csv", OWN_PLANT, 200),
    ("GET", "/api/v1/plants/ss-a/usage" + USAGE, OWN_PLANT, 200),
    ("GET", "/api/v1/plants/ss-b/usage" + USAGE, READ, 200),
    ("GET", "/api/v1/usage" + USAGE, READ, 200),
    ("POST", "/api/v1/plants/ss-a/meters/gas-1/readings", {"admin", "plant-a"}, 202),
    ("POST", "/api/v1/plants/ss-b/meters/gas-1/readings", {"admin"}, 202),
    ("GET", "/api/v1/keys", {"admin"}, 200),
    ("POST", "/api/v1/keys", {"admin"}, 201),
]
ROLES = ("admin", "officer", "viewer", "plant-a", "none", "revoked", "bogus")


@pytest.fixture
def setup(
    make_client: Callable[..., TestClient], mosquitto: Server
) -> tuple[TestClient, dict[str, dict[str, str]]]:
    client = make_client(TOML, mqtt_port=mosquitto.port)
    keys: KeyStore = client.app.state.keys  # type: ignore[attr-defined]
    known = {"ss-a", "ss-b"}
    headers = {"admin": {"Authorization": f"Bearer {ADMIN_KEY}"}, "none": {}}
    for role, plant in (("officer", None), ("viewer", None), ("plant", "ss-a")):
        _, secret = keys.create(f"test {role}", role, plant, known)
        headers["plant-a" if role == "plant" else role] = {"Authorization": f"Bearer {secret}"}
    revoked, secret = keys.create("gone", "viewer")
    keys.revoke(revoked.id)
    headers["revoked"] = {"Authorization": f"Bearer {secret}"}
    headers["bogus"] = {"Authorization": "Bearer pw_made-up"}
    return client, headers


@pytest.mark.parametrize(("method", "path", "allowed", "ok"), MATRIX)
def test_role_matrix(
    method: str,
    path: str,
    allowed: set[str],
    ok: int,
    setup: tuple[TestClient, dict[str, dict[str, str]]],
) -> None:
    client, headers = setup
    got = {}
    for role in ROLES:
        if method == "POST" and path.endswith("/readings"):
            resp = client.post(path, content=reading(), headers=headers[role])
        elif method == "POST":
            resp = client.post(path, json={"name": "n", "role": "viewer"}, headers=headers[role])
        else:
            resp = client.get(path, headers=headers[role])
        got[role] = resp.status_code
        assert resp.headers["content-type"].startswith(("application/json", "text/csv")), role
    expected = {
        role: ok if role in allowed else 401 if role in ("none", "revoked", "bogus") else 403
        for role in ROLES
    }
    assert got == expected


def test_forbidden_answers_say_why(setup: tuple[TestClient, dict[str, dict[str, str]]]) -> None:
    client, headers = setup
    resp = client.get("/api/v1/plants/ss-b", headers=headers["plant-a"])
    assert resp.json() == {
        "detail": "this plant key belongs to 'ss-a', not 'ss-b'",
        "code": "forbidden",
    }
    resp = client.post(
        "/api/v1/plants/ss-a/meters/gas-1/readings", content=reading(), headers=headers["viewer"]
    )
    assert resp.json() == {
        "detail": "role 'viewer' may not push readings; needs plant",
        "code": "forbidden",
    }
    resp = client.get("/api/v1/keys", headers=headers["officer"])
    assert resp.json() == {
        "detail": "role 'officer' may not do this; needs admin",
        "code": "forbidden",
    }
    assert client.get("/api/v1/plants", headers=headers["none"]).json() == {
        "detail": "missing 'Authorization: Bearer <key>' header",
        "code": "not_authenticated",
    }


def test_admin_manages_keys_over_http(setup: tuple[TestClient, dict[str, dict[str, str]]]) -> None:
    client, headers = setup
    admin = headers["admin"]
    resp = client.post(
        "/api/v1/keys", json={"name": "logger", "role": "plant", "plant": "ss-b"}, headers=admin
    )
    assert resp.status_code == 201
    created = resp.json()
    new = {"Authorization": f"Bearer {created['key']}"}
    assert client.get("/api/v1/plants/ss-b", headers=new).status_code == 200
    listed = client.get("/api/v1/keys", headers=admin).json()["keys"]
    assert all("key" not in k and "key_hash" not in k for k in listed)
    assert client.delete(f"/api/v1/keys/{created['id']}", headers=admin).status_code == 200
    assert client.get("/api/v1/plants/ss-b", headers=new).status_code == 401
    assert client.delete("/api/v1/keys/9999", headers=admin).status_code == 404
    bad = client.post(
        "/api/v1/keys", json={"name": "x", "role": "plant", "plant": "ss-zz"}, headers=admin
    )
    assert bad.status_code == 422 and "not in the registry" in bad.json()["detail"]
