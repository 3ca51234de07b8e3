"""Meter faults: on demand (`--fault` specs) and at random rates; applied to readings as sent.

Value faults change what the device reports: `dropout` (readings never sent), `stuck` (a
value repeats), `spike` (one reading multiplied), `reset` (a cumulative register restarts
at 0), `replace` (a new meter with its own reading), `skew` (the device clock is off).
Delivery faults change how it reaches the broker: `outage` (link down; the device buffers
and backfills late, newest first), `duplicate` (messages sent twice), `malformed`
(corrupted payloads).

Spec grammar (one fault):  KIND:PLANT[/METER][:VALUE][,at=WHEN][,for=DURATION][,x=AMOUNT]
  WHEN      +10m (after the simulator's current time) or an RFC 3339 time
  DURATION  30s, 45m, 2h, 3d
  AMOUNT    spike factor, skew seconds (may be negative), or replacement meter's reading
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime

import numpy as np

FAULT_KINDS = {
    "dropout": "meter silent: readings are never sent",
    "stuck": "a value (or all) repeats its first faulty reading",
    "spike": "one reading multiplied by x (default 8)",
    "reset": "cumulative register restarts at 0",
    "replace": "meter replaced: the register restarts at x (the new meter's reading)",
    "skew": "device clock off by x seconds (default +600)",
    "outage": "link down: readings buffered and backfilled late, newest first",
    "duplicate": "every message sent twice",
    "malformed": "payloads corrupted (bad JSON, bad value, bad timestamp, bad CRC)",
}
DEFAULT_DURATION_S = {
    "dropout": 3600.0,
    "stuck": 2700.0,
    "spike": 0.0,
    "reset": 0.0,
    "replace": 0.0,
    "skew": 3600.0,
    "outage": 7200.0,
    "duplicate": 3600.0,
    "malformed": 600.0,
}
DEFAULT_AMOUNT = {"spike": 8.0, "skew": 600.0, "replace": 0.0}
CUMULATIVE = ("volume_m3", "mass_kg", "energy_kwh")
UNITS_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
SPEC = re.compile(
    r"^(?P<kind>[a-z]+):(?P<plant>[a-z0-9-]{1,32})(?:/(?P<meter>[a-z0-9-]{1,32}))?"
    r"(?::(?P<value>[a-z0-9_]+))?(?P<options>(?:,[a-z]+=[^,]+)*)$"
)


class FaultSpecError(ValueError):
    """A `--fault` spec could not be understood; the message says what to fix."""


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault on one meter (or every meter of a plant: meter '*')."""

    kind: str
    plant: str
    meter: str
    start_s: float
    duration_s: float
    value: str | None = None
    amount: float | None = None

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s

    def applies_to(self, plant: str, meter: str) -> bool:
        return self.plant == plant and self.meter in ("*", meter)


