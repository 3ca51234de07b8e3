"""A real collector on a ClickHouse cluster with a replica SIGKILLed mid-stream (issue 26,
SPEC 5, 14 and 15): no reading lost or doubled, and answers continue from the survivor.

scripts/chstack.py's cluster (ZooKeeper and the replicas of one shard, Debian's 18.16) and a
private Mosquitto; the collector writes through replica 1's `Distributed` table with the
shipped insert quorum (2: acknowledged means on two replicas, docs/decisions.md) and the last
replica is killed. Two replicas: the quorum cannot be met while one is dead, so the inserts
are refused, the collector spools and replays once it is back. Three: the quorum is met by
the two alive, writes continue and nothing is spooled. The publisher and per-reading values
are tests/ingest/faults.py's, counted as in tests/ingest/test_clickhouse_collector.py.
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
from tests.ingest.clickhouse_support import (
    DATABASE,
    MESSAGES,
    RATE_PER_SECOND,
    ClickHouseStack,
    assert_each_reading_once,
)
from tests.ingest.faults import PLANTS, STEP_MS, T0_MS, Collector, Publisher, registry_text
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
def cluster_stack(tmp_path: Path, replicas: int) -> Iterator[ClusterStack]:
    try:  # binaries missing: skipped with the reason; a start that fails is a failure
        cluster = clickhouse_cluster(tmp_path / "clickhouse", replicas=replicas)
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


@pytest.mark.parametrize("replicas", [2, 3])
def test_a_replica_sigkilled_mid_stream_and_restarted(
    tmp_path: Path, spawn: Callable[..., Process], replicas: int
) -> None:
    writes_stop = replicas - 1 < QUORUM  # the replicas alive cannot meet the quorum
    with cluster_stack(tmp_path, replicas) as stack:
        assert stack.cluster is not None
        first, killed = stack.cluster.urls[0], stack.cluster.replicas[-1]
        collector = Collector(spawn, stack).start()  # type: ignore[arg-type]
        publisher = Publisher(stack.mosquitto.port, MESSAGES, RATE_PER_SECOND).start()
        publisher.wait_queued(0.3)
        assert wait_until(lambda: collector.metric("received") > 0, 20), collector.log()

        killed.kill()  # SIGKILL
        killed_at = time.monotonic()
        # Reads keep answering from the survivor (its Distributed table prefers itself), each
        # within the client's timeout, whether or not the quorum inserts go on.
        reader = ClickHouseStore(
            HttpRunner(first, timeout_seconds=5), Layout(DATABASE, stack.cluster.name, QUORUM)
        )
        answers: list[int] = []
        slowest_s = 0.0
        end_ms = T0_MS + MESSAGES * STEP_MS + HOUR_MS
        while time.monotonic() - killed_at < DEAD_SECONDS or (
            writes_stop and collector.metric("spooled") == 0
        ):
            assert time.monotonic() - killed_at < 30, collector.log()[-3000:]
            asked = time.monotonic()
            hours = reader.hourly("gas", "volume_m3", T0_MS, end_ms, 1e9, HOUR_MS)
            slowest_s = max(slowest_s, time.monotonic() - asked)
            answers.append(sum(s.readings for meter in hours.values() for s in meter.values()))
        reader.close()
        assert answers[-1] > 0 and set(PLANTS) >= {plant for plant, _ in hours}
        # While it is dead: two replicas cannot meet the quorum (spooled), three can (not).
        assert (collector.metric("spooled") > 0) == writes_stop, collector.metric("spooled")
        dead_s = time.monotonic() - killed_at

        publisher.wait_queued(0.7)
        restart_at = time.monotonic()
        stack.cluster.start_replica(killed)
        sent = publisher.finish()
        assert_each_reading_once(first, sent, collector.log)
        assert wait_until(lambda: collector.metric("spool_bytes") == 0, 30), collector.log()
        recovered_s = time.monotonic() - restart_at
        assert (collector.metric("replayed") > 0) == writes_stop

        # Every replica holds every reading once after the restart.
        runner = HttpRunner(stack.cluster.urls[-1], timeout_seconds=60)
        runner.run(f"SYSTEM SYNC REPLICA {DATABASE}.{READINGS}_local")
        runner.close()
        on_first = local_rows(first)
        assert len(on_first) == sent and set(on_first.values()) == {1}
        assert all(local_rows(url) == on_first for url in stack.cluster.urls[1:])
        print(
            f"\n{replicas} replicas, quorum {QUORUM}, one dead {dead_s:.1f} s or more: {sent} readings, "
            f"{len(answers)} reads answered while dead (slowest {slowest_s:.2f} s, the last saw "
            f"{answers[-1]} readings), "
            f"{collector.metric('spooled'):.0f} points spooled, "
            f"{collector.metric('replayed'):.0f} replayed, spool empty {recovered_s:.1f} s "
            "after the restart began"
        )
