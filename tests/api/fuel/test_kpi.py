"""The coal-to-gas KPI rules (SPEC section 6) with hand-computed expectations."""

from __future__ import annotations

import pytest

from api.fuel.rules import FirmFuel, classify, gas_share
from api.settings import KpiDefinition

D = KpiDefinition()


def fuel(
    plant: str,
    gas_m3: float | None,
    coal_kg: float | None,
    gas_cov: float = 1.0,
    coal_cov: float = 1.0,
) -> FirmFuel:
    return FirmFuel(plant, plant, gas_m3, coal_kg, gas_cov, coal_cov)


# gas kgce = m3 * 1.2143, coal kgce = kg * 0.7143
@pytest.mark.parametrize(
    ("firm", "status", "fraction"),
    [
        (fuel("a", 1000, 0), "gas", 1.0),
        (fuel("b", 0, 1000), "coal", 0.0),
        (fuel("c", 1000, 1000), "mixed", 1214.3 / (1214.3 + 714.3)),
        # exactly 0.9 is gas: 0.9 = g/(g+c) with c = 100 kgce, g = 900 kgce
        (fuel("d", 900 / 1.2143, 100 / 0.7143), "gas", 0.9),
        (fuel("e", 100 / 1.2143, 900 / 0.7143), "coal", 0.1),
        (fuel("f", 0, 0), "idle", None),
        (fuel("g", 1000, 0, gas_cov=0.79), "unknown", None),
        (fuel("h", 1000, 0, coal_cov=0.5), "unknown", None),
        (fuel("i", 1000, 0, gas_cov=0.8), "gas", 1.0),
        (fuel("j", 1000, None), "unknown", None),
        (fuel("k", 0, 0, gas_cov=0.1), "unknown", None),
    ],
)
def test_classify(firm: FirmFuel, status: str, fraction: float | None) -> None:
    row = classify(firm, D)
    assert row.status == status
    if fraction is None:
        assert row.gas_fraction is None
    else:
        assert row.gas_fraction == pytest.approx(fraction)


def test_co2() -> None:
    row = classify(fuel("a", 100, 200), D)
    assert row.co2_kg == pytest.approx(200 * 1.9003 + 100 * 2.1622)
    # 100 m3 gas = 121.43 kgce = 170.0 kg coal -> 323.05 kg CO2 avoided, minus 216.22 from the gas
    assert row.co2_avoided_kg == pytest.approx(100 * 1.2143 / 0.7143 * 1.9003 - 216.22)


@pytest.mark.parametrize(
    ("statuses", "share", "upper", "needed"),
    [
        # gas, gas, coal, mixed -> 2/4; ceil(2) - 2 = 0
        (["gas", "gas", "coal", "mixed"], 0.5, 0.5, 0),
        # + idle (excluded) + unknown -> 2/5 = 0.4, upper 3/5; ceil(2.5) - 2 = 1
        (["gas", "gas", "coal", "mixed", "idle", "unknown"], 0.4, 0.6, 1),
        (["coal"] * 7, 0.0, 0.0, 4),
        (["idle", "idle"], None, None, 0),
        (["gas"] * 3 + ["coal"] * 3, 0.5, 0.5, 0),
    ],
)
def test_gas_share(
    statuses: list[str], share: float | None, upper: float | None, needed: int
) -> None:
    make = {
        "gas": lambda i: fuel(f"p{i}", 1000, 0),
        "coal": lambda i: fuel(f"p{i}", 0, 1000),
        "mixed": lambda i: fuel(f"p{i}", 1000, 1000),
        "idle": lambda i: fuel(f"p{i}", 0, 0),
        "unknown": lambda i: fuel(f"p{i}", 1000, 0, gas_cov=0.0),
    }
    result = gas_share([make[s](i) for i, s in enumerate(statuses)], 0.5, D)
    assert [r.status for r in result.rows] == statuses
    assert result.share == share
    assert result.share_upper == upper
    assert result.firms_needed == needed
