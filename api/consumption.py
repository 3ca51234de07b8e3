"""InfluxQL for fuel consumption in buckets, from raw registers or from the rollups.

Consumption is the sum of non-negative steps of a cumulative register: a drop (reset,
meter replaced) starts a new baseline and is counted in `resets`; a step faster than the
plausible maximum is an implausible jump, counted in `implausible_steps` and not in
consumption; a step bridging more than `max_gap` of silence is not attributed at all.

A step belongs to the bucket holding its later reading, so buckets add up: the sum of
hourly consumptions is the consumption of the day. To see the step into a bucket's first
reading, raw statements read `max_gap` before the range; InfluxDB pushes an outer time
condition down into a subquery, so the outer query spans the same wider range and the
caller drops the buckets before `start` (`collect`).

Every identifier and literal goes through `quote_ident` / `quote_literal` / `influx_time`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ingest.store import Series, influx_time, quote_ident, quote_literal

REGISTERS = {"gas": "volume_m3", "coal": "mass_kg"}
HOURLY_MEASUREMENT = "fuel_hourly"
DAILY_MEASUREMENT = "fuel_daily"
MS = timedelta(milliseconds=1)
# The fields one statement reports; a bucket's totals are kept in this order.
SUM_FIELDS = ("consumption", "readings", "hours", "resets", "implausible_steps")


@dataclass(frozen=True, slots=True)
class StepRules:
    """What counts as a consumption step (from the KPI definition and rollup settings)."""

    max_per_hour: dict[str, float]  # kind -> plausible maximum rate (m³/h gas, kg/h coal)
    max_gap: timedelta


@dataclass(frozen=True, slots=True)
class Statement:
    """One InfluxQL statement; its rows before `keep_from` belong to the lookback (None: no lookback).

    `assign_to` (epoch ms) files every kept row under that bucket: a stretch narrower than
    a bucket is queried as one bucket of its own and then counted in the one holding it.
    """

    text: str
    kind: str | None  # None: the kind comes from the `kind` tag (rollups)
    keep_from: datetime | None
    by_meter: bool
    assign_to: int | None = None


def duration(td: timedelta) -> str:
    """An InfluxQL duration literal in whole milliseconds."""
    return f"{td // MS}ms"


def time_range(start: datetime, end: datetime) -> str:
    return f"time >= {influx_time(start)} AND time < {influx_time(end)}"


def plant_filter(plants: Sequence[str] | None) -> str:
    """`AND ("plant" = 'a' OR ...)`, or nothing for every plant."""
    if plants is None:
        return ""
    if not plants:
        raise ValueError("an empty plant list selects nothing")
    return " AND (" + " OR ".join(f'"plant" = {quote_literal(p)}' for p in plants) + ")"


def group_by(every: timedelta, offset: timedelta, tags: Sequence[str]) -> str:
    parts = [f"time({duration(every)}, {duration(offset % every)})"]
    parts += [quote_ident(t) for t in tags]
    return "GROUP BY " + ", ".join(parts) + " fill(none)"


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
) -> list[Statement]:
    """Consumption, readings, reported hours, resets and implausible steps of raw registers.

    `start` must be a bucket boundary (of `every` and `offset`): the bucket before it holds
    the lookback and is dropped whole.
    """
    field = quote_ident(REGISTERS[kind])
    measurement = quote_ident(kind)
    where_plants = plant_filter(plants)
    lookback = start - rules.max_gap
    tags = ("plant", "meter") if by_meter else ()
    outer_group = group_by(every, offset, tags)
    steps = (
        f'SELECT non_negative_difference({field}) AS "step", '
        f'non_negative_derivative({field}, 1h) AS "rate", elapsed({field}, 1ms) AS "gap" '
        f"FROM {measurement} WHERE {time_range(lookback, end)}{where_plants} "
        'GROUP BY "plant", "meter"'
    )
    plausible = f'"rate" <= {float(rules.max_per_hour[kind])!r}'
    bridged = f'"gap" <= {rules.max_gap // MS}'
    hours = (
        f'SELECT count("c") AS "hours" FROM (SELECT count({field}) AS "c" FROM {measurement} '
        f"WHERE {time_range(start, end)}{where_plants} "
        f'GROUP BY time(1h), "plant", "meter" fill(none)) '
        f"WHERE {time_range(start, end)} {outer_group}"
    )
    texts = [
        f'SELECT sum("step") AS "consumption" FROM ({steps}) '
        f"WHERE {time_range(lookback, end)} AND {plausible} AND {bridged} {outer_group}",
        f'SELECT count({field}) AS "readings" FROM {measurement} '
        f"WHERE {time_range(start, end)}{where_plants} {outer_group}",
        *([hours] if with_hours else []),
        f'SELECT count("d") AS "resets" FROM (SELECT difference({field}) AS "d" '
        f'FROM {measurement} WHERE {time_range(lookback, end)}{where_plants} GROUP BY "plant", "meter") '
        f'WHERE {time_range(lookback, end)} AND "d" < 0 {outer_group}',
        f'SELECT count("step") AS "implausible_steps" FROM ({steps}) '
        f'WHERE {time_range(lookback, end)} AND "rate" > {float(rules.max_per_hour[kind])!r} '
        f"AND {bridged} {outer_group}",
    ]
    return [Statement(t, kind, start, by_meter, assign_to) for t in texts]


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
    hours = 'count("readings")' if level == "hourly" else 'sum("hours_reported")'
    tags = ("kind", "plant", "meter") if by_meter else ("kind",)
    if every is None:
        grouping = "GROUP BY " + ", ".join(quote_ident(t) for t in tags)
    else:
        grouping = group_by(every, offset, tags)
    text = (
        f'SELECT sum("consumption") AS "consumption", sum("readings") AS "readings", '
        f'{hours} AS "hours", sum("resets") AS "resets", '
        f'sum("implausible_steps") AS "implausible_steps" FROM {quote_ident(measurement)} '
        f"WHERE {time_range(start, end)}{plant_filter(plants)} {grouping}"
    )
    return Statement(text, None, None, by_meter)


Key = tuple[str, str, str, int]  # kind, plant, meter, bucket start (epoch ms; 0 for totals)


def collect(
    statements: Sequence[Statement],
    results: Sequence[Sequence[Series]],
    totals: bool = False,
    into: dict[Key, list[float]] | None = None,
) -> dict[Key, list[float]]:
    """Add each statement's rows into sums per (kind, plant, meter, bucket) of `SUM_FIELDS`.

    Rows before a statement's `keep_from` are the lookback and are dropped. With `totals`
    every bucket collapses into one (bucket 0).
    """
    out: dict[Key, list[float]] = {} if into is None else into
    for statement, series_list in zip(statements, results, strict=True):
        keep_from_ms = (
            statement.keep_from.timestamp() * 1000 if statement.keep_from is not None else -math.inf
        )
        for series in series_list:
            kind = statement.kind or series.tags.get("kind", "")
            plant = series.tags.get("plant", "") if statement.by_meter else ""
            meter = series.tags.get("meter", "") if statement.by_meter else ""
            columns = series.columns
            for row in series.values:
                ts = row[0] if columns[0] == "time" else 0
                if ts < keep_from_ms:
                    continue
                if totals:
                    bucket = 0
                elif statement.assign_to is not None:
                    bucket = statement.assign_to
                else:
                    bucket = int(ts)
                sums = out.setdefault((kind, plant, meter, bucket), [0.0] * len(SUM_FIELDS))
                for column, value in zip(columns, row, strict=True):
                    if column in SUM_FIELDS and value is not None:
                        sums[SUM_FIELDS.index(column)] += float(value)
    return out


def sum_field(values: Iterable[list[float]], name: str) -> float:
    index = SUM_FIELDS.index(name)
    return sum(v[index] for v in values)
