"""The fuel reads: consumption in buckets from raw registers or rollups, and the rest.

The step rule is `api.fuel.rules` (SPEC section 6); the `StepSums` requests here have the
store compute the same sums so only aggregated rows travel. The requests carry no statement
text (`ingest.kernel.reads`); the engine writes it (`ingest.kernel.influxql`).

Consumption is the sum of non-negative steps of a cumulative register: a drop (reset,
meter replaced) starts a new baseline and is counted in `resets`; a step faster than the
plausible maximum is an implausible jump, counted in `implausible_steps` and not in
consumption; a step bridging more than `max_gap` of silence is not attributed at all.

A step belongs to the bucket holding its later reading, so buckets add up: the sum of
hourly consumptions is the consumption of the day. To see the step into a bucket's first
reading, step sums read `max_gap` before the range and the buckets before `start` are
dropped here (`collect`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import numpy as np

from api.fuel.rules import (
    MANUAL_FLAG,
    REGISTERS,
    StepRules,
    Sums,
    manual_correction,
    series_interval_sums,
)
from api.ranges import EPOCH, Segment, ceil_to, floor_to
from api.readmodel.blocks import RowBlock, block_spans
from api.readmodel.cache import RollupCache
from api.readmodel.state import touched_since
from ingest.kernel.points import FLAG_SUFFIX
from ingest.kernel.reads import (
    Buckets,
    Column,
    Points,
    Read,
    StepSums,
    Summary,
    Tags,
    TagValues,
    tags,
)
from ingest.kernel.store import Series, Store

HOURLY_MEASUREMENT = "fuel_hourly"
DAILY_MEASUREMENT = "fuel_daily"
MS = timedelta(milliseconds=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
NO_SUMS = Sums()
# The fields statements report (the fields of `rules.Sums`), in the order `collect` adds them.
SUM_FIELDS = ("consumption", "readings", "hours", "resets", "implausible_steps")
FIELD_INDEX = {name: index for index, name in enumerate(SUM_FIELDS)}


@dataclass(frozen=True, slots=True)
class Statement:
    """One read request; its rows before `keep_from` belong to the lookback (None: no lookback).

    `assign_to` (epoch ms) files every kept row under that bucket: a stretch narrower than
    a bucket is queried as one bucket of its own and then counted in the one holding it.
    """

    request: Read
    kind: str | None  # None: the kind comes from the `kind` tag (rollups)
    keep_from: datetime | None
    by_meter: bool
    assign_to: int | None = None


def plant_tags(plants: Sequence[str] | None) -> Tags:
    """A filter on these plants, or none for every plant (an empty list selects nothing)."""
    return () if plants is None else tags({"plant": plants})


SERIES_TAGS = ("plant", "meter")


def raw_statements(
    kind: str,
    start: datetime,
    end: datetime,
    every: timedelta,
    offset: timedelta,
    rules: StepRules,
    plants: Sequence[str] | None,
    by_meter: bool,
    assign_to: int | None = None,
    with_hours: bool = True,
    single_bucket: bool = False,
) -> list[Statement]:
    """Consumption, readings, reported hours, resets and implausible steps of raw registers.

    `start` must be a bucket boundary (of `every` and `offset`): the bucket before it holds
    the lookback and is dropped whole. Reported hours are clock hours; a `single_bucket`
    stretch starting inside an hour (an edge, or a whole window) counts that first hour too.
    """
    field, where = REGISTERS[kind], plant_tags(plants)
    group = SERIES_TAGS if by_meter else ()
    buckets = Buckets(every, offset)

    def steps(measure: str) -> StepSums:
        return StepSums(
            measure,  # type: ignore[arg-type]
            kind,
            field,
            start,
            end,
            buckets,
            float(rules.max_per_hour[kind]),
            rules.max_gap,
            where,
            group,
            first_hour=single_bucket,
        )

    readings = Summary(
        (kind,), (Column("count", field, "readings"),), start, end, where, group, buckets
    )
    requests: list[Read] = [
        steps("consumption"),
        readings,
        *([steps("hours")] if with_hours else []),
        steps("resets"),
        steps("implausible_steps"),
    ]
    out = [Statement(r, kind, start, by_meter, assign_to) for r in requests]
    if with_hours and single_bucket:
        out[2] = Statement(requests[2], kind, None, by_meter, assign_to)
    return out


def rollup_statement(
    level: str,
    start: datetime,
    end: datetime,
    every: timedelta | None,
    offset: timedelta,
    plants: Sequence[str] | None,
    by_meter: bool,
) -> Statement:
    """Sums of the `hourly` or `daily` rollup over [start, end), per bucket or in total."""
    measurement = HOURLY_MEASUREMENT if level == "hourly" else DAILY_MEASUREMENT
    # An hourly row is one reported hour; a daily row carries its count of reported hours.
    hours = (
        Column("count", "readings", "hours")
        if level == "hourly"
        else (Column("sum", "hours_reported", "hours"))
    )
    group = ("kind", "plant", "meter") if by_meter else ("kind",)
    columns = (
        Column("sum", "consumption", "consumption"),
        Column("sum", "readings", "readings"),
        hours,
        Column("sum", "resets", "resets"),
        Column("sum", "implausible_steps", "implausible_steps"),
    )
    buckets = None if every is None else Buckets(every, offset)
    request = Summary((measurement,), columns, start, end, plant_tags(plants), group, buckets)
    return Statement(request, None, None, by_meter)


Key = tuple[str, str, str, int]  # kind, plant, meter, bucket start (epoch ms; 0 for totals)


def collect(
    statements: Sequence[Statement],
    results: Sequence[Sequence[Series]],
    totals: bool = False,
) -> dict[Key, Sums]:
    """Add each statement's rows into `Sums` per (kind, plant, meter, bucket).

    Rows before a statement's `keep_from` are the lookback and are dropped. With `totals`
    every bucket collapses into one (bucket 0).
    """
    # Added up in place (a county's rows), then typed once.
    out: dict[Key, list[float]] = {}
    positions: dict[tuple[str, ...], list[tuple[int, int]]] = {}
    for statement, series_list in zip(statements, results, strict=True):
        keep_from_ms = (
            statement.keep_from.timestamp() * 1000 if statement.keep_from is not None else -math.inf
        )
        for series in series_list:
            kind = statement.kind or series.tags.get("kind", "")
            plant = series.tags.get("plant", "") if statement.by_meter else ""
            meter = series.tags.get("meter", "") if statement.by_meter else ""
            columns = series.columns
            timed = columns[0] == "time"
            fields = positions.get(columns)
            if fields is None:
                # (position in the row, position in the sums) of each summed column
                fields = positions[columns] = [
                    (i, FIELD_INDEX[c]) for i, c in enumerate(columns) if c in FIELD_INDEX
                ]
            for row in series.values:
                ts = row[0] if timed else 0
                if ts < keep_from_ms:
                    continue
                if totals:
                    bucket = 0
                elif statement.assign_to is not None:
                    bucket = statement.assign_to
                else:
                    bucket = int(ts)
                key = (kind, plant, meter, bucket)
                sums = out.get(key)
                if sums is None:
                    sums = out[key] = [0.0] * len(SUM_FIELDS)
                for i, f in fields:
                    value = row[i]
                    if value is not None:
                        sums[f] += value
    return {key: Sums(c, int(r), int(h), int(s), int(j)) for key, (c, r, h, s, j) in out.items()}


def segment_statements(
    segment: Segment,
    rules: StepRules,
    plants: Sequence[str] | None,
    by_meter: bool,
    every: timedelta | None,
    offset: timedelta,
) -> list[Statement]:
    """The statements answering one stretch; `every` None sums the stretch into one bucket."""
    if segment.source != "raw":
        return [
            rollup_statement(
                segment.source, segment.start, segment.end, every, offset, plants, by_meter
            )
        ]
    # Raw statements must start on a bucket boundary (see raw_statements): a stretch that
    # starts inside a bucket queries that part as one bucket of its own, filed under the
    # bucket holding it, and the rest on the bucket grid.
    pieces: list[tuple[datetime, datetime, timedelta, timedelta, int | None]] = []
    if every is None:
        width = segment.end - segment.start
        pieces.append((segment.start, segment.end, width, (segment.start - EPOCH) % width, None))
    else:
        boundary = ceil_to(segment.start, every, offset)
        if boundary > segment.start:
            head_end = min(boundary, segment.end)
            width = head_end - segment.start
            holder = floor_to(segment.start, every, offset)
            holder_ms = (holder - EPOCH) // MS
            pieces.append(
                (segment.start, head_end, width, (segment.start - EPOCH) % width, holder_ms)
            )
        if boundary < segment.end:
            pieces.append((boundary, segment.end, every, offset, None))
    statements: list[Statement] = []
    for start, end, width, shift, assign_to in pieces:
        for kind in REGISTERS:
            statements += raw_statements(
                kind,
                start,
                end,
                width,
                shift,
                rules,
                plants,
                by_meter,
                assign_to,
                single_bucket=every is None or assign_to is not None,
            )
    return statements


# Raw stretches up to this long (the edges of a window around its rollups) are read as
# points and summed by the pure rule; longer ones are aggregated inside InfluxDB.
EDGE_MAX = timedelta(hours=6)
# Past this many plants a per-meter query reads every plant and drops the others itself:
# thousands of `"plant" = ...` alternatives cost InfluxDB more than the extra rows.
PLANT_FILTER_MAX = 100


# Totals over daily rollups are read in blocks of this many days at fixed places (epoch
# aligned), each its own cached statement: a window that moves (an officer's "now") reads
# again only the blocks at its ends. InfluxDB 1.x costs per series, field and shard read,
# not per point: a year of `fuel_daily` in one statement took 1.5 s, 28 days 80 ms (60 firms).
ROLLUP_BLOCK = timedelta(days=28)


def rollup_blocks(segment: Segment, block: timedelta = ROLLUP_BLOCK) -> list[Segment]:
    """A daily-rollup stretch cut at the block boundaries (at the hour of day it starts:
    its local midnight); any other stretch as it is. The pieces' sums are the stretch's:
    each daily row lies in exactly one piece."""
    if segment.source != "daily" or segment.end - segment.start <= block:
        return [segment]
    anchor = (segment.start - EPOCH) % DAY  # local midnight's UTC hour
    out, start = [], segment.start
    while start < segment.end:
        end = min(floor_to(start, block, anchor) + block, segment.end)
        out.append(Segment(segment.source, start, end))
        start = end
    return out


# With the app's cache, totals over the rollups are summed in process from blocks of rollup
# rows (`api.readmodel.blocks`): a UTC day of hourly rows, `ROLLUP_BLOCK` of daily rows (at
# the hour of local midnight), each read once and kept until a rollup pass changes its hours.
HOURLY_ROW_BLOCK = DAY
ROW_FIELDS = ("consumption", "readings", "resets", "implausible_steps", "hours_reported")
ROW_TAGS = ("kind", "plant", "meter")


def row_block_spans(segment: Segment) -> list[tuple[datetime, datetime]]:
    """The fixed blocks of rollup rows covering an `hourly` or `daily` stretch."""
    if segment.source == "daily":
        anchor = (segment.start - EPOCH) % DAY  # local midnight's UTC hour
        return block_spans(segment.start, segment.end, ROLLUP_BLOCK, anchor)
    return block_spans(segment.start, segment.end, HOURLY_ROW_BLOCK)


def rollup_rows(level: str, start: datetime, end: datetime, plants: Sequence[str] | None) -> Points:
    """Every row of the `hourly` or `daily` rollup in [start, end), per (kind, plant, meter)."""
    measurement = HOURLY_MEASUREMENT if level == "hourly" else DAILY_MEASUREMENT
    fields = ROW_FIELDS if level == "daily" else ROW_FIELDS[:-1]
    return Points(measurement, fields, start, end, plant_tags(plants), ROW_TAGS)


def row_block(level: str, result: Sequence[Series]) -> RowBlock:
    """The rows of one `rollup_rows` read as a block (daily rows carry `hours_reported`)."""
    fields = ROW_FIELDS if level == "daily" else ROW_FIELDS[:-1]
    return RowBlock.of(result, ROW_TAGS, fields)


class Accumulator:
    """Sums of many keys added as arrays (a block's or an edge's series at once), typed once:
    a county's series times the pieces of a window would otherwise each make a `Sums`."""

    def __init__(self) -> None:
        self.index: dict[Key, int] = {}
        self.parts: list[tuple[np.ndarray, np.ndarray]] = []

    def add(self, keys: Sequence[Key], values: np.ndarray) -> None:
        """Add `values` (one row per key, the fields of `Sums` in order) under `keys`."""
        positions = np.fromiter(
            (self.index.setdefault(k, len(self.index)) for k in keys), np.int64, len(keys)
        )
        self.parts.append((positions, values))

    def into(self, out: dict[Key, Sums]) -> None:
        """Add everything accumulated into `out`."""
        total = np.zeros((len(self.index), len(SUM_FIELDS)))
        for positions, values in self.parts:
            np.add.at(total, positions, values)
        for key, i in self.index.items():
            c, r, h, s, j = total[i].tolist()
            found = Sums(c, int(r), int(h), int(s), int(j))
            out[key] = out[key] + found if key in out else found


