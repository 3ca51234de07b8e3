"""The coal-to-gas KPI (SPEC section 6) as pure functions over per-firm fuel totals."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from api.settings import KpiDefinition

STATUSES = ("gas", "mixed", "coal", "idle", "unknown")


@dataclass(frozen=True, slots=True)
class FirmFuel:
    """What the store says about one firm over the window."""

    plant: str
    name: str
    gas_m3: float | None  # None: no gas meter in the registry
    coal_kg: float | None
    gas_coverage: float  # fraction of the window with data from the gas meter(s)
    coal_coverage: float


@dataclass(frozen=True, slots=True)
class FirmRow:
    plant: str
    name: str
    status: str
    gas_fraction: float | None
    gas_m3: float
    coal_kg: float
    gas_kgce: float
    coal_kgce: float
    co2_kg: float
    co2_avoided_kg: float
    reason: str


@dataclass(frozen=True, slots=True)
class GasShare:
    goal: float
    firms: int
    counts: dict[str, int]
    share: float | None
    share_upper: float | None
    firms_needed: int
    meets_goal: bool
    rows: tuple[FirmRow, ...]

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "rows": [asdict(r) for r in self.rows]}


def classify(fuel: FirmFuel, d: KpiDefinition) -> FirmRow:
    """One firm's status, fraction and CO2 under definition `d`."""
    gas_m3 = fuel.gas_m3 or 0.0
    coal_kg = fuel.coal_kg or 0.0
    gas_kgce = gas_m3 * d.gas_kgce_per_m3
    coal_kgce = coal_kg * d.coal_kgce_per_kg
    co2_kg = coal_kg * d.co2_kg_per_kg_coal + gas_m3 * d.co2_kg_per_m3_gas
    # Gas burnt instead of the coal of equal energy: what that coal would have emitted, less the gas's.
    co2_avoided_kg = (
        gas_kgce / d.coal_kgce_per_kg * d.co2_kg_per_kg_coal - gas_m3 * d.co2_kg_per_m3_gas
    )
    min_coverage = 1.0 - d.max_silent_fraction
    reason = ""
    if fuel.gas_m3 is None or fuel.coal_kg is None:
        status, fraction = "unknown", None
        reason = "gas or coal meter missing from the registry"
    elif fuel.gas_coverage < min_coverage or fuel.coal_coverage < min_coverage:
        status, fraction = "unknown", None
        silent = "gas" if fuel.gas_coverage < min_coverage else "coal"
        coverage = min(fuel.gas_coverage, fuel.coal_coverage)
        reason = f"{silent} meter silent for {100 * (1 - coverage):.0f}% of the window"
    elif gas_kgce + coal_kgce <= 0:
        status, fraction = "idle", None
        reason = "meters report but no fuel was used"
    else:
        fraction = gas_kgce / (gas_kgce + coal_kgce)
        # Compare at 9 decimals so a firm exactly on a threshold is not moved by float noise.
        rounded = round(fraction, 9)
        if rounded >= d.gas_status_min_fraction:
            status = "gas"
        elif rounded <= d.coal_status_max_fraction:
            status = "coal"
        else:
            status = "mixed"
    return FirmRow(
        fuel.plant,
        fuel.name,
        status,
        fraction,
        gas_m3,
        coal_kg,
        gas_kgce,
        coal_kgce,
        co2_kg,
        co2_avoided_kg,
        reason,
    )


def gas_share(fuels: Sequence[FirmFuel], goal: float, d: KpiDefinition) -> GasShare:
    """The county's share of stainless-steel firms on gas, against `goal`."""
    rows = tuple(classify(f, d) for f in fuels)
    counts = {s: sum(r.status == s for r in rows) for s in STATUSES}
    active = len(rows) - counts["idle"]
    share = counts["gas"] / active if active else None
    share_upper = (counts["gas"] + counts["unknown"]) / active if active else None
    # round() guards ceil against float noise such as 0.5 * 6 = 3.0000000000000004
    firms_needed = max(0, math.ceil(round(goal * active, 9)) - counts["gas"])
    return GasShare(
        goal,
        len(rows),
        counts,
        share,
        share_upper,
        firms_needed,
        share is not None and share >= goal,
        rows,
    )
