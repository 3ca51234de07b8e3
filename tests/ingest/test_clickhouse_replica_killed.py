"""A real collector on a ClickHouse cluster with a replica SIGKILLed mid-stream (issue 26,
SPEC 5, 14 and 15): no reading lost or doubled, and answers continue from the survivor.

scripts/chstack.py's cluster (ZooKeeper and two replicas of one shard, Debian's 18.16) and a
private Mosquitto; the collector writes through replica 1's `Distributed` table with the
shipped insert quorum (2: acknowledged means on both replicas, docs/decisions.md), so while
replica 2 is dead its inserts are refused and it spools, and replays once replica 2 is back.
The publisher and per-reading values are tests/ingest/faults.py's, counted as in
tests/ingest/test_clickhouse_collector.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from ingest.kernel.clickhouse import READINGS, ClickHouseStore, HttpRunner, Layout
from scripts.chstack import ClickHouseCluster, clickhouse_cluster
from scripts.devstack import StackError, mosquitto_server
from tests.ingest.faults import PLANTS, STEP_MS, T0_MS, Collector, Publisher, registry_text
from tests.ingest.test_clickhouse_collector import (
    DATABASE,
    MESSAGES,
    RATE_PER_SECOND,
    ClickHouseStack,
    assert_each_reading_once,
)
from tests.support import Process, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

QUORUM = 2  # the shipped PLANTWATCH_CLICKHOUSE_INSERT_QUORUM
HOUR_MS = 3_600_000
DEAD_SECONDS = 3.0  # replica 2 stays dead at least this long while readings keep coming


@dataclass
class ClusterStack(ClickHouseStack):
    """`ClickHouseStack` whose store is a cluster: the collector names replica 1."""

    cluster: ClickHouseCluster | None = None

    def collector_env(
        self, collector_id: str, metrics_port: int, share_group: str = "", partition: str = "1/1"
    ) -> dict[str, str]:
        assert self.cluster is not None
        return super().collector_env(collector_id, metrics_port, share_group, partition) | {
            "PLANTWATCH_CLICKHOUSE_CLUSTER": self.cluster.name,
            "PLANTWATCH_CLICKHOUSE_INSERT_QUORUM": str(QUORUM),
        }


@contextmanager
def cluster_stack(tmp_path: Path) -> Iterator[ClusterStack]:
    try:  # binaries missing: skipped with the reason; a start that fails is a failure
        cluster = clickhouse_cluster(tmp_path / "clickhouse")
    except StackError as exc:
        pytest.skip(f"no ClickHouse cluster here: {exc}")
    mosquitto = mosquitto_server(tmp_path / "mosquitto", durable_acks=False)
    registry = tmp_path / "registry.toml"
    registry.write_text(registry_text(), encoding="utf-8")
    try:
        cluster.start()
        mosquitto.start()
        yield ClusterStack(cluster.replicas[0], mosquitto, tmp_path, registry, cluster)
    finally:
        mosquitto.stop()
        cluster.stop()


def local_rows(url: str) -> dict[tuple[str, int], int]:
    """(plant, time) -> rows of `volume_m3` in this replica's own table."""
    runner = HttpRunner(url, timeout_seconds=10)
    try:
        rows = runner.run(
            f"SELECT plant, ts_ms, count() FROM {DATABASE}.{READINGS}_local "
            "WHERE name = 'volume_m3' GROUP BY plant, ts_ms"
        )
    finally:
        runner.close()
    return {(plant, int(ts)): int(n) for plant, ts, n in rows}


def test_a_replica_sigkilled_mid_stream_and_restarted(
    tmp_path: Path, spawn: Callable[..., Process]
) -> None:
    with cluster_stack(tmp_path) as stack:
        assert stack.cluster is not None
        first, second = stack.cluster.urls
        collector = Collector(spawn, stack).start()  # type: ignore[arg-type]
        publisher = Publisher(stack.mosquitto.port, MESSAGES, RATE_PER_SECOND).start()
        publisher.wait_queued(0.3)
        assert wait_until(lambda: collector.metric("received") > 0, 20), collector.log()

        stack.cluster.replicas[1].kill()  # SIGKILL
        killed_at = time.monotonic()
        # Reads keep answering from the survivor (its Distributed table prefers itself), each
        # within the client's timeout, while the collector's quorum inserts are refused.
        reader = ClickHouseStore(
            HttpRunner(first, timeout_seconds=5), Layout(DATABASE, stack.cluster.name, QUORUM)
        )
        answers: list[int] = []
        end_ms = T0_MS + MESSAGES * STEP_MS + HOUR_MS
        while time.monotonic() - killed_at < DEAD_SECONDS or collector.metric("spooled") == 0:
            assert time.monotonic() - killed_at < 30, collector.log()[-3000:]
            hours = reader.hourly("gas", "volume_m3", T0_MS, end_ms, 1e9, HOUR_MS)
            answers.append(sum(s.readings for meter in hours.values() for s in meter.values()))
        reader.close()
        assert answers[-1] > 0 and set(PLANTS) >= {plant for plant, _ in hours}
        spooled = collector.metric("spooled")

        publisher.wait_queued(0.7)
        restart_at = time.monotonic()
        stack.cluster.start_replica(stack.cluster.replicas[1])
        sent = publisher.finish()
        assert_each_reading_once(first, sent, collector.log)
        assert wait_until(lambda: collector.metric("spool_bytes") == 0, 30), collector.log()
        recovered_s = time.monotonic() - restart_at
        assert collector.metric("replayed") > 0

        # Both replicas hold every reading once after the restart.
        runner = HttpRunner(second, timeout_seconds=60)
        runner.run(f"SYSTEM SYNC REPLICA {DATABASE}.{READINGS}_local")
        runner.close()
        on_first, on_second = local_rows(first), local_rows(second)
        assert len(on_first) == sent and set(on_first.values()) == {1}
        assert on_second == on_first
        print(
            f"\nreplica killed: {sent} readings, {len(answers)} reads answered while dead "
            f"(last saw {answers[-1]} readings), spooled {spooled:.0f} batches, replayed "
            f"{collector.metric('replayed'):.0f}, spool empty {recovered_s:.1f} s after restart"
        )
