"""The VOC reads: raw readings, the logger's hours, rolled-up hours.

Each is a read request (`ingest.kernel.reads`) with a literal time range, so answers are
reproducible; the store's engine writes the statements (`ingest.kernel.influxql`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from api.voc.rules import FLOW_FIELD, HourAgg, IntArray, flag_classes, stored_fields
from ingest.kernel.hj212 import MEASUREMENT_BY_CN, total_name
from ingest.kernel.points import FLAG_SUFFIX
from ingest.kernel.reads import Buckets, Column, Points, Summary, Tags, tags
from ingest.kernel.record import ARRIVED_FIELD
from ingest.kernel.store import Store, encode_point

REALTIME_MEASUREMENT = MEASUREMENT_BY_CN["2011"]  # also JSON readings
MINUTE_MEASUREMENT = MEASUREMENT_BY_CN["2051"]
HOUR_MEASUREMENT = MEASUREMENT_BY_CN["2061"]
HOURLY_ROLLUP = "voc_hourly"

StackKey = tuple[str, str]


@dataclass(frozen=True, slots=True)
class RawSeries:
    """Readings of one stack from one measurement: time, values (NaN missing), flag classes."""

    ts_ms: IntArray
    values: dict[str, np.ndarray]
    classes: dict[str, np.ndarray]


STACK_TAGS = ("plant", "meter")
HOUR = timedelta(hours=1)


def plant_tags(plants: Sequence[str] | None) -> Tags:
    """A filter on these plants; none (every plant) for None or an empty list."""
    return tags({"plant": sorted(set(plants))}) if plants else ()


def raw_request(
    measurement: str,
    fields: Sequence[str],
    start: datetime,
    end: datetime,
    plants: Sequence[str] | None,
) -> Points:
    """Each stack's readings of `fields` and their flags in [start, end)."""
    columns = tuple(name for f in fields for name in (f, f + FLAG_SUFFIX))
    return Points(measurement, columns, start, end, plant_tags(plants), STACK_TAGS)


def raw_series(
    store: Store,
    fields: Sequence[str],
    start: datetime,
    end: datetime,
    plants: Sequence[str] | None = None,
) -> dict[str, dict[StackKey, RawSeries]]:
    """measurement (`voc`, `voc_minute`) -> stack -> readings of `fields` in [start, end)."""
    measurements = (MINUTE_MEASUREMENT, REALTIME_MEASUREMENT)
    requests = [raw_request(m, fields, start, end, plants) for m in measurements]
    out: dict[str, dict[StackKey, RawSeries]] = {}
    for measurement, series_list in zip(measurements, store.read(requests), strict=True):
        stacks: dict[StackKey, RawSeries] = {}
        for s in series_list:
            index = {c: i for i, c in enumerate(s.columns)}
            rows = s.values
            values, classes = {}, {}
            for f in fields:
                if f not in index:
                    continue
                vi, fi = index[f], index.get(f + FLAG_SUFFIX)
                values[f] = np.array(
                    [np.nan if r[vi] is None else r[vi] for r in rows], dtype=np.float64
                )
                classes[f] = flag_classes([r[fi] if fi is not None else None for r in rows])
            ts = np.array([r[0] for r in rows], dtype=np.int64)
            stacks[(s.tags["plant"], s.tags["meter"])] = RawSeries(ts, values, classes)
        out[measurement] = stacks
    return out


@dataclass(frozen=True, slots=True)
class LoggerSeries:
    """The logger's hourly data of one stack: hour start, value, flag, -Cou kg per value."""

    ts_ms: IntArray
    values: dict[str, np.ndarray]
    flags: dict[str, list[str]]
    kg: dict[str, np.ndarray]


def logger_hours(
    store: Store,
    fields: Sequence[str],
    start: datetime,
    end: datetime,
    plants: Sequence[str] | None = None,
) -> dict[StackKey, LoggerSeries]:
    """The CN 2061 hours of every stack (values, flags, -Cou totals) in [start, end)."""
    totals = [t for f in fields if (t := total_name(f)) is not None and f != FLOW_FIELD]
    names = [*fields, *(f + FLAG_SUFFIX for f in fields), *totals]
    request = Points(HOUR_MEASUREMENT, tuple(names), start, end, plant_tags(plants), STACK_TAGS)
    (series_list,) = store.read([request])
    out = {}
    for s in series_list:
        index = {c: i for i, c in enumerate(s.columns)}
        rows = s.values

        out[(s.tags["plant"], s.tags["meter"])] = LoggerSeries(
            np.array([r[0] for r in rows], dtype=np.int64),
            {f: _column(index, rows, f) for f in fields},
            {f: _flags(index, rows, f) for f in fields if f in index},
            {
                f: _column(index, rows, t)
                for f in fields
                if (t := total_name(f)) is not None and t in index
            },
        )
    return out


