"""Stainless-steel firms' gas and coal registers: pure generators (clock and RNG passed in)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType

import numpy as np

from ingest.registry import Plant
from ingest.schema import Reading

GAS_KGCE_PER_M3 = 1.2143
COAL_KGCE_PER_KG = 0.7143


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


def seeded_unit(seed: int, key: str) -> float:
    """A stable number in [0, 1) for (seed, key), independent of Python's hash salt."""
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def firm_profile(plant: Plant, seed: int) -> FirmProfile | None:
    """A plausible fuel mix and load for a stainless-steel firm, or None if it lacks meters."""
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
