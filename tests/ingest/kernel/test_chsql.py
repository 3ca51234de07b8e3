"""The ClickHouse engine's reads (`ingest.kernel.chsql`) answer as InfluxDB does: an oracle.

One literal dataset (three plants; gas and coal registers every 15 min with a silence longer
than `max_gap`, a reset, an implausible jump, an invalid value and a reading entered by hand
(flag S); VOC minute and real-time values with flags) is written to InfluxDB and to ClickHouse
(chdb in-process, or the server `PLANTWATCH_TEST_CLICKHOUSE_URL` names), each by its own
write path (line protocol; rows, with a later write of another value that must not be read).
Then every request of the table below is answered by both engines and the answers must be
the same series: names, tags, columns and rows (floats to 1e-9: the engines add in their own
order). Many requests are built by the fuel domain's own builders (`api.fuel.queries`).
"""

from __future__ import annotations

import math
import os
import tomllib
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import asdict, astuple, fields, is_dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import numpy as np
import pytest

from api.alerts.observe import pending_revisions
from api.fuel.queries import (
    earliest_reading,
    fuel_plants,
    last_before,
    query_sums,
    raw_statements,
    readings,
)
from api.fuel.rules import StepRules, Sums, gas_share
from api.fuel.service import firm_fuels_of, to_sums
from api.presence import last_seen
from api.ranges import Segment
from api.revisions import COLUMNS as REVISION_COLUMNS
from api.revisions import get_revision, list_revisions
from api.settings import KpiDefinition
from api.voc import queries as voc_queries
from ingest.keeper import RecordKeeper
from ingest.kernel.catalogue import MAX_RATE_PER_HOUR
from ingest.kernel.chsql import statement
from ingest.kernel.clickhouse import ChdbRunner, ClickHouseStore, HttpRunner, Layout
from ingest.kernel.errors import StoreRejected
from ingest.kernel.lineproto import Point, encode
from ingest.kernel.reads import (
    Buckets,
    Column,
    Points,
    Read,
    StepSums,
    Summary,
    TagValues,
    tags,
)
from ingest.kernel.record import REVISIONS_MEASUREMENT, RevisionId, Sig, acceptance_points
from ingest.kernel.registry import parse_registry
from ingest.kernel.store import InfluxStore, Series, Store
from scripts.devstack import Server
from tests.builders import registry_toml

pytest.importorskip("chdb")

T0 = datetime(2026, 11, 2, tzinfo=UTC)
MIN = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
STEP = 15 * MIN
RULES = StepRules.from_registers(MAX_RATE_PER_HOUR, DAY)
ARRIVED = 1_800_000_000_000
MS = timedelta(milliseconds=1)
ELECTRICITY = datetime(2026, 10, 23, 0, 7, tzinfo=UTC)  # the first electricity reading


def ms(ts: datetime) -> int:
    return int(ts.timestamp() * 1000)


