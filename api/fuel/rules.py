"""The fuel rules of SPEC section 6, pure: steps, coverage, firm status, share, conversions.

No I/O and no settings import: thresholds come in as any object with the attributes of
`Definition` (the API passes its `KpiDefinition`).

**Steps.** Consumption over an interval is the sum of the register's steps whose *later*
reading lies in the interval, so intervals add up. A step bridging more than `max_gap`
of silence (`silence`) counts in no interval; otherwise a drop starts a new baseline (a
`reset`, recorded, counts 0) and a step faster than the plausible rate (`implausible`,
recorded) counts in no interval. `step_kind`
is the rule for one step; `interval_sums` applies it to a series of raw readings and
`hourly_sums` to every hour at once (the rollup job and the raw edges of a window use
these). The `StepSums` requests of `api.fuel.queries` compute the same sums inside the store for long
raw stretches (tests prove them equal on literal tables and on generated data with resets,
jumps, gaps and late backfill).

**Manual readings.** A reading flagged `S` is an entry of a ledger kept by hand (coal
deliveries an officer records for a firm without a weighing meter, `api.records.manual`):
the step into it counts in the interval of that reading whatever the silence before it and
at any rate (a drop is still a reset). Hand entries come days apart and a delivery is a
jump by nature; the ledger itself is the officer's word. Readers must therefore give such a
reading its true predecessor, however far back (`api.fuel.queries`).

**Coverage** is the share of the interval's clock hours in which the meter reported; a
meter kept by hand is judged by its records instead (`manual_coverage`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

import numpy as np

from ingest.kernel.catalogue import FIRM_STATUSES, REGISTER_BY_KIND

STATUSES = tuple(FIRM_STATUSES)
REGISTERS = {kind: REGISTER_BY_KIND[kind] for kind in ("gas", "coal")}
HOUR = timedelta(hours=1)
HOUR_MS = 3_600_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
COUNTED, RESET, IMPLAUSIBLE, SILENCE = "counted", "reset", "implausible", "silence"
COAL_REMOVED = "coal_removed"
MANUAL_METER = "manual_meter"
MANUAL_FLAG = "S"  # HJ 212 flag of a reading entered by hand


class Definition(Protocol):
    """The KPI's factors and thresholds (the API's `KpiDefinition` has these attributes)."""

    window_days: float
    gas_kgce_per_m3: float
    coal_kgce_per_kg: float
    gas_status_min_fraction: float
    coal_status_max_fraction: float
    max_silent_fraction: float
    co2_kg_per_kg_coal: float
    co2_kg_per_m3_gas: float


@dataclass(frozen=True, slots=True)
class StepRules:
    """Which register steps count: the plausible rate per fuel kind and the longest silence."""

    max_per_hour: Mapping[str, float]  # kind -> plausible maximum rate (m³/h gas, kg/h coal)
    max_gap: timedelta

    @classmethod
    def from_registers(
        cls, max_rate_per_register: Mapping[str, float], max_gap: timedelta
    ) -> StepRules:
        """From the one plausible-rate setting, keyed by register (`volume_m3`, `mass_kg`)."""
        return cls({k: float(max_rate_per_register[r]) for k, r in REGISTERS.items()}, max_gap)


# ---- steps ---------------------------------------------------------------------------------


def step_kind(
    previous_ms: int,
    previous: float,
    ts_ms: int,
    value: float,
    max_per_hour: float,
    max_gap_ms: int,
    manual: bool = False,
) -> str:
    """What one step between successive readings is: counted, reset, implausible or silence.

    Silence is judged first: nothing is known about a register across a long silence, not
    even whether a drop in it was a reset. A step into a `manual` reading (flag S) is
    exempt from silence and rate: it counts, or is a reset.
    """
    if manual:
        return RESET if value < previous else COUNTED
    gap_ms = ts_ms - previous_ms
    if gap_ms > max_gap_ms:
        return SILENCE
    if value < previous:
        return RESET
    if (value - previous) / (gap_ms / HOUR_MS) > max_per_hour:
        return IMPLAUSIBLE
    return COUNTED


@dataclass(frozen=True, slots=True)
class Sums:
    """One meter over one interval: what the rollups store and every figure adds up."""

    consumption: float = 0.0
    readings: int = 0
    hours: int = 0  # clock hours of the interval in which the meter reported
    resets: int = 0
    implausible_steps: int = 0

    def __add__(self, other: Sums) -> Sums:
        return Sums(
            self.consumption + other.consumption,
            self.readings + other.readings,
            self.hours + other.hours,
            self.resets + other.resets,
            self.implausible_steps + other.implausible_steps,
        )


def step_sums(kind: str, step: float) -> Sums:
    """What one step of `kind` adds to the sums of the interval holding its later reading."""
    if kind == COUNTED:
        return Sums(consumption=step)
    if kind == RESET:
        return Sums(resets=1)
    if kind == IMPLAUSIBLE:
        return Sums(implausible_steps=1)
    return Sums()


def manual_correction(
    previous_ms: int,
    previous: float,
    ts_ms: int,
    value: float,
    max_per_hour: float,
    max_gap_ms: int,
) -> Sums:
    """What the manual rule adds to the metered rule for a step into a reading flagged S.

    For sums computed inside InfluxDB, which cannot see flags: added to them, they equal
    the rule applied with the flag (`interval_sums` with `manual`).
    """
    step = value - previous
    want = step_sums(
        step_kind(previous_ms, previous, ts_ms, value, max_per_hour, max_gap_ms, True), step
    )
    got = step_sums(step_kind(previous_ms, previous, ts_ms, value, max_per_hour, max_gap_ms), step)
    return Sums(
        want.consumption - got.consumption,
        0,
        0,
        want.resets - got.resets,
        want.implausible_steps - got.implausible_steps,
    )


def manual_mask(manual: Sequence[bool] | np.ndarray | None, n: int) -> np.ndarray:
    """Per reading: flagged S (entered by hand); all False when not given."""
    return np.zeros(n, dtype=bool) if manual is None else np.asarray(manual, dtype=bool)


def interval_sums(
    ts_ms: Sequence[int] | np.ndarray,
    values: Sequence[float] | np.ndarray,
    start_ms: int,
    end_ms: int,
    max_per_hour: float,
    max_gap_ms: int,
    manual: Sequence[bool] | np.ndarray | None = None,
) -> Sums:
    """The rule applied to one meter's raw readings (any order, one value per time) over [start, end).

    `manual`: per reading, flagged S (the step into it follows the manual rule).
    """
    t = np.asarray(ts_ms, dtype=np.int64)
    per_series = series_interval_sums(
        np.zeros(len(t), dtype=np.int64), t, values, 1, start_ms, end_ms, max_per_hour,
        max_gap_ms, manual,
    )  # fmt: skip
    return per_series.sums(0)


@dataclass(frozen=True, slots=True)
class SeriesSums:
    """`Sums` of many series at once, one array element per series index."""

    consumption: np.ndarray
    readings: np.ndarray
    hours: np.ndarray
    resets: np.ndarray
    implausible_steps: np.ndarray

    def sums(self, index: int) -> Sums:
        return Sums(
            float(self.consumption[index]),
            int(self.readings[index]),
            int(self.hours[index]),
            int(self.resets[index]),
            int(self.implausible_steps[index]),
        )


def series_interval_sums(
    series: np.ndarray,
    ts_ms: Sequence[int] | np.ndarray,
    values: Sequence[float] | np.ndarray,
    n_series: int,
    start_ms: int,
    end_ms: int,
    max_per_hour: float,
    max_gap_ms: int,
    manual: Sequence[bool] | np.ndarray | None = None,
) -> SeriesSums:
    """`interval_sums` of many meters' readings at once: reading i belongs to series
    `series[i]` (0 .. n_series - 1); readings in any order, one value per series and time."""
    sid = np.asarray(series, dtype=np.int64)
    t = np.asarray(ts_ms, dtype=np.int64)
    v = np.asarray(values, dtype=np.float64)
    order = np.lexsort((t, sid))
    sid, t, v, by_hand = sid[order], t[order], v[order], manual_mask(manual, len(t))[order]
    inside = (t >= start_ms) & (t < end_ms)
    # a step belongs to the interval of its later reading, and only within one series
    later = inside[1:] & (sid[1:] == sid[:-1])
    dv, dt = np.diff(v), np.diff(t)
    reset = dv < 0
    into_manual = by_hand[1:]
    bridged = (dt <= max_gap_ms) | into_manual
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(dt > 0, dv / (dt / HOUR_MS), np.inf)
    plausible = (rate <= max_per_hour) | into_manual
    counted = later & ~reset & bridged & plausible
    implausible = later & ~reset & bridged & ~plausible
    step_sid = sid[1:]
    # clock hours with a reading: the first reading inside of each (series, hour)
    in_sid, in_hour = sid[inside], t[inside] // HOUR_MS
    first = np.ones(len(in_sid), dtype=bool)
    first[1:] = (in_sid[1:] != in_sid[:-1]) | (in_hour[1:] != in_hour[:-1])
    return SeriesSums(
        np.bincount(step_sid[counted], weights=dv[counted], minlength=n_series),
        np.bincount(in_sid, minlength=n_series),
        np.bincount(in_sid[first], minlength=n_series),
        np.bincount(step_sid[later & reset & bridged], minlength=n_series),
        np.bincount(step_sid[implausible], minlength=n_series),
    )


def hourly_sums(
    ts_ms: np.ndarray,
    values: np.ndarray,
    start_ms: int,
    end_ms: int,
    max_per_hour: float,
    max_gap_ms: int,
    manual: Sequence[bool] | np.ndarray | None = None,
) -> dict[int, Sums]:
    """`interval_sums` for every clock hour of [start, end) at once (hour start ms -> sums).

    `ts_ms` sorted, one value per time; readings before `start_ms` only give predecessors.
    """
    t = np.asarray(ts_ms, dtype=np.int64)
    v = np.asarray(values, dtype=np.float64)
    inside = (t >= start_ms) & (t < end_ms)
    if not inside.any():
        return {}
    into_manual = manual_mask(manual, len(t))[1:]
    dv, dt = np.diff(v), np.diff(t)
    bridged = (dt <= max_gap_ms) | into_manual
    reset = (dv < 0) & bridged
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(dt > 0, dv / (dt / HOUR_MS), np.inf)
    plausible = (rate <= max_per_hour) | into_manual
    later = inside[1:]
    counted = later & bridged & (dv >= 0) & plausible
    implausible = later & bridged & (dv >= 0) & ~plausible
    hours_all = t // HOUR_MS
    first = int(hours_all[inside].min())
    index = hours_all - first
    n = int(index[inside].max()) + 1
    step_index = np.where(later, index[1:], 0)
    consumption = np.bincount(step_index[counted], weights=dv[counted], minlength=n)
    readings = np.bincount(index[inside], minlength=n)
    resets = np.bincount(step_index[later & reset], minlength=n)
    jumps = np.bincount(step_index[implausible], minlength=n)
    return {
        int(first + h) * HOUR_MS: Sums(
            float(consumption[h]), int(readings[h]), 1, int(resets[h]), int(jumps[h])
        )
        for h in np.flatnonzero(readings)
    }


# ---- hours and coverage ----------------------------------------------------------------------


def floor_hour(ts: datetime) -> datetime:
    return EPOCH + (ts - EPOCH) // HOUR * HOUR


def hours_in(start: datetime, end: datetime) -> int:
    """Clock hours that [start, end) touches (a window ending at 10:37 includes the 10:00 hour)."""
    if end <= start:
        return 0
    last = floor_hour(end) + (HOUR if end != floor_hour(end) else timedelta(0))
    return (last - floor_hour(start)) // HOUR


def coverage(reported_hours: float, hours: int) -> float:
    """Share of the interval's hours in which the meter reported (0 for an empty interval)."""
    return min(1.0, reported_hours / hours) if hours > 0 else 0.0


