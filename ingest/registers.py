"""Cumulative registers (SPEC section 4): resets, replacements and implausible jumps. Pure.

A gas, coal or electricity meter sends a cumulative register. Consumption is the sum of
its counted steps (the rule of SPEC section 6, `api/fuel/rules.py`), so the collector never alters or
refuses a reading for its step; it *records* what it sees as `register_event` points:

- `reset`: the register went down (a reset or a replaced meter). The new value is the
  new baseline; the KPI's `non_negative_difference` already skips the drop.
- `implausible_jump`: the register rose faster than the meter kind's plausible maximum
  rate; the KPI leaves such a step out (its rate filter), the event says so.

An event is stamped with the reading's device time and tagged with its plant and meter,
so re-deriving it (redelivery, replay, another collector) overwrites the same point.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ingest.store import encode_point

REGISTER_EVENT_MEASUREMENT = "register_event"
# Rates above these (per hour) are implausible: the defaults of the one setting
# `max_rate_per_hour` (ingest/settings.py) that the collector and every fuel figure use.
MAX_RATE_PER_HOUR: dict[str, float] = {
    "volume_m3": 20_000.0,
    "mass_kg": 50_000.0,
    "energy_kwh": 100_000.0,
}
REGISTER_BY_KIND = {"gas": "volume_m3", "coal": "mass_kg", "electricity": "energy_kwh"}

MeterKey = tuple[str, str]  # (plant, meter)


@dataclass(frozen=True, slots=True)
class Sample:
    """One value of a cumulative register at a device time."""

    ts_ms: int
    value: float


@dataclass(frozen=True, slots=True)
class RegisterEvent:
    plant: str
    meter: str
    register: str
    event: str  # "reset" | "implausible_jump"
    ts_ms: int
    previous_ts_ms: int
    previous: float
    value: float

    @property
    def rate_per_hour(self) -> float:
        hours = (self.ts_ms - self.previous_ts_ms) / 3_600_000
        return (self.value - self.previous) / hours

    def line(self) -> str:
        """The event as a `register_event` point (identity: plant, meter, device time)."""
        return encode_point(
            REGISTER_EVENT_MEASUREMENT,
            {"plant": self.plant, "meter": self.meter},
            {
                "event": self.event,
                "register": self.register,
                "previous": self.previous,
                "value": self.value,
                "step": self.value - self.previous,
                "seconds": (self.ts_ms - self.previous_ts_ms) / 1000,
            },
            self.ts_ms,
        )


def classify(
    previous: Sample, current: Sample, register: str, max_rates: Mapping[str, float]
) -> str | None:
    """The event between two successive samples, or None for an ordinary step."""
    if current.ts_ms <= previous.ts_ms:
        return None  # the same reading again, or not a successor
    if current.value < previous.value:
        return "reset"
    hours = (current.ts_ms - previous.ts_ms) / 3_600_000
    limit = max_rates.get(register)
    if limit is not None and (current.value - previous.value) / hours > limit:
        return "implausible_jump"
    return None


def register_events(
    plant: str,
    meter: str,
    register: str,
    previous: Sample | None,
    samples: Iterable[Sample],
    max_rates: Mapping[str, float] = MAX_RATE_PER_HOUR,
) -> tuple[list[RegisterEvent], Sample | None]:
    """Events among `samples` (any order) following `previous`; returns them and the latest sample.

    `previous` is the last sample known before the earliest of `samples` (from InfluxDB,
    or this collector's memory); a sample not after it in time raises no event.
    """
    ordered = sorted({s.ts_ms: s for s in samples}.values(), key=lambda s: s.ts_ms)
    events: list[RegisterEvent] = []
    last = previous
    for sample in ordered:
        if last is not None:
            kind = classify(last, sample, register, max_rates)
            if kind is not None:
                events.append(
                    RegisterEvent(
                        plant,
                        meter,
                        register,
                        kind,
                        sample.ts_ms,
                        last.ts_ms,
                        last.value,
                        sample.value,
                    )
                )
        if last is None or sample.ts_ms > last.ts_ms:
            last = sample
    return events, last