def reading(
    kind: str,
    plant: str,
    meter: str,
    ts: datetime,
    values: Mapping[str, float | None],
    flag: str = "N",
) -> Point:
    """A reading point as the collector writes it (`ingest.kernel.points.reading_points`)."""
    late = (ms(ts) // 60_000) % 11 * 3_600_000  # some arrive hours late
    fields: dict[str, float | str | bool] = {"_arrived_ms": ms(ts) + late, "_source": "mqtt"}
    for name, value in values.items():
        if value is None:
            fields[name + "_invalid"] = "not a number"
        else:
            fields[name] = value
            fields[name + "_flag"] = flag
    return Point(kind, {"plant": plant, "meter": meter}, fields, ms(ts))


def register(
    kind: str, plant: str, meter: str, first: datetime, steps: dict[int, Any]
) -> list[Point]:
    """72 h of a register every 15 min from `first`: `steps[i]` is the step into reading i
    (default 12.5), `'gap'` leaves reading i out, `None` makes it invalid, `('S', v)` is a
    reading of value v entered by hand."""
    name = "volume_m3" if kind == "gas" else "mass_kg"
    out, value = [], 1000.0
    for i in range(72 * 4):
        step = steps.get(i, 12.5)
        if step == "gap":
            continue
        ts = first + i * STEP
        if step is None:
            out.append(reading(kind, plant, meter, ts, {name: None}))
            continue
        flag = "N"
        if isinstance(step, tuple):
            flag, value = step
        else:
            value = value + step
        out.append(reading(kind, plant, meter, ts, {name: value, "flow_m3h": 50.0 + i % 7}, flag))
    return out


def dataset() -> list[Point]:
    silent = {i: "gap" for i in range(100, 205)}  # 26 h 15 min: longer than max_gap (24 h)
    manual = {i: "gap" for i in range(80, 200)} | {200: ("S", 9000.0)}
    points = [
        # p1/g1: a reset at 40, an implausible jump at 60 (9000 m3 in 15 min), the silence,
        # an invalid value at 230
        *register("gas", "p1", "g1", T0 + MIN, {40: -990.0, 60: 9000.0, **silent, 230: None}),
        # p2/g2: silent from 20 h, a reading entered by hand at 50 h, then on
        *register("gas", "p2", "g2", T0 + 2 * MIN, manual),
        *register("coal", "p1", "c1", T0 + 3 * MIN, {50: -500.0, 51: 20000.0}),
        *register("coal", "p3", "c3", T0 + 4 * MIN, {10: 0.0, 11: 0.0, 120: None}),
        # p4 burns both and reports throughout
        *register("gas", "p4", "g4", T0 + 5 * MIN, {}),
        *register("coal", "p4", "c4", T0 + 6 * MIN, {i: 30.0 for i in range(0, 288, 3)}),
    ]
    flags = "NNNNTNNFNNNNMNNNNNDN"
    for minute in range(180):  # VOC minute values of one stack for three hours, flagged
        ts = T0 + 10 * HOUR + minute * MIN
        if minute % 17 == 5:
            continue
        values = {"nmhc_mgm3": 20.0 + (minute * 7) % 31, "o2_pct": 17.5 + minute % 3}
        points.append(reading("voc_minute", "p1", "s1", ts, values, flags[minute % len(flags)]))
    for k in range(36):  # the stack's real-time values, every 5 min, some back-filled
        ts = T0 + 10 * HOUR + k * 5 * MIN + 30 * timedelta(seconds=1)
        point = reading("voc", "p1", "s1", ts, {"nmhc_mgm3": 30.0 + k % 5})
        if k % 4 == 1:
            point = Point(
                point.measurement, point.tags, {**point.fields, "backfill": True}, point.ts_ms
            )
        points.append(point)
    for h in range(10, 14):  # the logger's own hours (CN 2061), with -Cou totals
        values = {"nmhc_mgm3": 25.0 + h, "nmhc_kg": 0.5 * h, "flow_m3h": 900.0 + h}
        points.append(reading("voc_hour", "p1", "s1", T0 + h * HOUR, values, "NT"[h % 2]))
    # An electricity register every 20 min across the end of summer time in Europe
    # (2026-10-25 01:00 UTC): local days of 25 hours
    for i in range(5 * 72):
        ts = ELECTRICITY + i * 20 * MIN
        points.append(reading("electricity", "p1", "e1", ts, {"energy_kwh": 100.0 + i}))
        if i % 9 == 0:  # a second meter at the same times: ties between series
            points.append(reading("electricity", "p2", "e2", ts, {"energy_kwh": 50.0 + i}))
    return points


# A plant's resends with other values (revisions, kept by each engine's record keeper) and
# an officer's acceptance of two of them (the lines `api.revisions.accept_revision` writes).
G1_AT = T0 + MIN + 20 * STEP  # p1/g1's reading 20
VOC_AT = T0 + 10 * HOUR + 30 * MIN  # p1/s1's minute 30
C4_AT = T0 + 6 * MIN + 7 * STEP  # p4/c4's reading 7
ACCEPTED_MS = ARRIVED + 60_000


def resent(point: Point, arrived: int, source: str, **fields: float | str | None) -> Point:
    """`point` sent again, later, by another path, with some values changed (None: invalid)."""
    out = {**point.fields, "_arrived_ms": arrived, "_source": source}
    for name, value in fields.items():
        if name.endswith("_flag"):
            out[name] = cast(str, value)
        elif value is None:
            out.pop(name, None)
            out.pop(name + "_flag", None)
            out[name + "_invalid"] = "not a number"
        else:
            out[name] = value
    return Point(point.measurement, point.tags, out, point.ts_ms)


def revise(store: InfluxStore | ClickHouseStore, points: list[Point]) -> None:
    at = {(p.series, p.ts_ms): p for p in points}
    g1 = at[(("gas", "p1", "g1"), ms(G1_AT))]
    voc = at[(("voc_minute", "p1", "s1"), ms(VOC_AT))]
    c4 = at[(("coal", "p4", "c4"), ms(C4_AT))]
    volume, nmhc = cast(float, g1.fields["volume_m3"]), cast(float, voc.fields["nmhc_mgm3"])
    keeper = RecordKeeper(store)
    keeper.write(
        [
            resent(g1, ARRIVED + 1, "http", volume_m3=volume + 5.0),
            resent(voc, ARRIVED + 2, "hj212", nmhc_mgm3=nmhc + 100.0, nmhc_mgm3_flag="N"),
            resent(c4, ARRIVED + 3, "records", mass_kg=None),
        ]
    )
    keeper.write([resent(g1, ARRIVED + 4, "records", volume_m3=volume - 5.0), g1])  # and a dup
    for rid, sig in (
        (RevisionId("p1", "g1", "gas", "volume_m3", ms(G1_AT), 2), Sig(volume - 5.0, "N")),
        (RevisionId("p1", "s1", "voc_minute", "nmhc_mgm3", ms(VOC_AT), 1), Sig(nmhc + 100, "N")),
    ):
        lines = acceptance_points(rid, sig, "officer-1", ACCEPTED_MS, "calibration seen")
        store.write_lines([encode(p) for p in lines])


@pytest.fixture(scope="module")
def points() -> list[Point]:
    return dataset()


@pytest.fixture(scope="module")
def influx(influxd: Server, points: list[Point]) -> Iterator[InfluxStore]:
    with InfluxStore(f"http://127.0.0.1:{influxd.port}", f"t_{uuid.uuid4().hex[:12]}") as s:
        s.create_database()
        s.write_lines([encode(p) for p in points])
        revise(s, points)
        yield s


@pytest.fixture(scope="module")
def clickhouse(points: list[Point]) -> Iterator[ClickHouseStore]:
    """The same points as rows, a later write of another value at one of their keys (not a
    revision: no record keeper checked it), and the same revisions and acceptances."""
    url = os.environ.get("PLANTWATCH_TEST_CLICKHOUSE_URL")
    runner = HttpRunner(url) if url else ChdbRunner()
    name = f"t_chsql_{uuid.uuid4().hex[:8]}"
    ch = ClickHouseStore(runner, Layout(database=name))
    ch.create_database()
    ch.write(points)
    first = points[10]
    ch.write([Point(first.measurement, first.tags, {"volume_m3": 1.0}, first.ts_ms)])
    revise(ch, points)
    yield ch
    runner.run(f"DROP DATABASE IF EXISTS {name}")
    ch.close()


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float | int) and isinstance(b, float | int) and not isinstance(a, bool):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return (bool(a == b) and type(a) is type(b)) or (a is None and b is None)


