"""The county's expected gas share from the pure generators (no broker): `plan` and tests."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np

from simulators.calendar import day_number, day_start_s
from simulators.fuel import COAL_KGCE_PER_KG, GAS_KGCE_PER_M3, FuelPlan, fuel_block
from simulators.plans import CountyPlan
from simulators.seeding import rng_for

WINDOW_DAYS = 30
GAS_STATUS_MIN_FRACTION = 0.9
STEP_S = 3600


def daily_kgce(plan: FuelPlan, seed: int, year: int) -> tuple[np.ndarray, np.ndarray]:
    """(gas kgce, coal kgce) per local day of `year` and the 30 days before it, at hourly steps."""
    first = day_number(date(year, 1, 1)) - WINDOW_DAYS
    days = day_number(date(year + 1, 1, 1)) - first
    times = day_start_s(first) + STEP_S * np.arange(1, days * 24 + 1, dtype=np.int64)
    block = fuel_block(plan, times, STEP_S, 0.0, 0.0, rng_for(seed, plan.plant, "report"))
    gas = np.diff(block.volume_m3, prepend=0.0).reshape(days, 24).sum(axis=1) * GAS_KGCE_PER_M3
    coal = np.diff(block.mass_kg, prepend=0.0).reshape(days, 24).sum(axis=1) * COAL_KGCE_PER_KG
    return gas, coal


def share_series(plan: CountyPlan, seed: int, year: int) -> np.ndarray:
    """Share of firms with a 30-day gas fraction >= 0.9, for windows ending each day of `year`."""
    daily = [daily_kgce(p, seed, year) for p in plan.fuel]
    gas = np.array([g for g, _ in daily])
    coal = np.array([c for _, c in daily])
    cg = np.cumsum(gas, axis=1)
    cc = np.cumsum(coal, axis=1)
    ends = np.arange(WINDOW_DAYS, gas.shape[1])  # window (end - 30, end] in day indices
    g = cg[:, ends] - cg[:, ends - WINDOW_DAYS]
    c = cc[:, ends] - cc[:, ends - WINDOW_DAYS]
    with np.errstate(invalid="ignore", divide="ignore"):
        fraction = np.where(g + c > 0, g / (g + c), 0.0)
    return (fraction >= GAS_STATUS_MIN_FRACTION).mean(axis=0)


def monthly_share(plan: CountyPlan, seed: int, year: int) -> list[tuple[date, float]]:
    """The share at the end of each month of `year`."""
    series = share_series(plan, seed, year)
    out = []
    for month in range(1, 13):
        end = date(year + (month == 12), month % 12 + 1, 1) - timedelta(days=1)
        out.append((end, float(series[(end - date(year, 1, 1)).days])))
    return out
