"""The one adapter between the report and the services: a month's figures, gathered, not computed.

Every number here comes from a service function (the KPI history and outlook, the VOC
compliance, the alert repository, the live status and dead-letter counts). A figure the
services do not offer yet is derived here in one small, named function (`stack_totals`),
to be replaced by the service's own when one exists.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import Engine

from api.alerts.model import Alert, county_alert_plant
from api.alerts.repo import AlertRepo
from api.fuel.outlook import Month, Outlook
from api.fuel.rules import hours_in, month_starts
from api.fuel.service import FuelCore
from api.marks.repo import MarkRepo
from api.records.repo import RecordRepo
from api.records.rules import records_used
from api.scope import Scope
from api.settings import ApiSettings
from api.tasks.model import Task
from api.tasks.repo import TaskRepo
from api.voc.rules import EMPTY_SPANS, VALID, Spans, StackCompliance
from api.voc.service import compliance
from ingest.kernel.points import DEAD_LETTER_MEASUREMENT
from ingest.kernel.reads import Column, Summary
from ingest.kernel.registry import Plant, Registry
from ingest.kernel.store import Store

MONTH_FORMAT = "%Y-%m"


class ReportMonthError(ValueError):
    """The requested month is unusable (malformed or not begun); the message says why."""


def month_bounds(month: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) of local calendar month `YYYY-MM`, as UTC."""
    try:
        first = datetime.strptime(month, MONTH_FORMAT)
    except ValueError:
        raise ReportMonthError(f"month must be YYYY-MM, got {month!r}") from None
    if not 2000 <= first.year <= 2099:
        raise ReportMonthError(f"month must lie in 2000..2099, got {month!r}")
    bounds = month_starts(first.year, tz)
    return bounds[first.month - 1], bounds[first.month]


@dataclass(frozen=True, slots=True)
class StackTotals:
    """One stack's month: hours, and per pollutant running and valid hours, exceedance hours
    and emission (kg)."""

    plant: str
    meter: str
    hours: int
    valid_hours: dict[str, int]
    exceeding_hours: dict[str, int]
    emission_kg: dict[str, float]
    limits_mgm3: dict[str, float]
    running_hours: dict[str, int]
    late_filled_hours: int = 0  # hours filled in long after the fact (SPEC section 14)
    # which rule produced the limits: GB 21902 Table 5 process, halved under 15 m, overrides
    limit_details: dict[str, dict[str, object]] = field(default_factory=dict)

    def valid_share(self, pollutant: str) -> float | None:
        """Valid hours / running hours (api.voc.rules counts), None when it never ran."""
        running = self.running_hours.get(pollutant, 0)
        return self.valid_hours.get(pollutant, 0) / running if running else None


@dataclass(frozen=True, slots=True)
class MeterSilence:
    plant: str
    meter: str
    kind: str
    hours_reported: int
    hours: int


@dataclass(frozen=True, slots=True)
class MonthFigures:
    """Everything the monthly report shows, as the services answered it."""

    month: str
    start: datetime
    end: datetime  # min(month end, now): a month in progress is reported to date
    complete: bool
    timezone: str
    county: str
    goal: float
    plant_names: dict[str, str]
    months: list[Month]  # January .. this month
    outlook: Outlook
    settings: ApiSettings
    stacks: list[StackTotals]
    alerts: list[Alert]
    refused: dict[tuple[str, str], int]  # (plant, code) -> refused messages
    silence: list[MeterSilence]
    generated_at: datetime
    timings: dict[str, float] = field(default_factory=dict)  # seconds per phase of `gather`
    records_used: dict[str, str] = field(default_factory=dict)  # plant -> records applied
    tasks: list[Task] = field(default_factory=list)  # dispositions open at some time in the month

    @property
    def this_month(self) -> Month:
        return self.months[-1]


def stack_totals(stack: StackCompliance) -> StackTotals:
    """Counts of the compliance service, and the emission as the sum of the hours' kg (the
    logger's -Cou where sent, else the hour's rate × 1 h)."""
    valid, exceeding, emission, limits, running = {}, {}, {}, {}, {}
    for p in stack.pollutants:
        name = p.limit.pollutant
        counts = p.counts()
        valid[name] = counts[VALID]
        running[name] = counts["running"]
        exceeding[name] = counts["exceeding"]
        kg = np.asarray(p.emission_kg, dtype=float)
        emission[name] = float(np.nansum(kg)) if kg.size else 0.0
        limits[name] = p.limit.limit_mgm3
    hours = int(stack.flow.hour_start_ms.size)
    details = {
        p.limit.pollutant: {
            "limit_source": p.limit.source,
            "process": p.limit.process,
            "halved": p.limit.halved,
        }
        for p in stack.pollutants
    }
    return StackTotals(
        stack.plant,
        stack.meter,
        hours,
        valid,
        exceeding,
        emission,
        limits,
        running,
        stack.late_filled_hours(),
        details,
    )