def assert_same_series(got: list[Series], want: list[Series]) -> None:
    assert [(s.name, dict(s.tags), s.columns) for s in got] == [
        (s.name, dict(s.tags), s.columns) for s in want
    ]
    for g, w in zip(got, want, strict=True):
        assert len(g.values) == len(w.values), (g.name, dict(g.tags))
        for got_row, want_row in zip(g.values, w.values, strict=True):
            assert len(got_row) == len(want_row)
            assert all(same(x, y) for x, y in zip(got_row, want_row, strict=True)), (
                got_row,
                want_row,
            )


START, END = T0 + 6 * HOUR, T0 + 60 * HOUR
MID = T0 + 7 * HOUR + 20 * MIN  # inside an hour
VOC = ("plant", "meter")
ALL_STATS = tuple(
    Column(f, "nmhc_mgm3", f"{f}_nmhc")
    for f in ("sum", "min", "max", "mean", "count", "spread", "first", "last")
)


def steps(kind: str, start: datetime, end: datetime, every: timedelta, **kw: Any) -> list[Read]:
    return [
        s.request
        for s in raw_statements(
            kind, start, end, every, kw.pop("offset", timedelta(0)), RULES, **kw
        )
    ]


CASES: dict[str, Read] = {
    # Points
    "readings gas (edge read)": readings("gas", START, END, None),
    "readings coal of p1": readings("coal", START, END, ["p1"]),
    "voc minute values and flags": Points(
        "voc_minute", ("nmhc_mgm3", "nmhc_mgm3_flag", "o2_pct"), T0, END, (), VOC
    ),
    "gas ungrouped unbounded": Points("gas", ("volume_m3",), None, None),
    "manual readings (match flag S)": Points(
        "gas", ("volume_m3",), T0, END, (), VOC, match=(("volume_m3_flag", "=", "S"),)
    ),
    "newest per meter": Points("gas", ("volume_m3", "volume_m3_flag"), T0, END, (), VOC, newest=1),
    "newest three ungrouped": Points("coal", ("mass_kg",), T0, END, newest=3),
    "match on a value": Points(
        "coal", ("mass_kg",), T0, END, tags(plant="p1"), VOC, match=(("mass_kg", ">=", 3000.0),)
    ),
    "invalid values and arrival": Points(
        "gas", ("_arrived_ms", "_source", "volume_m3_invalid"), T0, END, (), VOC
    ),
    "invalid only": Points("gas", ("volume_m3_invalid",), T0, END, (), VOC),
    "back-filled readings": Points("voc", ("nmhc_mgm3", "backfill"), T0, END, (), VOC),
    "every field, newest per meter (presence)": Points("gas", (), START, END, (), VOC, newest=1),
    "every field of one meter": Points("gas", (), T0 + 50 * HOUR, END, tags(plant="p1")),
    "every field, back-filled": Points("voc", (), T0, END, (), ("plant",)),
    "every field, matched": Points(
        "gas", (), T0, END, (), VOC, match=(("volume_m3_flag", "=", "S"),)
    ),
    # TagValues
    "tag values gas plant": TagValues("gas", "plant"),
    "tag values coal meter": TagValues("coal", "meter"),
    "tag values of nothing": TagValues("voc_day", "plant"),
    # Summary
    "last before (edge read)": last_before("gas", START - 2 * HOUR, START, None),
    "last before coal p3": last_before("coal", START, END, ["p3"]),
    "first of all gas (earliest reading)": Summary(("gas",), (Column("first", "volume_m3"),)),
    "first within max gap of one meter": Summary(
        ("gas",),
        (Column("first", "volume_m3"),),
        T0 + 19 * HOUR,
        T0 + 43 * HOUR,
        tags(plant="p2", meter="g2"),
    ),
    "last however far back": Summary(
        ("gas",),
        (Column("last", "volume_m3"),),
        None,
        T0 + 50 * HOUR,
        tags(plant="p2", meter="g2"),
    ),
    "max alone is stamped at its row": Summary(
        ("voc_minute",), (Column("max", "nmhc_mgm3"),), T0, END, (), VOC
    ),
    "min alone": Summary(("voc_minute",), (Column("min", "o2_pct"),), T0, END),
    "every function per hour": Summary(("voc_minute",), ALL_STATS, T0, END, (), VOC, Buckets(HOUR)),
    "every function, no buckets": Summary(("voc_minute",), ALL_STATS, T0, END, (), VOC),
    "mean of valid minutes (match)": Summary(
        ("voc_minute",),
        (Column("mean", "nmhc_mgm3"), Column("count", "nmhc_mgm3")),
        T0,
        END,
        (),
        VOC,
        Buckets(HOUR),
        (("nmhc_mgm3_flag", "=", "N"),),
    ),
    "two measurements": Summary(
        ("voc", "voc_minute"),
        (Column("max", "nmhc_mgm3"),),
        T0,
        END,
        (),
        ("plant",),
        Buckets(30 * MIN, 10 * MIN),
    ),
    "readings per local day": Summary(
        ("gas",),
        (Column("count", "volume_m3", "readings"),),
        T0,
        END,
        (),
        VOC,
        Buckets(DAY, timedelta(0), "Asia/Shanghai"),
    ),
    "readings per day with offset, one plant": Summary(
        ("coal",),
        (Column("count", "mass_kg"),),
        START,
        END,
        tags(plant="p1"),
        (),
        Buckets(DAY, 5 * HOUR),
    ),
    "local days across a DST switch": Summary(
        ("electricity",),
        (Column("count", "energy_kwh"), Column("spread", "energy_kwh")),
        None,
        None,
        (),
        (),
        Buckets(DAY, timedelta(0), "Europe/Berlin"),
    ),
    "local 6 h with an offset across a DST switch": Summary(
        ("electricity",),
        (Column("count", "energy_kwh"),),
        None,
        None,
        (),
        (),
        Buckets(6 * HOUR, 2 * HOUR, "Europe/Berlin"),
    ),
    "local hours in a half-hour zone": Summary(
        ("electricity",),
        (Column("sum", "energy_kwh"),),
        None,
        None,
        tags(meter="e1"),
        (),
        Buckets(HOUR, timedelta(0), "Asia/Kolkata"),
    ),
    "steps per local day across a DST switch": StepSums(
        "consumption",
        "electricity",
        "energy_kwh",
        datetime(2026, 10, 23, tzinfo=UTC),
        datetime(2026, 10, 28, tzinfo=UTC),
        Buckets(DAY, timedelta(0), "Europe/Berlin"),
        100_000.0,
        DAY,
        (),
        VOC,
    ),
    "a count of a field missing in some buckets": Summary(
        ("gas",),
        (Column("count", "volume_m3"), Column("count", "volume_m3_invalid", "bad")),
        T0,
        END,
        (),
        VOC,
        Buckets(HOUR),
    ),
    "a mean of a field missing in some buckets": Summary(
        ("gas",),
        (Column("mean", "flow_m3h"), Column("last", "volume_m3_invalid")),
        T0,
        END,
        (),
        (),
        Buckets(6 * HOUR),
    ),
    "newest ungrouped": Points("electricity", ("energy_kwh",), None, None, newest=4),
    "first of series tied at a time": Summary(
        ("electricity",), (Column("first", "energy_kwh"),), ELECTRICITY + 9 * 20 * MIN
    ),
    "last of series tied at a time": Summary(
        ("electricity",), (Column("last", "energy_kwh"),), None, ELECTRICITY + 297 * 20 * MIN + MS
    ),
    "first and last of series tied at a time, per hour": Summary(
        ("electricity",),
        (Column("first", "energy_kwh"), Column("last", "energy_kwh")),
        None,
        None,
        (),
        (),
        Buckets(HOUR),
    ),
    "sum of flows, no time bound": Summary(("gas",), (Column("sum", "flow_m3h"),), None, None),
    # Revisions (`api.revisions`, `api.alerts.observe.pending_revisions`)
    "revisions of a plant (the officers' list)": Points(
        REVISIONS_MEASUREMENT,
        REVISION_COLUMNS,
        None,
        None,
        tags(plant="p1"),
        ("meter", "measurement", "name", "n"),
    ),
    "a revision by its key and time": Points(
        REVISIONS_MEASUREMENT,
        REVISION_COLUMNS,
        G1_AT,
        G1_AT + MS,
        tags(plant="p1", meter="g1", measurement="gas", name="volume_m3", n="2"),
        ("meter", "measurement", "name", "n"),
    ),
    "revisions by arrival (reading_revised)": Points(
        REVISIONS_MEASUREMENT,
        ("_arrived_ms", "accepted_ms"),
        None,
        None,
        (),
        VOC,
        match=(("_arrived_ms", ">=", ARRIVED), ("_arrived_ms", "<=", ARRIVED + 3)),
    ),
    "accepted values among the records": Points(
        "gas", ("volume_m3", "volume_m3_flag", "_arrived_ms", "_source"), G1_AT - HOUR, G1_AT + HOUR
    ),
}
for kind in ("gas", "coal"):
    for label, request in zip(
        ("consumption", "readings", "hours", "resets", "implausible"),
        steps(kind, START, END, HOUR, offset=30 * MIN, plants=None, by_meter=True),
        strict=True,
    ):
        CASES[f"{kind} hourly {label} by meter"] = request
    for label, request in zip(
        ("consumption", "readings", "hours", "resets", "implausible"),
        steps(kind, T0, T0 + 3 * DAY, DAY, plants=None, by_meter=False),
        strict=True,
    ):
        CASES[f"{kind} daily {label}"] = request
    for label, request in zip(
        ("consumption", "readings", "hours", "resets", "implausible"),
        steps(kind, MID, END, END - MID, plants=["p1", "p2"], by_meter=True, single_bucket=True),
        strict=True,
    ):
        CASES[f"{kind} one stretch {label} (first hour)"] = request