def latest_arrivals(
    store: Store, start: datetime, end: datetime, plants: Sequence[str] | None = None
) -> dict[StackKey, dict[int, int]]:
    """Per stack and hour start (ms) in [start, end): when its latest reading arrived (ms).

    Readings stored before arrival times were kept have none, and their hours none here.
    """
    request = Summary(
        (REALTIME_MEASUREMENT, MINUTE_MEASUREMENT, HOUR_MEASUREMENT),
        (Column("max", ARRIVED_FIELD),), start, end, plant_tags(plants), STACK_TAGS,
        Buckets(HOUR),
    )  # fmt: skip
    (series_list,) = store.read([request])
    out: dict[StackKey, dict[int, int]] = defaultdict(dict)
    for s in series_list:
        hours = out[(s.tags["plant"], s.tags["meter"])]
        for ts, arrived in s.values:
            if arrived is not None:
                hours[int(ts)] = max(hours.get(int(ts), 0), int(arrived))
    return dict(out)


def _column(index: dict[str, int], rows: Sequence[Sequence[Any]], name: str) -> np.ndarray:
    i = index.get(name)
    return np.array([np.nan if i is None or r[i] is None else r[i] for r in rows], dtype=np.float64)


def _flags(index: dict[str, int], rows: Sequence[Sequence[Any]], name: str) -> list[str]:
    """The logger's flag per hour ("" where it sent no value, "N" where no flag)."""
    vi, fi = index[name], index.get(name + FLAG_SUFFIX)
    return [
        "" if r[vi] is None else ("N" if fi is None or r[fi] is None else str(r[fi])) for r in rows
    ]


def rollup_lines(plant: str, meter: str, aggs: dict[str, HourAgg]) -> list[str]:
    """One `voc_hourly` point per hour in which the stack transmitted anything.

    Only aggregates that differ from their default are written (`rules.stored_fields`).
    """
    if not aggs:
        return []
    hours = next(iter(aggs.values())).hour_start_ms
    lines = []
    for i, hour in enumerate(hours.tolist()):
        if not any(agg["transmitted_minutes"][i] for agg in aggs.values()):
            continue
        fields = {
            f"{name}_{agg_field}": value
            for name, agg in aggs.items()
            for agg_field, value in stored_fields(agg, i).items()
        }
        lines.append(encode_point(HOURLY_ROLLUP, {"plant": plant, "meter": meter}, fields, hour))
    return lines


def rolled_hours(
    store: Store, start: datetime, end: datetime, plants: Sequence[str] | None = None
) -> dict[StackKey, tuple[IntArray, dict[str, np.ndarray]]]:
    """stack -> (hour starts, column -> values) of `voc_hourly` in [start, end)."""
    request = Points(HOURLY_ROLLUP, (), start, end, plant_tags(plants), STACK_TAGS)
    (series_list,) = store.read([request])
    out = {}
    for s in series_list:
        table = np.array(s.values, dtype=object)
        if table.size == 0:
            continue
        missing = table == None  # noqa: E711 (elementwise: InfluxDB nulls)
        numbers = np.where(missing, np.nan, table).astype(np.float64)
        columns = {c: numbers[:, i] for i, c in enumerate(s.columns) if c != "time"}
        out[(s.tags["plant"], s.tags["meter"])] = (numbers[:, 0].astype(np.int64), columns)
    return out


def earliest_reading(store: Store) -> datetime | None:
    """Time of the oldest VOC reading (real-time or minute), for a first catch-up."""
    first = (Column("first", FLOW_FIELD),)
    requests = [Summary((m,), first) for m in (MINUTE_MEASUREMENT, REALTIME_MEASUREMENT)]
    found = [row[0] for series in store.read(requests) for s in series for row in s.values]
    return datetime.fromtimestamp(min(found) / 1000, tz=UTC) if found else None


def group_by_stack(
    rows: dict[str, dict[StackKey, RawSeries]],
) -> dict[StackKey, dict[str, RawSeries]]:
    """stack -> measurement -> readings."""
    out: dict[StackKey, dict[str, RawSeries]] = defaultdict(dict)
    for measurement, stacks in rows.items():
        for key, series in stacks.items():
            out[key][measurement] = series
    return dict(out)
