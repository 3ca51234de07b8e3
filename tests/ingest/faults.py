"""Helpers of the fault-injection tests: a private stack, a steady publisher, counting points.

Tests that stop servers use their own private InfluxDB and Mosquitto (the session-scoped
ones are shared with other tests).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType

import httpx

from ingest.client import MqttClient
from ingest.kernel.schema import Reading, encode_readings
from ingest.kernel.topics import Topics
from scripts.devstack import Server, free_port, influxd_server, mosquitto_server
from tests.builders import RegistryBuilder
from tests.support import Process, http_get, http_post, wait_until

DATABASE = "faults"
# Six plants: partitions 1/2 and 2/2 hold three each, 1/3..3/3 three, two and one.
PLANTS = tuple(f"ss-{i:03d}" for i in range(1, 7))
T0_MS = 1_772_323_200_000  # 2026-03-01T00:00:00Z
STEP_MS = 60_000  # one reading a minute: 60 m³/h, far below the implausible rate


def registry_text() -> str:
    builder = RegistryBuilder(county="Faults")
    for plant in PLANTS:
        builder.plant(plant, meters=[("gas-1", "gas")])
    return builder.toml()


@dataclass
class Stack:
    influxd: Server
    mosquitto: Server
    workdir: Path
    registry: Path

    @property
    def influx_url(self) -> str:
        return f"http://127.0.0.1:{self.influxd.port}"

    def collector_env(
        self, collector_id: str, metrics_port: int, share_group: str = "", partition: str = "1/1"
    ) -> dict[str, str]:
        """The collector's environment; the defaults are whatever the settings default to."""
        optional = {
            "PLANTWATCH_SHARE_GROUP": share_group,
            "PLANTWATCH_COLLECTOR_PARTITION": partition if partition != "1/1" else "",
        }
        return {
            **{k: v for k, v in optional.items() if v},
            "PLANTWATCH_REGISTRY": str(self.registry),
            "PLANTWATCH_MQTT_PORT": str(self.mosquitto.port),
            "PLANTWATCH_INFLUX_URL": self.influx_url,
            "PLANTWATCH_INFLUX_DB": DATABASE,
            "PLANTWATCH_INFLUX_TIMEOUT_SECONDS": "3",
            "PLANTWATCH_COLLECTOR_ID": collector_id,
            "PLANTWATCH_SPOOL_DIR": str(self.workdir / "spool"),
            "PLANTWATCH_METRICS_PORT": str(metrics_port),
            "PLANTWATCH_STATS_INTERVAL_SECONDS": "1",
            "PLANTWATCH_BATCH_MAX_SECONDS": "0.2",
        }


@contextmanager
def private_stack(tmp_path: Path) -> Iterator[Stack]:
    influxd = influxd_server(tmp_path / "influxd")
    # Periodic saves: these tests publish thousands of messages a second to an absent
    # collector, which the shipped save-after-every-change broker does not sustain
    # (bench/results/pathsafe-*.md); a broker crash is tested in test_broker_durability.py.
    mosquitto = mosquitto_server(tmp_path / "mosquitto", durable_acks=False)
    registry = tmp_path / "registry.toml"
    registry.write_text(registry_text(), encoding="utf-8")
    influxd.start()
    mosquitto.start()
    try:
        yield Stack(influxd, mosquitto, tmp_path, registry)
    finally:
        mosquitto.stop()
        influxd.stop()


class Collector:
    """A `python -m ingest` process and its metrics endpoint."""

    def __init__(
        self,
        spawn: Callable[..., Process],
        stack: Stack,
        collector_id: str = "collector-1",
        share_group: str = "",
        partition: str = "1/1",
    ) -> None:
        self.spawn, self.stack, self.collector_id = spawn, stack, collector_id
        self.share_group, self.partition = share_group, partition
        self.metrics_port = free_port()
        self.process: Process | None = None

    def start(self) -> Collector:
        env = self.stack.collector_env(
            self.collector_id, self.metrics_port, self.share_group, self.partition
        )
        self.process = self.spawn(["ingest"], env, f"{self.collector_id}-{uuid.uuid4().hex[:4]}")
        assert wait_until(lambda: self.metrics() is not None, 20), self.log()
        return self

    def metrics(self) -> dict[str, float] | None:
        """The collector's counters from its Prometheus endpoint (None if not up)."""
        try:
            text = http_get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=1).text
        except httpx.HTTPError:
            return None
        out = {}
        for line in text.splitlines():
            if line.startswith("plantwatch_ingest_"):
                name = line.split("{")[0].removeprefix("plantwatch_ingest_").removesuffix("_total")
                out[name] = float(line.rsplit(" ", 1)[1])
        return out

    def metric(self, name: str) -> float:
        return (self.metrics() or {}).get(name, -1.0)

    def log(self) -> str:
        return self.process.log() if self.process else ""


