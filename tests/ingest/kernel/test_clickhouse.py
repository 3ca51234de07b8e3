"""The ClickHouse engine (ingest/kernel/clickhouse.py) on chdb, in-process: no server, fast lane.

The core: its hourly consumption in SQL equals the project's pure rule
(`api.fuel.rules.hourly_sums`) on a literal table and on generated data with resets,
implausible jumps, gaps, manual readings, invalid values, late data and later writes of
other values (which must not count: the first write is the record).
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from api.fuel.rules import MANUAL_FLAG, Sums, hourly_sums
from ingest.keeper import RecordKeeper
from ingest.kernel.catalogue import MAX_RATE_PER_HOUR
from ingest.kernel.clickhouse import (
    MARKS,
    ChdbRunner,
    ClickHouseStore,
    Hourly,
    HttpRunner,
    Layout,
    Record,
    WriteClock,
    insert_sql,
    literal,
    rows_of,
)
from ingest.kernel.dirty import DIRTY_MEASUREMENT
from ingest.kernel.errors import StoreRejected, StoreUnavailable
from ingest.kernel.lineproto import Point, encode
from ingest.kernel.reads import Points, tags
from ingest.kernel.record import RevisionId, Sig, acceptance_points
from ingest.metrics import Counters

pytest.importorskip("chdb")

H = 3_600_000
MIN = 60_000
HOUR = timedelta(hours=1)
GAP = 2 * H
RATE = MAX_RATE_PER_HOUR["volume_m3"]


@pytest.fixture(scope="module")
def runner() -> Iterator[ChdbRunner | HttpRunner]:
    """One chdb session for the module (chdb allows one per process); or, when
    `PLANTWATCH_TEST_CLICKHOUSE_URL` names a server (e.g. Debian's 18.16), that server."""
    url = os.environ.get("PLANTWATCH_TEST_CLICKHOUSE_URL")
    found = HttpRunner(url) if url else ChdbRunner()
    yield found
    found.close()


@pytest.fixture
def ch(runner: ChdbRunner | HttpRunner, request: pytest.FixtureRequest) -> ClickHouseStore:
    """A store on a database of its own, named after the test."""
    name = "t_" + "".join(c if c.isalnum() else "_" for c in request.node.name)[:60]
    runner.run(f"DROP DATABASE IF EXISTS {name}")
    found = ClickHouseStore(runner, Layout(database=name))
    found.create_database()
    return found


def gas(
    ts_ms: int,
    value: float | None,
    meter: str = "g1",
    plant: str = "p1",
    flag: str = "N",
    arrived_ms: int = 0,
    source: str = "mqtt",
) -> Point:
    fields: dict[str, float | str | bool] = {"_arrived_ms": arrived_ms, "_source": source}
    if value is None:
        fields["volume_m3_invalid"] = "not a number"
    else:
        fields["volume_m3"] = value
        fields["volume_m3_flag"] = flag
    return Point("gas", {"plant": plant, "meter": meter}, fields, ts_ms)


# ---- rows and SQL text ----------------------------------------------------------------------


def test_rows_of_a_point_one_per_value_name_and_only_readings() -> None:
    point = Point(
        "voc",
        {"plant": "p1", "meter": "s1"},
        {
            "nmhc": 1.5,
            "nmhc_flag": "N",
            "flow_invalid": "out of range",
            "_arrived_ms": 99,
            "_source": "hj212",
            "backfill": True,
        },
        1000,
    )
    event = Point("event", {"plant": "p1", "meter": "s1"}, {"description": "x"}, 1000)
    rows = rows_of([point, event], WriteClock())
    assert [row[:-1] for row in rows] == [
        ("voc", "p1", "s1", "flow", 1000, 0.0, "N", "out of range", 99, "hj212", 1),
        ("voc", "p1", "s1", "nmhc", 1000, 1.5, "N", "", 99, "hj212", 1),
    ]
    assert rows[0][-1] < rows[1][-1]  # the write order is strictly increasing


def test_literals_are_quoted_and_escaped() -> None:
    assert literal("it's a \\ path") == "'it\\'s a \\\\ path'"
    assert literal(3) == "3" and literal(0.1) == "0.1" and literal(True) == "1"


def test_single_node_ddl_is_plain_merge_tree() -> None:
    ddl = "\n".join(Layout(database="pw").ddl())
    assert "ON CLUSTER" not in ddl and "Replicated" not in ddl and "Distributed" not in ddl
    assert "ENGINE = MergeTree" in ddl
    assert "DateTime64" not in ddl  # ClickHouse 18.16 has none


def test_cluster_ddl_text() -> None:
    layout = Layout(database="pw", cluster="plantwatch", insert_quorum=2)
    create_db, local, distributed, *others = layout.ddl()
    # The marks and other points: a replicated local table and a distributed one each.
    assert [s.split(" ON CLUSTER")[0] for s in others] == [
        "CREATE TABLE IF NOT EXISTS pw.rollup_dirty_local",
        "CREATE TABLE IF NOT EXISTS pw.rollup_dirty",
        "CREATE TABLE IF NOT EXISTS pw.point_fields_local",
        "CREATE TABLE IF NOT EXISTS pw.point_fields",
    ]
    # Other points: a later write replaces (the greatest `written` kept at merges).
    assert (
        "ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/pw/point_fields_local', "
        "'{replica}', written)" in others[-2]
    )
    assert create_db == "CREATE DATABASE IF NOT EXISTS pw ON CLUSTER plantwatch"
    assert local.startswith("CREATE TABLE IF NOT EXISTS pw.readings_local ON CLUSTER plantwatch (")
    assert (
        "ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/pw/readings_local', '{replica}')"
        in local
    )
    assert "ORDER BY (measurement, plant, meter, name, ts_ms, written)" in local
    assert distributed == (
        "CREATE TABLE IF NOT EXISTS pw.readings ON CLUSTER plantwatch AS pw.readings_local\n"
        "ENGINE = Distributed(plantwatch, pw, readings_local, cityHash64(plant, meter))"
    )
    sql = insert_sql(layout, rows_of([gas(0, 1.0)], WriteClock()))
    assert sql.startswith(
        "INSERT INTO pw.readings (measurement, plant, meter, name, ts_ms, value, flag, "
        "invalid, arrived_ms, source, backfill, written) VALUES ("
    )
    # Beside the INSERT (18.16 has no INSERT ... SETTINGS): synchronous, with a quorum.
    assert layout.insert_settings == {
        "insert_distributed_sync": 1,
        "insert_quorum": 2,
        "insert_quorum_timeout": 8_000,
    }
    assert Layout().insert_settings == {}
    assert "DateTime64" not in "\n".join(layout.ddl())


def test_single_node_ddl_runs_and_is_idempotent(ch: ClickHouseStore) -> None:
    ch.create_database()  # a second time: nothing happens
    assert ch.ping()
    assert [
        [int(n) for n in row] for row in ch.runner.run(f"SELECT count() FROM {ch.layout.table}")
    ] == [[0]]


# ---- writes and reads, first write kept -----------------------------------------------------


def test_a_later_write_with_other_values_does_not_change_what_is_read(
    ch: ClickHouseStore,
) -> None:
    ch.write([gas(0, 1.0, arrived_ms=5), gas(H, 3.0, arrived_ms=6)])
    first = ch.series("gas", "p1", "g1", "volume_m3", 0, 2 * H)
    # A resend of the same, a revision (other value, flag and source), a resend of the revision.
    ch.write([gas(0, 1.0, arrived_ms=5)])
    ch.write([gas(0, 9.0, flag="S", arrived_ms=50, source="records")])
    ch.write([gas(0, 9.0, flag="S", arrived_ms=50, source="records")])
    assert (
        ch.series("gas", "p1", "g1", "volume_m3", 0, 2 * H)
        == first
        == [
            Record(0, 1.0, "N", None, 5, "mqtt"),
            Record(H, 3.0, "N", None, 6, "mqtt"),
        ]
    )
    assert ch.latest_before("gas", "p1", "g1", "volume_m3", H) == first[0]
    assert len(raw_rows(ch)) == 5  # kept as rows, never read (a revision is the keeper's)
    hours = ch.hourly("gas", "volume_m3", 0, 2 * H, RATE, GAP)
    assert hours[("p1", "g1")][H].consumption == 2.0  # 3 - 1, not 3 - 9


def test_within_a_batch_the_first_value_of_a_key_is_the_record(ch: ClickHouseStore) -> None:
    ch.write([gas(0, 1.0), gas(0, 2.0), gas(0, None)])
    assert ch.series("gas", "p1", "g1", "volume_m3", 0, 1) == [Record(0, 1.0, "N", None, 0, "mqtt")]
    RecordKeeper(ch).write([gas(H, 1.0), gas(H, 2.0), gas(H, None)])  # the keeper numbers them
    assert ch.series("gas", "p1", "g1", "volume_m3", H, H + 1)[0].value == 1.0
    assert [(t, n, v) for t, n, v, *_ in revised(ch)] == [(H, 1, 2.0), (H, 2, None)]


def test_an_invalid_record_stays_invalid_and_reads_are_per_series(ch: ClickHouseStore) -> None:
    ch.write([gas(0, None), gas(0, 4.0), gas(MIN, 5.0, meter="g2")])
    assert ch.series("gas", "p1", "g1", "volume_m3", 0, H) == [
        Record(0, None, "N", "not a number", 0, "mqtt")
    ]
    assert ch.latest_before("gas", "p1", "g1", "volume_m3", 0) is None
    assert ch.latest_before("gas", "p1", "g2", "volume_m3", H) == Record(
        MIN, 5.0, "N", None, 0, "mqtt"
    )


# ---- the hourly step rule: SQL == api.fuel.rules.hourly_sums ---------------------------------


def pure_hourly(
    points: Sequence[Point], start_ms: int, end_ms: int, max_gap_ms: int = GAP
) -> dict[tuple[str, str, int], Sums]:
    """The project's rule on the records (first write per time, valid values only)."""
    records: dict[tuple[str, str], dict[int, Point]] = {}
    for p in points:
        records.setdefault((p.tags["plant"], p.tags["meter"]), {}).setdefault(p.ts_ms, p)
    out: dict[tuple[str, str, int], Sums] = {}
    for (plant, meter), by_time in records.items():
        kept = [
            by_time[t] for t in sorted(by_time) if t < end_ms and "volume_m3" in by_time[t].fields
        ]
        if not kept:
            continue
        t = np.array([p.ts_ms for p in kept], dtype=np.int64)
        v = np.array([float(p.fields["volume_m3"]) for p in kept])
        manual = [p.fields.get("volume_m3_flag") == MANUAL_FLAG for p in kept]
        for hour, s in hourly_sums(t, v, start_ms, end_ms, RATE, max_gap_ms, manual).items():
            out[(plant, meter, hour)] = s
    return out


def sql_hourly(
    ch: ClickHouseStore, start_ms: int, end_ms: int, max_gap_ms: int = GAP
) -> dict[tuple[str, str, int], Hourly]:
    found = ch.hourly("gas", "volume_m3", start_ms, end_ms, RATE, max_gap_ms)
    return {(p, m, h): s for (p, m), hours in found.items() for h, s in hours.items()}


def assert_equal(
    got: dict[tuple[str, str, int], Hourly], want: dict[tuple[str, str, int], Sums]
) -> None:
    assert sorted(got) == sorted(want)
    for key, s in want.items():
        g = got[key]
        assert (g.readings, g.resets, g.implausible_steps) == (
            s.readings,
            s.resets,
            s.implausible_steps,
        ), key
        # Sums of the same steps in another order: equal to the last bits of a float.
        assert g.consumption == pytest.approx(s.consumption, rel=1e-12, abs=1e-9), key


LITERAL = [
    gas(-3 * H, 100.0),  # far before the window: predecessor only of the manual reading?
    gas(-10 * MIN, 200.0),  # the predecessor of the first reading inside
    gas(0, 210.0),  # 10 counted (hour 0)
    gas(20 * MIN, 230.0),  # 20 counted
    gas(40 * MIN, 5.0),  # reset: counts 0
    gas(H + 10 * MIN, 25.0),  # 20 counted (hour 1)
    gas(H + 20 * MIN, 25.0 + RATE),  # implausible: 20,000 in 10 min
    gas(4 * H, 50_000.0),  # silence (2 h 40 min > 2 h): counted nowhere
    gas(4 * H + 5 * MIN, 50_001.0),  # 1 counted (hour 4)
    gas(9 * H, 60_000.0, flag=MANUAL_FLAG),  # manual after 5 h silence: 9,999 counted (hour 9)
    gas(9 * H + MIN, 10.0, flag=MANUAL_FLAG),  # manual drop: a reset
    gas(10 * H, 11.0),  # the window ends here: not inside
]


def test_hourly_on_a_literal_table(ch: ClickHouseStore) -> None:
    ch.write(LITERAL)
    ch.write([gas(20 * MIN, 999.0), gas(4 * H + 5 * MIN, 0.0)])  # later writes: revisions
    expected = {
        ("p1", "g1", 0): Sums(30.0, 3, 1, 1, 0),
        ("p1", "g1", H): Sums(20.0, 2, 1, 0, 1),
        ("p1", "g1", 4 * H): Sums(1.0, 2, 1, 0, 0),
        ("p1", "g1", 9 * H): Sums(9_999.0, 2, 1, 1, 0),
    }
    assert pure_hourly(LITERAL, 0, 10 * H) == expected
    assert_equal(sql_hourly(ch, 0, 10 * H), expected)


def generated(seed: int, meters: int = 4, readings: int = 300) -> list[Point]:
    """Readings with resets, jumps, gaps, manual entries and invalid values, in write order:
    late data (batches shuffled) and later writes of other values (revisions)."""
    rng = random.Random(seed)
    points: list[Point] = []
    for m in range(meters):
        t, value = rng.randrange(-6 * H, 0, MIN), rng.uniform(0, 1e5)
        for _ in range(readings):
            t += rng.choice([MIN, MIN, 5 * MIN, 5 * MIN, 17 * MIN, 30 * MIN, 2 * H, 3 * H])
            roll = rng.random()
            flag = "N"
            if roll < 0.04:
                value = rng.uniform(0, 100)  # reset
            elif roll < 0.07:
                value += RATE * rng.uniform(1, 5)  # implausible jump
            elif roll < 0.10:
                value += rng.uniform(0, 5000)
                flag = MANUAL_FLAG
            else:
                value += round(rng.uniform(0, 300), 3)
            plant = f"p{m % 2}"
            invalid = rng.random() < 0.03
            points.append(gas(t, None if invalid else value, f"g{m}", plant, flag, t + MIN))
    rng.shuffle(points)  # late data: the store gets times out of order
    revisions = [
        gas(p.ts_ms, rng.uniform(0, 1e6), p.tags["meter"], p.tags["plant"], "N", p.ts_ms + H)
        for p in rng.sample(points, len(points) // 10)
    ]
    return points + revisions


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_hourly_equals_the_pure_rule_on_generated_data(ch: ClickHouseStore, seed: int) -> None:
    points = generated(seed)
    for i in range(0, len(points), 250):
        ch.write(points[i : i + 250])
    rng = random.Random(seed)
    windows = [(0, 48 * H), (rng.randrange(H, 30 * H), rng.randrange(60 * H, 200 * H))]
    for start, end in windows:
        want = pure_hourly(points, start, end)
        # The window holds every case: counted steps, resets, implausible jumps.
        assert sum(s.resets for s in want.values()) > 0
        assert sum(s.implausible_steps for s in want.values()) > 0
        assert sum(s.consumption for s in want.values()) > 0
        assert_equal(sql_hourly(ch, start, end), want)
    # Another silence limit: the same equality.
    assert_equal(sql_hourly(ch, 0, 48 * H, 30 * MIN), pure_hourly(points, 0, 48 * H, 30 * MIN))


def test_settings_select_the_engine_and_its_cluster() -> None:
    from ingest.kernel.engines import open_store
    from ingest.kernel.errors import PlantwatchError
    from ingest.kernel.store import InfluxStore
    from ingest.settings import CommonSettings

    default = CommonSettings(_env_file=None)
    assert default.store == "influxdb"  # InfluxDB 1.x stays the default for one machine
    settings = CommonSettings(
        _env_file=None,
        store="clickhouse",
        clickhouse_url="http://ch.example:8123",
        clickhouse_cluster="province",
        clickhouse_insert_quorum=3,
    )
    found = open_store(settings)  # what the collector opens
    assert isinstance(found, ClickHouseStore)
    assert found.layout == Layout("plantwatch", "province", 3)
    assert found.runner == HttpRunner("http://ch.example:8123", None, None, 10.0)
    assert isinstance(open_store(default), InfluxStore)
    # The API still opens InfluxDB only: choosing ClickHouse stops it rather than being ignored.
    with pytest.raises(PlantwatchError, match="PLANTWATCH_STORE=clickhouse"):
        InfluxStore.from_settings(settings)


@pytest.mark.skipif(
    not os.environ.get("PLANTWATCH_TEST_CLICKHOUSE_CLUSTER"),
    reason="PLANTWATCH_TEST_CLICKHOUSE_CLUSTER=name,url1,url2 names two replicas of one shard",
)
def test_cluster_variant_on_two_replicas() -> None:
    """The cluster DDL on real servers (tried: Debian's 18.16 ×2 + ZooKeeper, loopback): a
    write acknowledged with quorum 2 is read, first write kept, from the other replica."""
    name, first, second = os.environ["PLANTWATCH_TEST_CLICKHOUSE_CLUSTER"].split(",")
    layout = Layout(database="t_cluster", cluster=name, insert_quorum=2)
    one = ClickHouseStore(HttpRunner(first, timeout_seconds=30), layout)
    other = ClickHouseStore(HttpRunner(second, timeout_seconds=30), layout)
    one.runner.run(f"DROP DATABASE IF EXISTS t_cluster ON CLUSTER {name}")
    one.create_database()
    one.create_database()
    one.write(LITERAL)
    one.write([gas(20 * MIN, 999.0)])  # a revision
    assert other.runner.run("SELECT count() FROM t_cluster.readings_local") == [
        [str(len(LITERAL) + 1)]
    ]
    assert_equal(sql_hourly(other, 0, 10 * H), pure_hourly(LITERAL, 0, 10 * H))


# ---- the collector's write edge on ClickHouse: the record keeper (SPEC 14) -----------------

DAY = 24 * H
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def revised(ch: ClickHouseStore, plant: str = "p1") -> list[tuple[Any, ...]]:
    """The plant's revisions as the API reads them (`revisions` points): (time, number,
    value, flag, arrival, source, record value, accepted by), by time and number."""
    fields = ("value", "flag", "_arrived_ms", "_source", "record_value", "accepted_by")
    request = Points("revisions", fields, None, None, tags(plant=plant), ("meter", "name", "n"))
    (found,) = ch.read([request])
    out = [
        (row["time"], int(s.tags["n"]), *(row[f] for f in fields))
        for s in found
        for row in s.rows()
    ]
    return sorted(out, key=lambda r: (r[0], r[1]))


def raw_rows(ch: ClickHouseStore, table: str = "readings") -> list[list[Any]]:
    """Every stored row of `table` (not the records: each write is a row)."""
    return ch.runner.run(f"SELECT * FROM {ch.layout.name(table)} ORDER BY written")


def per_reading(ch: ClickHouseStore) -> dict[tuple[str, str, int, str], int]:
    """Rows per (plant, meter, time, value name): 1 each when nothing was doubled."""
    sql = (
        f"SELECT plant, meter, ts_ms, name, count() FROM {ch.layout.table} "
        "GROUP BY plant, meter, ts_ms, name"
    )
    return {(p, m, int(t), n): int(c) for p, m, t, n, c in ch.runner.run(sql)}


def test_hostile_resend_of_yesterday_keeps_the_first_values(ch: ClickHouseStore) -> None:
    """A collector stored yesterday's readings; restarted (an empty index), it receives the
    same readings with other values: the store answers the first, the attempt is a revision
    (its own row, with its arrival and source), and the same attempt again writes nothing."""
    today = 40 * DAY
    yesterday = [
        gas(today - DAY + k * 15 * MIN, 100.0 + k, arrived_ms=today - DAY) for k in range(4)
    ]
    RecordKeeper(ch).write(yesterday)
    counters = Counters()
    restarted = RecordKeeper(ch, counters)  # nothing in its index: it must ask the store
    hostile = [
        gas(p.ts_ms, 5.0 + k, flag="N", arrived_ms=today, source="http")
        for k, p in enumerate(yesterday[:2])
    ]
    restarted.write(hostile)
    assert [r.value for r in ch.series("gas", "p1", "g1", "volume_m3", 0, today)] == [
        100.0,
        101.0,
        102.0,
        103.0,
    ]
    assert revised(ch) == [
        (today - DAY, 1, 5.0, "N", today, "http", 100.0, None),
        (today - DAY + 15 * MIN, 1, 6.0, "N", today, "http", 101.0, None),
    ]
    assert counters.revisions == 2
    rows = len(raw_rows(ch)), len(raw_rows(ch, "point_fields"))
    RecordKeeper(ch, counters).write(hostile)  # the same attempt, once more, after a restart
    restarted.write(hostile)  # and through the index that wrote it
    # 4 records, 2 revision points, nothing doubled
    assert (len(raw_rows(ch)), len(raw_rows(ch, "point_fields"))) == rows
    assert rows[0] == 4 and len(revised(ch)) == 2
    assert counters.revisions == 2 and counters.duplicates == 4
    # A second, different attempt is the key's revision 2.
    restarted.write([gas(today - DAY, 7.0, arrived_ms=today + 1)])
    assert [(t, n) for t, n, *_ in revised(ch)] == [
        (today - DAY, 1),
        (today - DAY, 2),
        (today - DAY + 15 * MIN, 1),
    ]
    assert ch.series("gas", "p1", "g1", "volume_m3", 0, today)[0].value == 100.0


def test_a_redelivered_batch_is_not_doubled(ch: ClickHouseStore) -> None:
    """A collector killed after its insert and before its acks: the broker redelivers the
    batch (later arrival) to the next process; exact duplicates write no row."""
    batch = [gas(k * MIN, float(k), meter=f"g{k % 3}", arrived_ms=k * MIN + 5) for k in range(30)]
    batch.append(
        Point(
            "voc",
            {"plant": "p1", "meter": "s1"},
            {"nmhc": 1.5, "nmhc_flag": "N", "backfill": True, "_arrived_ms": 1, "_source": "hj212"},
            0,
        )
    )
    RecordKeeper(ch).write(batch)
    again = [
        Point(p.measurement, p.tags, {**p.fields, "_arrived_ms": 10**9}, p.ts_ms) for p in batch
    ]
    counters = Counters()
    RecordKeeper(ch, counters).write(again)
    assert set(per_reading(ch).values()) == {1} and len(per_reading(ch)) == 31
    # Duplicates count value names: 30 volumes, the VOC's nmhc and its backfill mark.
    assert counters.duplicates == 32 and counters.revisions == 0
    assert ch.series("gas", "p1", "g0", "volume_m3", 0, H)[0].arrived_ms == 5  # the first's


class LosesReadingAnswers:
    """A runner that stores the readings insert, then loses its answer (a timeout; a cluster's
    quorum not met: the rows stay on the replica that took them)."""

    def __init__(self, runner: ChdbRunner | HttpRunner, table: str) -> None:
        self.runner, self.table, self.lost = runner, table, 0

    def run(self, sql: str, settings: Any = None) -> list[list[Any]]:
        rows = self.runner.run(sql, settings)
        if sql.startswith(f"INSERT INTO {self.table} ") and not self.lost:
            self.lost += 1
            raise StoreUnavailable("ClickHouse does not answer: timed out")
        return rows


def test_a_write_whose_answer_was_lost_is_not_doubled_by_its_retry(ch: ClickHouseStore) -> None:
    keeper = RecordKeeper(ch)
    keeper.write([gas(0, 1.0)])  # the index now trusts every later time of the series as new
    flaky = ClickHouseStore(LosesReadingAnswers(ch.runner, ch.layout.table), ch.layout)  # type: ignore[arg-type]
    keeper.engine = flaky
    batch = [gas(k * MIN, 1.0 + k) for k in range(1, 11)]
    with pytest.raises(StoreUnavailable):
        keeper.write(batch)
    keeper.write(batch)  # the collector's retry, or the spool's replay
    assert set(per_reading(ch).values()) == {1} and len(per_reading(ch)) == 11
    assert keeper.counters.duplicates == 10


def test_the_batch_writes_its_dirty_marks_and_other_points_as_rows(ch: ClickHouseStore) -> None:
    dead = Point("dead_letter", {"plant": "p1"}, {"reason": "bad json", "payload": "{"}, 7)
    RecordKeeper(ch).write([gas(0, 1.0), gas(H + 5, 2.0), gas(3 * H, 3.0), dead])
    marks = ch.runner.run(
        "SELECT measurement, plant, meter, first_hour_ms, end_hour_ms, points "
        f"FROM {ch.layout.name(MARKS)} ORDER BY first_hour_ms"
    )
    assert [[str(v) for v in m] for m in marks] == [
        ["gas", "p1", "g1", "0", str(2 * H), "2"],
        ["gas", "p1", "g1", str(3 * H), str(4 * H), "1"],
    ]
    assert MARKS == DIRTY_MEASUREMENT  # the same name on both engines
    # The dead letter, one row per field, read back as InfluxDB gives it.
    assert sorted(r[5] for r in raw_rows(ch, "point_fields")) == ["payload", "reason"]
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    (letters,) = ch.read_range("dead_letter", ("reason", "payload"), epoch, epoch + HOUR)
    assert (letters.tags, letters.values) == ({}, ((7, "bad json", "{"),))
    # A duplicate batch writes no readings, so no marks either.
    RecordKeeper(ch).write([gas(0, 1.0)])
    assert len(ch.runner.run(f"SELECT * FROM {ch.layout.name(MARKS)}")) == 2


def test_stored_answers_each_run_with_its_own_times(ch: ClickHouseStore) -> None:
    """Runs close in time are asked for together (one IN list); each gets only its own."""
    ch.write([gas(k * MIN, float(k), meter=m) for k in range(10) for m in ("g1", "g2")])
    ch.write([gas(3 * MIN, 99.0, meter="g1")])  # a revision: the record still answers
    a, b = ("gas", "p1", "g1"), ("gas", "p1", "g2")
    far = ("gas", "p1", "g3")
    found = ch.stored([(a, 0, 3 * MIN), (b, 5 * MIN, 5 * MIN), (a, 8 * MIN, None), (far, 0, None)])
    assert [sorted(f) for f in found] == [
        [0, MIN, 2 * MIN, 3 * MIN],
        [5 * MIN],
        [8 * MIN, 9 * MIN],
        [],
    ]
    assert found[0][3 * MIN] == {"volume_m3": Sig(3.0, "N", None)}


def accept(ch: ClickHouseStore, ts_ms: int, number: int, value: float, who: str) -> None:
    """An officer accepts revision `number` at `ts_ms` (the lines `api.revisions` writes)."""
    rid = RevisionId("p1", "g1", "gas", "volume_m3", ts_ms, number)
    points = acceptance_points(rid, Sig(value, "N"), who, ts_ms + 7, "seen")
    ch.write_lines([encode(p) for p in points])


def test_an_accepted_revision_is_the_record_for_every_read_and_a_resend_is_not(
    ch: ClickHouseStore,
) -> None:
    """SPEC 14: only an officer's acceptance changes the record; the first write's arrival
    and source stay; a later acceptance replaces an earlier one (as an InfluxDB overwrite);
    a plant's resend after it is a revision against the accepted value, never the record."""
    keeper = RecordKeeper(ch)
    keeper.write([gas(0, 1.0, arrived_ms=5), gas(H, 3.0, arrived_ms=6)])
    keeper.write([gas(0, 2.0, arrived_ms=9, source="http")])  # revision 1
    keeper.write([gas(0, 0.5, arrived_ms=10, source="http")])  # revision 2
    # A reading written at the key without its acceptance (write_lines, unchecked) is no record.
    ch.write_lines([encode(gas(0, 7.0, arrived_ms=11))])
    assert ch.series("gas", "p1", "g1", "volume_m3", 0, 2 * H)[0] == Record(
        0, 1.0, "N", None, 5, "mqtt"
    )
    assert ch.hourly("gas", "volume_m3", 0, 2 * H, RATE, GAP)[("p1", "g1")][H].consumption == 2.0

    accept(ch, 0, 1, 2.0, "officer-1")
    assert ch.series("gas", "p1", "g1", "volume_m3", 0, 2 * H)[0] == Record(
        0, 2.0, "N", None, 5, "mqtt"
    )
    assert ch.hourly("gas", "volume_m3", 0, 2 * H, RATE, GAP)[("p1", "g1")][H].consumption == 1.0
    assert ch.stored([(("gas", "p1", "g1"), 0, 0)]) == [{0: {"volume_m3": Sig(2.0, "N", None)}}]
    (got,) = ch.read_range("gas", ("volume_m3", "_arrived_ms", "_source"), EPOCH, EPOCH + HOUR)
    assert got.values == ((0, 2.0, 5, "mqtt"),)
    assert [(n, who) for _, n, *_, who in revised(ch)] == [(1, "officer-1"), (2, None)]

    accept(ch, 0, 2, 0.5, "officer-2")  # the later acceptance is the record
    assert ch.series("gas", "p1", "g1", "volume_m3", 0, 1)[0].value == 0.5
    # The plant resends its first value: a revision (3) against the accepted one.
    counters = Counters()
    RecordKeeper(ch, counters).write([gas(0, 1.0, arrived_ms=20)])
    assert counters.revisions == 1
    assert revised(ch)[-1][:2] + revised(ch)[-1][-2:] == (0, 3, 0.5, None)
    assert ch.series("gas", "p1", "g1", "volume_m3", 0, 1)[0].value == 0.5


def test_no_reading_takes_the_acceptance_source_without_its_acceptance(
    ch: ClickHouseStore,
) -> None:
    with pytest.raises(StoreRejected, match="officer"):
        ch.write_lines([encode(gas(0, 9.0, source="officer"))])
    assert raw_rows(ch) == []