def add_block_sums(
    block: RowBlock,
    level: str,
    start: datetime,
    end: datetime,
    by_meter: bool,
    into: Accumulator,
) -> None:
    """Add the block's rows in [start, end) into totals (bucket 0), as `rollup_statement`
    sums them: an hourly row is one reported hour, a daily row carries its count."""
    present, sums, counts = block.totals(start, end)
    rows = np.flatnonzero(present)
    if not len(rows):
        return
    # consumption, readings, resets, implausible steps [, hours reported]
    hours = sums[rows, 4] if level == "daily" else counts[rows, 1]
    values = np.column_stack([sums[rows, 0], sums[rows, 1], hours, sums[rows, 2], sums[rows, 3]])
    keys = [
        (kind, plant if by_meter else "", meter if by_meter else "", 0)
        for kind, plant, meter in (block.keys[i] for i in rows)
    ]
    into.add(keys, values)


@dataclass(frozen=True, slots=True)
class Edge:
    """A short raw stretch [start, end) summed in Python into `bucket_ms` (0: the total)."""

    start: datetime
    end: datetime
    bucket_ms: int


def edge_pieces(segment: Segment, every: timedelta | None, offset: timedelta) -> list[Edge]:
    """A short raw segment cut at bucket boundaries, each piece filed under its bucket."""
    if every is None:
        return [Edge(segment.start, segment.end, 0)]
    out, start = [], segment.start
    while start < segment.end:
        bucket = floor_to(start, every, offset)
        end = min(segment.end, bucket + every)
        out.append(Edge(start, end, (bucket - EPOCH) // MS))
        start = end
    return out


@dataclass(frozen=True, slots=True)
class EdgeRead:
    """One kind's part of an edge read: each series' last reading before the read (`before`,
    completed by `predecessors` / `manual_predecessors`) and its readings in it (`readings`)."""

    kind: str
    before: list[Series]
    readings: list[Series]


def edge_reads(results: Sequence[list[Series]]) -> list[dict[str, EdgeRead]]:
    """The results of `edge_requests` (one read after another), per read and kind; the
    lists are the results' own, so completing `before` completes the results."""
    per_read = 2 * len(REGISTERS)
    return [
        {
            kind: EdgeRead(kind, results[first + 2 * k], results[first + 2 * k + 1])
            for k, kind in enumerate(REGISTERS)
        }
        for first in range(0, len(results), per_read)
    ]


@dataclass(slots=True)
class RecentReads:
    """Each series' latest reading in [since, until), as the raw edge ending a plan at
    `until` saw it (`query_sums` fills it; `since` stays None if no such edge was read).

    The KPI's freshness then needs no second scan of every series' last hours."""

    until: datetime
    since: datetime | None = None
    latest: dict[tuple[str, str, str], datetime] = dataclasses.field(default_factory=dict)


def note_recent(
    recent: RecentReads,
    read: tuple[datetime, datetime],
    edge: dict[str, EdgeRead],
    near: timedelta,
) -> None:
    """Fill `recent` from one edge read (predecessors included): every reading of
    [read start - near, until) was returned by it."""
    since = read[0] - near
    since_ms, until_ms = (since - EPOCH) // MS, (recent.until - EPOCH) // MS
    latest: dict[tuple[str, str, str], int] = {}
    for kind, part in edge.items():
        for series in (*part.before, *part.readings):
            key = (kind, series.tags.get("plant", ""), series.tags.get("meter", ""))
            for row in series.values:
                ts = row[0]
                if row[1] is not None and since_ms <= ts < until_ms and ts > latest.get(key, -1):
                    latest[key] = ts
    recent.since = since
    recent.latest = {key: from_ms(ts) for key, ts in latest.items()}


# The reading before an edge is looked for this far back first; only a series with readings
# in the edge and none in this stretch is searched back to the silence limit (`predecessors`).
EDGE_NEAR = timedelta(hours=2)


def last_before(kind: str, start: datetime, end: datetime, plants: Sequence[str] | None) -> Summary:
    """The last reading of each `kind` series in [start, end)."""
    last = (Column("last", REGISTERS[kind]),)
    return Summary((kind,), last, start, end, plant_tags(plants), SERIES_TAGS)


def readings(kind: str, start: datetime, end: datetime, plants: Sequence[str] | None) -> Points:
    """Each `kind` series' readings (value, flag) in [start, end)."""
    field = REGISTERS[kind]
    fields = (field, field + FLAG_SUFFIX)
    return Points(kind, fields, start, end, plant_tags(plants), SERIES_TAGS)


# An edge in rolled-up hours is read as the fixed block of this many hours holding it (epoch
# aligned), the same read for every edge in it: a window that moves (an officer's "now")
# reads raw registers again only when one of its ends enters another block. InfluxDB 1.x
# costs per series and statement far more than per point: 6 hours cost about what 1 did.
# 7 does not divide a day, so the two ends of a window of whole days (30 days, a year, a
# month) lie at different places in their blocks and never need new ones in one request.
RAW_BLOCK = timedelta(hours=7)


def rolled_read(
    edge: Edge, settled: datetime | None, kept: bool = True
) -> tuple[datetime, datetime] | None:
    """What to read for `edge` if it lies in rolled-up hours (before `settled`, the hourly
    watermark): the `RAW_BLOCK` holding it if the read is `kept` (cached), or the clock hour
    holding it when it is not, that block is not rolled up yet or the edge crosses its end;
    None if the edge is not rolled up."""
    if settled is None:
        return None
    block = floor_to(edge.start, RAW_BLOCK)
    if kept and edge.end <= block + RAW_BLOCK <= settled:
        return block, block + RAW_BLOCK
    hour = floor_to(edge.start, HOUR)
    if edge.end <= hour + HOUR <= settled:
        return hour, hour + HOUR
    return None


def edge_requests(
    read: tuple[datetime, datetime], rules: StepRules, plants: Sequence[str] | None
) -> list[Read]:
    """Per kind: the last reading in the `EDGE_NEAR` before `read`, then its readings."""
    start, end = read
    near = min(EDGE_NEAR, rules.max_gap)
    out: list[Read] = []
    for kind in REGISTERS:
        out.append(last_before(kind, start - near, start, plants))
        out.append(readings(kind, start, end, plants))
    return out


# ---- readings entered by hand (flag S) ---------------------------------------------------------


def by_hand(row: Sequence[Any]) -> bool:
    """A (time, value, flag) row of a reading flagged S (entered by hand)."""
    return len(row) > 2 and row[2] == MANUAL_FLAG


def earlier_readings(
    store: Store, asks: Sequence[tuple[str, str, str, int]]
) -> list[list[Any] | None]:
    """For each (kind, plant, meter, t ms): the (time, value) of its last reading before t,
    however far back (None if there is none). The step into a reading flagged S counts
    whatever the silence before it, so its predecessor is looked for without a limit."""
    if not asks:
        return []
    requests = [
        Summary(
            (kind,), (Column("last", REGISTERS[kind]),), None, EPOCH + t * MS,
            tags(plant=plant, meter=meter),
        )
        for kind, plant, meter, t in asks
    ]  # fmt: skip
    out: list[list[Any] | None] = []
    for result in store.read(requests):
        found = [s.values[0] for s in result if s.values and s.values[0][1] is not None]
        out.append(list(found[0]) if found else None)
    return out


def manual_predecessors(
    store: Store, starts: Sequence[datetime], reads: Sequence[dict[str, EdgeRead]]
) -> None:
    """Complete edge reads: a series whose first reading in a read is flagged S and has no
    predecessor yet gets its last earlier reading, however far back."""
    asks: list[tuple[str, str, str, int]] = []
    where: list[tuple[EdgeRead, Series]] = []
    for start, edge in zip(starts, reads, strict=True):
        for kind, part in edge.items():
            found = {
                (s.tags.get("plant", ""), s.tags.get("meter", "")) for s in part.before if s.values
            }
            for s in part.readings:
                key = (s.tags.get("plant", ""), s.tags.get("meter", ""))
                if s.values and by_hand(s.values[0]) and key not in found:
                    asks.append((kind, *key, (start - EPOCH) // MS))
                    where.append((part, s))
    for (part, s), row in zip(where, earlier_readings(store, asks), strict=True):
        if row is not None:
            part.before.append(Series(s.name, s.tags, ("time", "last"), (tuple(row),)))


def manual_corrections(
    store: Store,
    segment: Segment,
    every: timedelta | None,
    offset: timedelta,
    rules: StepRules,
    plants: Sequence[str] | None,
    by_meter: bool,
    into: dict[Key, Sums],
) -> None:
    """Add to sums computed inside InfluxDB (which cannot see flags) what the manual rule
    changes for the readings flagged S in `segment` (`rules.manual_correction`)."""
    requests = [
        Points(
            kind, (field,), segment.start, segment.end, plant_tags(plants), SERIES_TAGS,
            match=((field + FLAG_SUFFIX, "=", MANUAL_FLAG),),
        )
        for kind, field in REGISTERS.items()
    ]  # fmt: skip
    entries: list[tuple[str, str, str, int, float]] = []
    for kind, result in zip(REGISTERS, store.read(requests), strict=True):
        for s in result:
            plant, meter = s.tags.get("plant", ""), s.tags.get("meter", "")
            entries += [
                (kind, plant, meter, int(r[0]), float(r[1])) for r in s.values if r[1] is not None
            ]
    previous = earlier_readings(store, [(k, p, m, t) for k, p, m, t, _ in entries])
    for (kind, plant, meter, t, value), prev in zip(entries, previous, strict=True):
        if prev is None:
            continue  # no step into the first reading of a register
        fix = manual_correction(
            int(prev[0]), float(prev[1]), t, value, rules.max_per_hour[kind], rules.max_gap // MS
        )
        bucket = 0 if every is None else (floor_to(EPOCH + t * MS, every, offset) - EPOCH) // MS
        key = (kind, plant if by_meter else "", meter if by_meter else "", bucket)
        into[key] = into.get(key, NO_SUMS) + fix


def predecessors(
    store: Store,
    starts: Sequence[datetime],
    reads: Sequence[dict[str, EdgeRead]],
    rules: StepRules,
    plants: Sequence[str] | None,
) -> None:
    """Complete edge reads: a series with readings in a read but none in the `EDGE_NEAR`
    before it gets the last reading up to `max_gap` before, added in place."""
    if rules.max_gap <= EDGE_NEAR:
        return
    asks: list[tuple[EdgeRead, Read]] = []  # (the part to complete, request)
    for start, edge in zip(starts, reads, strict=True):
        for kind, part in edge.items():
            read = [s for s in part.readings if s.values]
            if not read:
                continue  # no readings in the read: no predecessor to look for
            found = {
                (s.tags.get("plant", ""), s.tags.get("meter", "")) for s in part.before if s.values
            }
            lacking = sorted(
                {
                    s.tags.get("plant", "")
                    for s in read
                    if (s.tags.get("plant", ""), s.tags.get("meter", "")) not in found
                }
            )
            if lacking:
                scope = lacking if len(lacking) <= PLANT_FILTER_MAX else plants
                since, until = start - rules.max_gap, start - EDGE_NEAR
                asks.append((part, last_before(kind, since, until, scope)))
    if not asks:
        return
    for (part, _), found_series in zip(
        asks, store.read([request for _, request in asks]), strict=True
    ):
        known = {
            (s.tags.get("plant", ""), s.tags.get("meter", "")) for s in part.before if s.values
        }
        part.before.extend(
            s
            for s in found_series
            if (s.tags.get("plant", ""), s.tags.get("meter", "")) not in known
        )


@dataclass(frozen=True, slots=True)
class EdgeArrays:
    """One kind's edge read as flat arrays: the (plant, meter) of each series with readings,
    and per reading its series index, time (ms), value and flag S; each series' reading
    before the read (`EdgeRead.before`) comes with its readings."""

    keys: list[tuple[str, str]]
    series: np.ndarray
    times_ms: np.ndarray
    values: np.ndarray
    manual: np.ndarray

    @classmethod
    def of(cls, part: EdgeRead) -> EdgeArrays:
        before = {(s.tags.get("plant", ""), s.tags.get("meter", "")): s for s in part.before}
        keys: list[tuple[str, str]] = []
        sid: list[int] = []
        rows: list[Sequence[Any]] = []
        for series in part.readings:
            kept = [row for row in series.values if row[1] is not None]
            if not kept:
                continue
            key = (series.tags.get("plant", ""), series.tags.get("meter", ""))
            prev = before.get(key)
            if prev is not None and prev.values and prev.values[0][1] is not None:
                kept.insert(0, prev.values[0])
            sid += [len(keys)] * len(kept)
            rows += kept
            keys.append(key)
        return cls(
            keys,
            np.asarray(sid, dtype=np.int64),
            np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows)),
            np.fromiter((row[1] for row in rows), dtype=np.float64, count=len(rows)),
            np.fromiter((by_hand(row) for row in rows), dtype=bool, count=len(rows)),
        )


def edge_sums(
    edge: Edge,
    read: dict[str, EdgeArrays],
    rules: StepRules,
    by_meter: bool,
    into: Accumulator,
) -> None:
    """Add one edge's sums (the pure rule over its points, every series at once) into `into`.

    The points may reach before and after the edge (a whole-hour or block read): the rule
    counts only readings inside it and steps into them; a meter with none inside adds nothing.
    """
    start_ms, end_ms = (edge.start - EPOCH) // MS, (edge.end - EPOCH) // MS
    for kind, part in read.items():
        if not part.keys:
            continue
        got = series_interval_sums(
            part.series, part.times_ms, part.values, len(part.keys), start_ms, end_ms,
            rules.max_per_hour[kind], rules.max_gap // MS, part.manual,
        )  # fmt: skip
        rows = np.flatnonzero(got.readings)
        fields = (got.consumption, got.readings, got.hours, got.resets, got.implausible_steps)
        keys = [
            (kind, plant if by_meter else "", meter if by_meter else "", edge.bucket_ms)
            for plant, meter in (part.keys[i] for i in rows)
        ]
        into.add(keys, np.column_stack([f[rows] for f in fields]).astype(np.float64))


def kept_blocks(
    cache: RollupCache | None,
    scope: tuple[str, str],
    rolled: Sequence[Sequence[Segment]],
    plants: Sequence[str] | None,
) -> tuple[dict[Points, RowBlock], list[tuple[Points, str, datetime]]]:
    """The row blocks the rollup stretches need: those the cache keeps (by request), and
    (request, level, block end) of each one to read."""
    kept: dict[Points, RowBlock] = {}
    ask: dict[Points, tuple[Points, str, datetime]] = {}
    for segment in (s for plan in rolled for s in plan):
        for start, end in row_block_spans(segment):
            request = rollup_rows(segment.source, start, end, plants)
            if request in kept or request in ask:
                continue
            found = cache.lookup(scope, request) if cache is not None else None
            if isinstance(found, RowBlock):
                kept[request] = found
            else:
                ask[request] = (request, segment.source, end)
    return kept, list(ask.values())


def query_sums(
    store: Store,
    plans: Sequence[Sequence[Segment]],
    rules: StepRules,
    plants: Sequence[str] | None,
    by_meter: bool,
    every: timedelta | None = None,
    offset: timedelta = timedelta(0),
    generation: datetime | None = None,
    settled: datetime | None = None,
    recent: RecentReads | None = None,
    cache: RollupCache | None = None,
) -> list[dict[Key, Sums]]:
    """Sums per (kind, plant, meter, bucket) for each plan, all in one round trip.

    With `recent`, a raw edge ending the last plan at `recent.until` also yields each
    series' latest reading (`RecentReads`), from the same read.

    With `cache` (the app's, `api.readmodel.cache`) and `generation` (when the rollups
    last changed), answers read from the rollups and
    raw edges in rolled-up hours (before `settled`, the hourly watermark) are kept until a
    rollup pass changes their hours (`api.fuel.cache`): a late reading there is re-rolled,
    which changes them. Raw stretches after the watermark are always read afresh. Totals
    (`every` None) are then summed from blocks of rollup rows (`row_block_spans`) and edges
    read as whole raw blocks (`rolled_read`), both kept: a window that moves reads only
    the blocks its ends enter.
    """
    wanted = set(plants) if plants is not None else None
    if by_meter and plants is not None and len(plants) > PLANT_FILTER_MAX:
        plants = None  # a county's worth: read every plant, keep the wanted ones below
    # Per plan: its statements with the end of the stretch each reads, and its raw edges.
    per_plan: list[tuple[list[tuple[Statement, datetime]], list[Edge]]] = []
    long_raw: list[list[Segment]] = []  # per plan: raw stretches summed inside InfluxDB
    # per plan: rollup stretches summed in process from kept blocks of rows (totals only)
    rolled: list[list[Segment]] = []
    keeps = cache is not None and generation is not None  # reads kept: read whole blocks
    by_blocks = every is None and keeps
    for plan in plans:
        statements: list[tuple[Statement, datetime]] = []
        edges: list[Edge] = []
        long_raw.append([s for s in plan if s.source == "raw" and s.end - s.start > EDGE_MAX])
        rolled.append([s for s in plan if by_blocks and s.source != "raw"])
        for segment in plan:
            if segment.source == "raw" and segment.end - segment.start <= EDGE_MAX:
                edges += edge_pieces(segment, every, offset)
            elif by_blocks and segment.source != "raw":
                continue  # summed from blocks below
            else:
                statements += [
                    (st, piece.end)
                    for piece in (rollup_blocks(segment) if every is None else [segment])
                    for st in segment_statements(piece, rules, plants, by_meter, every, offset)
                ]
        per_plan.append((statements, edges))
    requests: list[Read] = []
    reads: list[tuple[datetime, datetime]] = []
    reach: dict[int, datetime] = {}  # cacheable statement -> end of the data it reads
    per_edge = 2 * len(REGISTERS)
    for statements, edges in per_plan:
        for statement, end in statements:
            if statement.kind is None:  # rollups; raw statements read raw registers
                reach[len(requests)] = end
            requests.append(statement.request)
        for edge in edges:
            kept_read = rolled_read(edge, settled, keeps)
            read = kept_read if kept_read is not None else (edge.start, edge.end)
            if kept_read is not None:
                reach.update((i, read[1]) for i in range(len(requests), len(requests) + per_edge))
            elif settled is not None and read[0] <= settled:
                # An edge after the watermark (the window's tail): the search for the
                # reading before it covers rolled-up hours only, so it is kept like them;
                # the edge's own readings are read afresh.
                reach.update((len(requests) + 2 * k, read[0]) for k in range(len(REGISTERS)))
            reads.append(read)
            requests += edge_requests(read, rules, plants)
    if not requests and not any(rolled):
        return [{} for _ in plans]
    scope = (store.url, store.database)
    if cache is None:
        generation = None
    if cache is not None and generation is not None:
        settled_generation = generation
        cache.sync(
            scope, generation, lambda seen: touched_since(store, "fuel", seen, settled_generation)
        )
    cacheable = reach if cache is not None and generation is not None else {}
    cached = {i: cache.get(scope, requests[i]) for i in cacheable} if cache is not None else {}
    ask = [i for i in range(len(requests)) if cached.get(i) is None]
    blocks, block_ask = kept_blocks(cache, scope, rolled, plants)
    keys = [requests[i] for i in ask if i in cacheable] + [request for request, _, _ in block_ask]
    claims = cache.reading(scope, keys) if cache is not None else nullcontext(False)
    with claims as waited:
        if waited:  # others read some of them meanwhile: they are kept now
            assert cache is not None
            cached.update({i: cache.get(scope, requests[i]) for i in ask if i in cacheable})
            ask = [i for i in range(len(requests)) if cached.get(i) is None]
            blocks, block_ask = kept_blocks(cache, scope, rolled, plants)
        answers = (
            store.read([*(requests[i] for i in ask), *(r for r, _, _ in block_ask)])
            if ask or block_ask
            else []
        )
        fetched = dict(zip(ask, answers[: len(ask)], strict=True))
        for (request, level, end), result in zip(block_ask, answers[len(ask) :], strict=True):
            blocks[request] = row_block(level, result)
            assert cache is not None  # blocks are read only with a cache
            cache.keep(scope, generation, request, blocks[request], end, len(blocks[request].order))
        results = [
            list(fetched[i] if i in fetched else cached[i] or []) for i in range(len(requests))
        ]
        edge_results: list[list[Series]] = []
        asked_edges: list[bool] = []  # per edge: read now (else its predecessors came cached too)
        index = 0
        for statements, edges in per_plan:
            index += len(statements)
            edge_results += results[index : index + per_edge * len(edges)]
            asked_edges += [
                any(i in fetched for i in range(first, first + per_edge))
                for first in range(index, index + per_edge * len(edges), per_edge)
            ]
            index += per_edge * len(edges)
        edge_parts = edge_reads(edge_results)  # per edge, in order
        fresh = [e for e, asked in enumerate(asked_edges) if asked]
        fresh_starts = [reads[e][0] for e in fresh]
        fresh_parts = [edge_parts[e] for e in fresh]
        predecessors(store, fresh_starts, fresh_parts, rules, plants)
        manual_predecessors(store, fresh_starts, fresh_parts)
        if recent is not None and per_plan and per_plan[-1][1]:
            last_edge = per_plan[-1][1][-1]
            if last_edge.end == recent.until:
                note_recent(recent, reads[-1], edge_parts[-1], min(EDGE_NEAR, rules.max_gap))
        for i in ask:  # after `predecessors` completed the edge reads
            if i in cacheable:
                assert cache is not None
                cache.put(scope, generation, requests[i], results[i], cacheable[i])
        # Each edge read as arrays, kept like the rows they come from (one block's read
        # serves every window with an end in it).
        edge_arrays: list[dict[str, EdgeArrays]] = []
        first = 0
        for statements, edges in per_plan:
            first += len(statements)
            for _ in edges:
                span = range(first, first + per_edge)
                arrays_key = ("edge arrays", *(requests[i] for i in span))
                whole = cache is not None and all(i in cacheable for i in span)
                kept = cache.lookup(scope, arrays_key) if whole and cache is not None else None
                if kept is None:
                    part = edge_parts[len(edge_arrays)]
                    kept = {kind: EdgeArrays.of(p) for kind, p in part.items()}
                    if whole and cache is not None:
                        rows = sum(len(a.times_ms) for a in kept.values())
                        cache.keep(scope, generation, arrays_key, kept, cacheable[first], rows)
                edge_arrays.append(cast(dict[str, EdgeArrays], kept))
                first += per_edge
        out, index, edge_index = [], 0, 0
        for (statements, edges), raw_stretches, rollups in zip(
            per_plan, long_raw, rolled, strict=True
        ):
            span = range(index, index + len(statements))
            # A plan answered from cached rows alone sums to the same totals every time: those
            # are kept too (a county's worth of series is the costly part to add up in Python).
            memo = None
            if statements and all(i in cacheable for i in span):
                memo = ("collected", every is None, *(requests[i] for i in span))
            found = cache.lookup(scope, memo) if memo is not None and cache is not None else None
            if found is not None:
                sums = dict(cast(dict[Key, Sums], found))  # Sums are frozen: a shallow copy
            else:
                sums = collect(
                    [st for st, _ in statements],
                    [results[i] for i in span],
                    totals=every is None,
                )
                if memo is not None:
                    reach_end = max(cacheable[i] for i in span)
                    if cache is not None:
                        cache.keep(scope, generation, memo, dict(sums), reach_end)
            added = Accumulator()  # rollup blocks and edges, typed once below
            for segment in rollups:
                for start, end in row_block_spans(segment):
                    block = blocks[rollup_rows(segment.source, start, end, plants)]
                    add_block_sums(
                        block, segment.source, segment.start, segment.end, by_meter, added
                    )
            for segment in raw_stretches:  # entered-by-hand steps the InfluxDB sums cannot see
                manual_corrections(store, segment, every, offset, rules, plants, by_meter, sums)
            index += len(statements)
            for edge in edges:
                edge_sums(edge, edge_arrays[edge_index], rules, by_meter, added)
                index += per_edge
                edge_index += 1
            added.into(sums)
            if by_meter and wanted is not None:
                sums = {k: v for k, v in sums.items() if k[1] in wanted}
            out.append(sums)
        return out


# ---- rollup job ------------------------------------------------------------------------------


def daily_from_hourly(
    start: datetime, end: datetime, timezone: str, plants: Sequence[str] | None
) -> Statement:
    """Sums of `fuel_hourly` per local day of [start, end) (days start at local midnight)."""
    columns = (
        Column("sum", "consumption", "consumption"),
        Column("sum", "readings", "readings"),
        Column("count", "readings", "hours"),
        Column("sum", "resets", "resets"),
        Column("sum", "implausible_steps", "implausible_steps"),
    )
    request = Summary(
        (HOURLY_MEASUREMENT,), columns, start, end, plant_tags(plants), ("kind", *SERIES_TAGS),
        Buckets(DAY, timedelta(0), timezone),
    )  # fmt: skip
    return Statement(request, None, start, True)


def register_points(
    store: Store,
    start: datetime,
    end: datetime,
    max_gap: timedelta,
    plants: Sequence[str] | None,
) -> dict[tuple[str, str, str], tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(kind, plant, meter) -> (times ms, values, flagged S): the readings in [start, end),
    preceded by the last reading within `max_gap` before `start` (the predecessor of the
    first step), or by the last one however far back when the first is flagged S."""
    requests: list[Read] = []
    for kind in REGISTERS:
        requests.append(last_before(kind, start - max_gap, start, plants))
        requests.append(readings(kind, start, end, plants))
    results = store.read(requests)
    series: dict[tuple[str, str, str], list[list[Any]]] = {}
    asks: list[tuple[str, str, str, int]] = []
    for index, kind in enumerate(REGISTERS):
        before = {
            (s.tags.get("plant", ""), s.tags.get("meter", "")): s.values[0]
            for s in results[2 * index]
            if s.values and s.values[0][1] is not None
        }
        for s in results[2 * index + 1]:
            key = (s.tags.get("plant", ""), s.tags.get("meter", ""))
            rows = [list(r) for r in s.values if r[1] is not None]
            if key in before:
                rows.insert(0, list(before[key]))
            elif rows and by_hand(rows[0]):
                asks.append((kind, *key, int(rows[0][0])))
            if rows:
                series[(kind, *key)] = rows
    for (kind, plant, meter, _), row in zip(asks, earlier_readings(store, asks), strict=True):
        if row is not None:
            series[(kind, plant, meter)].insert(0, row)
    out = {}
    for key3, rows in series.items():
        times = np.asarray([int(r[0]) for r in rows], dtype=np.int64)
        values = np.asarray([float(r[1]) for r in rows], dtype=np.float64)
        out[key3] = (times, values, np.asarray([by_hand(r) for r in rows], dtype=bool))
    return out


def fuel_plants(store: Store) -> list[str]:
    """Every plant with a gas or coal series (from the series index, no data read)."""
    found = {
        str(row[1])
        for result in store.read([TagValues(kind, "plant") for kind in REGISTERS])
        for s in result
        for row in s.values
    }
    return sorted(found)


def earliest_reading(store: Store) -> datetime | None:
    """Time of the first fuel reading in the store, or None."""
    requests = [Summary((kind,), (Column("first", field),)) for kind, field in REGISTERS.items()]
    times = [s.values[0][0] for result in store.read(requests) for s in result if s.values]
    return from_ms(min(times)) if times else None


def from_ms(ms: float) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


def next_readings(
    store: Store, after: Sequence[tuple[str, str, str, datetime]], max_gap: timedelta
) -> list[tuple[str, str, str, datetime]]:
    """For each (kind, plant, meter, t): the first reading at or after t within `max_gap`.

    A late reading changes the step of the reading that follows it, which may lie in a
    later hour than any the late reading touched.
    """
    if not after:
        return []
    requests = [
        Summary(
            (kind,), (Column("first", REGISTERS[kind]),), t, t + max_gap + MS,
            tags(plant=plant, meter=meter),
        )
        for kind, plant, meter, t in after
    ]  # fmt: skip
    out = []
    for (kind, plant, meter, _), result in zip(after, store.read(requests), strict=True):
        for s in result:
            if s.values:
                out.append((kind, plant, meter, from_ms(s.values[0][0])))
    return out


# ---- freshness ---------------------------------------------------------------------------------


# The latest reading is searched over growing stretches back from the end: the last two
# hours hold it for a meter that reports, and last() costs InfluxDB per point it scans.
RECENT_TIERS = (timedelta(hours=2), timedelta(hours=25))


def _latest(
    store: Store, plants: Sequence[str] | None, start: datetime, end: datetime
) -> dict[tuple[str, str, str], datetime]:
    wanted = set(plants) if plants is not None else None
    if plants is not None and len(plants) > PLANT_FILTER_MAX:
        plants = None
    requests = [last_before(kind, start, end, plants) for kind in REGISTERS]
    out = {}
    for kind, result in zip(REGISTERS, store.read(requests), strict=True):
        for s in result:
            plant = s.tags.get("plant", "")
            if s.values and (wanted is None or plant in wanted):
                out[(kind, plant, s.tags.get("meter", ""))] = from_ms(s.values[0][0])
    return out


def last_readings(
    store: Store,
    plants: Sequence[str] | None,
    end: datetime,
    lookback: timedelta,
    meters: Sequence[tuple[str, str, str]] = (),
    recent: RecentReads | None = None,
) -> dict[tuple[str, str, str], datetime]:
    """(kind, plant, meter) -> time of its latest fuel reading in [end - lookback, end).

    The most recent stretch is searched first (cheap); each older stretch only for the
    plants with a meter of `meters` not found yet (every plant if `meters` is empty).
    `recent` (filled by `query_sums` up to `end`) answers its stretch without a search.
    """
    out: dict[tuple[str, str, str], datetime] = {}
    near = timedelta(0)
    if recent is not None and recent.since is not None and recent.until == end:
        near = min(end - recent.since, lookback)
        wanted = set(plants) if plants is not None else None
        out = {
            key: ts
            for key, ts in recent.latest.items()
            if ts >= end - lookback and (wanted is None or key[1] in wanted)
        }
    tiers = [*(t for t in RECENT_TIERS if t < lookback), lookback]
    for far in (t for t in tiers if t > near):
        if near:
            missing = sorted({p for kind, p, m in meters if (kind, p, m) not in out})
            if meters and not missing:
                return out
            ask = missing or plants
        else:
            ask = plants
        for key, ts in _latest(store, ask, end - far, end - near).items():
            out.setdefault(key, ts)
        near = far
    return out