CASES["hours, stretch inside an hour, by local day"] = StepSums(
    "hours", "gas", "volume_m3", MID, END, Buckets(DAY, timedelta(0), "Asia/Shanghai"),
    20_000.0, DAY, (), VOC,
)  # fmt: skip
CASES["consumption with a short max gap"] = StepSums(
    "consumption", "gas", "volume_m3", START, END, Buckets(6 * HOUR), 20_000.0, 20 * MIN, (), VOC
)


ANSWER_NOTHING = {CASES["tag values of nothing"]}


@pytest.mark.parametrize("request_", CASES.values(), ids=list(CASES))
def test_both_engines_answer_the_same(
    request_: Read, influx: InfluxStore, clickhouse: ClickHouseStore
) -> None:
    (want,) = influx.read([request_])
    (got,) = clickhouse.read([request_])
    if request_ not in ANSWER_NOTHING:
        assert want, "the oracle answers something for every other request of the table"
    assert_same_series(got, want)


def test_several_requests_in_order(influx: InfluxStore, clickhouse: ClickHouseStore) -> None:
    requests = list(CASES.values())[:5]
    for got, want in zip(clickhouse.read(requests), influx.read(requests), strict=True):
        assert_same_series(got, want)


def test_the_fuel_domain_reads_the_same(influx: InfluxStore, clickhouse: ClickHouseStore) -> None:
    # Reads only: ClickHouseStore is no full `Store` yet (the read model's writes are not on it).
    ch = cast(Store, clickhouse)
    assert fuel_plants(ch) == fuel_plants(influx) == ["p1", "p2", "p3", "p4"]
    assert earliest_reading(ch) == earliest_reading(influx) == T0 + MIN
    seen = last_seen(ch, ["gas", "coal", "voc"], END, 3 * DAY)  # reads every field
    assert seen == last_seen(influx, ["gas", "coal", "voc"], END, 3 * DAY)
    assert len(seen) == 7  # every meter and the stack