def parse_duration(text: str) -> float:
    """'45m' -> 2700.0 seconds."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([smhd])", text)
    if not match:
        raise FaultSpecError(f"duration {text!r} must look like 30s, 45m, 2h or 3d")
    return float(match.group(1)) * UNITS_S[match.group(2)]


def parse_fault(text: str, now_s: float) -> Fault:
    """Read one fault spec (module docstring); times relative to `now_s`."""
    match = SPEC.match(text.strip())
    if not match:
        raise FaultSpecError(
            f"fault {text!r} must look like KIND:PLANT[/METER][:VALUE][,at=+10m][,for=45m][,x=8], "
            "e.g. stuck:sl-003/stack-1:dmf_mgm3,for=45m"
        )
    kind = match.group("kind")
    if kind not in FAULT_KINDS:
        raise FaultSpecError(f"fault kind {kind!r} is not one of {', '.join(FAULT_KINDS)}")
    options = dict(part.split("=", 1) for part in match.group("options").split(",") if part)
    unknown = set(options) - {"at", "for", "x"}
    if unknown:
        raise FaultSpecError(f"fault {text!r}: unknown option(s) {sorted(unknown)}; use at, for, x")
    start = now_s
    when = options.get("at")
    if when is not None:
        if when.startswith("+"):
            start = now_s + parse_duration(when[1:])
        else:
            try:
                parsed = datetime.fromisoformat(when)
            except ValueError:
                raise FaultSpecError(f"at={when!r} must be +DURATION or an RFC 3339 time") from None
            if parsed.tzinfo is None:
                raise FaultSpecError(f"at={when!r} needs a UTC offset, e.g. +08:00")
            start = parsed.timestamp()
    duration = parse_duration(options["for"]) if "for" in options else DEFAULT_DURATION_S[kind]
    amount = DEFAULT_AMOUNT.get(kind)
    if "x" in options:
        try:
            amount = float(options["x"])
        except ValueError:
            raise FaultSpecError(f"x={options['x']!r} must be a number") from None
    return Fault(
        kind,
        match.group("plant"),
        match.group("meter") or "*",
        start,
        duration,
        match.group("value"),
        amount,
    )


@dataclass(frozen=True, slots=True)
class FaultRates:
    """Random faults per meter (per day unless named per year); 0 switches a kind off."""

    dropout_per_day: float = 0.03
    stuck_per_day: float = 0.01
    spike_per_day: float = 0.02
    reset_per_year: float = 0.5
    replace_per_year: float = 0.3
    skew_per_day: float = 0.005
    outage_per_day: float = 0.02
    duplicate_per_day: float = 0.02
    malformed_per_day: float = 0.01

    @classmethod
    def none(cls) -> FaultRates:
        return cls(**{f.name: 0.0 for f in fields(cls)})

    def with_overrides(self, pairs: Iterable[str]) -> FaultRates:
        """Apply `kind=rate` overrides, e.g. 'dropout=0.2' sets dropout_per_day."""
        current = {f.name: getattr(self, f.name) for f in fields(self)}
        for pair in pairs:
            kind, sep, rate = pair.partition("=")
            name = next((n for n in current if n.split("_per_")[0] == kind), None)
            if not sep or name is None:
                raise FaultSpecError(
                    f"fault rate {pair!r} must be KIND=RATE with KIND one of {', '.join(FAULT_KINDS)}"
                )
            try:
                current[name] = float(rate)
            except ValueError:
                raise FaultSpecError(f"fault rate {pair!r}: {rate!r} is not a number") from None
        return FaultRates(**current)


# (kind, duration range in s) for random faults; durations stay under a day so a block
# only needs the faults of its own and the previous day.
RANDOM_DURATIONS_S = {
    "dropout": (900.0, 4 * 3600.0),
    "stuck": (40 * 60.0, 3 * 3600.0),
    "spike": (0.0, 0.0),
    "reset": (0.0, 0.0),
    "replace": (0.0, 0.0),
    "skew": (3600.0, 12 * 3600.0),
    "outage": (1800.0, 6 * 3600.0),
    "duplicate": (600.0, 3 * 3600.0),
    "malformed": (60.0, 900.0),
}


def random_faults(
    plant: str,
    meter: str,
    meter_kind: str,
    day_start_s: float,
    rates: FaultRates,
    rng: np.random.Generator,
) -> list[Fault]:
    """Faults starting during one day on one meter, drawn at `rates`."""
    out = []
    cumulative = meter_kind in ("gas", "coal", "electricity")
    for kind, (low, high) in RANDOM_DURATIONS_S.items():
        if kind in ("reset", "replace") and not cumulative:
            continue
        if kind == "stuck" and cumulative:
            continue  # a stuck register is a dropout with a jump; the VOC analysers get stuck
        rate = getattr(rates, f"{kind}_per_year", None)
        per_day = rate / 365.0 if rate is not None else getattr(rates, f"{kind}_per_day")
        for _ in range(int(rng.poisson(per_day))):
            start = day_start_s + float(rng.uniform(0, 86_400))
            amount = DEFAULT_AMOUNT.get(kind)
            if kind == "skew":
                amount = float(rng.choice([-1, 1]) * rng.uniform(60, 900))
            elif kind == "replace":
                amount = round(float(rng.uniform(0, 50)), 1)
            elif kind == "spike":
                amount = float(rng.uniform(4, 15))
            out.append(
                Fault(kind, plant, meter, start, float(rng.uniform(low, high)), None, amount)
            )
    return out


@dataclass(frozen=True, slots=True)
class Series:
    """One meter's readings, column-wise; flags hold one-letter HJ 212 flags (missing = N)."""

    plant: str
    meter: str
    times_s: np.ndarray
    values: dict[str, np.ndarray]
    flags: dict[str, np.ndarray] = field(default_factory=dict)

    def take(self, mask: np.ndarray) -> Series:
        return Series(
            self.plant,
            self.meter,
            self.times_s[mask],
            {k: v[mask] for k, v in self.values.items()},
            {k: v[mask] for k, v in self.flags.items()},
        )


