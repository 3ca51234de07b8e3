"""A small county the fuel tests share: nine firms with a day of hourly registers, one per
status the KPI can give, and what the KPI must say of each."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ingest.kernel.store import InfluxStore
from tests.builders import FUEL_METERS, register_lines, registry_toml

AT = datetime(2026, 3, 31, tzinfo=UTC)
HOUR = timedelta(hours=1)
START = AT - 24 * HOUR  # window_days = 1: 24 hourly readings, 23 steps after the first
N = 24
FLAT = [500.0] * N


def ramp(step: float, base: float = 1000.0) -> list[float]:
    return [base + step * i for i in range(N)]


# plant -> (gas register, coal register); None: that meter never reports
FIRMS: dict[str, tuple[list[float] | None, list[float] | None]] = {
    "ss-gas": (ramp(10), FLAT),  # 230 m3, 0 kg -> gas
    "ss-coal": (FLAT, ramp(100)),  # 0 m3, 2300 kg -> coal
    "ss-mixed": (ramp(10), ramp(10)),  # 279.289 / (279.289 + 164.289) = 0.6296 -> mixed
    # 6.4287 m3 * 1.2143 = 9 * (1.2143 kg * 0.7143): gas_fraction exactly 0.9 -> gas
    "ss-edge": (ramp(6.4287), ramp(1.2143)),
    "ss-idle": (FLAT, FLAT),  # meters report, nothing burnt -> idle
    # register reset after 12 readings: 11 steps + (drop, not counted) + 11 steps = 220 m3
    "ss-reset": ([1000.0 + 10 * i for i in range(12)] + [5.0 + 10 * j for j in range(12)], FLAT),
    # one implausible jump of 50 000 m3 in an hour (limit 20 000 m3/h): 22 * 10 = 220 m3
    "ss-jump": ([1000.0 + 10 * i + (50_000 if i >= 12 else 0) for i in range(N)], FLAT),
    "ss-silent": (None, FLAT),  # gas meter silent the whole window -> unknown
}
MISSING_METER = "ss-nometer"  # only a gas meter in the registry -> unknown


def kpi_registry() -> str:
    plants = {p: ("stainless_steel", FUEL_METERS) for p in FIRMS}
    plants[MISSING_METER] = ("stainless_steel", [("gas-1", "gas")])
    plants["sl-001"] = ("synthetic_leather", [("stack-1", "voc")])
    return registry_toml(plants, goal=0.6)


def write_county(store: InfluxStore) -> None:
    lines: list[str] = []
    for plant, (gas, coal) in FIRMS.items():
        if gas is not None:
            lines += register_lines("gas", plant, "gas-1", START, HOUR, gas)
        if coal is not None:
            lines += register_lines("coal", plant, "coal-1", START, HOUR, coal)
    lines += register_lines("gas", MISSING_METER, "gas-1", START, HOUR, ramp(10))
    # Before and after the window. SPEC section 6: the step into the window belongs to it
    # (its later reading is inside): 0 -> 1000 m3 in an hour counts; the reading at AT does not.
    lines += register_lines("gas", "ss-gas", "gas-1", START - HOUR, HOUR, [0.0])
    lines += register_lines("gas", "ss-gas", "gas-1", AT, HOUR, [99_999.0])
    # A plant in the data but not in the registry is not a firm of the KPI.
    lines += register_lines("gas", "ss-ghost", "gas-1", START, HOUR, ramp(10))
    store.write_lines(lines)


EXPECTED = {
    "ss-gas": ("gas", 1230.0, 0.0),
    "ss-coal": ("coal", 0.0, 2300.0),
    "ss-mixed": ("mixed", 230.0, 230.0),
    "ss-edge": ("gas", 23 * 6.4287, 23 * 1.2143),
    "ss-idle": ("idle", 0.0, 0.0),
    "ss-reset": ("gas", 220.0, 0.0),
    "ss-jump": ("gas", 220.0, 0.0),
    "ss-silent": ("unknown", 0.0, 0.0),
    MISSING_METER: ("unknown", 230.0, 0.0),
}