def manual_coverage(opened: datetime, start: datetime, end: datetime) -> float:
    """Coverage of a meter kept by hand since `opened`: the share of the interval's hours
    from then on (its records are the whole truth about it from its first entry)."""
    return coverage(hours_in(max(start, opened), end), hours_in(start, end))


def month_starts(year: int, tz: ZoneInfo) -> list[datetime]:
    """The 13 local month boundaries of `year` (Jan 1 .. next Jan 1), as UTC."""
    out = []
    for index in range(13):
        y, m = year + index // 12, index % 12 + 1
        out.append(datetime(y, m, 1, tzinfo=tz).astimezone(UTC))
    return out


# ---- conversion facts -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConversionFact:
    """An officer's record about a firm (SPEC section 6), e.g. its coal boiler removed on a date."""

    plant: str
    kind: str  # "coal_removed" (removed or sealed), "manual_meter" (kept by hand since `at`)
    at: datetime
    meter: str = ""


def coal_removed_by(facts: Iterable[ConversionFact], plant: str, start: datetime) -> bool:
    """True when the firm's coal boiler was recorded removed at or before `start` of the window.

    A removal inside the window does not count yet: coal burnt before it, by a firm
    without a weighing meter, is not known.
    """
    return any(f.plant == plant and f.kind == COAL_REMOVED and f.at <= start for f in facts)


