"""Soak: the simulated county at high speed with faults; memory stays flat, nothing is lost.

Opt-in (`PLANTWATCH_SOAK=1`), bounded by `PLANTWATCH_SOAK_SECONDS` (default 120):

    PLANTWATCH_SOAK=1 PLANTWATCH_SOAK_SECONDS=300 .venv/bin/pytest tests/soak -m soak -s

A collector (`python -m ingest`) and the simulator (`python -m simulators`, a backfill at full
speed, then live readings at 9000x) run against private servers while the test injects
malformed payloads, re-publishes readings (duplicates) and restarts InfluxDB twice (SIGTERM,
then SIGKILL). An observer subscribed to the same topics classifies every message with the
collector's own rules (`ingest.kernel.pipeline.handle_message`); at the end InfluxDB must hold
exactly the distinct accepted points, every refusal must be kept as a dead letter, and the
collector's resident memory late in the run must not have grown past its early peak.
"""

from __future__ import annotations

import collections
import os
import random
import statistics
import threading
import time
import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bench.mqtt import connect
from bench.stack import Stack, start_stack, stop_process
from bench.workload import county_firms, readings_message, readings_topic, registry_toml
from ingest.kernel.errors import StoreError
from ingest.kernel.pipeline import Accepted, IngestRules, handle_message
from ingest.kernel.registry import parse_registry
from ingest.kernel.store import InfluxStore

SOAK_ENABLED = os.environ.get("PLANTWATCH_SOAK") == "1"
SOAK_SECONDS = float(os.environ.get("PLANTWATCH_SOAK_SECONDS", "120"))
FUTURE_TOLERANCE_SECONDS = 10 * 365 * 86_400  # live readings at 9000x run ahead of the clock
FIRMS = 30
DRAIN_SECONDS = 240.0
FAULT_INTERVAL_SECONDS = 0.2
RSS_INTERVAL_SECONDS = 1.0
# Allowed growth of late RSS over the early peak (allocator noise, caches warming up).
RSS_SLACK_BYTES = 32 * 1024 * 1024
RSS_SLACK_FRACTION = 0.25

pytestmark = [
    pytest.mark.soak,
    pytest.mark.integration,
    pytest.mark.skipif(not SOAK_ENABLED, reason="opt-in: set PLANTWATCH_SOAK=1"),
    pytest.mark.timeout(int(SOAK_SECONDS + DRAIN_SECONDS + 120)),
]

MALFORMED: list[tuple[str, bytes]] = [
    (readings_topic("ss-001", "gas-1"), b"\x00\xffnot json"),
    (readings_topic("ss-002", "gas-1"), b'{"readings": [{"ts": 17723232'),
    (
        readings_topic("ss-003", "gas-1"),
        b'{"readings": [{"ts": 1772323200000, "values": {"volume_m3": -5}}]}',
    ),
    (readings_topic("ss-004", "coal-1"), b'{"ts": 1772323200000, "values": {"volume_m3": 5}}'),
    (readings_topic("ss-005", "gas-9"), b'{"ts": 1772323200000, "values": {"volume_m3": 5}}'),
    (readings_topic("zz-404", "gas-1"), b'{"ts": 1772323200000, "values": {"volume_m3": 5}}'),
    (readings_topic("ss-006", "gas-1"), b'{"ts": "yesterday", "values": {"volume_m3": 5}}'),
    ("plantwatch/plants/ss-007/hj212", b"##0010QN=1;CN=20111234\r\n"),
]


def rss_bytes(pid: int) -> int:
    """Resident set size of a process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


def point_key(line: str) -> tuple[str, str]:
    """A point's identity: measurement and tags, and its time."""
    return line.split(" ", 1)[0], line.rsplit(" ", 1)[1]


class Observer:
    """Sees every message the broker accepted and classifies it with the collector's rules."""

    def __init__(self, rules: IngestRules, port: int) -> None:
        self.rules = rules
        self.accepted: set[tuple[str, str]] = set()
        self.refused = 0
        self.messages = 0
        self.recent: collections.deque[tuple[str, bytes]] = collections.deque(maxlen=200)
        self.lock = threading.Lock()
        self.client = connect("soak-observer", port)
        self.client.on_message = self._on_message
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.subscribe(
            [("plantwatch/plants/+/meters/+/readings", 1), ("plantwatch/plants/+/hj212", 1)]
        )
        assert subscribed.wait(10), "observer did not subscribe"

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        outcome = handle_message(self.rules, msg.topic, bytes(msg.payload), datetime.now(UTC))
        with self.lock:
            self.messages += 1
            if isinstance(outcome, Accepted):
                self.accepted.update(point_key(line) for line in outcome.lines)
                self.recent.append((msg.topic, bytes(msg.payload)))
            else:
                self.refused += 1

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def stored(store: InfluxStore) -> tuple[int, int]:
    """(reading points in gas + coal, dead letters)."""
    try:
        results = store.query_many(
            'SELECT count("volume_m3") FROM "gas"; SELECT count("mass_kg") FROM "coal"; '
            'SELECT count("reason") FROM "dead_letter"'
        )
    except StoreError:
        return -1, -1
    counts = [int(r[0].values[0][1]) if r and r[0].values else 0 for r in results]
    return counts[0] + counts[1], counts[2]


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    s = start_stack(tmp_path)
    yield s
    s.stop()


