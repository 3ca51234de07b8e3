"""Power monitoring rules (api.power.rules, SPEC section 13): literal tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from api.alerts import rules as alert_rules
from api.alerts.model import TREATMENT_NOT_RUNNING
from api.power.rules import (
    BUCKET_MS,
    MeterPower,
    Period,
    bucket_grid,
    bucket_power_from_energy,
    learn_rated_kw,
    line_buckets,
    periods,
)

T0 = datetime(2026, 3, 1, 14, 0, tzinfo=UTC)  # 22:00 in Songyang
T0_MS = int(T0.timestamp() * 1000)
NAN = float("nan")


@pytest.mark.parametrize(
    ("means", "rated"),
    [
        # mode above the mean: 10 is most frequent among those above the mean (≈ 6.9)
        ([10, 10, 10, 12, 4, 4, 4, 4, 4, 2], 10.0),
        # under 0.2 kW left out: idle nights do not drag the mean down to make 4 "above"
        ([0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 4, 4, 4, 10, 10], 10.0),
        ([0.0, 0.19, NAN, 8, 8], 8.0),  # all kept equal: that is the rating
        ([0.1, 0.0, NAN], None),  # nothing to learn from
        ([], None),
        # ties go to the higher value
        ([2, 2, 6, 6, 9, 9], 9.0),
        # rounding to 2 % of the kept mean (≥ 0.1 kW): 100.4 and 100.6 are one level
        ([100.4, 100.6, 100.5, 120, 40, 40, 40, 40], 100.5),
    ],
)
def test_learn_rated_kw(means: list[float], rated: float | None) -> None:
    got = learn_rated_kw(means)
    assert got == (None if rated is None else pytest.approx(rated, abs=0.05))


def _line(prod_kw: float, fan_kw: float, prod_rated: float = 10.0, fan_rated: float = 4.0):  # type: ignore[no-untyped-def]
    grid = bucket_grid(T0_MS, T0_MS + BUCKET_MS)
    return line_buckets(
        "sl-1",
        "line-1",
        grid,
        [
            MeterPower("prod-1", "production", np.array([prod_kw]), prod_rated),
            MeterPower("rto-1", "treatment", np.array([fan_kw]), fan_rated),
        ],
    )


@pytest.mark.parametrize(
    ("prod", "fan", "producing", "not_running"),
    [
        (5.0, 0.3, True, True),  # production 5 / fan 0.3 with ratings 10 / 4: alert
        (5.0, 0.5, True, False),  # fan 0.5: 12.5 % of 4, running: none
        (0.1, 0.3, False, True),  # production 0.1: not producing
        (2.0, 0.39, True, True),  # exactly 20 % produces; 9.75 % is not running
        (1.99, 0.4, False, False),  # under 20 %; exactly 10 % runs
        (5.0, NAN, True, False),  # a silent treatment meter is no evidence
        (NAN, 0.0, False, True),
    ],
)
def test_out_of_sync_rule(prod: float, fan: float, producing: bool, not_running: bool) -> None:
    line = _line(prod, fan)
    assert (bool(line.producing[0]), bool(line.not_running[0])) == (producing, not_running)
    assert bool(line.out_of_sync[0]) is (producing and not_running)


def test_every_treatment_meter_must_be_low() -> None:
    grid = bucket_grid(T0_MS, T0_MS + BUCKET_MS)
    meters = [
        MeterPower("prod-1", "production", np.array([5.0]), 10.0),
        MeterPower("rto-1", "treatment", np.array([0.1]), 4.0),
        MeterPower("fan-2", "treatment", np.array([3.0]), 4.0),
    ]
    assert not line_buckets("p", "l", grid, meters).out_of_sync[0]
    meters[2] = MeterPower("fan-2", "treatment", np.array([0.2]), 4.0)
    assert line_buckets("p", "l", grid, meters).out_of_sync[0]


def test_a_line_without_treatment_meter_is_never_out_of_sync() -> None:
    grid = bucket_grid(T0_MS, T0_MS + BUCKET_MS)
    line = line_buckets("p", "l", grid, [MeterPower("prod", "production", np.array([9.0]), 10.0)])
    assert not line.out_of_sync.any()


def test_periods_are_runs_of_buckets() -> None:
    grid = bucket_grid(T0_MS, T0_MS + 6 * BUCKET_MS)
    flags = np.array([True, True, False, True, False, False])
    assert periods(grid, flags) == [
        Period(T0_MS, T0_MS + 2 * BUCKET_MS),
        Period(T0_MS + 3 * BUCKET_MS, T0_MS + 4 * BUCKET_MS),
    ]


def test_power_from_energy_steps_by_the_consumption_rule() -> None:
    grid = bucket_grid(T0_MS, T0_MS + 3 * BUCKET_MS)
    minute = 60_000
    ts = [T0_MS - 5 * minute, T0_MS + 5 * minute, T0_MS + 10 * minute, T0_MS + 20 * minute]
    kwh = [100.0, 101.0, 102.0, 50.0]  # 2 kWh in the first quarter, then a reset
    power = bucket_power_from_energy(ts, kwh, grid, 1e5, 24 * 3_600_000)
    assert power[0] == pytest.approx(8.0)  # 2 kWh in a quarter hour = 8 kW
    assert power[1] == 0.0  # a reset counts nothing
    assert np.isnan(power[2])  # no reading: no power, not zero


def _night(fan_off_from: int, fan_off_to: int, n: int = 12):  # type: ignore[no-untyped-def]
    grid = bucket_grid(T0_MS, T0_MS + n * BUCKET_MS)
    fan = np.array([0.3 if fan_off_from <= i < fan_off_to else 3.5 for i in range(n)])
    return line_buckets(
        "sl-1",
        "line-1",
        grid,
        [
            MeterPower("prod-1", "production", np.full(n, 5.0), 10.0),
            MeterPower("rto-1", "treatment", fan, 4.0),
        ],
    )


def test_alert_after_a_sustained_quarter_hour_and_since_its_start() -> None:
    line = _night(2, 12)
    # 22:40: only 22:30-22:45 has not ended; the last complete quarter (22:15-22:30) ran.
    assert alert_rules.treatment_not_running([line], T0 + timedelta(minutes=40)) == []
    # 22:45: the quarter 22:30-22:45 is complete and out of sync.
    found = alert_rules.treatment_not_running([line], T0 + timedelta(minutes=45))
    assert [c.key for c in found] == [alert_rules.AlertKey(TREATMENT_NOT_RUNNING, "sl-1", "line-1")]
    later = alert_rules.treatment_not_running([line], T0 + timedelta(minutes=95))[0]
    assert later.since == T0 + timedelta(minutes=30)
    assert (later.value, later.limit, later.unit) == (0.3, 0.4, "kW")
    assert later.details["minutes"] == 60.0


def test_resolved_when_treatment_runs_again() -> None:
    line = _night(2, 5)
    assert alert_rules.treatment_not_running([line], T0 + timedelta(minutes=75))
    assert alert_rules.treatment_not_running([line], T0 + timedelta(minutes=90)) == []


def test_a_backfilled_past_night_is_no_alert_now() -> None:
    line = _night(0, 4)  # out of sync 22:00-23:00, data ends at 01:00
    assert alert_rules.treatment_not_running([line], T0 + timedelta(days=2)) == []
    assert periods(line.grid_ms, line.out_of_sync) == [Period(T0_MS, T0_MS + 4 * BUCKET_MS)]