def manual_coverages(
    facts: Iterable[ConversionFact], plant: str, start: datetime, end: datetime
) -> dict[str, float]:
    """meter -> coverage over [start, end) of each of the firm's meters kept by hand."""
    opened: dict[str, datetime] = {}
    for f in facts:
        if f.plant == plant and f.kind == MANUAL_METER:
            opened[f.meter] = min(f.at, opened.get(f.meter, f.at))
    return {meter: manual_coverage(at, start, end) for meter, at in opened.items()}


def kept_by_hand(facts: Iterable[ConversionFact]) -> set[tuple[str, str]]:
    """(plant, meter) of every meter kept by hand: it reports when coal is delivered, so its
    silence between deliveries is not a meter gone offline."""
    return {(f.plant, f.meter) for f in facts if f.kind == MANUAL_METER}


# ---- firm status and the county's share ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class FirmFuel:
    """What the store says about one firm over the window."""

    plant: str
    name: str
    gas_m3: float | None  # None: no gas meter in the registry
    coal_kg: float | None
    gas_coverage: float  # share of the window's hours with data from the gas meter(s)
    coal_coverage: float
    coal_removed: bool = False  # a recorded removal before the window: judged on gas alone


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
    gas_coverage: float = 0.0
    coal_coverage: float = 0.0


