"""Stainless-steel firms' gas and coal registers, and other firms' electricity: pure generators.

Every generator takes the sample times (epoch seconds), the plan and a numpy Generator and
returns arrays; nothing reads a clock or global randomness, so the same inputs give the same
data. Registers are cumulative: a block starts from the register values the previous block
ended with.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType

import numpy as np

from ingest.kernel.registry import Plant
from ingest.kernel.schema import Reading
from simulators.calendar import local_hour, production_on, spring_shutdown
from simulators.seeding import seeded_unit

GAS_KGCE_PER_M3 = 1.2143  # GB/T 2589 (SPEC section 6)
COAL_KGCE_PER_KG = 0.7143
# Gas share of fuel energy while a firm runs dual-fuel: it ramps between these.
DUAL_FUEL_START_FRACTION = 0.15
DUAL_FUEL_END_FRACTION = 0.85
SECONDS_PER_HOUR = 3600.0


@dataclass(frozen=True, slots=True)
class FuelPlan:
    """How one stainless-steel firm burns fuel through the year (derived from the seed)."""

    plant: str
    gas_meter: str
    coal_meter: str
    load_kgce_per_hour: float  # furnace load at full production
    shift: str  # "three" | "two" | "day" (simulators.calendar.SHIFTS)
    works_saturday: bool
    works_sunday: bool
    idle_fraction: float  # share of full load that keeps furnaces warm off-shift
    conversion_s: float | None  # dual-fuel starts (epoch s); None: never converts
    dual_fuel_days: float
    coal_gas_fraction: float  # gas share of a coal firm (pilot burners, canteen)
    residual_coal_fraction: float  # coal share left after conversion
    backslide: tuple[float, float] | None = None  # (start, end) epoch s back on coal
    backslide_gas_fraction: float = 0.3
    start_volume_m3: float = 0.0  # register values at the simulation's origin
    start_mass_kg: float = 0.0


@dataclass(frozen=True, slots=True)
class FuelBlock:
    """One block of a firm's fuel readings, column-wise."""

    times_s: np.ndarray
    volume_m3: np.ndarray  # cumulative register
    flow_m3h: np.ndarray
    mass_kg: np.ndarray  # cumulative register
    rate_kgh: np.ndarray


def gas_fraction(plan: FuelPlan, times_s: np.ndarray) -> np.ndarray:
    """Gas share of the firm's fuel energy at each time (conversion, dual fuel, backslide)."""
    t = np.asarray(times_s, dtype=np.float64)
    if plan.conversion_s is None:
        out = np.full(t.shape, plan.coal_gas_fraction)
    else:
        ramp = np.clip((t - plan.conversion_s) / (plan.dual_fuel_days * 86_400.0), 0.0, 1.0)
        dual = DUAL_FUEL_START_FRACTION + (DUAL_FUEL_END_FRACTION - DUAL_FUEL_START_FRACTION) * ramp
        out = np.where(
            t < plan.conversion_s,
            plan.coal_gas_fraction,
            np.where(ramp < 1.0, dual, 1.0 - plan.residual_coal_fraction),
        )
    if plan.backslide is not None:
        start, end = plan.backslide
        out = np.where((t >= start) & (t < end), plan.backslide_gas_fraction, out)
    return out


