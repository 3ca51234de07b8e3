"""Fuel usage over any range: rollups where they cover it, raw registers for the rest.

`plan_segments` (api.ranges) splits the range; each stretch becomes InfluxQL aggregates
(api.consumption) and all of them go to InfluxDB in one round trip. Only aggregated rows
travel back, never raw points.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from api.consumption import (
    MS,
    REGISTERS,
    SUM_FIELDS,
    Key,
    Statement,
    StepRules,
    collect,
    raw_statements,
    rollup_statement,
)
from api.ranges import EPOCH, Segment, ceil_to, check_raw_span, floor_to, plan_segments
from api.rollup import Watermarks
from api.settings import ApiSettings, KpiDefinition
from ingest.store import InfluxStore


def step_rules(settings: ApiSettings) -> StepRules:
    """Which register steps count, from the settings."""
    d = settings.kpi
    return StepRules(
        {"gas": d.max_gas_m3_per_hour, "coal": d.max_coal_kg_per_hour},
        timedelta(hours=settings.rollup_max_gap_hours),
    )


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
                kind, start, end, width, shift, rules, plants, by_meter, assign_to
            )
    return statements


def query_sums(
    store: InfluxStore,
    plans: Sequence[Sequence[Segment]],
    rules: StepRules,
    plants: Sequence[str] | None,
    by_meter: bool,
    every: timedelta | None = None,
    offset: timedelta = timedelta(0),
) -> list[dict[Key, list[float]]]:
    """Sums per (kind, plant, meter, bucket) for each plan, all in one round trip."""
    per_plan = [
        [
            st
            for segment in plan
            for st in segment_statements(segment, rules, plants, by_meter, every, offset)
        ]
        for plan in plans
    ]
    flat = [st for statements in per_plan for st in statements]
    if not flat:
        return [{} for _ in plans]
    results = store.query_many(";".join(st.text for st in flat))
    out, index = [], 0
    for statements in per_plan:
        sums = collect(statements, results[index : index + len(statements)], totals=every is None)
        index += len(statements)
        out.append(sums)
    return out


@dataclass(frozen=True, slots=True)
class Interval:
    """Fuel used in one interval (clipped to the requested range)."""

    start: datetime
    end: datetime
    gas_m3: float
    coal_kg: float
    gas_kgce: float
    coal_kgce: float
    kgce: float
    co2_kg: float
    gas_readings: int
    coal_readings: int
    resets: int
    implausible_steps: int


def intervals(
    sums: dict[Key, list[float]],
    start: datetime,
    end: datetime,
    first_bucket: datetime,
    every: timedelta,
    d: KpiDefinition,
) -> list[Interval]:
    """Every interval from `first_bucket` to `end`, zero where nothing was used."""

    def get(kind: str, bucket_ms: int, name: str) -> float:
        values = sums.get((kind, "", "", bucket_ms))
        return values[SUM_FIELDS.index(name)] if values else 0.0

    out = []
    bucket = first_bucket
    while bucket < end:
        ms = round((bucket - EPOCH).total_seconds() * 1000)
        gas_m3, coal_kg = get("gas", ms, "consumption"), get("coal", ms, "consumption")
        gas_kgce, coal_kgce = gas_m3 * d.gas_kgce_per_m3, coal_kg * d.coal_kgce_per_kg
        out.append(
            Interval(
                max(bucket, start),
                min(bucket + every, end),
                gas_m3,
                coal_kg,
                gas_kgce,
                coal_kgce,
                gas_kgce + coal_kgce,
                gas_m3 * d.co2_kg_per_m3_gas + coal_kg * d.co2_kg_per_kg_coal,
                int(get("gas", ms, "readings")),
                int(get("coal", ms, "readings")),
                int(get("gas", ms, "resets") + get("coal", ms, "resets")),
                int(get("gas", ms, "implausible_steps") + get("coal", ms, "implausible_steps")),
            )
        )
        bucket += every
    return out


def usage(
    store: InfluxStore,
    marks: Watermarks,
    tz: ZoneInfo,
    rules: StepRules,
    d: KpiDefinition,
    plants: Sequence[str],
    start: datetime,
    end: datetime,
    every: timedelta,
    offset: timedelta,
    first_bucket: datetime,
    max_raw: timedelta | None = None,
) -> tuple[list[Interval], list[Segment]]:
    """Usage of `plants` (summed) per interval, and the stretches each source answered.

    With `max_raw`, a range needing more raw data than that is refused (RangeError).
    """
    plan = plan_segments(start, end, tz, marks.hourly, marks.daily, every, offset)
    if max_raw is not None:
        check_raw_span(plan, max_raw)
    # A sector without plants uses no fuel: nothing to ask InfluxDB.
    sums = query_sums(store, [plan], rules, plants, False, every, offset)[0] if plants else {}
    return intervals(sums, start, end, first_bucket, every, d), plan


def month_starts(year: int, tz: ZoneInfo) -> list[datetime]:
    """The 13 local month boundaries of `year` (Jan 1 .. next Jan 1), as UTC."""
    out = []
    for index in range(13):
        y, m = year + index // 12, index % 12 + 1
        out.append(datetime(y, m, 1, tzinfo=tz).astimezone(UTC))
    return out
