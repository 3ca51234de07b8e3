"""Conversion factors with the date they take effect."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from api.factors import dated, definition_at, definition_for_window, factor_periods, factors_used
from api.fuel.rules import FirmFuel, classify
from api.settings import FactorChange, KpiDefinition

TZ = ZoneInfo("Asia/Shanghai")
D = KpiDefinition(
    factor_changes=[
        FactorChange(effective_from=date(2026, 7, 1), gas_kgce_per_m3=1.3, source="市局通知 7 月"),
        FactorChange(effective_from=date(2026, 3, 15), co2_kg_per_kg_coal=2.0, source="省厅通知"),
    ]
)


@pytest.mark.parametrize(
    ("day", "gas", "co2_coal", "since", "source"),
    [
        (date(2026, 3, 14), 1.2143, 1.9003, date(2000, 1, 1), "GB/T 2589-2020"),
        (date(2026, 3, 15), 1.2143, 2.0, date(2026, 3, 15), "省厅通知"),
        (
            date(2026, 7, 1),
            1.3,
            2.0,
            date(2026, 7, 1),
            "市局通知 7 月",
        ),  # earlier changes still hold
    ],
)
def test_factors_in_effect_on_a_day(
    day: date, gas: float, co2_coal: float, since: date, source: str
) -> None:
    d = definition_at(D, day)
    assert (d.gas_kgce_per_m3, d.co2_kg_per_kg_coal) == (gas, co2_coal)
    assert (d.factors_effective_from, d.factors_source) == (since, source)
    assert ("gas_kgce_per_m3", gas, "kgce/m³", since, source) in factors_used(d)


def test_co2_factors_are_not_credited_to_the_standard_coal_standard() -> None:
    sources = {name: source for name, _, _, _, source in factors_used(KpiDefinition())}
    assert sources["gas_kgce_per_m3"] == sources["coal_kgce_per_kg"] == "GB/T 2589-2020"
    assert sources["co2_kg_per_kg_coal"] == sources["co2_kg_per_m3_gas"] == "configurable factors"


def test_a_window_uses_the_factors_of_its_last_instant() -> None:
    june_end = datetime(2026, 6, 30, 16, tzinfo=UTC)  # 2026-07-01T00:00+08:00, exclusive
    assert definition_for_window(D, june_end, TZ).gas_kgce_per_m3 == 1.2143
    july = datetime(2026, 7, 31, 16, tzinfo=UTC)
    assert definition_for_window(D, july, TZ).gas_kgce_per_m3 == 1.3
    # The change moves a firm's figures: the same m³ is more kgce.
    fuel = FirmFuel("ss-1", "甲", 1000.0, 100.0, 1.0, 1.0)
    assert classify(fuel, definition_for_window(D, july, TZ)).gas_kgce == pytest.approx(1300.0)


def test_gas_factor_stays_within_the_standard() -> None:
    with pytest.raises(ValidationError):
        FactorChange(effective_from=date(2026, 1, 1), gas_kgce_per_m3=1.5)


def month_end(month: int) -> datetime:
    """The exclusive end of local month `month` of 2026, as UTC."""
    return datetime(2026 + month // 12, month % 12 + 1, 1, tzinfo=TZ).astimezone(UTC)


def test_factor_periods_group_the_months_that_used_the_same_factors() -> None:
    months = [(f"2026-{m:02d}", month_end(m)) for m in range(1, 9)]
    periods = factor_periods(D, months, TZ)
    assert [(p.first, p.last, p.definition.factors_source) for p in periods] == [
        ("2026-01", "2026-02", "GB/T 2589-2020"),
        ("2026-03", "2026-06", "省厅通知"),  # 15 March is inside March: the whole month
        ("2026-07", "2026-08", "市局通知 7 月"),
    ]
    assert [p.definition.gas_kgce_per_m3 for p in periods] == [1.2143, 1.2143, 1.3]
    assert factor_periods(KpiDefinition(), months[:2], TZ)[0].last == "2026-02"


def test_dated_leaves_a_definition_without_dates_alone() -> None:
    class Plain:
        gas_kgce_per_m3 = 1.2

    plain = Plain()
    assert dated(plain, month_end(7), TZ) is plain  # type: ignore[arg-type]
    assert dated(D, month_end(7), TZ).gas_kgce_per_m3 == 1.3  # type: ignore[attr-defined]