def test_revisions_read_the_same(influx: InfluxStore, clickhouse: ClickHouseStore) -> None:
    """What officers list and accept, and what `reading_revised` counts, on both engines;
    the accepted revisions are the records of every read above (the KPI's too)."""
    ch = cast(Store, clickhouse)
    for plant in ("p1", "p4"):
        assert list_revisions(ch, plant) == list_revisions(influx, plant)
    listed = list_revisions(ch, "p1") + list_revisions(ch, "p4")
    assert sorted((r.id.meter, r.id.number, r.status, r.source) for r in listed) == [
        ("c4", 1, "pending", "records"),
        ("g1", 1, "pending", "http"),
        ("g1", 2, "accepted", "records"),
        ("s1", 1, "accepted", "hj212"),
    ]
    for r in listed:
        assert get_revision(ch, r.id) == get_revision(influx, r.id) == r
    now = datetime.fromtimestamp(ARRIVED / 1000, UTC)
    pending = pending_revisions(ch, now, DAY)
    assert pending == pending_revisions(influx, now, DAY)
    assert sorted((p.plant, p.meter, p.count) for p in pending) == [
        ("p1", "g1", 1),
        ("p4", "c4", 1),
    ]
    g1 = [p for p in dataset() if p.series == ("gas", "p1", "g1") and p.ts_ms == ms(G1_AT)]
    (record,) = clickhouse.read_range("gas", ("volume_m3", "_source"), G1_AT, G1_AT + MS)
    assert record.values == ((ms(G1_AT), cast(float, g1[0].fields["volume_m3"]) - 5.0, "mqtt"),)


