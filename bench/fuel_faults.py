"""Fuel registers with the faults of the field, for the consistency check and its test. Pure.

Each meter's register gets resets (a drop to a new baseline), implausible jumps, short
gaps, long silences (over 24 h) and jittered reporting times; `late` marks a stretch that
a plant uploads days late (a logger backfilling an outage).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS


@dataclass(frozen=True, slots=True)
class Register:
    """One meter's readings: device times (ms), values, and which are uploaded late."""

    kind: str
    plant: str
    meter: str
    ts_ms: np.ndarray
    values: np.ndarray
    late: np.ndarray  # bool per reading

    def lines(self, which: np.ndarray) -> list[str]:
        field = "volume_m3" if self.kind == "gas" else "mass_kg"
        return [
            f"{self.kind},meter={self.meter},plant={self.plant} {field}={v:.3f} {t}"
            for t, v in zip(self.ts_ms[which], self.values[which], strict=True)
        ]


def faulty_register(
    rng: np.random.Generator,
    kind: str,
    plant: str,
    start_ms: int,
    days: int,
    rate_per_hour: float,
    step_minutes: int = 15,
    late_from_day: int | None = None,
    late_days: int = 3,
) -> Register:
    """A register reporting every `step_minutes` with resets, jumps, gaps and a long silence."""
    n = days * DAY_MS // (step_minutes * MINUTE_MS)
    ts = start_ms + np.arange(n, dtype=np.int64) * step_minutes * MINUTE_MS
    ts = ts + rng.integers(0, 30_000, n)  # devices do not report on the second
    keep = np.ones(n, dtype=bool)
    # Short gaps (1-5 h) and one long silence (26-40 h) per meter.
    for _ in range(max(1, days // 5)):
        a = int(rng.integers(0, n))
        keep[a : a + int(rng.integers(4, 20))] = False
    a = int(rng.integers(n // 4, 3 * n // 4))
    keep[a : a + int(rng.integers(26 * 4, 40 * 4))] = False
    used = rng.uniform(0.2, 1.0, n) * rate_per_hour * step_minutes / 60
    values = np.cumsum(used)
    # Resets: the register restarts near zero (a replaced meter).
    for _ in range(max(1, days // 10)):
        r = int(rng.integers(1, n))
        values[r:] -= values[r] - float(rng.uniform(0, 50))
    # Implausible jumps: a glitch adding far more than the plausible rate allows.
    for _ in range(max(1, days // 10)):
        j = int(rng.integers(1, n))
        values[j:] += 1_000_000.0
    values = np.round(values, 3)
    late = np.zeros(n, dtype=bool)
    if late_from_day is not None:
        lo = start_ms + late_from_day * DAY_MS
        late = (ts >= lo) & (ts < lo + late_days * DAY_MS)
    meter = f"{kind}-1"
    return Register(kind, plant, meter, ts[keep], values[keep], late[keep])
