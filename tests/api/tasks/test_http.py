"""Tasks over HTTP: an alert becomes a task, the inspector records an action, the officer
closes it; another task passes its deadline and escalates; inspectors and plant keys see
only their own; every step is in the audit chain."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert

from api.alerts.tables import alerts
from api.audit import find_audit
from api.auth import Principal
from api.tasks.repo import TaskRepo
from api.tasks.rules import overdue_conditions
from tests.builders import registry_toml

pytestmark = pytest.mark.integration

TOML = registry_toml(
    {
        "sl-002": ("synthetic_leather", [("stack-1", "voc")]),
        "sl-003": ("synthetic_leather", [("stack-1", "voc")]),
    }
)
KEYS = {
    "officer": Principal("officer-wang", "officer"),
    "zhang": Principal("zhang#4", "inspector"),
    "li": Principal("li#5", "inspector"),
    "sl-002": Principal("sl-002#6", "plant", "sl-002"),
    "sl-003": Principal("sl-003#7", "plant", "sl-003"),
}


def h(who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {who}-key"}


@pytest.fixture
def county(make_client: Callable[..., TestClient]) -> tuple[TestClient, list[int]]:
    client = make_client(TOML, alert_engine_enabled=False)
    app: Any = client.app
    for name, principal in KEYS.items():
        app.state.keyring.add(f"{name}-key", principal)
    now = int(datetime.now(UTC).timestamp() * 1000)
    ids = []
    with app.state.db.begin() as conn:
        for plant in ("sl-002", "sl-003"):
            result = conn.execute(
                insert(alerts).values(
                    kind="voc_hourly_exceedance", plant=plant, meter="stack-1",
                    pollutant="dmf_mgm3", open_key=f"x/{plant}", status="open", message="x",
                    value=80.0, limit=50.0, opened_at=now, last_seen_at=now, updated_at=now,
                )
            )  # fmt: skip
            ids.append(int(result.inserted_primary_key[0]))
    return client, ids


def new_task(client: TestClient, alert: int, assignee: str, hours: float = 48) -> dict[str, Any]:
    deadline = datetime.now(UTC) + timedelta(hours=hours)
    resp = client.post(
        "/api/v1/tasks",
        json={"alerts": [alert], "assignee": assignee, "deadline": deadline.isoformat(),
              "priority": "high", "note": "现场核查"},
        headers=h("officer"),
    )  # fmt: skip
    assert resp.status_code == 201, resp.text
    return resp.json()


def test_an_alert_becomes_a_task_and_is_closed(county: tuple[TestClient, list[int]]) -> None:
    client, (a2, a3) = county
    t = new_task(client, a2, "zhang")
    assert t["status"] == "open" and t["plants"] == ["sl-002"] and t["alerts"] == [a2]
    other = new_task(client, a3, "li")

    # an inspector sees and acts on its own tasks only
    assert [x["id"] for x in client.get("/api/v1/tasks", headers=h("zhang")).json()["tasks"]] == [
        t["id"]
    ]
    assert client.get(f"/api/v1/tasks/{other['id']}", headers=h("zhang")).status_code == 404
    assert (
        client.get("/api/v1/tasks", params={"assignee": "li"}, headers=h("zhang")).status_code
        == 403
    )
    refused = client.post(
        f"/api/v1/tasks/{other['id']}/actions", json={"note": "x"}, headers=h("zhang")
    )
    assert refused.status_code == 404
    action = client.post(
        f"/api/v1/tasks/{t['id']}/actions",
        json={"note": "到场检查，2号线活性炭已更换", "evidence": ["photo:site-1.jpg"]},
        headers=h("zhang"),
    )
    assert action.status_code == 201, action.text
    assert action.json()["actions"][0]["actor"] == "zhang#4"
    # an inspector never closes; the officer does, once
    assert (
        client.post(
            f"/api/v1/tasks/{t['id']}/close", json={"conclusion": "x"}, headers=h("zhang")
        ).status_code
        == 403
    )
    closed = client.post(
        f"/api/v1/tasks/{t['id']}/close", json={"conclusion": "已整改，办结"}, headers=h("officer")
    )
    assert closed.json()["status"] == "closed" and not closed.json()["overdue"]
    assert (
        client.post(
            f"/api/v1/tasks/{t['id']}/close", json={"conclusion": "x"}, headers=h("officer")
        ).status_code
        == 409
    )
    late = client.post(f"/api/v1/tasks/{t['id']}/actions", json={"note": "x"}, headers=h("zhang"))
    assert late.status_code == 409

    # plant keys read the tasks on their own plant, and act on none
    assert [x["id"] for x in client.get("/api/v1/tasks", headers=h("sl-002")).json()["tasks"]] == [
        t["id"]
    ]
    assert client.get(f"/api/v1/tasks/{other['id']}", headers=h("sl-002")).status_code == 404
    assert (
        client.post(
            f"/api/v1/tasks/{t['id']}/actions", json={"note": "x"}, headers=h("sl-002")
        ).status_code
        == 403
    )
    assert client.post("/api/v1/tasks", json={}, headers=h("sl-002")).status_code in (403, 422)

    trail = find_audit(client.app.state.db, action="task.")  # type: ignore[attr-defined]
    assert sorted(e.action for e in trail) == [
        "task.action", "task.closed", "task.created", "task.created"
    ]  # fmt: skip


def test_an_overdue_task_escalates_once(county: tuple[TestClient, list[int]]) -> None:
    client, (a2, _) = county
    t = new_task(client, a2, "zhang", hours=1)
    repo = TaskRepo(client.app.state.db)  # type: ignore[attr-defined]
    later = datetime.now(UTC) + timedelta(hours=3)
    assert overdue_conditions(repo.escalate_overdue(datetime.now(UTC)), datetime.now(UTC)) == []
    (c,) = overdue_conditions(repo.escalate_overdue(later), later)
    assert c.key.kind == "task_overdue" and c.details["task_id"] == t["id"]
    repo.escalate_overdue(later + timedelta(hours=1))
    escalations = find_audit(client.app.state.db, action="task.escalated")  # type: ignore[attr-defined]
    assert [e.target for e in escalations] == [f"task:{t['id']}"]
    assert client.get(f"/api/v1/tasks/{t['id']}", headers=h("officer")).json()["escalated_at"]