def test_what_is_not_rows_is_refused() -> None:
    with pytest.raises(StoreRejected, match="no tag 'kind'"):
        statement(Summary(("gas",), (Column("sum", "x"),), group_by=("kind",)), "t")
    with pytest.raises(StoreRejected, match="'fuel_hourly' is not stored"):
        statement(Summary(("fuel_hourly",), (Column("sum", "consumption"),)), "t")
    with pytest.raises(StoreRejected, match="'revisions' is not stored"):
        statement(Points("revisions", ("arrived_ms",), None, None), "t")


# ---- the KPI over each store ------------------------------------------------------------------

FIRMS = {
    "p1": ("stainless_steel", [("g1", "gas"), ("c1", "coal")]),
    "p2": ("stainless_steel", [("g2", "gas")]),
    "p3": ("stainless_steel", [("c3", "coal")]),
    "p4": ("stainless_steel", [("g4", "gas"), ("c4", "coal")]),
}
WINDOWS = {
    # long raw stretches: sums computed by the engine (StepSums), manual corrections
    "whole": [Segment("raw", T0, T0 + 3 * DAY)],
    "by day": [Segment("raw", T0, T0 + DAY), Segment("raw", T0 + DAY, T0 + 3 * DAY)],
    # short raw edges: readings summed in process, predecessors searched back, the S reading
    "edges": [Segment("raw", MID, T0 + 9 * HOUR), Segment("raw", T0 + 49 * HOUR, END)],
}


