"""Officers' HJ 212 endpoints: a stack's command log, back-fill and time-sync requests."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from ingest.gateway import audit
from tests.api.support import ADMIN
from tests.builders import MeterSpec, RegistryBuilder

MN = "33112400SL001STACK000001"
TOML = (
    RegistryBuilder()
    .plant(
        "sl-001",
        "synthetic_leather",
        [MeterSpec("stack-1", "voc", {"hj212_mn": MN, "hj212_pw": "123456"}), ("stack-2", "voc")],
    )
    .toml()
)
BASE = "/api/v1/plants/sl-001/meters/stack-1/hj212"


def test_backfill_and_time_sync_requests_are_queued_and_listed(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(TOML)
    _, secret = client.app.state.keys.create("v", "viewer")  # type: ignore[attr-defined]
    viewer = {"Authorization": f"Bearer {secret}"}
    body = {"start": "2026-03-01T08:00:00+08:00", "end": "2026-03-01T11:00:00+08:00"}
    resp = client.post(f"{BASE}/backfill", json={**body, "comment": "outage"}, headers=ADMIN)
    assert resp.status_code == 202, resp.text
    assert resp.json()["params"] == {"BeginTime": "20260301080000", "EndTime": "20260301110000"}
    assert client.post(f"{BASE}/time-sync", json={}, headers=ADMIN).status_code == 202
    assert client.post(f"{BASE}/time-sync", json={}, headers=viewer).status_code == 403
    log = client.get(f"{BASE}/commands", headers=viewer).json()
    assert [c["cn"] for c in log["commands"]] == ["1012", "2051"]
    assert log["commands"][1]["reason"] == "requested by an officer: outage"
    assert log["commands"][1]["status"] == "requested"
    # the gateway's desk reads exactly these rows
    rows = audit.requested(client.app.state.db)  # type: ignore[attr-defined]
    assert [(r["mn"], r["cn"]) for r in rows] == [(MN, "2051"), (MN, "1012")]
    # and the audit log says who asked for what on which stack, with the comment
    audited = client.get("/api/v1/audit", params={"action": "hj212.command"}, headers=ADMIN)
    assert [
        (e["actor"], e["target"], e["detail"]["cn"], e["detail"]["comment"])
        for e in audited.json()["entries"]
    ] == [
        ("admin", "plant:sl-001/stack-1", "1012", None),
        ("admin", "plant:sl-001/stack-1", "2051", "outage"),
    ]
    assert audited.json()["entries"][1]["detail"]["params"] == resp.json()["params"]


def test_bad_requests_are_4xx(make_client: Callable[..., TestClient]) -> None:
    client = make_client(TOML)
    ok = {"start": "2026-03-01T08:00:00+08:00", "end": "2026-03-01T11:00:00+08:00"}
    cases = [
        (f"{BASE}/backfill", {**ok, "end": "2026-03-01T07:00:00+08:00"}, 422),
        (f"{BASE}/backfill", {**ok, "end": "2026-03-20T07:00:00+08:00"}, 422),
        (f"{BASE}/backfill", {**ok, "start": "2026-03-01T08:00:00"}, 422),  # no offset
        (f"{BASE}/backfill", {**ok, "data": "second"}, 422),
        ("/api/v1/plants/sl-001/meters/stack-2/hj212/backfill", ok, 409),  # no logger
        ("/api/v1/plants/sl-001/meters/nope/hj212/backfill", ok, 404),
        ("/api/v1/plants/nope/meters/stack-1/hj212/backfill", ok, 404),
    ]
    for path, body, expected in cases:
        assert client.post(path, json=body, headers=ADMIN).status_code == expected, (path, body)
    assert client.get(f"{BASE}/commands").status_code == 401
