"""Conversion records over HTTP: a converted firm without a coal meter counts as gas after its
record, corrections supersede, and manual coal deliveries go out as S-flagged readings, after their
record is committed (a refused record publishes nothing)."""

from __future__ import annotations

import json
import queue
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from api.records.repo import RecordRepo
from ingest.client import Inbound, MqttClient
from ingest.kernel.store import InfluxStore
from scripts.devstack import Server
from tests.api.records.support import AT, TOML, WINDOW_START, officer, status_of
from tests.api.support import ADMIN
from tests.builders import register_lines

pytestmark = pytest.mark.integration


def kpi(client: TestClient) -> dict:
    resp = client.get("/api/v1/kpi/gas-share", params={"at": AT.isoformat()}, headers=ADMIN)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_converted_firm_without_coal_meter_counts_as_gas_after_its_record(
    store: InfluxStore, make_client: Callable[..., TestClient]
) -> None:
    hours = [50.0 * i for i in range(24 * 31)]
    store.write_lines(
        register_lines("gas", "ss-gas", "gas-1", AT - timedelta(days=31), timedelta(hours=1), hours)
    )
    client = make_client(TOML, alert_engine_enabled=False)
    before = kpi(client)
    assert status_of(before, "ss-gas") == "unknown"
    assert before["records_used"] == {}

    key = officer(client)
    viewer = officer(client, "viewer")
    body = {
        "kind": "boiler_removed",
        "effective_at": (WINDOW_START - timedelta(days=2)).isoformat(),
        "reason": "燃煤锅炉已拆除，现场核实",
        "attachment": "photo-2026-02-27.jpg",
    }
    assert (
        client.post("/api/v1/plants/ss-gas/records", json=body, headers=viewer).status_code == 403
    )
    resp = client.post("/api/v1/plants/ss-gas/records", json=body, headers=key)
    assert resp.status_code == 201, resp.text
    first = resp.json()
    assert first["recorded_by"].startswith("officer-1") and first["current"] is True

    after = kpi(client)
    assert status_of(after, "ss-gas") == "gas"
    assert "removed or sealed" in after["records_used"]["ss-gas"]
    assert after["counts"]["gas"] == 1
    history = client.get(
        "/api/v1/kpi/gas-share/history", params={"year": 2026}, headers=ADMIN
    ).json()
    march = history["months"][2]
    assert march["month"] == "2026-03" and march["counts"]["gas"] == 1
    assert "ss-gas" in march["records_used"]

    # A correction: the boiler was in fact removed late in the window -> unknown again.
    correction = {
        **body,
        "effective_at": (AT - timedelta(days=10)).isoformat(),
        "supersedes": first["id"],
    }
    resp = client.post("/api/v1/plants/ss-gas/records", json=correction, headers=key)
    assert resp.status_code == 201, resp.text
    assert status_of(kpi(client), "ss-gas") == "unknown"
    # Superseding the same record twice, or another plant's record, is refused.
    again = client.post("/api/v1/plants/ss-gas/records", json=correction, headers=key)
    assert again.status_code == 422 and "already superseded" in again.text
    other = client.post("/api/v1/plants/ss-both/records", json=correction, headers=key)
    assert other.status_code == 422 and "belongs to" in other.text
    missing = client.post(
        "/api/v1/plants/ss-gas/records", json={**correction, "supersedes": 999}, headers=key
    )
    assert missing.status_code == 404

    listed = client.get("/api/v1/plants/ss-gas/records", headers=viewer).json()["records"]
    assert [(r["id"], r["current"], r["superseded_by"]) for r in listed] == [
        (first["id"], False, first["id"] + 1),
        (first["id"] + 1, True, None),
    ]
    usage = client.get(
        "/api/v1/plants/ss-gas/usage", params={"end": AT.isoformat()}, headers=viewer
    )
    assert [r["id"] for r in usage.json()["records"]] == [first["id"] + 1]
    assert client.get("/api/v1/records", params={"current": True}, headers=viewer).json()[
        "records"
    ] == [listed[1]]
    # Each kept record is audited once (refused ones not): who, what, which plant, why.
    audited = client.get(
        "/api/v1/audit", params={"action": "conversion.recorded"}, headers=ADMIN
    ).json()["entries"]
    assert [(e["actor"], e["target"], e["detail"]["record"]) for e in audited] == [
        (first["recorded_by"], "plant:ss-gas", first["id"] + 1),
        (first["recorded_by"], "plant:ss-gas", first["id"]),
    ]
    assert audited[1]["detail"] == {
        "record": first["id"],
        "kind": "boiler_removed",
        "reason": "燃煤锅炉已拆除，现场核实",
        "supersedes": None,
    }
    assert audited[0]["detail"]["supersedes"] == first["id"]


