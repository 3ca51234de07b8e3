"""Register events end to end, with two collectors sharing the subscription (no shared state)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from ingest.client import MqttClient
from ingest.topics import Topics
from scripts.devstack import Server, free_port
from tests.conftest import Process, wait_until
from tests.ingest.faults import registry_text

pytestmark = pytest.mark.integration
T0 = 1_772_323_200_000
QUARTER_MS = 15 * 60_000
# (volume_m3 every 15 min) -> a reset at index 2 (replaced meter), a jump at index 4
# (99 990 m³ in 15 min = 399 960 m³/h, above the 20 000 m³/h gas limit).
VALUES = [100.0, 200.0, 5.0, 10.0, 100_000.0, 100_010.0]


def query(influx_url: str, database: str, q: str) -> list[list[object]]:
    resp = httpx.post(f"{influx_url}/query", data={"db": database, "q": q, "epoch": "ms"})
    series = resp.json()["results"][0].get("series")
    return series[0]["values"] if series else []


def test_resets_and_jumps_are_recorded_across_collectors(
    tmp_path: Path, influxd: Server, mosquitto: Server, spawn: Callable[..., Process]
) -> None:
    registry = tmp_path / "registry.toml"
    registry.write_text(registry_text(), encoding="utf-8")
    database = f"reg_{uuid.uuid4().hex[:8]}"
    influx_url = f"http://127.0.0.1:{influxd.port}"
    metrics_ports = [free_port(), free_port()]
    collectors = [
        spawn(
            ["ingest"],
            {
                "PLANTWATCH_REGISTRY": str(registry),
                "PLANTWATCH_MQTT_PORT": str(mosquitto.port),
                "PLANTWATCH_INFLUX_URL": influx_url,
                "PLANTWATCH_INFLUX_DB": database,
                "PLANTWATCH_COLLECTOR_ID": f"{database}-{i}",
                "PLANTWATCH_SHARE_GROUP": database,
                "PLANTWATCH_SPOOL_DIR": str(tmp_path / "spool"),
                "PLANTWATCH_METRICS_PORT": str(metrics_ports[i - 1]),
            },
            f"collector-{i}",
        )
        for i in (1, 2)
    ]
    for c in collectors:
        assert wait_until(lambda c=c: "mqtt connected" in c.log(), 20), c.log()
    plant = MqttClient(f"plant-{database}", "127.0.0.1", mosquitto.port)
    plant.start()
    topic = Topics().readings("ss-001", "gas-1")
    for index, value in enumerate(VALUES):
        ts = T0 + index * QUARTER_MS
        plant.publish(topic, json.dumps({"ts": ts, "values": {"volume_m3": value}}).encode())
        # Readings come 15 minutes apart in life; wait for each to land like the next would.
        assert wait_until(
            lambda i=index: len(query(influx_url, database, "SELECT volume_m3 FROM gas")) == i + 1,
            10,
        )
    plant.stop()
    events = query(
        influx_url,
        database,
        'SELECT "event", "previous", "value", "register", "plant", "meter" FROM register_event',
    )
    assert events == [
        [T0 + 2 * QUARTER_MS, "reset", 200.0, 5.0, "volume_m3", "ss-001", "gas-1"],
        [T0 + 4 * QUARTER_MS, "implausible_jump", 10.0, 100_000.0, "volume_m3", "ss-001", "gas-1"],
    ]
    # Both collectors took part: the events did not depend on one collector's memory.
    for port in metrics_ports:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
        received = next(
            line
            for line in text.splitlines()
            if line.startswith("plantwatch_ingest_received_total")
        )
        assert float(received.rsplit(" ", 1)[1]) > 0, text
