"""Stainless-steel fuel: conversion, shifts, registers and the county's share by scenario."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, date, datetime

import numpy as np
import pytest

from ingest.kernel.registry import load_registry
from ingest.settings import demo_registry_path as demo_registry
from simulators.calendar import day_number, day_start_s, local_day, local_hour, weekday
from simulators.fuel import COAL_KGCE_PER_KG, GAS_KGCE_PER_M3, FuelPlan, fuel_block, gas_fraction
from simulators.plans import county_plan
from simulators.report import share_series

DAY = 86_400.0
PLAN = FuelPlan(
    plant="ss-x", gas_meter="gas-1", coal_meter="coal-1", load_kgce_per_hour=1000.0, shift="day",
    works_saturday=False, works_sunday=False, idle_fraction=0.05, conversion_s=10 * DAY,
    dual_fuel_days=2.0, coal_gas_fraction=0.02, residual_coal_fraction=0.01,
    backslide=(20 * DAY, 25 * DAY), backslide_gas_fraction=0.3,
)  # fmt: skip


@pytest.mark.parametrize(
    ("t", "expected"),
    [
        (0.0, 0.02),  # coal firm with pilot gas
        (10 * DAY, 0.15),  # dual fuel starts
        (11 * DAY, 0.5),  # half way: 0.15 + 0.7 * 0.5
        (12 * DAY, 0.99),  # converted, 1 % residual coal
        (21 * DAY, 0.3),  # backslide
        (25 * DAY, 0.99),  # back on gas
    ],
)
def test_gas_fraction_follows_the_conversion(t: float, expected: float) -> None:
    assert gas_fraction(PLAN, np.array([t]))[0] == pytest.approx(expected)


def test_never_converting_firm_keeps_its_mix() -> None:
    plan = replace(PLAN, conversion_s=None, backslide=None)
    assert np.all(gas_fraction(plan, np.arange(0, 400 * DAY, DAY)) == 0.02)


def _week(plan: FuelPlan, seed: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # 2026-03-02 is a Monday, well clear of Spring Festival
    start = day_start_s(day_number(date(2026, 3, 2)))
    times = start + 60 * np.arange(1, 7 * 1440 + 1)
    block = fuel_block(plan, times, 60.0, 100.0, 200.0, np.random.default_rng(seed))
    kgce = (
        np.diff(block.volume_m3, prepend=100.0) * GAS_KGCE_PER_M3
        + np.diff(block.mass_kg, prepend=200.0) * COAL_KGCE_PER_KG
    )
    return times, block.volume_m3, kgce


def test_registers_are_cumulative_and_pure() -> None:
    plan = replace(PLAN, conversion_s=None, backslide=None, coal_gas_fraction=0.5)
    _times, volume, kgce = _week(plan)
    assert np.all(np.diff(volume) >= 0)
    assert volume[0] >= 100.0
    again = _week(plan)
    assert np.array_equal(again[1], volume)
    # roughly a week of a day-shift firm: 5 days x 10 h x ~0.82 of 1000 kgce/h, plus idle
    assert 35_000 < kgce.sum() < 55_000


def test_day_shift_pattern_is_visible() -> None:
    times, _, kgce = _week(PLAN)
    hour, wd = local_hour(times), weekday(local_day(times))
    working = kgce[(hour >= 9) & (hour < 17) & (wd < 5)].mean()
    night = kgce[(hour < 6) & (wd < 5)].mean()
    sunday = kgce[wd == 6].mean()
    assert working > 8 * night
    assert working > 8 * sunday


def test_spring_festival_furnaces_are_cold() -> None:
    plan = replace(PLAN, shift="three", works_saturday=True, works_sunday=True)
    festival = day_start_s(day_number(date(2026, 2, 17)))
    times = festival + 3600 * np.arange(1, 24 * 3)
    block = fuel_block(plan, times, 3600.0, 0.0, 0.0, np.random.default_rng(3))
    assert block.volume_m3[-1] == 0.0 and block.mass_kg[-1] == 0.0


@pytest.fixture(scope="module")
def shares() -> dict[str, np.ndarray]:
    registry = load_registry(demo_registry())
    began = time.process_time()
    out = {
        s: share_series(county_plan(registry, 2026, s, 2026), 2026, 2026)
        for s in ("ahead", "on_track", "behind")
    }
    print(
        f"\nshare series of 3 scenarios x 60 firms x 1 year: {time.process_time() - began:.2f}s CPU"
    )
    return out


def _first_day_at_goal(series: np.ndarray) -> int | None:
    hits = np.nonzero(series >= 0.5)[0]
    return int(hits[0]) if len(hits) else None


def test_default_scenario_crosses_half_late_in_the_year(shares: dict[str, np.ndarray]) -> None:
    on_track = shares["on_track"]
    crossing = _first_day_at_goal(on_track)
    assert crossing is not None
    assert crossing >= (date(2026, 9, 1) - date(2026, 1, 1)).days, crossing
    assert on_track[-1] >= 0.5
    assert on_track[0] < 0.3


def test_scenarios_differ_as_named(shares: dict[str, np.ndarray]) -> None:
    ahead = _first_day_at_goal(shares["ahead"])
    on_track = _first_day_at_goal(shares["on_track"])
    assert ahead is not None and on_track is not None and ahead < on_track - 60
    assert _first_day_at_goal(shares["behind"]) is None
    assert shares["ahead"][-1] > shares["on_track"][-1] > shares["behind"][-1]


def test_some_firms_never_convert_and_some_backslide() -> None:
    plan = county_plan(load_registry(demo_registry()), 2026, "on_track", 2026)
    never = [p for p in plan.fuel if p.conversion_s is None]
    year_start = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    during = [
        p for p in plan.fuel if p.conversion_s is not None and p.conversion_s >= year_start - DAY
    ]
    assert 15 <= len(never) <= 30
    assert len(during) >= 20
    assert 1 <= sum(p.backslide is not None for p in plan.fuel) <= 5


def test_foundation_interface_still_writes_cumulative_registers() -> None:
    from datetime import timedelta

    from simulators.fuel import Registers, firm_profile, fuel_readings

    plant = load_registry(demo_registry()).plant("ss-001")
    assert plant is not None
    profile = firm_profile(plant, 2026)
    assert profile is not None
    registers = Registers()
    start = datetime(2026, 3, 1, tzinfo=UTC)
    gas, _coal = fuel_readings(
        profile, registers, start, 4, timedelta(minutes=15), np.random.default_rng(1)
    )
    assert [r.ts for r in gas] == [start + i * timedelta(minutes=15) for i in range(4)]
    volumes = [r.values["volume_m3"] for r in gas]
    assert volumes == sorted(volumes) and registers.volume_m3 == pytest.approx(
        volumes[-1], abs=1e-3
    )
