"""A short history through real Mosquitto and a real collector into InfluxDB."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from scripts.devstack import Server
from simulators.fleet import build_fleet, registry_toml
from tests.support import ROOT, Process, http_post, wait_until

pytestmark = pytest.mark.integration


def _count(influx_port: int, database: str) -> int:
    resp = http_post(
        f"http://127.0.0.1:{influx_port}/query",
        data={
            "db": database,
            "q": "SELECT count(volume_m3) FROM gas; SELECT count(mass_kg) FROM coal; "
            "SELECT count(energy_kwh) FROM electricity; SELECT count(flow_m3h) FROM voc",
        },
    )
    results = resp.json().get("results", [])
    return sum(r["series"][0]["values"][0][1] for r in results if "series" in r)


def _retained_status(mqtt_port: int, root: str, expected: int) -> dict[str, str]:
    seen: dict[str, str] = {}
    done = threading.Event()

    def on_message(client, userdata, msg) -> None:  # type: ignore[no-untyped-def]
        seen[msg.topic.split("/")[2]] = msg.payload.decode()
        if len(seen) >= expected:
            done.set()

    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"status-{uuid.uuid4().hex[:6]}")
    client.on_message = on_message
    client.on_connect = lambda c, *_: c.subscribe(f"{root}/plants/+/status", 1)
    client.connect("127.0.0.1", mqtt_port)
    client.loop_start()
    done.wait(10)
    client.loop_stop()
    client.disconnect()
    return seen


def test_two_days_of_history_reach_influxdb(
    tmp_path: Path, influxd: Server, mosquitto: Server, spawn: Callable[..., Process]
) -> None:
    fleet = build_fleet(5, stainless=3, leather=2, other=1)
    registry = tmp_path / "county.toml"
    registry.write_text(registry_toml(fleet), encoding="utf-8")
    database = f"sim_{uuid.uuid4().hex[:8]}"
    env = {
        "PLANTWATCH_REGISTRY": str(registry),
        "PLANTWATCH_MQTT_PORT": str(mosquitto.port),
        "PLANTWATCH_INFLUX_URL": f"http://127.0.0.1:{influxd.port}",
        "PLANTWATCH_INFLUX_DB": database,
        "PLANTWATCH_COLLECTOR_ID": f"c-{database}",
        "PLANTWATCH_SHARE_GROUP": database,
        "PLANTWATCH_SPOOL_DIR": str(tmp_path / "spool"),
        "PLANTWATCH_TOPIC_ROOT": database,  # retained statuses of other tests stay apart
        "PLANTWATCH_CREDENTIALS_FILE": str(tmp_path / "credentials"),
    }
    collector = spawn(["ingest"], env, "collector")
    assert wait_until(lambda: "mqtt connected" in collector.log(), 20), collector.log()
    result = subprocess.run(
        [sys.executable, "-m", "simulators", "history", "--start", "2026-03-02", "--end", "2026-03-03",
         "--no-faults", "--seed", "5", "--voc-interval", "600", "--max-inflight", "50"],
        env={**collector.env, "PLANTWATCH_LOG_LEVEL": "WARNING"}, cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    match = re.search(r"published (\d+) readings in (\d+) messages for (\d+) plants", result.stdout)
    assert match, result.stdout
    readings, plants = int(match.group(1)), int(match.group(3))
    stacks = sum(1 for p in fleet for m in p.meters if m.kind == "voc")
    registers = sum(1 for p in fleet for m in p.meters if m.kind != "voc")  # 96 a day each
    assert plants == 6
    assert readings == 2 * (96 * registers + 144 * stacks)
    assert "history" in result.stderr  # the progress bar
    assert wait_until(lambda: _count(influxd.port, database) == readings, 60), (
        _count(influxd.port, database),
        readings,
        collector.log()[-2000:],
    )
    # Each plant left its own retained status; a clean stop says offline.
    assert _retained_status(mosquitto.port, database, plants) == {p.id: "offline" for p in fleet}