@dataclass(frozen=True, slots=True)
class GasShare:
    goal: float
    firms: int
    counts: dict[str, int]
    share: float | None
    share_upper: float | None
    firms_needed: int
    meets_goal: bool
    rows: tuple[FirmRow, ...] = field(default=())

    @property
    def has_data(self) -> bool:
        """Some firm is known (not every one `unknown`): a month without is a gap, not 0 %."""
        return self.counts["unknown"] < self.firms

    def as_dict(self) -> dict[str, object]:
        """As `dataclasses.asdict`, without its deep copies (a row holds only plain values)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        rows = [{f.name: getattr(r, f.name) for f in fields(r)} for r in self.rows]
        return {**out, "counts": dict(self.counts), "rows": rows}


def status_of(fraction: float, d: Definition) -> str:
    """gas / mixed / coal by the gas fraction, compared at 9 decimals (no float-noise flips)."""
    rounded = round(fraction, 9)
    if rounded >= d.gas_status_min_fraction:
        return "gas"
    if rounded <= d.coal_status_max_fraction:
        return "coal"
    return "mixed"


def classify(fuel: FirmFuel, d: Definition) -> FirmRow:
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
    # After a recorded coal removal the coal side is no longer needed to judge the firm.
    coal_needed = not fuel.coal_removed
    gas_silent = fuel.gas_coverage < min_coverage
    coal_silent = coal_needed and fuel.coal_coverage < min_coverage
    reason = ""
    fraction: float | None = None
    if fuel.gas_m3 is None or (fuel.coal_kg is None and coal_needed):
        status = "unknown"
        reason = "gas or coal meter missing from the registry"
    elif gas_silent or coal_silent:
        status = "unknown"
        silent = "gas" if gas_silent else "coal"
        covered = fuel.gas_coverage if gas_silent else fuel.coal_coverage
        reason = f"{silent} meter silent for {100 * (1 - covered):.0f}% of the window"
    elif gas_kgce + coal_kgce <= 0:
        status = "idle"
        reason = "meters report but no fuel was used"
    else:
        fraction = gas_kgce / (gas_kgce + coal_kgce)
        status = status_of(fraction, d)
        if fuel.coal_removed:
            reason = "coal boiler recorded removed: judged on gas (and any coal metered)"
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
        fuel.gas_coverage,
        fuel.coal_coverage,
    )


def firms_needed(goal: float, active: int, on_gas: int) -> int:
    """Firms still to convert: max(0, ceil(goal × active) − on gas)."""
    # round() guards ceil against float noise such as 0.5 * 6 = 3.0000000000000004
    return max(0, math.ceil(round(goal * active, 9)) - on_gas)


def gas_share(fuels: Sequence[FirmFuel], goal: float, d: Definition) -> GasShare:
    """The county's share of stainless-steel firms on gas, against `goal`."""
    return share_of(tuple(classify(f, d) for f in fuels), goal)


