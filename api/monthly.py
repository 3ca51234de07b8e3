"""The gas-share KPI for each local calendar month of a year, from rollups (raw for the rest)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from api.consumption import StepRules
from api.factors import definition_for_window
from api.history import Projection, candidates, firm_fuels_from_sums, project
from api.kpi import GasShare, gas_share
from api.ranges import HOUR, plan_segments
from api.records.rules import PlantFacts, apply_all
from api.rollup import Watermarks
from api.settings import KpiDefinition
from api.usage import month_starts, query_sums
from ingest.registry import Plant
from ingest.store import InfluxStore

CANDIDATES_AT_LEAST = 5


@dataclass(frozen=True, slots=True)
class Month:
    """One month's KPI over [start, end); `complete` once the month is over."""

    month: str
    start: datetime
    end: datetime
    complete: bool
    kpi: GasShare
    # plant -> how officers' records changed its figures this month (api.records.rules)
    records_used: dict[str, str] = field(default_factory=dict)


def monthly_kpis(
    store: InfluxStore,
    marks: Watermarks,
    tz: ZoneInfo,
    rules: StepRules,
    d: KpiDefinition,
    plants: tuple[Plant, ...],
    goal: float,
    year: int,
    now: datetime,
    facts: Mapping[str, PlantFacts] | None = None,
) -> list[Month]:
    """The KPI of every month of `year` that has begun (the current one month-to-date)."""
    bounds = month_starts(year, tz)
    windows = [
        (index + 1, bounds[index], min(bounds[index + 1], now))
        for index in range(12)
        if bounds[index] < now
    ]
    plans = [plan_segments(start, end, tz, marks.hourly, marks.daily) for _, start, end in windows]
    ids = [p.id for p in plants]
    all_sums = query_sums(store, plans, rules, ids, True) if ids else [{} for _ in plans]
    out = []
    for (number, start, end), sums in zip(windows, all_sums, strict=True):
        hours = math.ceil((end - start) / HOUR)
        fuels, notes = apply_all(
            firm_fuels_from_sums(plants, sums, hours), plants, facts or {}, start, end
        )
        out.append(
            Month(
                f"{year:04d}-{number:02d}",
                start,
                end,
                end == bounds[number],
                gas_share(fuels, goal, definition_for_window(d, end, tz)),
                notes,
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class Outlook:
    """Where the year is heading: projection against the goal and who to convert next."""

    projection: Projection | None
    active_firms: int
    projected_share: float | None
    share_low: float | None
    share_high: float | None
    on_track: bool | None
    firms_needed: int
    candidates: list[dict[str, object]]


def outlook(months: list[Month], goal: float) -> Outlook:
    """Fit on complete months with data (else the current one) and rank candidates.

    Months in which every firm is `unknown` (before monitoring began) carry no evidence.
    """
    informative = [m for m in months if m.kpi.counts["unknown"] < m.kpi.firms]
    fitted = [m for m in informative if m.complete] or informative[-1:]
    if not fitted:
        return Outlook(None, 0, None, None, None, None, 0, [])
    latest = informative[-1].kpi
    active = latest.firms - latest.counts["idle"]
    projection = project(
        [int(m.month[-2:]) for m in fitted], [m.kpi.counts["gas"] for m in fitted], active
    )

    def share(value: float | None) -> float | None:
        return None if value is None or active == 0 else value / active

    assert projection is not None
    projected = share(projection.gas_firms)
    chosen = candidates(latest.rows, max(CANDIDATES_AT_LEAST, latest.firms_needed))
    return Outlook(
        projection,
        active,
        projected,
        share(projection.low),
        share(projection.high),
        None if projected is None else projected >= goal,
        latest.firms_needed,
        [
            {
                "plant": r.plant,
                "name": r.name,
                "status": r.status,
                "gas_fraction": r.gas_fraction,
                "coal_kg": r.coal_kg,
                "co2_kg": r.co2_kg,
            }
            for r in chosen
        ],
    )
