"""Monthly gas-share history, the year-end projection and conversion candidates (pure).

Each month's KPI is computed over the calendar month in local time (the month-to-date for
the current month). The projection fits a straight line, by least squares, to the number
of firms on gas in each complete month and reads it at December; its interval is the 95 %
prediction interval from the residuals (Student t), so a noisy or short history widens it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from api.consumption import SUM_FIELDS, Key
from api.kpi import FirmFuel, FirmRow
from ingest.registry import Plant

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


def firm_fuels_from_sums(
    plants: Sequence[Plant], sums: dict[Key, list[float]], hours_in_window: int
) -> list[FirmFuel]:
    """Per-firm gas m³, coal kg and coverage (reported hours / hours) from per-meter sums."""
    consumption, hours = SUM_FIELDS.index("consumption"), SUM_FIELDS.index("hours")
    out = []
    for plant in plants:
        used: dict[str, float | None] = {}
        covered: dict[str, float] = {}
        for kind in ("gas", "coal"):
            meters = plant.meters_of(kind)
            if not meters:
                used[kind], covered[kind] = None, 0.0
                continue
            found = [sums.get((kind, plant.id, m.id, 0)) for m in meters]
            used[kind] = sum(v[consumption] for v in found if v)
            # A firm is only as well covered as its least-reporting meter of that fuel.
            covered[kind] = min(
                min(1.0, v[hours] / hours_in_window) if v and hours_in_window else 0.0
                for v in found
            )
        out.append(
            FirmFuel(
                plant.id, plant.name, used["gas"], used["coal"], covered["gas"], covered["coal"]
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class Projection:
    """Firms expected on gas at year end, with a 95 % prediction interval when estimable."""

    gas_firms: float
    low: float | None
    high: float | None
    slope_per_month: float
    months_used: int
    method: str


def project(months: Sequence[int], gas_firms: Sequence[int], firms: int) -> Projection | None:
    """Least-squares line through (month, firms on gas), read at December, clipped to [0, firms]."""
    k = len(months)
    if k == 0:
        return None
    if k == 1:
        value = float(gas_firms[0])
        return Projection(value, None, None, 0.0, 1, "single month: no trend yet")
    x = np.asarray(months, dtype=float)
    y = np.asarray(gas_firms, dtype=float)
    design = np.column_stack([np.ones(k), x])
    (intercept, slope), *_ = np.linalg.lstsq(design, y, rcond=None)
    estimate = float(intercept + slope * YEAR_END_MONTH)

    def clip(v: float) -> float:
        return min(float(firms), max(0.0, v))

    if k == 2:
        return Projection(clip(estimate), None, None, float(slope), 2, "line through two months")
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
        "least squares, 95 % prediction interval",
    )


def candidates(rows: Sequence[FirmRow], limit: int) -> list[FirmRow]:
    """Firms nearest to converting: mixed before coal, each by gas fraction, highest first."""
    ranked = sorted(
        (r for r in rows if r.status in CANDIDATE_STATUSES),
        key=lambda r: (CANDIDATE_STATUSES.index(r.status), -(r.gas_fraction or 0.0), r.plant),
    )
    return ranked[:limit]