def voc_month(
    store: Store,
    plants: Sequence[Plant],
    start: datetime,
    end: datetime,
    now: datetime,
    marks: Spans = EMPTY_SPANS,
) -> tuple[list[StackTotals], list[MeterSilence]]:
    """The compliance service over the month in one go, as the VOC routes ask it: rolled-up
    hours from `voc_hourly`, only the hours after its watermark from raw readings; accepted
    marks as the routes pass them."""
    stacks = compliance(store, plants, start, end, now, marks)
    return [stack_totals(s) for s in stacks], voc_silence(stacks)


def refused_counts(store: Store, start: datetime, end: datetime) -> dict[tuple[str, str], int]:
    """Refused messages kept as dead letters in [start, end), per plant and code."""
    request = Summary(
        (DEAD_LETTER_MEASUREMENT,), (Column("count", "reason"),), start, end, (), ("plant", "code")
    )
    out: dict[tuple[str, str], int] = {}
    for series in store.read([request])[0]:
        if series.values:
            key = (series.tags.get("plant", ""), series.tags.get("code", ""))
            out[key] = int(series.values[0][1] or 0)
    return out


def fuel_silence(
    core: FuelCore, registry: Registry, start: datetime, end: datetime
) -> list[MeterSilence]:
    """Hours each fuel meter reported in [start, end), from the fuel core's per-meter sums."""
    plants = [p for p in registry.plants if p.meters_of("gas") or p.meters_of("coal")]
    if not plants:
        return []
    (sums,), _ = core.meter_sums([p.id for p in plants], [(start, end)])
    hours = hours_in(start, end)
    out = []
    for plant in plants:
        for meter in plant.meters:
            if meter.kind not in ("gas", "coal"):
                continue
            found = sums.get((meter.kind, plant.id, meter.id))
            out.append(
                MeterSilence(plant.id, meter.id, meter.kind, found.hours if found else 0, hours)
            )
    return out


def voc_silence(stacks: list[StackCompliance]) -> list[MeterSilence]:
    """Hours each stack reported (was not silent, `StackCompliance.silent`): stopped is not silent."""
    return [
        MeterSilence(
            s.plant,
            s.meter,
            "voc",
            int(np.count_nonzero(~s.silent())),
            int(s.flow.hour_start_ms.size),
        )
        for s in stacks
    ]


def gather(
    settings: ApiSettings,
    registry: Registry,
    store: Store,
    db: Engine,
    month: str,
    now: datetime | None = None,
    scope: Scope | None = None,
) -> MonthFigures:
    """The figures of local month `YYYY-MM` (to date when it is still running); `scope`:
    a caller's view whose `registry` this is (None: the whole registry's report)."""
    now = now or datetime.now(UTC)
    seen = scope or Scope(registry, whole=True)
    tz = ZoneInfo(settings.timezone)
    start, month_end = month_bounds(month, tz)
    if start >= now:
        raise ReportMonthError(f"month {month} has not begun")
    end = min(month_end, now)
    goal = registry.gas_share_goal
    timings: dict[str, float] = {}
    t0 = time.monotonic()
    facts = RecordRepo(db).facts()
    core = FuelCore.from_settings(settings, store, registry, facts)
    steel = registry.by_sector("stainless_steel")
    months, view = core.history(steel, start.astimezone(tz).year, end)
    timings["fuel_s"] = time.monotonic() - t0
    leather = registry.by_sector("synthetic_leather")
    marks = MarkRepo(db).spans(start, end, [p.id for p in leather])
    stacks, voc_quiet = voc_month(store, leather, start, end, now, marks) if leather else ([], [])
    timings["voc_s"] = time.monotonic() - t0 - timings["fuel_s"]
    alerts = [a for a in AlertRepo(db).overlapping(start, end) if seen.sees(a.key.plant)]
    tasks = [t for t in TaskRepo(db).overlapping(start, end) if seen.sees_all(t.plants)]
    silence = fuel_silence(core, registry, start, end) + voc_quiet
    refused = {k: n for k, n in refused_counts(store, start, end).items() if seen.sees(k[0])}
    timings["total_s"] = time.monotonic() - t0
    return MonthFigures(
        month=month,
        start=start,
        end=end,
        complete=end == month_end,
        timezone=settings.timezone,
        county=registry.county_name,
        goal=goal,
        plant_names={p.id: p.name for p in registry.plants}
        | {county_alert_plant(c.id): c.name for c in registry.counties},
        months=months,
        outlook=view,
        settings=settings,
        stacks=stacks,
        alerts=alerts,
        refused=refused,
        silence=silence,
        generated_at=now,
        timings=timings,
        records_used=records_used(facts, steel, start),
        tasks=tasks,
    )


def refused_by_code(refused: dict[tuple[str, str], int]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for (_, code), n in refused.items():
        counts[code] += n
    return counts