@pytest.mark.parametrize("plan", WINDOWS.values(), ids=list(WINDOWS))
def test_the_kpi_over_each_store_gives_the_same_firm_rows(
    plan: list[Segment], influx: InfluxStore, clickhouse: ClickHouseStore
) -> None:
    registry = parse_registry(tomllib.loads(registry_toml(FIRMS)))
    plants = list(registry.plants)
    start, end = plan[0].start, plan[-1].end

    def sums_and_rows(store: Store) -> tuple[dict[Any, Sums], list[dict[str, Any]]]:
        (found,) = query_sums(store, [plan], RULES, [p.id for p in plants], True)
        sums = to_sums(found)
        fuels = firm_fuels_of(plants, sums, start, end, ())
        return sums, [asdict(r) for r in gas_share(fuels, 0.5, KpiDefinition()).rows]

    want_sums, want = sums_and_rows(influx)
    got_sums, got = sums_and_rows(cast(Store, clickhouse))
    assert got_sums.keys() == want_sums.keys()
    for key, sums in want_sums.items():
        pairs = zip(astuple(got_sums[key]), astuple(sums), strict=True)
        assert all(same(x, y) for x, y in pairs), (key, got_sums[key], sums)
    assert len(got) == len(want) == len(FIRMS)
    for g, w in zip(got, want, strict=True):
        assert g.keys() == w.keys()
        assert all(same(g[k], w[k]) for k in g), (g, w)
    assert want[3]["status"] == "mixed" or plan == WINDOWS["edges"]


def test_the_kpi_table_holds_every_kind_of_step(influx: InfluxStore) -> None:
    """The whole window's sums count resets, implausible steps and silent hours: the
    comparisons above are not of empty sums."""
    (found,) = query_sums(influx, [WINDOWS["whole"]], RULES, list(FIRMS), True)
    sums = to_sums(found)
    assert sums[("gas", "p1", "g1")].resets == 1
    assert sums[("gas", "p1", "g1")].implausible_steps == 1
    assert sums[("coal", "p1", "c1")].resets == 1
    assert sums[("gas", "p2", "g2")].consumption > 0


def equal(a: Any, b: Any) -> bool:
    """Deep equality of the domain's answers (dicts, dataclasses, numpy arrays; NaN = NaN)."""
    if isinstance(a, np.ndarray):
        if a.dtype.kind == "f":
            return a.shape == b.shape and bool(np.allclose(a, b, rtol=1e-9, equal_nan=True))
        return bool(np.array_equal(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(equal(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b, strict=True))
    if is_dataclass(a) and not isinstance(a, type):
        return type(a) is type(b) and all(
            equal(getattr(a, f.name), getattr(b, f.name)) for f in fields(a)
        )
    return same(a, b)


def test_the_voc_domain_reads_the_same(influx: InfluxStore, clickhouse: ClickHouseStore) -> None:
    ch = cast(Store, clickhouse)
    names = ["nmhc_mgm3", "o2_pct", "flow_m3h"]
    raw = voc_queries.raw_series(ch, names, T0, END)
    assert equal(raw, voc_queries.raw_series(influx, names, T0, END))
    assert len(raw["voc_minute"][("p1", "s1")].ts_ms) > 100
    hours = voc_queries.logger_hours(ch, names, T0, END, ["p1"])
    assert equal(hours, voc_queries.logger_hours(influx, names, T0, END, ["p1"]))
    assert len(hours[("p1", "s1")].kg["nmhc_mgm3"]) == 4
    arrivals = voc_queries.latest_arrivals(ch, T0, END)
    assert arrivals == voc_queries.latest_arrivals(influx, T0, END)
    assert len(arrivals[("p1", "s1")]) == 4  # the three hours of data and the logger's fourth
    assert voc_queries.earliest_reading(ch) == voc_queries.earliest_reading(influx)
    heard = voc_queries.first_arrivals(ch)
    assert heard == voc_queries.first_arrivals(influx) and ("p1", "s1") in heard
    assert heard[("p1", "s1")] <= min(arrivals[("p1", "s1")].values())  # least of every latest
