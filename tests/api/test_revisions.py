"""First write is the record (SPEC section 14), end to end through a real collector.

A plant records two exceeding hours (JSON over MQTT, then HJ 212 minute data), then resends
30 of their minutes with clean values over MQTT, HTTP push and HJ 212: every figure stays,
`reading_revised` is raised, and only the revision an officer accepts counts.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from ingest.client import MqttClient
from ingest.kernel import hj212
from ingest.kernel.store import InfluxStore
from ingest.kernel.topics import Topics
from scripts.devstack import Server
from tests.api.support import ADMIN
from tests.builders import MeterSpec, RegistryBuilder
from tests.support import Process, wait_until

pytestmark = pytest.mark.integration

MN = "MN-REV0001"
TOML = (
    RegistryBuilder()
    .plant(
        "sl-001",
        "synthetic_leather",
        [MeterSpec("stack-1", "voc", {"hj212_mn": MN, "limits": {"nmhc_mgm3": 50.0}})],
    )
    .toml()
)
RECORDED, FORGED, FLOW = 80.0, 10.0, 9000.0
MINUTE = timedelta(minutes=1)
PUSH = "/api/v1/plants/sl-001/meters/stack-1/readings"


def minutes(start: datetime, first: int, count: int, nmhc: float) -> bytes:
    return json.dumps(
        {
            "readings": [
                {
                    "ts": int((start + k * MINUTE).timestamp() * 1000),
                    "values": {"nmhc_mgm3": nmhc, "flow_m3h": FLOW},
                }
                for k in range(first, first + count)
            ]
        }
    ).encode()


def minute_packet(at: datetime, nmhc: float) -> bytes:
    local = at.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y%m%d%H%M%S")
    return hj212.encode_packet(
        qn="1", cn="2051", mn=MN, data_time=local, items={"a24088": {"Avg": f"{nmhc}", "Flag": "N"}}
    )


def count(store: InfluxStore, query: str) -> int:
    series = store.query(query)
    return int(series[0].values[0][1]) if series else 0


def hours(client: TestClient, start: datetime, end: datetime) -> dict[str, Any]:
    resp = client.get(
        "/api/v1/plants/sl-001/voc",
        params={"start": start.isoformat(), "end": end.isoformat()},
        headers=ADMIN,
    )
    assert resp.status_code == 200, resp.text
    (stack,) = resp.json()["stacks"]
    return stack


def test_resent_minutes_change_no_figure_until_an_officer_accepts_one(
    make_client: Callable[..., TestClient],
    mosquitto: Server,
    store: InfluxStore,
    spawn: Callable[..., Process],
    tmp_path: Path,
) -> None:
    registry = tmp_path / "registry.toml"
    registry.write_text(TOML, encoding="utf-8")
    collector = spawn(
        ["ingest"],
        {
            "PLANTWATCH_REGISTRY": str(registry),
            "PLANTWATCH_MQTT_PORT": str(mosquitto.port),
            "PLANTWATCH_INFLUX_URL": store.url,
            "PLANTWATCH_INFLUX_DB": store.database,
            "PLANTWATCH_COLLECTOR_ID": f"rev-{store.database}",
            "PLANTWATCH_SHARE_GROUP": "",
            "PLANTWATCH_SPOOL_DIR": str(tmp_path / "spool"),
            "PLANTWATCH_BATCH_MAX_SECONDS": "0.2",
        },
        "collector",
    )
    assert wait_until(lambda: "mqtt connected" in collector.log(), 20), collector.log()
    client = make_client(
        TOML, mqtt_port=mosquitto.port, alert_engine_enabled=True, alert_interval_seconds=0.5
    )
    topics = Topics()
    plant = MqttClient(f"plant-{uuid.uuid4().hex[:6]}", "127.0.0.1", mosquitto.port)
    plant.start()
    try:
        now = datetime.now(UTC)
        top = now.replace(minute=0, second=0, microsecond=0)
        # Hour A arrives late (more than 2 h after it ended), hour B on time.
        hour_a, hour_b = top - timedelta(hours=4), top - timedelta(hours=1)
        plant.publish(topics.readings("sl-001", "stack-1"), minutes(hour_a, 0, 60, RECORDED), qos=1)
        for k in range(60):
            plant.publish(topics.hj212("sl-001"), minute_packet(hour_b + k * MINUTE, RECORDED), 1)
        assert wait_until(
            lambda: (
                count(store, 'SELECT count("nmhc_mgm3") FROM "voc"') == 60
                and count(store, 'SELECT count("nmhc_mgm3") FROM "voc_minute"') == 60
            ),
            30,
        ), collector.log()
        before = hours(client, hour_a, hour_b + timedelta(hours=1))

        # The plant resends 30 recorded minutes of each hour with clean values: 15 of hour A
        # over MQTT, 15 over HTTP push, 30 of hour B over HJ 212; and hour A once more as
        # first sent (a redelivery: a duplicate).
        plant.publish(topics.readings("sl-001", "stack-1"), minutes(hour_a, 0, 15, FORGED), qos=1)
        resp = client.post(PUSH, content=minutes(hour_a, 15, 15, FORGED), headers=ADMIN)
        assert resp.status_code == 202, resp.text
        for k in range(30):
            plant.publish(topics.hj212("sl-001"), minute_packet(hour_b + k * MINUTE, FORGED), 1)
        plant.publish(topics.readings("sl-001", "stack-1"), minutes(hour_a, 0, 60, RECORDED), qos=1)
        assert wait_until(
            lambda: count(store, 'SELECT count("value") FROM "revisions"') == 60, 30
        ), collector.log()
        after = hours(client, hour_a, hour_b + timedelta(hours=1))
        assert after == before  # every figure of both hours is the record's
        (nmhc,) = [p for p in after["pollutants"] if p["pollutant"] == "nmhc_mgm3"]
        row_a, row_b = nmhc["hours"][0], nmhc["hours"][3]
        assert (row_a["mean_mgm3"], row_a["exceeds"], row_a["late_filled"]) == (80.0, True, True)
        assert (row_b["mean_mgm3"], row_b["exceeds"], row_b["late_filled"]) == (80.0, True, False)
        assert after["late_filled_hours"] == 1
        # The monthly report counts the late-filled hour too.
        month = hour_a.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
        xlsx = client.get(
            "/api/v1/reports/monthly",
            params={"month": month, "format": "xlsx", "lang": "en"},
            headers=ADMIN,
        )
        assert xlsx.status_code == 200, xlsx.text
        header, stack_row = list(
            load_workbook(BytesIO(xlsx.content))["voc_valid"].iter_rows(min_row=2, values_only=True)
        )[:2]
        assert stack_row[header.index("late-filled hours (> 2 h after)")] == 1

        listed = client.get("/api/v1/plants/sl-001/revisions", headers=ADMIN).json()["revisions"]
        assert len(listed) == 60 and {r["status"] for r in listed} == {"pending"}
        by_source: dict[str, int] = {}
        for r in listed:
            by_source[r["source"]] = by_source.get(r["source"], 0) + 1
            assert (r["value"], r["record_value"], r["number"]) == (FORGED, RECORDED, 1)
        assert by_source == {"mqtt": 15, "http": 15, "hj212": 30}

        def raised() -> list[dict[str, Any]]:
            resp = client.get(
                "/api/v1/alerts", params={"kind": "reading_revised", "lang": "en"}, headers=ADMIN
            )
            return resp.json()["alerts"]

        assert wait_until(lambda: len(raised()) == 1, 30)
        alert = raised()[0]
        assert (alert["plant"], alert["meter"], alert["value"]) == ("sl-001", "stack-1", 60.0)
        assert "60 revision(s) of recorded readings await review" in alert["text"]

        # An officer accepts one: the minute pushed over HTTP at hour A + 15 min.
        officer = client.post(
            "/api/v1/keys", json={"name": "officer-1", "role": "officer"}, headers=ADMIN
        ).json()["key"]
        (chosen,) = [
            r
            for r in listed
            if r["source"] == "http" and r["ts"].startswith((hour_a + 15 * MINUTE).isoformat()[:19])
        ]
        viewer = client.post(
            "/api/v1/keys", json={"name": "viewer-1", "role": "viewer"}, headers=ADMIN
        ).json()["key"]
        path = f"/api/v1/revisions/{chosen['id']}/accept"
        assert client.post(path, headers={"Authorization": f"Bearer {viewer}"}).status_code == 403
        resp = client.post(
            path,
            json={"comment": "calibration record seen"},
            headers={"Authorization": f"Bearer {officer}"},
        )
        assert resp.status_code == 200, resp.text
        assert resp.json()["status"] == "accepted"
        assert resp.json()["accepted_by"].startswith("officer-1")
        again = client.post(path, headers={"Authorization": f"Bearer {officer}"})
        assert again.status_code == 409
        assert client.post("/api/v1/revisions/nope/accept", headers=ADMIN).status_code == 404

        accepted = hours(client, hour_a, hour_b + timedelta(hours=1))
        (nmhc_now,) = [p for p in accepted["pollutants"] if p["pollutant"] == "nmhc_mgm3"]
        assert nmhc_now["hours"][0]["mean_mgm3"] == pytest.approx((59 * RECORDED + FORGED) / 60)
        assert nmhc_now["hours"][1:] == nmhc["hours"][1:]  # exactly that value, nothing else
        audited = client.get(
            "/api/v1/audit", params={"action": "revision.accepted"}, headers=ADMIN
        ).json()["entries"]
        assert [(e["actor"], e["detail"]["revision"]) for e in audited] == [
            (resp.json()["accepted_by"], chosen["id"])
        ]
    finally:
        plant.stop()