@dataclass
class FaultState:
    """What a meter's faults left behind: register offsets, stuck values, spent spikes."""

    offsets: dict[str, float] = field(default_factory=dict)
    stuck: dict[tuple[str, float, str], float] = field(default_factory=dict)
    done: set[tuple[str, float, str]] = field(default_factory=set)


def apply_value_faults(
    series: Series, faults: Sequence[Fault], state: FaultState
) -> tuple[Series, np.ndarray]:
    """The readings the device reports under `faults`, and their (possibly skewed) times.

    `state` carries register offsets and stuck values from earlier blocks and is updated.
    Returns the faulted series (dropped rows removed) with true times replaced by device times.
    """
    t = series.times_s
    values = {k: v.astype(np.float64, copy=True) for k, v in series.values.items()}
    mine = sorted(
        (f for f in faults if f.applies_to(series.plant, series.meter)), key=lambda f: f.start_s
    )
    for name in CUMULATIVE:
        if name not in values:
            continue
        offset = np.full(len(t), state.offsets.get(name, 0.0))
        for f in mine:
            key = (f.kind, f.start_s, name)
            if f.kind not in ("reset", "replace") or key in state.done:
                continue
            hit = np.nonzero(t >= f.start_s)[0]
            if not len(hit):
                continue
            first = int(hit[0])
            new = -float(values[name][first]) + ((f.amount or 0.0) if f.kind == "replace" else 0.0)
            offset[first:] = new
            state.offsets[name] = new
            state.done.add(key)
        values[name] = np.round(values[name] + offset, 3)
    keep = np.ones(len(t), dtype=bool)
    device_t = t.astype(np.float64, copy=True)
    for f in mine:
        inside = (t >= f.start_s) & (t < f.end_s)
        if f.kind == "stuck":
            for name in [f.value] if f.value else list(values):
                if name not in values or not inside.any():
                    continue
                held = (f.meter, f.start_s, name)
                if held not in state.stuck:
                    state.stuck[held] = float(values[name][np.argmax(inside)])
                values[name] = np.where(inside, state.stuck[held], values[name])
        elif f.kind == "spike":
            hit = np.nonzero(t >= f.start_s)[0]
            # Without a value name the first value spikes: the register, or NMHC on a stack.
            name = f.value or next(iter(values))
            key = ("spike", f.start_s, name)
            if len(hit) and key not in state.done and name in values:
                state.done.add(key)
                values[name][hit[0]] *= f.amount or DEFAULT_AMOUNT["spike"]
        elif f.kind == "dropout":
            keep &= ~inside
        elif f.kind == "skew":
            device_t = np.where(inside, device_t + (f.amount or 0.0), device_t)
    faulted = Series(series.plant, series.meter, t, values, dict(series.flags))
    return faulted.take(keep), device_t[keep]
