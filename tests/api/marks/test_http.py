"""Marks over HTTP against a real InfluxDB: a plant marks its own stack, an officer reviews;
accepted hours leave the exceedance count and show as a band, rejected ones change nothing;
a plant key cannot mark, read or review another plant's anything; every step is audited."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert

from api.alerts.tables import alerts
from api.audit import find_audit
from api.auth import Principal
from ingest.kernel.points import reading_lines
from ingest.kernel.schema import Reading
from ingest.kernel.store import InfluxStore
from tests.builders import registry_toml

pytestmark = pytest.mark.integration

TOML = registry_toml(
    {
        "sl-002": ("synthetic_leather", [("stack-1", "voc")]),
        "sl-003": ("synthetic_leather", [("stack-1", "voc")]),
    }
)
OFFICER = {"Authorization": "Bearer officer-key"}
OWN = {"Authorization": "Bearer sl-002-key"}
OTHER = {"Authorization": "Bearer sl-003-key"}
HOURS = 5


def ms(ts: datetime) -> int:
    return int(ts.timestamp() * 1000)


@pytest.fixture
def county(
    store: InfluxStore, make_client: Callable[..., TestClient]
) -> tuple[TestClient, datetime]:
    """sl-002 stack-1: five hours of DMF at 80 mg/m³ (limit 50), all exceeding."""
    client = make_client(TOML, alert_engine_enabled=False)
    app: Any = client.app
    app.state.keyring.add("officer-key", Principal("officer-wang", "officer"))
    app.state.keyring.add("sl-002-key", Principal("sl-002-op", "plant", "sl-002"))
    app.state.keyring.add("sl-003-key", Principal("sl-003-op", "plant", "sl-003"))
    first = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=8)
    plant = app.state.registry.plant("sl-002")
    readings = [
        Reading(
            first + timedelta(minutes=m),
            MappingProxyType({"dmf_mgm3": 80.0, "flow_m3h": 9000.0}),
            MappingProxyType({}),
        )
        for m in range(HOURS * 60)
    ]
    store.write_lines(reading_lines(plant, plant.meters[0], readings))
    # An alert already raised in the hours the plant will mark.
    with app.state.db.begin() as conn:
        at = ms(first + timedelta(hours=2))
        conn.execute(
            insert(alerts).values(
                kind="voc_hourly_exceedance", plant="sl-002", meter="stack-1",
                pollutant="dmf_mgm3", open_key=None, status="resolved", message="x",
                value=80.0, limit=50.0, opened_at=at, last_seen_at=at + 3_600_000,
                updated_at=at, resolved_at=at + 3_600_000, since=at,
            )
        )  # fmt: skip
    return client, first


def body(first: datetime, start_h: int, end_h: int, kind: str = "maintenance") -> dict[str, Any]:
    return {
        "meter": "stack-1",
        "kind": kind,
        "start": (first + timedelta(hours=start_h)).isoformat(),
        "end": (first + timedelta(hours=end_h)).isoformat(),
        "reason": "2号线检修",
        "evidence": ["photo:repair-order-17.jpg"],
    }


def dmf(client: TestClient, first: datetime) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    resp = client.get(
        "/api/v1/plants/sl-002/voc",
        params={"start": first.isoformat(), "end": (first + timedelta(hours=HOURS)).isoformat()},
        headers=OFFICER,
    )
    assert resp.status_code == 200, resp.text
    (stack,) = resp.json()["stacks"]
    p = next(p for p in stack["pollutants"] if p["pollutant"] == "dmf_mgm3")
    return p["counts"], stack["marks"]


def test_a_plant_marks_an_officer_reviews(county: tuple[TestClient, datetime]) -> None:
    client, first = county
    counts, bands = dmf(client, first)
    assert (counts["exceeding"], counts["marked"], bands) == (HOURS, 0, [])

    made = client.post("/api/v1/plants/sl-002/marks", json=body(first, 1, 4), headers=OWN)
    assert made.status_code == 201, made.text
    mark = made.json()
    assert mark["status"] == "pending" and mark["created_by"] == "sl-002-op"
    # the officer sees that the mark covers an hour that already raised an alert
    assert [a["kind"] for a in mark["covers_alerts"]] == ["voc_hourly_exceedance"]
    assert dmf(client, first)[0]["exceeding"] == HOURS  # pending changes nothing

    # a plant never reviews, not even its own mark
    assert (
        client.post(
            f"/api/v1/marks/{mark['id']}/accept", json={"comment": "ok"}, headers=OWN
        ).status_code
        == 403
    )
    accepted = client.post(
        f"/api/v1/marks/{mark['id']}/accept", json={"comment": "检修单已核实"}, headers=OFFICER
    )
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "accepted"
    assert accepted.json()["reviewed_by"] == "officer-wang"
    again = client.post(
        f"/api/v1/marks/{mark['id']}/reject", json={"comment": "x"}, headers=OFFICER
    )
    assert again.status_code == 409

    counts, bands = dmf(client, first)
    assert (counts["exceeding"], counts["marked"], counts["running"]) == (HOURS - 3, 3, HOURS - 3)
    assert len(bands) == 1 and bands[0]["start"].startswith(
        (first + timedelta(hours=1)).strftime("%Y-%m-%dT%H")
    )

    second = client.post(
        "/api/v1/plants/sl-002/marks", json=body(first, 0, 1, "fault"), headers=OWN
    )
    rejected = client.post(
        f"/api/v1/marks/{second.json()['id']}/reject", json={"comment": "无证据"}, headers=OFFICER
    )
    assert rejected.json()["status"] == "rejected"
    assert dmf(client, first)[0]["exceeding"] == HOURS - 3  # rejected changes nothing

    listed = client.get("/api/v1/marks", params={"status": "pending"}, headers=OFFICER).json()
    assert listed["marks"] == []
    mine = client.get("/api/v1/marks", headers=OWN).json()["marks"]
    assert {m["status"] for m in mine} == {"accepted", "rejected"}

    trail = find_audit(client.app.state.db, action="mark.")  # type: ignore[attr-defined]
    assert sorted((e.action, e.actor) for e in trail) == [
        ("mark.accepted", "officer-wang"),
        ("mark.created", "sl-002-op"),
        ("mark.created", "sl-002-op"),
        ("mark.rejected", "officer-wang"),
    ]


def test_a_plant_key_cannot_mark_read_or_review_another_plants_anything(
    county: tuple[TestClient, datetime],
) -> None:
    client, first = county
    mark = client.post("/api/v1/plants/sl-002/marks", json=body(first, 1, 2), headers=OWN).json()
    # mark another plant
    refused = client.post("/api/v1/plants/sl-002/marks", json=body(first, 1, 2), headers=OTHER)
    assert refused.status_code == 403 and "sl-003" in refused.json()["detail"]
    # read another plant's marks
    assert client.get("/api/v1/marks", headers=OTHER).json()["marks"] == []
    assert client.get("/api/v1/marks", params={"plant": "sl-002"}, headers=OTHER).status_code == 403
    assert client.get("/api/v1/plants/sl-002/voc", headers=OTHER).status_code == 403
    # review (or act on) another plant's mark
    for action in ("accept", "reject"):
        resp = client.post(
            f"/api/v1/marks/{mark['id']}/{action}", json={"comment": "x"}, headers=OTHER
        )
        assert resp.status_code == 403
    # a meter the plant does not have is refused with a reason
    bad = client.post(
        "/api/v1/plants/sl-002/marks", json=body(first, 1, 2) | {"meter": "stack-9"}, headers=OWN
    )
    assert bad.status_code == 422 and "no meter" in bad.json()["detail"]
    assert client.get("/api/v1/marks", headers=OFFICER).json()["marks"][0]["status"] == "pending"
