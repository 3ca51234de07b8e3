"""VOC compliance, emission totals and capture rates: the rules of `api.voc.rules` over queries.

Hours before the rollup watermark come from `voc_hourly`; later hours (and any hour the
rollup has not seen) are aggregated from raw readings with the same pure functions, so both
paths give the same answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np

from api.readmodel.state import read_watermarks
from api.voc import queries
from api.voc.rules import (
    EMPTY_SPANS,
    FLOW_FIELD,
    HOUR_MS,
    HourAgg,
    LoggerHours,
    Readings,
    Spans,
    StackCompliance,
    aggregates_from_columns,
    capture_rates,
    emission_totals,
    empty_agg,
    hour_range,
    judge_stack,
    late_filled_hours,
    marked_hours,
    splice,
    stack_aggregates,
)
from ingest.kernel.limits import O2_FIELD
from ingest.kernel.registry import Meter, Plant, Registry
from ingest.kernel.schema import to_epoch_ms
from ingest.kernel.store import Store

READ_CHUNKS = 2  # concurrent reads of rolled-up hours (InfluxDB answers each on one core)


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def stack_fields(meters: Sequence[Meter]) -> list[str]:
    """Every limited value of these stacks, flow first (and O2 where a stack corrects to it)."""
    names = {p for m in meters for p in m.limits()}
    if any(m.o2_reference_pct is not None for m in meters):
        names.add(O2_FIELD)
    return [FLOW_FIELD, *sorted(names - {FLOW_FIELD})]


O2References = dict[queries.StackKey, float]


def o2_references(plants: Sequence[Plant] | Registry) -> O2References:
    """(plant, meter) -> reference O2 % of every stack judged corrected to one."""
    found = plants.plants if isinstance(plants, Registry) else plants
    return {
        (p.id, m.id): m.o2_reference_pct
        for p in found
        for m in p.meters_of("voc")
        if m.o2_reference_pct is not None
    }


def _readings(series: queries.RawSeries | None) -> dict[str, Readings]:
    if series is None:
        return {}
    return {f: (series.ts_ms, series.values[f], series.classes[f]) for f in series.values}


def fresh_aggregates(
    store: Store,
    plants: Sequence[str] | None,
    fields: Sequence[str],
    first_hour_ms: int,
    n_hours: int,
    o2_refs: O2References | None = None,
) -> dict[queries.StackKey, dict[str, HourAgg]]:
    """Hour aggregates of every stack computed from raw readings (O2-corrected where declared)."""
    if n_hours <= 0:
        return {}
    raw = queries.raw_series(
        store, fields, _utc(first_hour_ms), _utc(first_hour_ms + n_hours * HOUR_MS), plants
    )
    out = {}
    for key, by_measurement in queries.group_by_stack(raw).items():
        minute = by_measurement.get(queries.MINUTE_MEASUREMENT)
        realtime = by_measurement.get(queries.REALTIME_MEASUREMENT)

        out[key] = stack_aggregates(
            _readings(minute),
            _readings(realtime),
            fields,
            first_hour_ms,
            n_hours,
            (o2_refs or {}).get(key),
        )
    return out


def hour_aggregates(
    store: Store,
    plants: Sequence[str] | None,
    fields: Sequence[str],
    first_hour_ms: int,
    n_hours: int,
    o2_refs: O2References | None = None,
) -> dict[queries.StackKey, dict[str, HourAgg]]:
    """Rolled-up hours before the watermark, raw aggregates after it (and where none was rolled)."""
    hours = first_hour_ms + HOUR_MS * np.arange(n_hours, dtype=np.int64)
    watermark = read_watermarks(store, "voc").hourly
    split_ms = first_hour_ms
    if watermark is not None:
        split_ms = min(
            max(to_epoch_ms(watermark), first_hour_ms), first_hour_ms + n_hours * HOUR_MS
        )
        split_ms -= split_ms % HOUR_MS
    out: dict[queries.StackKey, dict[str, HourAgg]] = {}
    n_fresh = (first_hour_ms + n_hours * HOUR_MS - split_ms) // HOUR_MS
    # The rolled-up hours (in plant chunks) and the fresh ones are read concurrently:
    # InfluxDB answers each query on one core.
    chunks: list[Sequence[str] | None] = (
        [plants[i::READ_CHUNKS] for i in range(min(READ_CHUNKS, len(plants)))] if plants else [None]
    )
    with ThreadPoolExecutor(max_workers=len(chunks) + 1) as pool:
        fresh_job = pool.submit(fresh_aggregates, store, plants, fields, split_ms, n_fresh, o2_refs)
        rolled_jobs = (
            [
                pool.submit(queries.rolled_hours, store, _utc(first_hour_ms), _utc(split_ms), chunk)
                for chunk in chunks
            ]
            if split_ms > first_hour_ms
            else []
        )
        for job in rolled_jobs:
            for key, (rows_ms, columns) in job.result().items():
                out[key] = {f: aggregates_from_columns(hours, rows_ms, columns, f) for f in fields}
        fresh = fresh_job.result()
    offset = (split_ms - first_hour_ms) // HOUR_MS
    for key, aggs in fresh.items():
        target = out.setdefault(key, {f: empty_agg(hours) for f in fields})
        for f, agg in aggs.items():
            padded = empty_agg(hours)
            for name, values in agg.fields.items():
                padded.fields[name][offset:] = values
            target[f] = splice(target.get(f, empty_agg(hours)), padded)
    return out


def _logger(
    series: queries.LoggerSeries | None, field: str, hours: np.ndarray
) -> tuple[LoggerHours, np.ndarray]:
    n = hours.size
    if series is None or field not in series.values or hours.size == 0:
        return LoggerHours.none(n), np.full(n, np.nan)
    position = (series.ts_ms - hours[0]) // HOUR_MS
    inside = (position >= 0) & (position < n) & (series.ts_ms % HOUR_MS == 0)
    mean, kg, flow = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    flags = [""] * n
    for i, p in zip(np.nonzero(inside)[0].tolist(), position[inside].tolist(), strict=True):
        mean[p] = series.values[field][i]
        flags[p] = series.flags.get(field, [""] * len(series.ts_ms))[i]
        if field in series.kg:
            kg[p] = series.kg[field][i]
        if FLOW_FIELD in series.values:
            flow[p] = series.values[FLOW_FIELD][i]
    return LoggerHours(mean, tuple(flags), kg), flow


def compliance(
    store: Store,
    plants: Sequence[Plant],
    start: datetime,
    end: datetime,
    now: datetime,
    marks: Spans = EMPTY_SPANS,
) -> list[StackCompliance]:
    """Hourly compliance of every VOC stack of `plants` over the whole hours covering [start, end).

    `marks` are the accepted marks' spans per (plant, meter) (api.marks.repo.MarkRepo.spans):
    the one place marked hours leave exceedance judgement, for pages, alerts and reports.
    """
    first_hour_ms, n_hours = hour_range(to_epoch_ms(start), to_epoch_ms(end))
    stacks = [(p, m) for p in plants for m in p.meters_of("voc")]
    if not stacks or n_hours == 0:
        return []
    fields = stack_fields([m for _, m in stacks])
    only = [p.id for p in plants]
    hours = first_hour_ms + HOUR_MS * np.arange(n_hours, dtype=np.int64)
    end_at = _utc(first_hour_ms + n_hours * HOUR_MS)
    with ThreadPoolExecutor(max_workers=1) as pool:
        logger_job = pool.submit(
            queries.logger_hours, store, fields, _utc(first_hour_ms), end_at, only
        )
        aggs = hour_aggregates(store, only, fields, first_hour_ms, n_hours, o2_references(plants))
        logger = logger_job.result()
    arrivals = queries.latest_arrivals(store, _utc(first_hour_ms), end_at, only)
    now_ms = to_epoch_ms(now)
    out = []
    for plant, meter in stacks:
        key = (plant.id, meter.id)
        limits = meter.limits()
        loggers = {name: _logger(logger.get(key), name, hours) for name in limits}
        judged = judge_stack(
            plant.id,
            meter.id,
            aggs.get(key, {}),
            hours,
            limits,
            now_ms,
            loggers,
            marks.get(key, ()),
        )
        out.append(replace(judged, late_filled=late_filled_hours(hours, arrivals.get(key, {}))))
    return out


def emissions(stacks: Sequence[StackCompliance], timezone: str, period: str) -> dict[str, object]:
    """Emitted kg per local day or month per stack, plant and county, for every pollutant."""
    per_stack = []
    plant_sum: dict[tuple[str, str, str], list[float]] = {}
    county_sum: dict[tuple[str, str], list[float]] = {}
    for stack in stacks:
        for judged in stack.pollutants:
            name = judged.limit.pollutant
            for total in emission_totals(
                judged.hour_start_ms, judged.emission_kg, timezone, period
            ):
                per_stack.append(
                    {
                        "plant": stack.plant,
                        "meter": stack.meter,
                        "pollutant": name,
                        "period": total.period,
                        "emission_kg": round(total.emission_kg, 6),
                        "hours_with_emission": total.hours_with_emission,
                        "hours": total.hours,
                    }
                )
                for sums, key in (
                    (plant_sum, (stack.plant, name, total.period)),
                    (county_sum, (name, total.period)),
                ):
                    slot = sums.setdefault(key, [0.0, 0])  # type: ignore[arg-type]
                    slot[0] += total.emission_kg
                    slot[1] += total.hours_with_emission
    return {
        "stacks": per_stack,
        "plants": [
            {"plant": k[0], "pollutant": k[1], "period": k[2], "emission_kg": round(v[0], 6)}
            for k, v in sorted(plant_sum.items())
        ],
        "county": [
            {"pollutant": k[0], "period": k[1], "emission_kg": round(v[0], 6)}
            for k, v in sorted(county_sum.items())
        ],
    }


def capture(
    stacks: Sequence[StackCompliance], now: datetime, timezone: str, period: str
) -> list[dict[str, object]]:
    """Per stack, pollutant and local day or month: transmitted/expected, valid/transmitted."""
    now_ms = to_epoch_ms(now)
    rows = []
    for stack in stacks:
        for judged in stack.pollutants:
            marked = marked_hours(judged.hour_start_ms, stack.marks)
            for c in capture_rates(judged.agg, now_ms, timezone, period, marked):
                rows.append(
                    {
                        "plant": stack.plant,
                        "meter": stack.meter,
                        "pollutant": judged.limit.pollutant,
                        "period": c.period,
                        "expected_minutes": c.expected_minutes,
                        "transmitted_minutes": c.transmitted_minutes,
                        "valid_minutes": c.valid_minutes,
                        "declared_minutes": c.declared_minutes,
                        "transmitted_share": _share(c.transmitted_share),
                        "valid_share": _share(c.valid_share),
                    }
                )
    return rows


def _share(value: float | None) -> float | None:
    return None if value is None else round(value, 6)
