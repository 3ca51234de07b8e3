"""Per-meter-kind validation of readings (SPEC section 4): names, units, ranges, clocks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ingest.errors import InvalidPayload
from ingest.registry import Meter
from ingest.schema import Reading


@dataclass(frozen=True, slots=True)
class Range:
    low: float
    high: float


# Physically plausible bounds per value; outside them the reading is refused, not clipped.
VALUE_RANGES: dict[str, dict[str, Range]] = {
    "gas": {"volume_m3": Range(0, 1e12), "flow_m3h": Range(0, 1e6)},
    "coal": {"mass_kg": Range(0, 1e13), "rate_kgh": Range(0, 1e6)},
    "electricity": {"energy_kwh": Range(0, 1e13)},
    "voc": {
        "nmhc_mgm3": Range(0, 1e5),
        "thc_mgm3": Range(0, 1e5),
        "dmf_mgm3": Range(0, 1e5),
        "benzene_mgm3": Range(0, 1e5),
        "toluene_mgm3": Range(0, 1e5),
        "xylene_mgm3": Range(0, 1e5),
        "flow_m3h": Range(0, 1e7),
        "temp_c": Range(-50, 1000),
        "pressure_kpa": Range(0, 1000),
        "humidity_pct": Range(0, 100),
        "o2_pct": Range(0, 25),
    },
}
REQUIRED_VALUES: dict[str, tuple[str, ...]] = {
    "gas": ("volume_m3",),
    "coal": ("mass_kg",),
    "electricity": ("energy_kwh",),
    "voc": (),
}
CUMULATIVE_VALUES = {"volume_m3", "mass_kg", "energy_kwh"}


def validate_readings(
    meter: Meter, readings: Sequence[Reading], now: datetime, future_tolerance: timedelta
) -> None:
    """Raise `InvalidPayload` naming the first reading and value that break the rules."""
    allowed = VALUE_RANGES[meter.kind]
    required = REQUIRED_VALUES[meter.kind]
    latest = now + future_tolerance
    for index, reading in enumerate(readings):
        where = f"readings[{index}]" if len(readings) > 1 else "reading"
        if reading.ts > latest:
            raise InvalidPayload(
                f"{where}: ts {reading.ts.isoformat()} is {(reading.ts - now).total_seconds():.0f}s "
                f"in the future (tolerance {future_tolerance.total_seconds():.0f}s); check the clock"
            )
        for name, value in reading.values.items():
            bounds = allowed.get(name)
            if bounds is None:
                raise InvalidPayload(
                    f"{where}: {name!r} is not a value of a {meter.kind} meter "
                    f"(expected {', '.join(sorted(allowed))})"
                )
            if not bounds.low <= value <= bounds.high:
                raise InvalidPayload(
                    f"{where}: {name}={value:g} is outside the plausible range "
                    f"[{bounds.low:g}, {bounds.high:g}]"
                )
        missing = [name for name in required if name not in reading.values]
        if missing:
            raise InvalidPayload(f"{where}: a {meter.kind} meter must send {', '.join(missing)}")