def activity(
    times_s: np.ndarray,
    shift: str,
    works_saturday: bool,
    works_sunday: bool,
    idle_fraction: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Share of full load at each time: shifts, weekends, holidays, slow drift and noise."""
    on = production_on(times_s, shift, works_saturday, works_sunday)
    hour = local_hour(times_s)
    knots = rng.normal(0.0, 1.0, 26)  # hourly knots of a slow drift within the block
    drift = np.interp(hour, np.arange(26) - 0.5, knots)
    running = np.clip(0.82 + 0.08 * drift + rng.normal(0.0, 0.04, len(hour)), 0.4, 1.1)
    idle = idle_fraction * np.clip(1.0 + rng.normal(0.0, 0.1, len(hour)), 0.5, 1.5)
    load = np.where(on, running, idle)
    # Spring Festival: furnaces are let go cold.
    return np.where(spring_shutdown(times_s), 0.0, load)


def fuel_block(
    plan: FuelPlan,
    times_s: np.ndarray,
    interval_s: float,
    start_volume_m3: float,
    start_mass_kg: float,
    rng: np.random.Generator,
) -> FuelBlock:
    """Gas and coal registers at `times_s`, each step burning the fuel of the interval before it."""
    load = activity(
        times_s, plan.shift, plan.works_saturday, plan.works_sunday, plan.idle_fraction, rng
    )
    kgce = plan.load_kgce_per_hour * load * (interval_s / SECONDS_PER_HOUR)
    fraction = gas_fraction(plan, times_s)
    gas_m3 = kgce * fraction / GAS_KGCE_PER_M3
    coal_kg = kgce * (1.0 - fraction) / COAL_KGCE_PER_KG
    hours = interval_s / SECONDS_PER_HOUR
    return FuelBlock(
        times_s=np.asarray(times_s, dtype=np.int64),
        volume_m3=np.round(start_volume_m3 + np.cumsum(gas_m3), 2),
        flow_m3h=np.round(gas_m3 / hours, 2),
        mass_kg=np.round(start_mass_kg + np.cumsum(coal_kg), 1),
        rate_kgh=np.round(coal_kg / hours, 1),
    )


@dataclass(frozen=True, slots=True)
class ElectricityPlan:
    """A power meter's use: an 'other' firm's site meter, or a line's production or treatment.

    A line's production and treatment meters share the line's shift (treatment runs when
    production runs); `night_off` is a treatment facility switched off between two local
    hours (the demo's RTO turned off at night to save power).
    """

    plant: str
    meter: str
    load_kw: float
    shift: str
    works_saturday: bool
    idle_fraction: float
    start_energy_kwh: float = 0.0
    facility: str = "site"
    works_sunday: bool = False
    night_off: tuple[float, float] | None = None  # local hours [from, to) across midnight
    off_share: float = 0.07  # the fan's residual draw while switched off, share of load_kw

    @property
    def sends_power(self) -> bool:
        """Line meters send `power_kw` with their register; site meters only the register."""
        return self.facility != "site"


@dataclass(frozen=True, slots=True)
class ElectricityBlock:
    energy_kwh: np.ndarray  # the cumulative register at each time
    power_kw: np.ndarray  # mean power over the step ending at each time


def electricity_block(
    plan: ElectricityPlan,
    times_s: np.ndarray,
    interval_s: float,
    start_energy_kwh: float,
    rng: np.random.Generator,
) -> ElectricityBlock:
    """The cumulative `energy_kwh` register and the mean power at `times_s`."""
    load = activity(
        times_s, plan.shift, plan.works_saturday, plan.works_sunday, plan.idle_fraction, rng
    )
    if plan.night_off is not None:
        hour = local_hour(np.asarray(times_s))
        begin, end = plan.night_off
        off = (hour >= begin) | (hour < end) if begin > end else (hour >= begin) & (hour < end)
        load = np.where(off, np.minimum(load, plan.off_share), load)
    power_kw = plan.load_kw * load
    kwh = power_kw * (interval_s / SECONDS_PER_HOUR)
    return ElectricityBlock(np.round(start_energy_kwh + np.cumsum(kwh), 1), np.round(power_kw, 2))


# -- The foundation's simple interface, kept for callers that write fuel data directly
#    (e.g. dashboard tests); the county simulator uses `simulators.plans` and `engine`.


@dataclass(frozen=True, slots=True)
class FirmProfile:
    plant: str
    gas_meter: str
    coal_meter: str
    gas_fraction: float  # share of fuel energy from gas
    load_kgce_per_hour: float


@dataclass
class Registers:
    volume_m3: float = 0.0
    mass_kg: float = 0.0


def firm_profile(plant: Plant, seed: int) -> FirmProfile | None:
    """A fixed fuel mix and load for a stainless-steel firm, or None if it lacks meters."""
    gas, coal = plant.meters_of("gas"), plant.meters_of("coal")
    if not gas or not coal:
        return None
    u = seeded_unit(seed, plant.id)
    # Roughly half the firms have converted, a few run dual-fuel, the rest burn coal.
    fraction = 0.97 if u < 0.5 else (0.5 if u < 0.65 else 0.03)
    load = 200.0 + 1800.0 * seeded_unit(seed, plant.id + "/load")
    return FirmProfile(plant.id, gas[0].id, coal[0].id, fraction, load)


def fuel_readings(
    profile: FirmProfile,
    registers: Registers,
    start: datetime,
    steps: int,
    step: timedelta,
    rng: np.random.Generator,
) -> tuple[list[Reading], list[Reading]]:
    """`steps` readings of each register from `start`; advances `registers` in place."""
    hours = step.total_seconds() / 3600
    load = profile.load_kgce_per_hour * hours * rng.uniform(0.7, 1.3, steps)
    gas_steps = load * profile.gas_fraction / GAS_KGCE_PER_M3
    coal_steps = load * (1 - profile.gas_fraction) / COAL_KGCE_PER_KG
    gas_out, coal_out = [], []
    for i in range(steps):
        ts = start + i * step
        registers.volume_m3 += float(gas_steps[i])
        registers.mass_kg += float(coal_steps[i])
        gas_out.append(Reading(ts, MappingProxyType({"volume_m3": round(registers.volume_m3, 3)})))
        coal_out.append(Reading(ts, MappingProxyType({"mass_kg": round(registers.mass_kg, 3)})))
    return gas_out, coal_out