def test_manual_coal_deliveries_are_published_as_manual_readings(
    store: InfluxStore, make_client: Callable[..., TestClient], mosquitto: Server
) -> None:
    inbox: queue.Queue[Inbound] = queue.Queue()
    topic = "plantwatch/plants/ss-man/meters/coal-m/readings"
    listener = MqttClient(
        f"listener-{uuid.uuid4().hex[:6]}",
        "127.0.0.1",
        mosquitto.port,
        on_message=inbox.put,
        subscriptions=[(topic, 1)],
    )
    listener.start()
    try:
        hours = [50.0 * i for i in range(24 * 31)]
        store.write_lines(
            register_lines(
                "gas", "ss-man", "gas-1", AT - timedelta(days=31), timedelta(hours=1), hours
            )
        )
        client = make_client(TOML, mqtt_port=mosquitto.port, alert_engine_enabled=False)
        key = officer(client)
        day1, day2 = WINDOW_START + timedelta(days=3), WINDOW_START + timedelta(days=12)

        def deliver(at: datetime, kg: float, supersedes: int | None = None) -> dict:
            resp = client.post(
                "/api/v1/plants/ss-man/records",
                json={
                    "kind": "coal_delivery",
                    "meter": "coal-m",
                    "mass_kg": kg,
                    "effective_at": at.isoformat(),
                    "reason": "送货单",
                    "supersedes": supersedes,
                },
                headers=key,
            )
            assert resp.status_code == 201, resp.text
            return resp.json()

        def published() -> list[dict]:
            message = inbox.get(timeout=30)
            assert message.topic == topic
            return json.loads(message.payload)["readings"]

        first = deliver(day1, 4000.0)
        # The register opens at 0 kg 1 ms before the first delivery, so it is a step too.
        assert published() == [
            {
                "ts": int(day1.timestamp() * 1000) - 1,
                "values": {"mass_kg": 0.0},
                "flags": {"mass_kg": "S"},
            },
            {
                "ts": int(day1.timestamp() * 1000),
                "values": {"mass_kg": 4000.0},
                "flags": {"mass_kg": "S"},
            },
        ]
        deliver(day2, 6000.0)
        assert [r["values"]["mass_kg"] for r in published()] == [0.0, 4000.0, 10000.0]
        # Correcting the first delivery re-publishes the register at every delivery's time.
        deliver(day1, 3000.0, supersedes=first["id"])
        readings = published()
        assert [r["values"]["mass_kg"] for r in readings] == [0.0, 3000.0, 9000.0]
        assert {r["flags"]["mass_kg"] for r in readings} == {"S"}
        audited = client.get(
            "/api/v1/audit", params={"action": "manual_entry.created"}, headers=ADMIN
        ).json()["entries"]
        assert [(e["target"], e["detail"]["kind"], e["detail"]["reason"]) for e in audited] == [
            ("plant:ss-man/coal-m", "coal_delivery", "送货单")
        ] * 3
        assert audited[0]["actor"] == first["recorded_by"]

    finally:
        listener.stop()


def test_a_refused_record_publishes_nothing(
    make_client: Callable[..., TestClient], mosquitto: Server
) -> None:
    """Failed before the fix: the deliveries went to the broker before the record was inserted,
    so a correction refused with 422 (its record already superseded) had published its coal."""
    inbox: queue.Queue[Inbound] = queue.Queue()
    topic = "plantwatch/plants/ss-man/meters/coal-m/readings"
    listener = MqttClient(
        f"listener-{uuid.uuid4().hex[:6]}",
        "127.0.0.1",
        mosquitto.port,
        on_message=inbox.put,
        subscriptions=[(topic, 1)],
    )
    listener.start()
    try:
        client = make_client(TOML, mqtt_port=mosquitto.port, alert_engine_enabled=False)
        key = officer(client)
        day = WINDOW_START + timedelta(days=3)

        def deliver(kg: float, supersedes: int | None = None) -> Response:
            body = {
                "kind": "coal_delivery",
                "meter": "coal-m",
                "mass_kg": kg,
                "effective_at": day.isoformat(),
                "reason": "送货单",
                "supersedes": supersedes,
            }
            return client.post("/api/v1/plants/ss-man/records", json=body, headers=key)

        def registers() -> list[float]:
            return [
                r["values"]["mass_kg"]
                for r in json.loads(inbox.get(timeout=30).payload)["readings"]
            ]

        first = deliver(4000.0)
        assert first.status_code == 201 and first.json()["readings_published"] == 2
        assert registers() == [0.0, 4000.0]
        assert deliver(3000.0, supersedes=first.json()["id"]).status_code == 201
        assert registers() == [0.0, 3000.0]
        refused = deliver(99_000.0, supersedes=first.json()["id"])
        assert refused.status_code == 422, refused.text
        # The broker keeps one publisher's order on a topic: had the refused correction been
        # published, its 99 t would arrive before this next delivery's register.
        later = deliver(500.0)
        assert later.status_code == 201, later.text
        assert registers() == [0.0, 3500.0]
    finally:
        listener.stop()


def test_a_record_kept_while_the_broker_is_away_is_published_later(
    make_client: Callable[..., TestClient],
) -> None:
    """The record is committed first; its readings wait in the outbox, nothing is lost."""
    client = make_client(TOML, alert_engine_enabled=False, push_timeout_seconds=0.3)
    key = officer(client)
    resp = client.post(
        "/api/v1/plants/ss-man/records",
        json={
            "kind": "coal_delivery",
            "meter": "coal-m",
            "mass_kg": 700.0,
            "effective_at": (WINDOW_START + timedelta(days=2)).isoformat(),
            "reason": "送货单",
        },
        headers=key,
    )
    assert resp.status_code == 201, resp.text
    assert resp.json()["readings_published"] == 0
    repo = RecordRepo(client.app.state.db)  # type: ignore[attr-defined]
    assert [(p, m) for _, p, m in repo.pending_publications()] == [("ss-man", "coal-m")]
