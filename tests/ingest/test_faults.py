"""Fault injection against real servers: every reading the broker accepted is stored once.

Each test publishes thousands of QoS 1 readings (one per message) while something fails,
then counts the points in InfluxDB: the count must equal the count sent, and the sum of
the register values (each reading carries 1000 + its index) proves none is missing or twice.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.ingest.faults import (
    DATABASE,
    Collector,
    Publisher,
    assert_all_stored_once,
    private_stack,
    stored,
)
from tests.support import Process, http_post, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MESSAGES = 3000
RATE_PER_SECOND = 1000.0


def dirty_points(influx_url: str) -> int:
    """Readings counted by the `rollup_dirty` marks written with them (ingest/kernel/dirty.py)."""
    resp = http_post(
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
    """The default configuration: plants keep publishing through a broker restart."""
    with private_stack(tmp_path) as stack:
        collector = Collector(spawn, stack).start()
        publisher = Publisher(stack.mosquitto.port, MESSAGES, RATE_PER_SECOND).start()
        publisher.wait_queued(0.4)
        stack.mosquitto.stop()  # graceful: Mosquitto saves its persistent sessions
        stack.mosquitto.start()
        sent = publisher.finish()
        assert_all_stored_once(stack.influx_url, sent, collector.log)
        assert collector.log().count("mqtt connected") >= 2  # it reconnected and flow resumed


def test_every_fault_in_one_run_in_the_default_configuration(
    tmp_path: Path, spawn: Callable[..., Process]
) -> None:
    """SIGKILL, an InfluxDB restart and a broker restart while readings are queued for the
    collector, all in one run with the default settings: stored = sent, sums equal.

    Issue 14: with the old default (`$share/collectors`) the readings queued for the shared
    subscription just before the broker restart were lost (5 945 of 6 000 stored).
    """
    with private_stack(tmp_path) as stack:
        first = Collector(spawn, stack).start()
        publisher = Publisher(stack.mosquitto.port, 2 * MESSAGES, RATE_PER_SECOND).start()
        publisher.wait_queued(0.15)
        assert first.process is not None
        first.process.kill()
        publisher.wait_queued(0.25)
        second = Collector(spawn, stack).start()
        publisher.wait_queued(0.35)
        stack.influxd.stop()
        publisher.wait_queued(0.5)
        stack.influxd.start()
        publisher.wait_queued(0.6)
        assert second.process is not None
        second.process.kill()  # readings now queue in the broker for the absent collector
        publisher.wait_queued(0.75)
        stack.mosquitto.stop()
        stack.mosquitto.start()
        # Plants are back and publishing before the collector is: their readings must wait
        # in the collector's restored session.
        assert wait_until(lambda: publisher.client.published_count >= 0.85 * 2 * MESSAGES, 30)
        third = Collector(spawn, stack).start()
        sent = publisher.finish(60)
        assert_all_stored_once(stack.influx_url, sent, first.log, second.log, third.log)


def test_long_influxdb_outage_at_county_rate(tmp_path: Path, spawn: Callable[..., Process]) -> None:
    """An hour of the county's traffic arrives while InfluxDB is down (scaled down in time).

    `make run`'s county sends about 4.2 messages/s (SPEC section 5 sizing in
    docs/operations.md): one hour is ~15 000 messages, all spooled, then replayed.
    """
    hour_of_messages = 15_000
    with private_stack(tmp_path) as stack:
        collector = Collector(spawn, stack).start()
        stack.influxd.stop()
        sent = Publisher(stack.mosquitto.port, hour_of_messages, 3000.0).start().finish(60)
        assert wait_until(lambda: collector.metric("spooled") >= hour_of_messages, 60), (
            collector.metrics()
        )
        stack.influxd.start()
        assert_all_stored_once(stack.influx_url, sent, collector.log)
        assert wait_until(lambda: collector.metric("spool_bytes") == 0, 30)


@pytest.mark.parametrize("count", [2, 3])
def test_partitioned_collectors_through_broker_restart(
    tmp_path: Path, spawn: Callable[..., Process], count: int
) -> None:
    """The default scale-out on Mosquitto: static partitions over plain subscriptions.

    Plants keep publishing while the broker restarts; nothing is lost, nothing doubled.
    (With `$share` on Mosquitto 2.0 the readings queued just before the restart were lost:
    issue 14.)
    """
    with private_stack(tmp_path) as stack:
        collectors = [
            Collector(spawn, stack, f"collector-{i}", partition=f"{i}/{count}").start()
            for i in range(1, count + 1)
        ]
        publisher = Publisher(stack.mosquitto.port, MESSAGES, RATE_PER_SECOND).start()
        publisher.wait_queued(0.4)
        stack.mosquitto.stop()
        stack.mosquitto.start()
        sent = publisher.finish()
        assert_all_stored_once(stack.influx_url, sent, *(c.log for c in collectors))
        assert all(c.log().count("mqtt connected") >= 2 for c in collectors)
        received = [c.metric("received") for c in collectors]
        assert all(r > 0 for r in received), received
        # Redeliveries of unacknowledged messages aside, each message went to one collector.
        assert sent <= sum(received) <= sent + 2000 * count, received


def test_three_collectors_share_the_load(tmp_path: Path, spawn: Callable[..., Process]) -> None:
    with private_stack(tmp_path) as stack:
        collectors = [
            Collector(spawn, stack, f"collector-{i}", partition=f"{i}/3").start() for i in (1, 2, 3)
        ]
        sent = Publisher(stack.mosquitto.port, MESSAGES, 2 * RATE_PER_SECOND).start().finish()
        assert_all_stored_once(stack.influx_url, sent, *(c.log for c in collectors))
        received = [c.metric("received") for c in collectors]
        assert sum(received) == sent, received  # each message went to exactly one collector
        # ss-001..ss-006 hash to partitions 1, 3, 3, 1, 1, 2 of 3 (tests/ingest/test_partition.py)
        per_plant = sent // 6
        assert received == [3 * per_plant, per_plant, 2 * per_plant], received
        # Each collector reports itself to InfluxDB for the dashboards.
        assert wait_until(
            lambda: stored_stats(stack.influx_url) == {"collector-1", "collector-2", "collector-3"},
            10,
        )
        assert stored(stack.influx_url)[0] == sent


def test_a_collector_moved_to_another_partition_drops_its_old_subscriptions(
    tmp_path: Path, spawn: Callable[..., Process]
) -> None:
    """1 -> 2 collectors: the resumed session of collector-1 no longer hears partition 2."""
    with private_stack(tmp_path) as stack:
        alone = Collector(spawn, stack, "collector-1").start()
        assert alone.process is not None
        alone.process.stop()
        # Partition 2 first, so no plant is ever without a subscriber (docs/operations.md).
        second = Collector(spawn, stack, "collector-2", partition="2/2").start()
        first = Collector(spawn, stack, "collector-1", partition="1/2").start()
        assert wait_until(lambda: "mqtt connected" in first.log(), 20)
        sent = Publisher(stack.mosquitto.port, 600, RATE_PER_SECOND).start().finish()
        assert_all_stored_once(stack.influx_url, sent, first.log, second.log)
        # ss-001..ss-006 hash to partitions 2, 2, 2, 1, 1, 1 of 2: 300 messages each.
        assert wait_until(lambda: first.metric("received") + second.metric("received") == sent)
        assert [first.metric("received"), second.metric("received")] == [300, 300]


def stored_stats(influx_url: str) -> set[str]:

    resp = http_post(
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
