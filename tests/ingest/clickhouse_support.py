"""A collector on ClickHouse, as the tests see it: the stack (Mosquitto and ClickHouse on
free ports) and the per-reading count (every reading once, its own value, its hour marked).
Shared by tests/ingest/test_clickhouse_collector.py and test_clickhouse_replica_killed.py."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ingest.kernel.clickhouse import MARKS, HttpRunner, Layout
from scripts.devstack import Server, clickhouse_server, mosquitto_server
from tests.ingest.faults import PLANTS, STEP_MS, T0_MS, registry_text
from tests.support import wait_until

DATABASE = "plantwatch_e2e"
MESSAGES = 3000
RATE_PER_SECOND = 1000.0


@dataclass
class ClickHouseStack:
    """Mosquitto and ClickHouse; `collector_env` as tests/ingest/faults.py's `Stack`."""

    clickhouse: Server
    mosquitto: Server
    workdir: Path
    registry: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.clickhouse.port}"

    def collector_env(
        self, collector_id: str, metrics_port: int, share_group: str = "", partition: str = "1/1"
    ) -> dict[str, str]:
        assert not share_group and partition == "1/1"
        return {
            "PLANTWATCH_STORE": "clickhouse",
            "PLANTWATCH_CLICKHOUSE_URL": self.url,
            "PLANTWATCH_CLICKHOUSE_DB": DATABASE,
            "PLANTWATCH_CLICKHOUSE_TIMEOUT_SECONDS": "3",
            "PLANTWATCH_REGISTRY": str(self.registry),
            "PLANTWATCH_MQTT_PORT": str(self.mosquitto.port),
            "PLANTWATCH_COLLECTOR_ID": collector_id,
            "PLANTWATCH_SPOOL_DIR": str(self.workdir / "spool"),
            "PLANTWATCH_METRICS_PORT": str(metrics_port),
            "PLANTWATCH_STATS_INTERVAL_SECONDS": "1",
            "PLANTWATCH_BATCH_MAX_SECONDS": "0.2",
        }


@contextmanager
def clickhouse_stack(tmp_path: Path) -> Iterator[ClickHouseStack]:
    clickhouse = clickhouse_server(tmp_path / "clickhouse")
    mosquitto = mosquitto_server(tmp_path / "mosquitto", durable_acks=False)
    registry = tmp_path / "registry.toml"
    registry.write_text(registry_text(), encoding="utf-8")
    clickhouse.start()
    mosquitto.start()
    try:
        yield ClickHouseStack(clickhouse, mosquitto, tmp_path, registry)
    finally:
        mosquitto.stop()
        clickhouse.stop()


def rows_per_reading(url: str) -> dict[tuple[str, int], list[float]]:
    """(plant, time) -> the `volume_m3` value of each stored row; {} while ClickHouse is away."""
    table = Layout(DATABASE).table
    runner = HttpRunner(url, timeout_seconds=5)
    try:
        rows = runner.run(
            f"SELECT plant, ts_ms, value FROM {table} WHERE name = 'volume_m3' ORDER BY written"
        )
    except Exception:  # down, or its tables not made yet
        return {}
    finally:
        runner.close()
    out: dict[tuple[str, int], list[float]] = {}
    for plant, ts, value in rows:
        out.setdefault((plant, int(ts)), []).append(float(value))
    return out


def expected(sent: int) -> dict[tuple[str, int], list[float]]:
    """Reading i: its plant, its minute, one row of 1000 + i."""
    return {(PLANTS[i % len(PLANTS)], T0_MS + i * STEP_MS): [1000.0 + i] for i in range(sent)}


def assert_each_reading_once(url: str, sent: int, *logs: Callable[[], str]) -> None:
    want = expected(sent)
    assert wait_until(lambda: len(rows_per_reading(url)) >= sent, 90, 0.2), (
        len(rows_per_reading(url)),
        sent,
        "\n".join(log()[-3000:] for log in logs),
    )
    found = rows_per_reading(url)
    lost = sorted(set(want) - set(found))
    doubled = sorted(k for k, values in found.items() if len(values) > 1)
    foreign = sorted(k for k in found if k not in want or found[k][0] != want[k][0])
    assert (lost, doubled, foreign) == ([], [], []), (len(lost), len(doubled), len(foreign))
    # Every reading marked its hour for the rollups, in ClickHouse too.
    runner = HttpRunner(url)
    try:
        ((marked,),) = runner.run(f"SELECT sum(points) FROM {Layout(DATABASE).name(MARKS)}")
    finally:
        runner.close()
    assert int(marked) >= sent
