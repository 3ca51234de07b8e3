"""The fuel rules of SPEC section 6 as literal tables: steps, coverage, status, share, conversions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from api.fuel.rules import (
    COUNTED,
    IMPLAUSIBLE,
    RESET,
    SILENCE,
    ConversionFact,
    FirmFuel,
    StepRules,
    Sums,
    classify,
    coal_removed_by,
    coverage,
    firms_needed,
    gas_share,
    hourly_sums,
    hours_in,
    interval_sums,
    manual_correction,
    manual_coverage,
    manual_coverages,
    step_kind,
)
from api.settings import KpiDefinition

H = 3_600_000  # one hour in ms
DAY_MS = 24 * H
D = KpiDefinition()


@pytest.mark.parametrize(
    ("prev_ms", "prev", "ts_ms", "value", "expected"),
    [
        (0, 100.0, H, 110.0, COUNTED),
        (0, 100.0, H, 100.0, COUNTED),  # a zero step is an ordinary step
        (0, 100.0, H, 5.0, RESET),  # a drop: new baseline
        (0, 100.0, H, 20_100.0, COUNTED),  # exactly the plausible rate
        (0, 100.0, H, 20_100.1, IMPLAUSIBLE),
        (0, 100.0, H // 4, 5_200.0, IMPLAUSIBLE),  # 5 100 m3 in 15 min = 20 400 m3/h
        (0, 100.0, DAY_MS, 200.0, COUNTED),  # exactly 24 h of silence still bridges
        (0, 100.0, DAY_MS + 1, 200.0, SILENCE),
        (0, 100.0, 2 * DAY_MS, 5.0, SILENCE),  # a drop across a long silence: silence first
    ],
)
def test_step_kind(prev_ms: int, prev: float, ts_ms: int, value: float, expected: str) -> None:
    assert step_kind(prev_ms, prev, ts_ms, value, 20_000.0, DAY_MS) == expected


# minutes -> register; hourly readings with a reset, a jump and a 30 h silence
SERIES = [
    (0, 100.0),
    (60, 110.0),
    (120, 120.0),
    (180, 5.0),  # reset
    (240, 15.0),
    (300, 50_015.0),  # implausible
    (360, 50_025.0),
    (360 + 30 * 60, 50_035.0),  # bridges 30 h: silence
    (360 + 31 * 60, 50_045.0),
]


def sums(start_min: int, end_min: int) -> Sums:
    ts = [m * 60_000 for m, _ in SERIES]
    values = [v for _, v in SERIES]
    return interval_sums(ts, values, start_min * 60_000, end_min * 60_000, 20_000.0, DAY_MS)


@pytest.mark.parametrize(
    ("start_min", "end_min", "expected"),
    [
        (0, 60, Sums(0.0, 1, 1, 0, 0)),  # the first reading has no step
        (60, 120, Sums(10.0, 1, 1, 0, 0)),  # the step into the hour belongs to it
        (0, 180, Sums(20.0, 3, 3, 0, 0)),
        (180, 240, Sums(0.0, 1, 1, 1, 0)),
        (240, 360, Sums(10.0, 2, 2, 0, 1)),  # 05:00 implausible; 04:00 counted
        (360, 420, Sums(10.0, 1, 1, 0, 0)),
        (2160, 2220, Sums(0.0, 1, 1, 0, 0)),  # after 30 h of silence: counted nowhere
        (2220, 2280, Sums(10.0, 1, 1, 0, 0)),
        (0, 3000, Sums(50.0, 9, 9, 1, 1)),
        (30, 90, Sums(10.0, 1, 1, 0, 0)),  # a window inside hours: the 01:00 reading
        (61, 119, Sums()),  # no reading inside
    ],
)
def test_interval_sums(start_min: int, end_min: int, expected: Sums) -> None:
    assert sums(start_min, end_min) == expected


def test_intervals_add_up() -> None:
    hourly = [sums(60 * h, 60 * (h + 1)) for h in range(50)]
    total = Sums()
    for s in hourly:
        total = total + s
    assert total == sums(0, 3000)


T = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "end", "hours"),
    [
        (T, T + timedelta(days=30), 720),
        (T + timedelta(minutes=37), T + timedelta(days=30, minutes=37), 721),
        (T + timedelta(minutes=10), T + timedelta(minutes=20), 1),
        (T, T, 0),
        (T + timedelta(minutes=59), T + timedelta(hours=1, minutes=1), 2),
    ],
)
def test_hours_in_counts_clock_hours_touched(start: datetime, end: datetime, hours: int) -> None:
    assert hours_in(start, end) == hours


@pytest.mark.parametrize(
    ("reported", "hours", "expected"),
    [(576, 720, 0.8), (720, 720, 1.0), (721, 720, 1.0), (0, 0, 0.0), (19, 24, 19 / 24)],
)
def test_coverage(reported: int, hours: int, expected: float) -> None:
    assert coverage(reported, hours) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("goal", "active", "gas", "needed"),
    [
        (0.5, 6, 3, 0),
        (0.5, 6, 2, 1),
        (0.5, 7, 3, 1),
        (0.5, 0, 0, 0),
        (0.6, 8, 4, 1),
        (0.5, 6, 6, 0),
    ],
)
def test_firms_needed(goal: float, active: int, gas: int, needed: int) -> None:
    assert firms_needed(goal, active, gas) == needed


REMOVED = datetime(2026, 2, 1, tzinfo=UTC)
FACTS = [ConversionFact("ss-a", "coal_removed", REMOVED)]


@pytest.mark.parametrize(
    ("plant", "start", "removed"),
    [
        ("ss-a", REMOVED, True),  # removed at the window's start
        ("ss-a", REMOVED + timedelta(days=10), True),
        ("ss-a", REMOVED - timedelta(seconds=1), False),  # removed inside the window: not yet
        ("ss-b", REMOVED + timedelta(days=10), False),
    ],
)
def test_coal_removed_by(plant: str, start: datetime, removed: bool) -> None:
    assert coal_removed_by(FACTS, plant, start) is removed


@pytest.mark.parametrize(
    ("fuel", "status", "reason"),
    [
        # no coal meter, no record: unknown
        (FirmFuel("a", "", 100.0, None, 1.0, 0.0), "unknown", "gas or coal meter missing"),
        # no coal meter, coal boiler recorded removed before the window: judged on gas
        (FirmFuel("a", "", 100.0, None, 1.0, 0.0, True), "gas", "coal boiler recorded removed"),
        # removed, and the old coal meter fell silent: still judged on gas
        (FirmFuel("a", "", 100.0, 0.0, 1.0, 0.0, True), "gas", "coal boiler recorded removed"),
        # removed but the coal meter still weighs coal: the coal counts
        (FirmFuel("a", "", 10.0, 1000.0, 1.0, 1.0, True), "coal", "coal boiler recorded removed"),
        # the gas side is always needed
        (FirmFuel("a", "", 100.0, None, 0.5, 0.0, True), "unknown", "gas meter silent for 50%"),
        (FirmFuel("a", "", 0.0, None, 1.0, 0.0, True), "idle", "no fuel was used"),
    ],
)
def test_conversion_facts(fuel: FirmFuel, status: str, reason: str) -> None:
    row = classify(fuel, D)
    assert row.status == status
    assert row.reason.startswith(reason) or reason in row.reason


def test_share_counts_idle_out_and_unknown_as_upper_bound() -> None:
    fuels = [
        FirmFuel("g", "", 100.0, 0.0, 1.0, 1.0),
        FirmFuel("c", "", 0.0, 100.0, 1.0, 1.0),
        FirmFuel("i", "", 0.0, 0.0, 1.0, 1.0),
        FirmFuel("u", "", 0.0, 0.0, 0.1, 1.0),
    ]
    result = gas_share(fuels, 0.5, D)
    assert result.counts == {"gas": 1, "mixed": 0, "coal": 1, "idle": 1, "unknown": 1}
    assert result.share == pytest.approx(1 / 3)
    assert result.share_upper == pytest.approx(2 / 3)
    assert result.firms_needed == 1


def test_step_rules_from_the_one_plausible_rate_setting() -> None:
    rules = StepRules.from_registers(
        {"volume_m3": 1.0, "mass_kg": 2.0, "energy_kwh": 3.0}, timedelta(hours=24)
    )
    assert dict(rules.max_per_hour) == {"gas": 1.0, "coal": 2.0}


def test_hourly_sums_equal_interval_sums_hour_by_hour() -> None:
    ts = [m * 60_000 for m, _ in SERIES]
    values = [v for _, v in SERIES]
    hourly = hourly_sums(
        np.array(ts), np.array(values), 60 * 60_000, 3000 * 60_000, 20_000.0, DAY_MS
    )
    for h in range(1, 50):
        expected = sums(60 * h, 60 * (h + 1))
        assert hourly.get(h * H, Sums()) == expected, h
    assert 0 not in hourly  # before the start: a predecessor only


# ---- readings entered by hand (flag S) ------------------------------------------------------


@pytest.mark.parametrize(
    ("prev_ms", "prev", "ts_ms", "value", "expected"),
    [
        (0, 0.0, 7 * DAY_MS, 4000.0, COUNTED),  # a week of silence before a delivery
        (0, 0.0, 1, 30_000.0, COUNTED),  # 30 t in 1 ms: a ledger has no rate
        (0, 100.0, 3 * DAY_MS, 50.0, RESET),  # a drop is still a new baseline
        (0, 100.0, H, 100.0, COUNTED),
    ],
)
def test_step_kind_into_a_manual_reading(
    prev_ms: int, prev: float, ts_ms: int, value: float, expected: str
) -> None:
    assert step_kind(prev_ms, prev, ts_ms, value, 20_000.0, DAY_MS, manual=True) == expected


# A ledger kept by hand: opening 0, deliveries a week apart, one entered 1 h after another.
LEDGER = [  # (hour, value, flagged S)
    (0, 0.0, True),
    (1, 4000.0, True),
    (1 + 7 * 24, 10_000.0, True),
    (2 + 7 * 24, 40_000.0, True),
    (2 + 14 * 24, 45_000.0, True),
    (3 + 14 * 24, 45_010.0, False),  # a metered reading after it follows the metered rule
    (3 + 16 * 24, 45_020.0, False),  # 48 h of silence: counted nowhere
]


@pytest.mark.parametrize(
    ("start_h", "end_h", "expected"),
    [
        (0, 2, Sums(4000.0, 2, 2, 0, 0)),
        (2, 1 + 7 * 24, Sums()),
        (1 + 7 * 24, 3 + 7 * 24, Sums(36_000.0, 2, 2, 0, 0)),
        (3 + 7 * 24, 3 + 14 * 24, Sums(5000.0, 1, 1, 0, 0)),
        (0, 4 + 16 * 24, Sums(45_010.0, 7, 7, 0, 0)),
    ],
)
def test_interval_sums_of_a_manual_ledger(start_h: int, end_h: int, expected: Sums) -> None:
    ts = [h * H for h, _, _ in LEDGER]
    values = [v for _, v, _ in LEDGER]
    manual = [m for _, _, m in LEDGER]
    got = interval_sums(ts, values, start_h * H, end_h * H, 5_000.0, DAY_MS, manual)
    assert got == expected
    hourly = hourly_sums(
        np.asarray(ts), np.asarray(values), start_h * H, end_h * H, 5_000.0, DAY_MS, manual
    )
    total = sum(hourly.values(), Sums())
    assert total == expected  # the rollup's rule is the same rule, hour by hour


@pytest.mark.parametrize(
    ("prev_ms", "prev", "ts_ms", "value", "expected"),
    [
        (0, 0.0, 7 * DAY_MS, 4000.0, Sums(4000.0)),  # silence: InfluxDB counted nothing
        (0, 0.0, H, 30_000.0, Sums(30_000.0, 0, 0, 0, -1)),  # it counted an implausible step
        (0, 0.0, H, 3000.0, Sums()),  # a plausible step: both rules count it
        (0, 100.0, 3 * DAY_MS, 50.0, Sums(0.0, 0, 0, 1, 0)),  # a reset across a silence
        (0, 100.0, H, 50.0, Sums()),  # a reset both rules see
    ],
)
def test_manual_correction_adds_what_the_flag_changes(
    prev_ms: int, prev: float, ts_ms: int, value: float, expected: Sums
) -> None:
    assert manual_correction(prev_ms, prev, ts_ms, value, 5_000.0, DAY_MS) == expected


T0 = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("opened", "expected"),
    [
        (T0 - timedelta(days=3), 1.0),  # kept by hand before the window: fully covered
        (T0, 1.0),
        (T0 + timedelta(days=3), 0.9),  # the first 3 of 30 days are not known
        (T0 + timedelta(days=3, minutes=30), 0.9),  # the hour of the first entry counts
        (T0 + timedelta(days=31), 0.0),
    ],
)
def test_manual_coverage_is_judged_by_the_records(opened: datetime, expected: float) -> None:
    assert manual_coverage(opened, T0, T0 + timedelta(days=30)) == pytest.approx(expected)


def test_manual_coverages_per_meter_from_the_earliest_fact() -> None:
    facts = [
        ConversionFact("a", "manual_meter", T0 + timedelta(days=6), "coal-1"),
        ConversionFact("a", "manual_meter", T0 + timedelta(days=15), "coal-1"),
        ConversionFact("b", "manual_meter", T0, "coal-1"),
        ConversionFact("a", "coal_removed", T0),
    ]
    got = manual_coverages(facts, "a", T0, T0 + timedelta(days=30))
    assert got == {"coal-1": pytest.approx(0.8)}
