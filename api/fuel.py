"""Fuel totals per firm from InfluxDB: consumption from cumulative registers and coverage.

Consumption is the sum of non-negative steps of each register (a drop is a reset or a
meter replacement: it starts a new baseline), leaving out steps whose rate is implausible.
Both are computed inside InfluxDB so no raw points travel to the API.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta

from api.kpi import FirmFuel
from api.settings import KpiDefinition
from ingest.registry import Plant
from ingest.store import InfluxStore, influx_time, quote_ident

REGISTERS = {"gas": "volume_m3", "coal": "mass_kg"}
MIN_COVERAGE_BUCKET = timedelta(hours=1)
COVERAGE_BUCKETS = 240


def coverage_bucket(window: timedelta) -> timedelta:
    """Bucket used to measure silence: window/240, at least an hour (fuel meters may report every 15 min)."""
    return max(MIN_COVERAGE_BUCKET, window / COVERAGE_BUCKETS)


def consumption_query(kind: str, start: datetime, end: datetime, max_per_hour: float) -> str:
    field = quote_ident(REGISTERS[kind])
    return (
        f'SELECT sum("step") AS "total" FROM ('
        f'SELECT non_negative_difference({field}) AS "step", '
        f'non_negative_derivative({field}, 1h) AS "rate" FROM {quote_ident(kind)} '
        f"WHERE time >= {influx_time(start)} AND time < {influx_time(end)} "
        f'GROUP BY "plant", "meter") WHERE "rate" <= {float(max_per_hour)!r} GROUP BY "plant", "meter"'
    )


def coverage_query(kind: str, start: datetime, end: datetime, bucket: timedelta) -> str:
    field = quote_ident(REGISTERS[kind])
    seconds = int(bucket.total_seconds())
    # Align buckets to the window's start so the window is exactly n whole buckets.
    offset = int(start.timestamp()) % seconds
    return (
        f"SELECT count({field}) FROM {quote_ident(kind)} "
        f"WHERE time >= {influx_time(start)} AND time < {influx_time(end)} "
        f'GROUP BY time({seconds}s, {offset}s), "plant", "meter" fill(0)'
    )


def firm_fuels(
    store: InfluxStore, plants: Sequence[Plant], end: datetime, window: timedelta, d: KpiDefinition
) -> list[FirmFuel]:
    """Gas m³ and coal kg used by each plant over [end - window, end), with coverage."""
    start = end - window
    bucket = coverage_bucket(window)
    n_buckets = max(1, round(window / bucket))
    totals: dict[str, dict[tuple[str, str], float]] = {}
    coverage: dict[str, dict[tuple[str, str], float]] = {}
    limits = {"gas": d.max_gas_m3_per_hour, "coal": d.max_coal_kg_per_hour}
    for kind in REGISTERS:
        statements = ";".join(
            [
                consumption_query(kind, start, end, limits[kind]),
                coverage_query(kind, start, end, bucket),
            ]
        )
        sums, counts = store.query_many(statements)
        totals[kind] = {
            (s.tags["plant"], s.tags["meter"]): float(s.values[0][1] or 0.0)
            for s in sums
            if s.values
        }
        coverage[kind] = {
            (s.tags["plant"], s.tags["meter"]): min(
                1.0, sum(1 for row in s.values if row[1]) / n_buckets
            )
            for s in counts
        }
    out = []
    for plant in plants:
        per_kind: dict[str, tuple[float | None, float]] = defaultdict(lambda: (None, 0.0))
        for kind in REGISTERS:
            meters = plant.meters_of(kind)
            if not meters:
                continue
            used = sum(totals[kind].get((plant.id, m.id), 0.0) for m in meters)
            # A firm is only as well covered as its least-reporting meter of that fuel.
            covered = min(coverage[kind].get((plant.id, m.id), 0.0) for m in meters)
            per_kind[kind] = (used, covered)
        gas_m3, gas_cov = per_kind["gas"]
        coal_kg, coal_cov = per_kind["coal"]
        out.append(FirmFuel(plant.id, plant.name, gas_m3, coal_kg, gas_cov, coal_cov))
    return out