def test_soak_memory_flat_and_nothing_lost(stack: Stack, tmp_path: Path) -> None:
    registry_path = tmp_path / "registry.toml"
    text = registry_toml(county_firms(FIRMS))
    registry_path.write_text(text, encoding="utf-8")
    rules = IngestRules(
        parse_registry(tomllib.loads(text)),
        future_tolerance=timedelta(seconds=FUTURE_TOLERANCE_SECONDS),
    )
    database = "soak"
    env = stack.env(
        database,
        registry_path,
        PLANTWATCH_COLLECTOR_ID="soak-collector",
        PLANTWATCH_SHARE_GROUP="soak",
        PLANTWATCH_FUTURE_TOLERANCE_SECONDS=str(FUTURE_TOLERANCE_SECONDS),
    )
    collector = stack.spawn(["-m", "ingest"], env, "collector")
    assert stack.wait_subscribed(["soak-collector"]), stack.log_tail("collector")
    observer = Observer(rules, stack.mqtt_port)
    backfill_days = max(1.0, SOAK_SECONDS / 8)
    simulator = stack.spawn(
        [
            "-m",
            "simulators",
            "--seed",
            "7",
            "--backfill-days",
            f"{backfill_days:g}",
            "--live",
            "--speed",
            "9000",
        ],
        env,
        "simulator",
    )
    rss: list[tuple[float, int]] = []
    injected = {"malformed": 0, "duplicates": 0}
    stop = threading.Event()
    faults = threading.Thread(
        target=inject_faults, args=(stack.mqtt_port, observer, injected, stop), daemon=True
    )
    start = time.monotonic()
    faults.start()
    restarts = {0.4: "terminate", 0.7: "kill"}
    try:
        while (elapsed := time.monotonic() - start) < SOAK_SECONDS:
            assert collector.poll() is None, "collector died:\n" + stack.log_tail("collector", 60)
            rss.append((elapsed, rss_bytes(collector.pid)))
            for at, how in list(restarts.items()):
                if elapsed >= at * SOAK_SECONDS:
                    del restarts[at]
                    restart_influxd(stack, how)
            time.sleep(RSS_INTERVAL_SECONDS)
    finally:
        stop.set()
        faults.join(10)
        stop_process(simulator)
    with InfluxStore(stack.influx_url, database) as store:
        deadline = time.monotonic() + DRAIN_SECONDS
        readings, dead = stored(store)
        while time.monotonic() < deadline:
            time.sleep(1.0)
            readings, dead = stored(store)
            with observer.lock:
                expected, refused = len(observer.accepted), observer.refused
            if readings == expected and dead >= refused:
                break
    observer.close()
    assert collector.poll() is None, "collector died:\n" + stack.log_tail("collector", 60)
    with observer.lock:
        expected, refused, messages = len(observer.accepted), observer.refused, observer.messages
    summary = summarize_rss(rss)
    print(
        f"\nsoak {SOAK_SECONDS:.0f}s: {messages} messages, {expected} distinct readings accepted, "
        f"{readings} stored, {refused} refused, {dead} dead letters, injected {injected}, "
        f"collector RSS {summary}"
    )
    assert expected > 0 and injected["malformed"] > 0 and injected["duplicates"] > 0
    assert readings == expected, "stored readings differ from accepted ones"
    assert dead >= refused, "a refused message was not kept as a dead letter"
    early_peak, late = summary["early_peak_mib"], summary["late_median_mib"]
    allowed = early_peak + max(RSS_SLACK_BYTES / 2**20, RSS_SLACK_FRACTION * early_peak)
    assert late <= allowed, f"collector RSS grew: {summary}"


def inject_faults(
    port: int, observer: Observer, injected: dict[str, int], stop: threading.Event
) -> None:
    """Malformed payloads and re-published (duplicate) readings, a few per second."""
    client = connect("soak-faults", port)
    rng = random.Random(7)
    try:
        while not stop.wait(FAULT_INTERVAL_SECONDS):
            topic, payload = rng.choice(MALFORMED)
            client.publish(topic, payload, qos=1).wait_for_publish(10)
            injected["malformed"] += 1
            with observer.lock:
                recent = list(observer.recent)
            if recent:
                topic, payload = rng.choice(recent)
                client.publish(topic, payload, qos=1).wait_for_publish(10)
                injected["duplicates"] += 1
            # A fresh single reading too, as live meters send them.
            ts_ms = int(time.time() * 1000) - 86_400_000
            client.publish(
                readings_topic("ss-001", "gas-1"), readings_message(ts_ms, 5000.0), qos=1
            ).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


def restart_influxd(stack: Stack, how: str) -> None:
    """Stop InfluxDB (gracefully or by SIGKILL), keep it down a few seconds, start it again."""
    if how == "kill":
        stack.influxd.kill()
    else:
        stack.influxd.stop()
    time.sleep(5.0)
    stack.influxd.start()


def summarize_rss(samples: list[tuple[float, int]]) -> dict[str, float]:
    """Early peak (after warm-up, first half) against the late median (last quarter), MiB."""
    mib = [(t, b / 2**20) for t, b in samples]
    early = [m for t, m in mib if 0.1 * SOAK_SECONDS <= t < 0.5 * SOAK_SECONDS]
    late = [m for t, m in mib if t >= 0.75 * SOAK_SECONDS]
    assert early and late, f"too few RSS samples: {len(samples)}"
    return {
        "early_peak_mib": round(max(early), 1),
        "late_median_mib": round(statistics.median(late), 1),
        "max_mib": round(max(m for _, m in mib), 1),
        "samples": len(mib),
    }
