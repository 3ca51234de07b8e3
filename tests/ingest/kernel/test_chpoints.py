"""Points that are not readings on ClickHouse (`ingest.kernel.chpoints`) read as on InfluxDB.

The same line protocol (fuel rollups written twice, the second pass replacing some values as
a re-roll does; read-model state and passes; KPI snapshots with integers and text; dead
letters; dirty marks) is written to InfluxDB and through `ClickHouseStore.write_lines` (chdb in-process, or
the server `PLANTWATCH_TEST_CLICKHOUSE_URL` names); every request of the table, many built by
the domains' own builders, must be answered with the same series.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from api.fuel.queries import daily_from_hourly, rollup_rows, rollup_statement
from api.readmodel.state import (
    Watermarks,
    read_watermarks,
    state_lines,
    touched_since,
)
from ingest.kernel.clickhouse import ChdbRunner, ClickHouseStore, HttpRunner, Layout
from ingest.kernel.dirty import DIRTY_MEASUREMENT, dirty_runs
from ingest.kernel.errors import StoreRejected
from ingest.kernel.lineproto import Point, encode
from ingest.kernel.reads import Buckets, Column, Points, Read, StepSums, Summary, TagValues, tags
from ingest.kernel.store import InfluxStore, Series, encode_point
from scripts.devstack import Server

pytest.importorskip("chdb")

T0 = datetime(2026, 3, 1, 16, tzinfo=UTC)  # local midnight in Asia/Shanghai
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
MS = timedelta(milliseconds=1)
TZ = "Asia/Shanghai"
METERS = (("gas", "p1", "g1"), ("coal", "p1", "c1"), ("gas", "p2", "g2"))


def ms(ts: datetime) -> int:
    return int(ts.timestamp() * 1000)


def hourly(kind: str, plant: str, meter: str, hour: int, consumption: float) -> str:
    fields = {"consumption": consumption, "readings": 4.0, "resets": float(hour % 5 == 0)}
    fields["implausible_steps"] = 0.0
    fields["kgce"] = consumption * 1.2
    return encode_point("fuel_hourly", {"kind": kind, "plant": plant, "meter": meter}, fields,
                        ms(T0 + hour * HOUR))  # fmt: skip


def dataset() -> list[list[str]]:
    """Writes in order: a first pass, a re-roll of some hours, and the rest."""
    first = [
        hourly(k, p, m, h, 10.0 + h + i)
        for i, (k, p, m) in enumerate(METERS)
        for h in range(60)
        if not (p == "p2" and 20 <= h < 30)  # a silent stretch
    ]
    reroll = [hourly(k, p, m, h, 99.5 + h) for k, p, m in METERS[:1] for h in range(30, 40)]
    daily = [
        encode_point("fuel_daily", {"kind": k, "plant": p, "meter": m},
                     {"consumption": 100.0 * d + i, "hours_reported": 24.0 - d}, ms(T0 + d * DAY))
        for i, (k, p, m) in enumerate(METERS)
        for d in range(3)
    ]  # fmt: skip
    state = state_lines("fuel", Watermarks(T0 + 2 * DAY, T0 + DAY, T0 + DAY, T0 + 3 * DAY))
    later = state_lines("fuel", Watermarks(T0 + 3 * DAY, T0 + 2 * DAY, T0 + 2 * DAY, T0 + DAY))
    passes = [
        encode_point("rollup_passes", {"domain": d}, {"from_ms": float(ms(T0 + n * HOUR))},
                     ms(T0 + DAY + n * MS))
        for n, d in enumerate(["fuel", "fuel", "voc", "fuel"])
    ]  # fmt: skip
    kpi = [
        encode_point("kpi_gas_share", {}, {"firms": 3, "share": 0.5, "goal": 0.9}, ms(T0 + d * DAY))
        for d in range(3)
    ] + [
        encode_point("kpi_firm_status", {"plant": p},
                     {"status": s, "status_code": c, "gas_m3": 1.5 * c}, ms(T0 + d * DAY))
        for d in range(3)
        for p, s, c in (("p1", "mixed", 2), ("p2", "gas" if d else "unknown", 1 + 3 * (d == 0)))
    ]  # fmt: skip
    marks = [
        encode(Point(DIRTY_MEASUREMENT, {"measurement": k, "plant": p, "meter": m},
                     {"first_hour_ms": ms(T0) + n * 3_600_000,
                      "end_hour_ms": ms(T0) + (n + 2) * 3_600_000, "points": 8},
                     ms(T0 + DAY) + 10 * n + i))
        for n in range(5)
        for i, (k, p, m) in enumerate(METERS)
    ]  # fmt: skip
    collector = [
        encode_point("ingest_stats", {"collector": c}, {"points_written": 10 * n * (i + 1),
                     "batches": n}, ms(T0 + n * HOUR + i * MS))
        for n in range(6)
        for i, c in enumerate(("c1", "c2"))
    ] + [
        encode_point("dead_letter", {"plant": p, "code": code},
                     {"topic": f"t/{p}", "reason": f"bad {n}", "payload": '{"x": "\\"}', "seq": n},
                     ms(T0 + n * HOUR))
        for n, (p, code) in enumerate([("p1", "bad_json"), ("p2", "bad_json"), ("p1", "unknown_meter")])
    ]  # fmt: skip
    return [first + daily + state + passes + kpi + marks + collector, reroll + later]


@pytest.fixture(scope="module")
def writes() -> list[list[str]]:
    return dataset()


@pytest.fixture(scope="module")
def influx(influxd: Server, writes: list[list[str]]) -> Iterator[InfluxStore]:
    with InfluxStore(f"http://127.0.0.1:{influxd.port}", f"t_{uuid.uuid4().hex[:12]}") as s:
        s.create_database()
        for lines in writes:
            s.write_lines(lines)
        yield s


@pytest.fixture(scope="module")
def clickhouse(writes: list[list[str]]) -> Iterator[ClickHouseStore]:
    url = os.environ.get("PLANTWATCH_TEST_CLICKHOUSE_URL")
    name = f"t_chpoints_{uuid.uuid4().hex[:8]}"
    ch = ClickHouseStore(HttpRunner(url) if url else ChdbRunner(), Layout(database=name))
    ch.create_database()
    for lines in writes:
        ch.write_lines(lines)
    yield ch
    ch.runner.run(f"DROP DATABASE IF EXISTS {name}")
    ch.close()


def same(a: object, b: object) -> bool:
    """Numbers by value (InfluxDB's JSON gives a whole float as an integer), else equal and
    of one type (a string is not a number, a boolean not an integer)."""
    numbers = (float, int)
    if isinstance(a, numbers) and isinstance(b, numbers) and bool not in (type(a), type(b)):
        return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))
    return a == b and type(a) is type(b)


def assert_same_series(got: list[Series], want: list[Series]) -> None:
    assert [(s.name, dict(s.tags), s.columns) for s in got] == [
        (s.name, dict(s.tags), s.columns) for s in want
    ]
    for g, w in zip(got, want, strict=True):
        assert len(g.values) == len(w.values), (g.name, dict(g.tags))
        for got_row, want_row in zip(g.values, w.values, strict=True):
            assert all(same(x, y) for x, y in zip(got_row, want_row, strict=True)), (
                got_row,
                want_row,
            )


START, END = T0 + 5 * HOUR, T0 + 50 * HOUR
ROW = ("kind", "plant", "meter")
CASES: dict[str, Read] = {
    "rollup rows hourly": rollup_rows("hourly", START, END, None),
    "rollup rows daily, one plant": rollup_rows("daily", T0, T0 + 3 * DAY, ["p2"]),
    "hourly sums per 6 h": rollup_statement(
        "hourly", START, END, 6 * HOUR, HOUR, None, True
    ).request,
    "hourly sums in total, by kind": rollup_statement(
        "hourly", START, END, None, HOUR, None, False
    ).request,
    "daily sums per day": rollup_statement(
        "daily", T0, T0 + 3 * DAY, DAY, 16 * HOUR, None, True
    ).request,
    "hourly to local days": daily_from_hourly(T0, T0 + 3 * DAY, TZ, ["p1", "p2"]).request,
    "state: last per level": Summary(
        ("readmodel_state",),
        (Column("last", "until_ms"),),
        where=tags(domain="fuel"),
        group_by=("level",),
    ),
    "passes: min in a range": Summary(
        ("rollup_passes",),
        (Column("min", "from_ms"),),
        T0 + DAY + MS,
        T0 + DAY + 4 * MS,
        tags(domain="fuel"),
    ),
    "every statistic": Summary(
        ("fuel_hourly",),
        tuple(
            Column(f, "consumption", f)
            for f in ("sum", "min", "max", "mean", "count", "spread", "first", "last")
        ),
        START,
        END,
        tags(plant="p1"),
        ("meter",),
    ),
    "lone max, its time": Summary(("fuel_hourly",), (Column("max", "consumption"),), START, END),
    "lone first per meter": Summary(
        ("fuel_hourly",), (Column("first", "kgce"),), START, END, group_by=("meter",)
    ),
    "integers and text": Summary(
        ("kpi_firm_status",),
        (
            Column("sum", "status_code", "s"),
            Column("last", "status", "st"),
            Column("max", "status_code", "m"),
            Column("count", "status", "n"),
        ),
        group_by=("plant",),
    ),
    "matched": Summary(
        ("kpi_firm_status",), (Column("count", "gas_m3"),), match=(("status", "=", "gas"),)
    ),
    "matched number": Points(
        "fuel_hourly",
        ("consumption",),
        START,
        END,
        group_by=ROW,
        match=(("consumption", ">=", 100.0),),
    ),
    "newest per plant": Points(
        "kpi_firm_status", ("status", "status_code"), None, None, group_by=("plant",), newest=2
    ),
    "kpi points": Points("kpi_gas_share", ("firms", "share", "goal"), T0, T0 + 3 * DAY),
    "tag values": TagValues("fuel_hourly", "plant"),
    "stats spread per collector": Summary(
        ("ingest_stats",),
        (Column("spread", "points_written"),),
        T0 + HOUR,
        T0 + DAY,
        (),
        ("collector",),
    ),
    "dead letters per code": Summary(
        ("dead_letter",), (Column("count", "seq", "n"),), T0, T0 + DAY, group_by=("code",)
    ),
    "dead letters of a plant": Points(
        "dead_letter",
        ("topic", "reason", "payload", "seq"),
        T0,
        T0 + DAY,
        tags(plant="p1"),
        newest=10,
    ),
    "marks": Points(
        DIRTY_MEASUREMENT,
        ("first_hour_ms", "end_hour_ms"),
        T0 + DAY + 5 * MS,
        T0 + 2 * DAY,
        tags({"measurement": ["gas"]}),
        ("measurement", "plant", "meter"),
    ),
}


@pytest.mark.parametrize("request_", CASES.values(), ids=list(CASES))
def test_both_engines_answer_the_same(
    request_: Read, influx: InfluxStore, clickhouse: ClickHouseStore
) -> None:
    (want,) = influx.read([request_])
    (got,) = clickhouse.read([request_])
    assert want, "the oracle answers something for every request of the table"
    assert_same_series(got, want)


def test_the_read_model_reads_its_state_and_marks_the_same(
    influx: InfluxStore, clickhouse: ClickHouseStore
) -> None:
    marks = read_watermarks(clickhouse, "fuel")
    assert marks == read_watermarks(influx, "fuel")
    assert marks.hourly == T0 + 3 * DAY  # the later write replaced the first
    assert marks.generation == read_watermarks(influx, "fuel").generation == T0 + DAY
    since = touched_since(clickhouse, "fuel", T0 + DAY, T0 + DAY + 3 * MS)
    assert since == touched_since(influx, "fuel", T0 + DAY, T0 + DAY + 3 * MS) == T0 + HOUR
    runs = dirty_runs(clickhouse, T0 + DAY + 9 * MS, T0 + 2 * DAY, ["gas", "coal"])
    assert runs == dirty_runs(influx, T0 + DAY + 9 * MS, T0 + 2 * DAY, ["gas", "coal"])
    assert len(runs) == 4 * 3


def test_what_it_cannot_answer_is_refused(clickhouse: ClickHouseStore) -> None:
    with pytest.raises(StoreRejected, match="every field of 'fuel_hourly'"):
        clickhouse.read([Points("fuel_hourly", (), None, None)])
    with pytest.raises(StoreRejected, match="StepSums of 'fuel_daily'"):
        clickhouse.read(
            [
                StepSums(
                    "consumption", "fuel_daily", "consumption", T0, T0 + DAY, Buckets(DAY), 1.0, DAY
                )
            ]
        )
    with pytest.raises(StoreRejected, match="not a point"):
        clickhouse.write_lines(["fuel_hourly consumption"])
