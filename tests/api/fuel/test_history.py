"""Year-end projection, candidates and monthly firm fuels, with hand-computed numbers."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from api.fuel.outlook import Month, candidates, outlook, project
from api.fuel.rules import Firm, FirmFuel, FirmRow, Sums, firm_fuel, gas_share
from api.settings import KpiDefinition


def test_perfect_line_has_a_zero_width_interval() -> None:
    p = project([1, 2, 3], [2, 3, 4], firms=20)
    assert p is not None
    assert (p.gas_firms, p.low, p.high, p.slope_per_month) == pytest.approx((13, 13, 13, 1))


def test_noisy_history_gets_a_t_interval() -> None:
    # slope = Sxy/Sxx = 4/5 = 0.8, intercept 2.5 - 0.8 * 2.5 = 0.5, at December 0.5 + 9.6 = 10.1
    # residuals -0.3, 0.9, -0.9, 0.3 -> s^2 = 1.8 / 2; se = s * sqrt(1 + 1/4 + 9.5^2 / 5)
    p = project([1, 2, 3, 4], [1, 3, 2, 4], firms=30)
    assert p is not None
    half = 4.303 * math.sqrt(0.9) * math.sqrt(1.25 + 90.25 / 5)
    assert p.gas_firms == pytest.approx(10.1)
    assert p.low == 0.0  # 10.1 - 17.93, clipped
    assert p.high == pytest.approx(10.1 + half)
    assert p.months_used == 4


@pytest.mark.parametrize(
    ("months", "gas", "firms", "expected"),
    [
        ([], [], 10, None),
        ([7], [3], 10, (3.0, None, None)),
        ([5, 6], [4, 6], 10, (10.0, None, None)),  # 6 + 2 * 6 = 18, clipped to 10 firms
        ([1, 2, 3], [5, 3, 1], 10, (0.0, 0.0, 0.0)),  # falling to below zero, clipped
    ],
)
def test_short_histories(
    months: list[int], gas: list[int], firms: int, expected: tuple[float, ...] | None
) -> None:
    p = project(months, gas, firms)
    if expected is None:
        assert p is None
    else:
        assert p is not None
        assert (p.gas_firms, p.low, p.high) == expected


def row(plant: str, status: str, fraction: float | None) -> FirmRow:
    return FirmRow(plant, plant, status, fraction, 0, 0, 0, 0, 0, 0, "")


def test_candidates_mixed_first_then_coal_by_gas_fraction() -> None:
    rows = [
        row("a", "coal", 0.05),
        row("b", "mixed", 0.5),
        row("c", "gas", 1.0),
        row("d", "mixed", 0.8),
        row("e", "unknown", None),
        row("f", "coal", 0.0),
        row("g", "idle", None),
    ]
    assert [r.plant for r in candidates(rows, 10)] == ["d", "b", "a", "f"]
    assert [r.plant for r in candidates(rows, 2)] == ["d", "b"]


def test_firm_fuel_takes_the_least_covered_meter() -> None:
    firm = Firm("ss-a", "A", ("g1", "g2"), ("c1",))
    gas_only = Firm("ss-b", "B", ("g1",), ())
    sums = {
        ("gas", "ss-a", "g1"): Sums(100.0, 40, 10),
        ("gas", "ss-a", "g2"): Sums(50.0, 40, 7),
        ("coal", "ss-a", "c1"): Sums(20.0, 40, 10),
        ("gas", "ss-b", "g1"): Sums(5.0, 40, 10),
    }
    assert firm_fuel(firm, sums, hours=10) == FirmFuel("ss-a", "A", 150.0, 20.0, 0.7, 1.0)
    assert firm_fuel(gas_only, sums, hours=10) == FirmFuel("ss-b", "B", 5.0, None, 1.0, 0.0)
    # A meter with no sums at all reported in no hour.
    silent = Firm("ss-c", "C", ("g1",), ("c1",))
    assert firm_fuel(silent, sums, hours=10) == FirmFuel("ss-c", "C", 0.0, 0.0, 0.0, 0.0)


def month(number: int, gas_firms: int, complete: bool, unknown: int = 0) -> Month:
    fuels = [FirmFuel(f"g{i}", "", 100.0, 0.0, 1.0, 1.0) for i in range(gas_firms)]
    fuels += [FirmFuel(f"c{i}", "", 0.0, 100.0, 1.0, 1.0) for i in range(6 - gas_firms - unknown)]
    fuels += [FirmFuel(f"u{i}", "", 0.0, 0.0, 0.0, 0.0) for i in range(unknown)]
    t = datetime(2026, number, 1, tzinfo=UTC)
    return Month(f"2026-{number:02d}", t, t, complete, gas_share(fuels, 0.5, KpiDefinition()))


def test_outlook_fits_complete_months_with_data() -> None:
    months = [
        month(1, 0, True, unknown=6),  # before monitoring began: no evidence, not fitted
        month(2, 1, True),
        month(3, 1, True),
        month(4, 1, True),
        month(5, 3, False),  # the current month counts for candidates, not for the fit
    ]
    view = outlook(months, goal=0.5)
    assert view.projection is not None
    assert view.projection.months_used == 3
    assert view.projection.gas_firms == pytest.approx(1.0)  # flat at one firm
    assert view.projected_share == pytest.approx(1 / 6)
    assert view.on_track is False
    assert view.firms_needed == 0  # the current month already has 3 of 6
    assert [c["plant"] for c in view.candidates] == ["c0", "c1", "c2"]


def test_outlook_without_data() -> None:
    view = outlook([month(1, 0, True, unknown=6)], goal=0.5)
    assert view.projection is None and view.on_track is None
