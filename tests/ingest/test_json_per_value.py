"""JSON readings judged per value, through a real collector into InfluxDB (SPEC section 4).

A message with one bad value keeps its other values and readings; the plant learns what was
not kept on its `rejected` topic, and the dead letter keeps the message with its reason.
"""

from __future__ import annotations

import json
import queue
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ingest.client import Inbound, MqttClient
from ingest.kernel.topics import Topics
from scripts.devstack import Server
from tests.builders import MeterSpec, RegistryBuilder
from tests.support import Process, http_post, wait_until

pytestmark = pytest.mark.integration

REGISTRY = (
    RegistryBuilder()
    .plant("ss-001")
    .plant("sl-001", "synthetic_leather", [MeterSpec("stack-1", "voc", {})])
    .toml()
)


def _query(influx_url: str, database: str, q: str) -> list[list[object]]:
    resp = http_post(f"{influx_url}/query", data={"db": database, "q": q, "epoch": "ms"})
    series = resp.json()["results"][0].get("series")
    return series[0]["values"] if series else []


def test_one_bad_value_costs_nothing_else(
    tmp_path: Path, influxd: Server, mosquitto: Server, spawn: Callable[..., Process]
) -> None:
    registry = tmp_path / "registry.toml"
    registry.write_text(REGISTRY, encoding="utf-8")
    database = f"json_{uuid.uuid4().hex[:8]}"
    influx_url = f"http://127.0.0.1:{influxd.port}"
    collector = spawn(
        ["ingest"],
        {
            "PLANTWATCH_REGISTRY": str(registry),
            "PLANTWATCH_MQTT_PORT": str(mosquitto.port),
            "PLANTWATCH_INFLUX_URL": influx_url,
            "PLANTWATCH_INFLUX_DB": database,
            "PLANTWATCH_COLLECTOR_ID": database,
            "PLANTWATCH_SHARE_GROUP": "",
            "PLANTWATCH_SPOOL_DIR": str(tmp_path / "spool"),
            "PLANTWATCH_BATCH_MAX_SECONDS": "0.2",
        },
        "collector",
    )
    assert wait_until(lambda: "mqtt connected" in collector.log(), 20), collector.log()
    topics = Topics()
    told: queue.Queue[Inbound] = queue.Queue()
    plant = MqttClient(
        f"plant-{database}",
        "127.0.0.1",
        mosquitto.port,
        on_message=told.put,
        subscriptions=[(topics.rejected("sl-001"), 1), (topics.rejected("ss-001"), 1)],
    )
    plant.start()
    try:
        t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
        ms = int(t0.timestamp() * 1000)
        voc = {
            "readings": [
                {
                    "ts": ms,
                    "values": {"nmhc_mgm3": 35.2, "dmf_mgm3": 18.4, "o2_pct": 30, "flow_m3h": 9000},
                    "flags": {"dmf_mgm3": "C"},
                },
                {"ts": ms + 60_000, "values": {"nmhc_mgm3": 36.0, "o2_pct": 19.5}},
            ]
        }
        gas = {
            "readings": [
                {"ts": ms, "values": {"flow_m3h": 12.0}},  # no register: dropped
                {"ts": ms + 60_000, "values": {"volume_m3": 100.5}},
            ]
        }
        plant.publish(topics.readings("sl-001", "stack-1"), json.dumps(voc).encode(), qos=1)
        plant.publish(topics.readings("ss-001", "gas-1"), json.dumps(gas).encode(), qos=1)
        plant.publish(topics.readings("ss-001", "gas-1"), b"{not json", qos=1)
        assert wait_until(
            lambda: len(_query(influx_url, database, "SELECT * FROM dead_letter")) == 3, 30
        ), collector.log()
        rows = _query(
            influx_url,
            database,
            'SELECT "nmhc_mgm3", "dmf_mgm3", "dmf_mgm3_flag", "flow_m3h", "o2_pct", '
            '"o2_pct_invalid" FROM "voc"',
        )
        assert [r[1:] for r in rows] == [
            [35.2, 18.4, "C", 9000.0, None, "o2_pct=30 is outside the plausible range [0, 25]"],
            [36.0, None, None, None, 19.5, None],
        ]
        assert _query(influx_url, database, 'SELECT "volume_m3", "flow_m3h" FROM "gas"') == [
            [ms + 60_000, 100.5, None]
        ]
        letters = _query(
            influx_url, database, 'SELECT "code", "reason" FROM "dead_letter" ORDER BY time'
        )
        assert sorted(str(r[1]) for r in letters) == [
            "invalid_payload",
            "invalid_values",
            "invalid_values",
        ]
        messages: dict[tuple[str, str], dict[str, Any]] = {}
        while len(messages) < 3:
            message = told.get(timeout=20)
            doc = json.loads(message.payload)
            messages[(message.topic, doc["code"])] = doc
    finally:
        plant.stop()
    partial_voc = messages[(topics.rejected("sl-001"), "invalid_values")]
    assert partial_voc["accepted"] == 2 and partial_voc["dropped"] == []
    assert partial_voc["invalid"] == [
        {
            "reading": 0,
            "ts": t0.isoformat(),
            "value": "o2_pct",
            "reason": "readings[0]: o2_pct=30 is outside the plausible range [0, 25]",
        }
    ]
    partial_gas = messages[(topics.rejected("ss-001"), "invalid_values")]
    assert (partial_gas["accepted"], partial_gas["dropped_total"]) == (1, 1)
    assert partial_gas["dropped"][0]["reason"] == (
        "readings[0]: dropped, a gas meter must send volume_m3"
    )
    whole = messages[(topics.rejected("ss-001"), "invalid_payload")]
    assert set(whole) == {"topic", "code", "reason", "received"}
