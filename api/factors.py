"""Conversion factors with the date they take effect (SPEC section 6).

By default the standard-coal factors are GB/T 2589-2020's; the CO₂ factors are configurable
defaults that no standard is credited with.

A window's energy and CO₂ use the factors in effect at its last instant: a change dated
inside a month applies to that whole month, and every figure computed after the change
(KPI, history, usage, report) is recomputed with it, since all are computed on read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from api.fuel.rules import Definition
from api.settings import FACTOR_NAMES, KpiDefinition

LAST_INSTANT = timedelta(milliseconds=1)


def definition_at(d: KpiDefinition, day: date) -> KpiDefinition:
    """`d` with the latest dated factor change on or before `day` applied."""
    changes = sorted(
        (c for c in d.factor_changes if c.effective_from <= day), key=lambda c: c.effective_from
    )
    if not changes:
        return d
    update: dict[str, object] = {}
    for change in changes:
        update |= {k: v for k, v in change.factors().items() if v is not None}
    update["factors_effective_from"] = changes[-1].effective_from
    update["factors_source"] = changes[-1].source
    update["co2_factors_source"] = changes[-1].source
    return d.model_copy(update=update)


def definition_for_window(d: KpiDefinition, end: datetime, tz: ZoneInfo) -> KpiDefinition:
    """The definition in effect at the last instant of a window ending (exclusively) at `end`."""
    return definition_at(d, (end - LAST_INSTANT).astimezone(tz).date())


def factors_used(d: KpiDefinition) -> list[tuple[str, float, str, date, str]]:
    """(name, value, unit, effective from, source) of each factor of `d`."""
    return [
        (
            name,
            float(getattr(d, name)),
            unit,
            d.factors_effective_from,
            d.co2_factors_source if name.startswith("co2_") else d.factors_source,
        )
        for name, unit in FACTOR_NAMES.items()
    ]


def dated(d: Definition, end: datetime, tz: ZoneInfo) -> Definition:
    """`definition_for_window` for any definition: one without dated changes is itself."""
    return definition_for_window(d, end, tz) if isinstance(d, KpiDefinition) else d


@dataclass(frozen=True, slots=True)
class FactorPeriod:
    """Consecutive windows (e.g. months, by label) that used the same factors."""

    first: str
    last: str
    definition: KpiDefinition


def factor_periods(
    d: KpiDefinition, windows: Sequence[tuple[str, datetime]], tz: ZoneInfo
) -> list[FactorPeriod]:
    """The factors each run of (label, window end) used, in order: what a report states."""
    out: list[FactorPeriod] = []
    for label, end in windows:
        used = definition_for_window(d, end, tz)
        if out and factors_used(out[-1].definition) == factors_used(used):
            out[-1] = FactorPeriod(out[-1].first, label, out[-1].definition)
        else:
            out.append(FactorPeriod(label, label, used))
    return out