def share_of(rows: Sequence[FirmRow], goal: float) -> GasShare:
    """The share of the firms of `rows` (already judged) on gas, against `goal`: the figure
    of a county, or of one county of a province from its rows."""
    rows = tuple(rows)
    counts = {s: sum(r.status == s for r in rows) for s in STATUSES}
    active = len(rows) - counts["idle"]
    share = counts["gas"] / active if active else None
    share_upper = (counts["gas"] + counts["unknown"]) / active if active else None
    return GasShare(
        goal,
        len(rows),
        counts,
        share,
        share_upper,
        firms_needed(goal, active, counts["gas"]),
        share is not None and share >= goal,
        rows,
    )


@dataclass(frozen=True, slots=True)
class Firm:
    """A firm as the rules see it: its id, name and its gas and coal meter ids."""

    plant: str
    name: str
    gas_meters: tuple[str, ...]
    coal_meters: tuple[str, ...]


MeterSums = Mapping[tuple[str, str, str], Sums]  # (kind, plant, meter) -> sums


def firm_fuel(
    firm: Firm,
    sums: MeterSums,
    hours: int,
    coal_removed: bool = False,
    by_hand: Mapping[str, float] | None = None,
) -> FirmFuel:
    """A firm's gas m³, coal kg and coverage from its meters' sums over a window of `hours`.

    `by_hand`: meter -> coverage of the meters kept by hand (`manual_coverages`), which
    replaces their reported hours."""
    by_hand = by_hand or {}
    used: dict[str, float | None] = {}
    covered: dict[str, float] = {}
    for kind, meters in (("gas", firm.gas_meters), ("coal", firm.coal_meters)):
        if not meters:
            used[kind], covered[kind] = None, 0.0
            continue
        found = [sums.get((kind, firm.plant, m), Sums()) for m in meters]
        used[kind] = sum(s.consumption for s in found)
        # A firm is only as well covered as its least-reporting meter of that fuel.
        covered[kind] = min(
            by_hand[m] if m in by_hand else coverage(s.hours, hours)
            for m, s in zip(meters, found, strict=True)
        )
    return FirmFuel(
        firm.plant,
        firm.name,
        used["gas"],
        used["coal"],
        covered["gas"],
        covered["coal"],
        coal_removed,
    )
