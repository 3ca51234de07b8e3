"""Fault injection against real servers: every reading the broker accepted is stored once.

Each test publishes thousands of QoS 1 readings (one per message) while something fails,
then counts the points in InfluxDB: the count must equal the count sent, and the sum of
the register values (each reading carries 1000 + its index) proves none is missing or twice.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.conftest import Process, wait_until
from tests.ingest.faults import (
    DATABASE,
    Collector,
    Publisher,
    assert_all_stored_once,
    private_stack,
    stored,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MESSAGES = 3000
RATE_PER_SECOND = 1000.0


def dirty_points(influx_url: str) -> int:
    """Readings counted by the `rollup_dirty` marks written with them (ingest/dirty.py)."""
    resp = httpx.post(
        f"{influx_url}/query",
        data={"db": DATABASE, "q": 'SELECT sum("points") FROM "rollup_dirty"'},
        timeout=10,
    )
    series = resp.json()["results"][0].get("series") or [{"values": [[0, 0]]}]
    return int(series[0]["values"][0][1])


def test_influxdb_stopped_and_restarted_mid_stream(
    tmp_path: Path, spawn: Callable[..., Process]
) -> None:
    with private_stack(tmp_path) as stack:
        collector = Collector(spawn, stack).start()
        publisher = Publisher(stack.mosquitto.port, MESSAGES, RATE_PER_SECOND).start()
        publisher.wait_queued(0.3)
        stack.influxd.stop()
        assert wait_until(lambda: collector.metric("spooled") > 0, 10), collector.log()
        publisher.wait_queued(0.7)
        stack.influxd.start()
        sent = publisher.finish()
        assert_all_stored_once(stack.influx_url, sent, collector.log)
        # The outage went through the spool and back, and the spool is empty again.
        assert wait_until(lambda: collector.metric("spool_bytes") == 0, 10)
        metrics = collector.metrics() or {}
        assert metrics["replayed"] > 0 and metrics["replayed"] == metrics["spooled"]
        assert metrics["received"] >= MESSAGES
        # Every reading, live or replayed from the spool, marked its hour for the rollups.
        assert dirty_points(stack.influx_url) >= sent


def test_collector_sigkilled_mid_stream_and_restarted(
    tmp_path: Path, spawn: Callable[..., Process]
) -> None:
    with private_stack(tmp_path) as stack:
        first = Collector(spawn, stack).start()
        publisher = Publisher(stack.mosquitto.port, MESSAGES, RATE_PER_SECOND).start()
        publisher.wait_queued(0.4)
        assert first.process is not None
        first.process.kill()  # SIGKILL: whatever was not acknowledged is redelivered
        publisher.wait_queued(0.6)
        second = Collector(spawn, stack).start()  # same id: the same persistent session
        sent = publisher.finish()
        assert_all_stored_once(stack.influx_url, sent, first.log, second.log)


def test_collector_sigkilled_while_spooling(tmp_path: Path, spawn: Callable[..., Process]) -> None:
    """The spool survives SIGKILL: what it acknowledged reaches InfluxDB after a restart."""
    with private_stack(tmp_path) as stack:
        first = Collector(spawn, stack).start()
        publisher = Publisher(stack.mosquitto.port, MESSAGES, RATE_PER_SECOND).start()
        publisher.wait_queued(0.2)
        stack.influxd.stop()
        assert wait_until(lambda: first.metric("spooled") > 500, 10), first.log()
        assert first.process is not None
        first.process.kill()
        spooled_before_kill = list((tmp_path / "spool" / "collector-1").glob("*.spool"))
        assert spooled_before_kill
        stack.influxd.start()
        second = Collector(spawn, stack).start()
        sent = publisher.finish()
        assert_all_stored_once(stack.influx_url, sent, first.log, second.log)
        assert wait_until(lambda: second.metric("replayed") > 0, 10)


def test_broker_restarted_mid_stream(tmp_path: Path, spawn: Callable[..., Process]) -> None:
    """A lone collector with a plain persistent subscription: plants keep publishing."""
    with private_stack(tmp_path) as stack:
        collector = Collector(spawn, stack, share_group="").start()
        publisher = Publisher(stack.mosquitto.port, MESSAGES, RATE_PER_SECOND).start()
        publisher.wait_queued(0.4)
        stack.mosquitto.stop()  # graceful: Mosquitto saves its persistent sessions
        stack.mosquitto.start()
        sent = publisher.finish()
        assert_all_stored_once(stack.influx_url, sent, collector.log)
        assert collector.log().count("mqtt connected") >= 2  # it reconnected and flow resumed


def test_broker_restarted_under_shared_subscription(
    tmp_path: Path, spawn: Callable[..., Process]
) -> None:
    """Two collectors on `$share`: the sessions' queued readings survive and flow resumes.

    Mosquitto 2.0 forgets shared subscriptions over a restart, so readings published before
    the collectors have subscribed again would reach no one (docs/decisions.md); here the
    plants wait until the collectors are back, as they do with a plain subscription.
    """
    with private_stack(tmp_path) as stack:
        collectors = [Collector(spawn, stack, f"collector-{i}").start() for i in (1, 2)]
        publisher = Publisher(stack.mosquitto.port, MESSAGES, RATE_PER_SECOND).start()
        publisher.wait_queued(0.4)
        publisher.running.clear()
        stack.mosquitto.stop()
        stack.mosquitto.start()
        assert wait_until(lambda: all(c.log().count("mqtt connected") >= 2 for c in collectors), 10)
        publisher.running.set()
        sent = publisher.finish()
        assert_all_stored_once(stack.influx_url, sent, *(c.log for c in collectors))
        assert all(c.metric("received") > 0 for c in collectors)


def test_three_collectors_share_the_load(tmp_path: Path, spawn: Callable[..., Process]) -> None:
    with private_stack(tmp_path) as stack:
        collectors = [Collector(spawn, stack, f"collector-{i}").start() for i in (1, 2, 3)]
        sent = Publisher(stack.mosquitto.port, MESSAGES, 2 * RATE_PER_SECOND).start().finish()
        assert_all_stored_once(stack.influx_url, sent, *(c.log for c in collectors))
        received = [c.metric("received") for c in collectors]
        assert sum(received) == sent, received  # each message went to exactly one collector
        assert all(r > 0 for r in received), received
        # Each collector reports itself to InfluxDB for the dashboards.
        assert wait_until(
            lambda: stored_stats(stack.influx_url) == {"collector-1", "collector-2", "collector-3"},
            10,
        )
        assert stored(stack.influx_url)[0] == sent


def stored_stats(influx_url: str) -> set[str]:
    import httpx

    resp = httpx.post(
        f"{influx_url}/query",
        data={"db": "faults", "q": 'SHOW TAG VALUES FROM "ingest_stats" WITH KEY = "collector"'},
    )
    series = resp.json()["results"][0].get("series") or []
    return {v[1] for s in series for v in s["values"]}


def test_graceful_stop_flushes_to_the_spool(tmp_path: Path, spawn: Callable[..., Process]) -> None:
    """SIGTERM during an InfluxDB outage: what was received is spooled, acked, then replayed."""
    with private_stack(tmp_path) as stack:
        first = Collector(spawn, stack).start()
        publisher = Publisher(stack.mosquitto.port, MESSAGES, RATE_PER_SECOND).start()
        publisher.wait_queued(0.3)
        stack.influxd.stop()
        publisher.wait_queued(0.6)
        assert first.process is not None and first.process.proc is not None
        first.process.stop()  # SIGTERM
        assert first.process.proc.returncode == 0, first.log()
        assert "collector stopped" in first.log()
        assert list((tmp_path / "spool" / "collector-1").glob("*.spool")), first.log()
        stack.influxd.start()
        second = Collector(spawn, stack).start()
        sent = publisher.finish()
        assert_all_stored_once(stack.influx_url, sent, first.log, second.log)
