"""(d) Publish-to-queryable latency through one collector at a modest rate.

Each reading carries its send time as its device time; a poller asks InfluxDB for new
points every `POLL_SECONDS` and records, for each, when it first became queryable.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from bench.mqtt import clear_session, publish_paced
from bench.stack import Stack, progress, stop_process
from bench.stats import percentiles_ms
from bench.workload import readings_message, readings_topic
from ingest.kernel.errors import StoreError
from ingest.kernel.store import InfluxStore

POLL_SECONDS = 0.02
DRAIN_SECONDS = 15.0


def run(
    stack: Stack, registry: Path, rate_per_second: float, duration_seconds: float
) -> dict[str, Any]:
    """p50/p99 of (first seen in a query) - (publish time) per reading."""
    progress(f"latency: {rate_per_second:g} readings/s for {duration_seconds:g}s")
    database = "bench_latency"
    cid = "bench-latency-1"
    proc = stack.spawn(
        ["-m", "ingest"],
        stack.env(
            database, registry, PLANTWATCH_COLLECTOR_ID=cid, PLANTWATCH_SHARE_GROUP="bench-latency"
        ),
        cid,
    )
    latencies: list[float] = []
    stop = threading.Event()
    try:
        if not stack.wait_subscribed([cid]):
            return {"error": "collector did not subscribe: " + stack.log_tail(cid)}
        with InfluxStore(stack.influx_url, database) as store:
            poller = threading.Thread(target=_poll, args=(store, latencies, stop), daemon=True)
            poller.start()
            sent = publish_paced(
                stack.mqtt_port,
                readings_topic("ss-001", "gas-1"),
                lambda k: readings_message(time.time_ns() // 1_000_000, 1000.0 + k),
                rate_per_second,
                duration_seconds,
                threading.Event(),
            )
            deadline = time.monotonic() + DRAIN_SECONDS
            while len(latencies) < sent and time.monotonic() < deadline:
                time.sleep(0.1)
            stop.set()
            poller.join(5)
    finally:
        stop_process(proc)
        clear_session(cid, stack.mqtt_port)
    figures = percentiles_ms(latencies)
    progress(f"latency: p50 {figures.get('p50_ms')} ms, p99 {figures.get('p99_ms')} ms")
    return {
        "what": "publish (QoS 1) -> python -m ingest -> InfluxDB -> first seen by a query",
        "rate_per_s": rate_per_second,
        "sent": sent,
        "seen": len(latencies),
        "poll_interval_ms": POLL_SECONDS * 1000,
        **figures,
    }


def _poll(store: InfluxStore, latencies: list[float], stop: threading.Event) -> None:
    last_ms = 0
    while not stop.is_set():
        try:
            series = store.query(f'SELECT "volume_m3" FROM "gas" WHERE time > {last_ms}ms')
        except StoreError:
            series = []
        now_ms = time.time_ns() / 1_000_000
        for s in series:
            for row in s.values:
                latencies.append((now_ms - row[0]) / 1000.0)
                last_ms = max(last_ms, int(row[0]))
        time.sleep(POLL_SECONDS)
