"""The year-end projection and conversion candidates from the monthly history (pure).

This is the one projection: the history endpoint, the `gas_share_off_track` alert, the
web page and reports all read `outlook(months, goal)`.

Each month's KPI is computed over the calendar month in local time (the month-to-date for
the current month). The projection fits a straight line, by least squares, to the number
of firms on gas in each complete month and reads it at December; its interval is the 95 %
prediction interval from the residuals (Student t), so a noisy or short history widens it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from api.fuel.rules import FirmRow, GasShare

YEAR_END_MONTH = 12
# Two-sided 95 % quantiles of Student's t by degrees of freedom (1..12; beyond: normal).
T95 = {
    1: 12.706,
    2: 4.303,
    3: 3.182,
    4: 2.776,
    5: 2.571,
    6: 2.447,
    7: 2.365,
    8: 2.306,
    9: 2.262,
    10: 2.228,
    11: 2.201,
    12: 2.179,
}
NORMAL95 = 1.960
CANDIDATE_STATUSES = ("mixed", "coal")
CANDIDATES_AT_LEAST = 5


@dataclass(frozen=True, slots=True)
class Projection:
    """Firms expected on gas at year end, with a 95 % prediction interval when estimable."""

    gas_firms: float
    low: float | None
    high: float | None
    slope_per_month: float
    months_used: int
    method: str


# How a projection was made (`Projection.method`, served as is by the history endpoint).
SINGLE_MONTH = "single month: no trend yet"
TWO_MONTHS = "line through two months"
LEAST_SQUARES = "least squares, 95 % prediction interval"


def project(months: Sequence[int], gas_firms: Sequence[int], firms: int) -> Projection | None:
    """Least-squares line through (month, firms on gas), read at December, clipped to [0, firms]."""
    k = len(months)
    if k == 0:
        return None
    if k == 1:
        value = float(gas_firms[0])
        return Projection(value, None, None, 0.0, 1, SINGLE_MONTH)
    x = np.asarray(months, dtype=float)
    y = np.asarray(gas_firms, dtype=float)
    design = np.column_stack([np.ones(k), x])
    (intercept, slope), *_ = np.linalg.lstsq(design, y, rcond=None)
    estimate = float(intercept + slope * YEAR_END_MONTH)

    def clip(v: float) -> float:
        return min(float(firms), max(0.0, v))

    if k == 2:
        return Projection(clip(estimate), None, None, float(slope), 2, TWO_MONTHS)
    residuals = y - (intercept + slope * x)
    dof = k - 2
    sigma = math.sqrt(float(residuals @ residuals) / dof)
    sxx = float(((x - x.mean()) ** 2).sum())
    se = sigma * math.sqrt(1 + 1 / k + (YEAR_END_MONTH - x.mean()) ** 2 / sxx)
    half = T95.get(dof, NORMAL95) * se
    return Projection(
        clip(estimate),
        clip(estimate - half),
        clip(estimate + half),
        float(slope),
        k,
        LEAST_SQUARES,
    )


def candidates(rows: Sequence[FirmRow], limit: int) -> list[FirmRow]:
    """Firms nearest to converting: mixed before coal, each by gas fraction, highest first."""
    ranked = sorted(
        (r for r in rows if r.status in CANDIDATE_STATUSES),
        key=lambda r: (CANDIDATE_STATUSES.index(r.status), -(r.gas_fraction or 0.0), r.plant),
    )
    return ranked[:limit]


@dataclass(frozen=True, slots=True)
class Month:
    """One month's KPI over [start, end); `complete` once the month is over."""

    month: str
    start: datetime
    end: datetime
    complete: bool
    kpi: GasShare


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
