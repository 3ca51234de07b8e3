"""The audit log: keys and alert actions recorded, admin-only API, append-only in the database."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from api.alerts.lifecycle import Plan, Raise
from api.alerts.model import AlertKey, Condition
from api.alerts.repo import AlertRepo
from api.audit import AuditError, find_audit, record_audit
from api.db import connect
from api.keys import KeyStore
from tests.api.support import ADMIN
from tests.builders import FUEL_METERS, registry_toml

pytestmark = pytest.mark.integration

TOML = registry_toml({"ss-a": ("stainless_steel", FUEL_METERS)})
T = datetime(2026, 3, 2, 10, tzinfo=UTC)


def _entries(client: TestClient, **params: str) -> list[dict[str, object]]:
    resp = client.get("/api/v1/audit", params=params, headers=ADMIN)
    assert resp.status_code == 200, resp.text
    return resp.json()["entries"]


def test_keys_and_alert_actions_are_audited(make_client: Callable[..., TestClient]) -> None:
    client = make_client(TOML, alert_engine_enabled=False)
    made = client.post("/api/v1/keys", json={"name": "olga", "role": "officer"}, headers=ADMIN)
    officer = made.json()
    as_officer = {"Authorization": f"Bearer {officer['key']}"}
    repo: AlertRepo = client.app.state.alert_repo  # type: ignore[attr-defined]
    assert repo.try_lease("engine", T, 60)
    condition = Condition(AlertKey("meter_offline", "ss-a", "gas-1"), 90.0, 60.0, "silent")
    repo.apply(Plan((Raise(condition),)), T, "engine", 60)
    alert_id = repo.find()[0].id
    ack = client.post(
        f"/api/v1/alerts/{alert_id}/ack", json={"comment": "on it"}, headers=as_officer
    )
    assert ack.status_code == 200, ack.text
    done = client.post(f"/api/v1/alerts/{alert_id}/resolve", json={}, headers=as_officer)
    assert done.status_code == 200, done.text
    assert client.delete(f"/api/v1/keys/{officer['id']}", headers=ADMIN).status_code == 200
    assert client.delete(f"/api/v1/keys/{officer['id']}", headers=ADMIN).status_code == 200

    rows = [(e["actor"], e["action"], e["target"]) for e in _entries(client)]
    officer_name = f"olga#{officer['id']}"
    assert rows == [
        ("admin", "key.revoked", f"key:{officer['id']}"),  # once: the second revoke changes nothing
        (officer_name, "alert.resolve", f"alert:{alert_id}"),
        (officer_name, "alert.ack", f"alert:{alert_id}"),
        ("admin", "key.created", f"key:{officer['id']}"),
    ]
    first = _entries(client, action="key.created")[0]
    assert first["detail"] == {"name": "olga", "role": "officer", "plant": None}
    assert [e["action"] for e in _entries(client, action="alert.")] == [
        "alert.resolve",
        "alert.ack",
    ]
    assert _entries(client, actor=officer_name, target=f"alert:{alert_id}", limit="1")[0][
        "detail"
    ] == {"comment": None}
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert _entries(client, since=later) == []
    assert len(_entries(client, until=later)) == 4


def test_only_admins_read_the_audit_log(make_client: Callable[..., TestClient]) -> None:
    client = make_client(TOML, alert_engine_enabled=False)
    for role in ("officer", "viewer"):
        key = client.post("/api/v1/keys", json={"name": role, "role": role}, headers=ADMIN).json()
        resp = client.get("/api/v1/audit", headers={"Authorization": f"Bearer {key['key']}"})
        assert resp.status_code == 403, resp.text
    assert client.get("/api/v1/audit").status_code == 401
    assert (
        client.get(
            "/api/v1/audit", params={"since": "2026-01-01T00:00:00"}, headers=ADMIN
        ).status_code
        == 422
    )


def test_the_audit_log_is_append_only_in_the_database(database_url: str) -> None:
    engine = connect(database_url)
    record_audit(engine, "hj212-gateway", "hj212.command", "plant:sl-001/stack-1", {"cn": 1011})
    for statement in ("UPDATE audit_log SET actor = 'someone else'", "DELETE FROM audit_log"):
        with pytest.raises(DatabaseError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    [entry] = find_audit(engine)
    assert (entry.actor, entry.detail) == ("hj212-gateway", {"cn": 1011})
    engine.dispose()


def test_a_record_in_a_rolled_back_transaction_is_gone(database_url: str) -> None:
    engine = connect(database_url)
    with pytest.raises(RuntimeError), engine.begin() as conn:
        record_audit(conn, "officer#3", "conversion.recorded", "plant:ss-a", at=T)
        raise RuntimeError("the change itself failed")
    assert find_audit(engine) == []
    with pytest.raises(AuditError, match="action must be"):
        record_audit(engine, "officer#3", "", "plant:ss-a")
    engine.dispose()


def test_keys_made_on_the_command_line_are_audited_as_cli(database_url: str) -> None:
    engine = connect(database_url)
    info, _ = KeyStore(engine).create("ops", "viewer")
    [entry] = find_audit(engine, action="key.created")
    assert (entry.actor, entry.target) == ("cli", f"key:{info.id}")
    engine.dispose()
