"""Synthetic-leather stacks: production, episodes, calibration and maintenance flags."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from simulators.calendar import day_number, day_start_s, local_hour
from simulators.voc import DEFAULT_LIMITS_MGM3, POLLUTANTS, StackPlan, voc_block

BASE = {
    "nmhc_mgm3": 60.0,
    "dmf_mgm3": 20.0,
    "benzene_mgm3": 0.5,
    "toluene_mgm3": 8.0,
    "xylene_mgm3": 6.0,
}
PLAN = StackPlan(
    plant="sl-x", meter="stack-1", hj212_mn="MN", shift="two", works_sunday=True, flow_m3h=30_000.0,
    base_mgm3=BASE, episodes_per_week=0.0, maintenance_every_days=1e9, calibration_hour=2.0,
    calibration_minutes=20.0,
)  # fmt: skip


def _day(plan: StackPlan, seed: int = 5, day: date = date(2026, 3, 4)):  # type: ignore[no-untyped-def]
    times = day_start_s(day_number(day)) + 60 * np.arange(1, 1441)
    return voc_block(plan, times, 12.0, np.random.default_rng(seed))


def test_concentrations_follow_production_and_stopped_stack_is_flagged_f() -> None:
    block = _day(PLAN)
    hour = local_hour(block.times_s)
    running = (hour >= 8) & (hour < 21)
    stopped = (hour >= 22) | ((hour >= 3) & (hour < 5))
    assert block.values["dmf_mgm3"][running].mean() > 10 * block.values["dmf_mgm3"][stopped].mean()
    assert block.values["flow_m3h"][running].mean() > 5 * block.values["flow_m3h"][stopped].mean()
    assert set(block.flags["dmf_mgm3"][running]) == {"N"}
    assert set(block.flags["flow_m3h"][stopped]) == {"F"}
    assert np.all(block.values["thc_mgm3"] > block.values["nmhc_mgm3"])
    assert 19.0 < block.values["o2_pct"][running].mean() < 20.9


def test_daily_calibration_is_flagged_c_with_zero_then_span() -> None:
    block = _day(PLAN)
    hour = local_hour(block.times_s)
    cal = (hour >= 2.0) & (hour < 2.0 + 20 / 60)
    assert cal.sum() == 20
    assert set(block.flags["nmhc_mgm3"][cal]) == {"C"}
    assert set(block.flags["flow_m3h"][cal]) <= {"N", "F"}  # the flow meter is not calibrated
    span = block.values["dmf_mgm3"][cal]
    assert list(span[:10]) == [0.0] * 10
    assert span[-1] == pytest.approx(0.8 * DEFAULT_LIMITS_MGM3["dmf_mgm3"])


def test_exceedance_episodes_go_above_the_limit_at_the_expected_rate() -> None:
    plan = StackPlan(
        **{
            **{f: getattr(PLAN, f) for f in PLAN.__slots__},
            "episodes_per_week": 3.5,
            "shift": "three",
        }
    )  # type: ignore[arg-type]
    days = [_day(plan, seed=s, day=date(2026, 3, 2)) for s in range(200)]
    episodes = [e for d in days for e in d.episodes]
    assert 100 - 4 * 10 < len(episodes) < 100 + 4 * 10  # Poisson(0.5/day x 200 days)
    for block in days:
        for begin, _end, pollutant in block.episodes:
            inside = (
                (block.times_s >= begin)
                & (block.times_s < begin + 600)
                & (block.flags[pollutant] == "N")
            )
            if inside.any():
                assert block.values[pollutant][inside].max() > DEFAULT_LIMITS_MGM3[pollutant]
    assert {p for _, _, p in episodes} <= set(POLLUTANTS)


def test_maintenance_flags_every_value_m() -> None:
    plan = StackPlan(
        **{**{f: getattr(PLAN, f) for f in PLAN.__slots__}, "maintenance_every_days": 0.5}
    )  # type: ignore[arg-type]
    block = _day(plan)
    flagged = block.flags["o2_pct"] == "M"
    assert 0 < flagged.sum() <= 6 * 60
    assert np.all(block.flags["dmf_mgm3"][flagged] == "M")


def test_registry_limit_overrides_the_span_and_episode_level() -> None:
    plan = StackPlan(
        **{
            **{f: getattr(PLAN, f) for f in PLAN.__slots__},
            "limits_mgm3": {**DEFAULT_LIMITS_MGM3, "dmf_mgm3": 40.0},
        }
    )  # type: ignore[arg-type]
    block = _day(plan)
    hour = local_hour(block.times_s)
    assert block.values["dmf_mgm3"][(hour >= 2.3) & (hour < 2.33)][0] == pytest.approx(32.0)