def reading_payload(index: int) -> bytes:
    """Reading `index`: its own minute, and a register value that identifies it."""
    ts = T0_MS + index * STEP_MS
    reading = Reading(
        datetime_from_ms(ts), MappingProxyType({"volume_m3": 1000.0 + index}), MappingProxyType({})
    )
    return encode_readings([reading])


def datetime_from_ms(ts_ms: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ts_ms)


class Publisher:
    """Publishes one reading per QoS 1 message on a thread, steadily, across the plants."""

    def __init__(
        self,
        mqtt_port: int,
        count: int,
        rate_per_second: float,
        credentials: tuple[str, str] | None = None,
    ) -> None:
        self.count, self.rate = count, rate_per_second
        user, password = credentials or (None, None)
        self.client = MqttClient(
            f"plants-{uuid.uuid4().hex[:6]}",
            "127.0.0.1",
            mqtt_port,
            user,
            password,
            max_inflight=500,
        )
        self.queued = 0
        self.running = threading.Event()
        self.running.set()  # cleared: the publisher pauses (the plants hold their readings)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._topics = Topics()

    def start(self) -> Publisher:
        self.client.start()
        self._thread.start()
        return self

    def _run(self) -> None:
        started = time.monotonic()
        for index in range(self.count):
            if not self.running.is_set():
                paused = time.monotonic()
                self.running.wait(30)
                started += time.monotonic() - paused
            plant = PLANTS[index % len(PLANTS)]
            self.client.publish(self._topics.readings(plant, "gas-1"), reading_payload(index))
            self.queued = index + 1
            ahead = started + (index + 1) / self.rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)

    def wait_queued(self, fraction: float, timeout: float = 20.0) -> None:
        assert wait_until(lambda: self.queued >= fraction * self.count, timeout, 0.02)

    def finish(self, timeout: float = 30.0) -> int:
        """Wait until the broker acknowledged every message; returns the count."""
        self._thread.join(timeout)
        assert self.client.wait_published(self.count, timeout), (
            f"broker acknowledged {self.client.published_count} of {self.count}"
        )
        self.client.stop()
        return self.count


def stored(influx_url: str) -> tuple[int, float]:
    """(count, sum) of `volume_m3` over all plants; (-1, -1) while InfluxDB is down."""
    try:
        resp = http_post(
            f"{influx_url}/query",
            data={"db": DATABASE, "q": 'SELECT count("volume_m3"), sum("volume_m3") FROM "gas"'},
            timeout=5,
        )
        series = resp.json()["results"][0].get("series")
    except (httpx.HTTPError, ValueError, KeyError):
        return -1, -1.0
    if not series:
        return 0, 0.0
    # A database dropped and made again can answer a row of nulls for a moment.
    _, count, total = series[0]["values"][0]
    return int(count or 0), float(total or 0.0)


def expected(count: int) -> tuple[int, float]:
    """Every reading exactly once: the count, and the sum of 1000 + index over all of them."""
    return count, 1000.0 * count + count * (count - 1) / 2


def assert_all_stored_once(influx_url: str, sent: int, *logs: Callable[[], str]) -> None:
    """Stored count equals sent; the sum proves each reading is there once, none twice."""
    assert wait_until(lambda: stored(influx_url) == expected(sent), 90, 0.2), (
        stored(influx_url),
        expected(sent),
        "\n".join(log()[-3000:] for log in logs),
    )
    # Per reading: no point appears under two timestamps or with a foreign value.
    resp = http_post(
        f"{influx_url}/query",
        data={
            "db": DATABASE,
            "q": 'SELECT count("volume_m3") FROM "gas" GROUP BY "plant"',
        },
    )
    per_plant = {s["tags"]["plant"]: s["values"][0][1] for s in resp.json()["results"][0]["series"]}
    assert per_plant == {p: len(range(i, sent, len(PLANTS))) for i, p in enumerate(PLANTS)}
