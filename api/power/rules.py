"""Treatment runs when production runs (SPEC section 13), as pure functions over numpy arrays.

Everything here works on **15-minute mean power** per meter, on quarter hours aligned to UTC
(`BUCKET_MS`): from `power_kw` it is the mean of the bucket's readings; a meter that sends
only its `energy_kwh` register gets the bucket's consumption by the one consumption rule
(`api.fuel.rules.interval_sums`) divided by a quarter hour (`bucket_power_from_energy`).

- `learn_rated_kw`: the meter's rated power when the registry gives none: among 15-minute
  means of at least `RATED_MIN_KW`, those above their mean; the most frequent of them
  (grouped at `rated_resolution_kw`; the mean of that group), ties to the higher.
- `line_buckets`: per bucket of one line, producing (a production meter ≥ 20 % of its rated
  power) and treatment not running (every treatment meter < 10 % of its rated power, all
  of them reporting). A bucket both is 15 sustained minutes out of sync.
- `periods`: runs of out-of-sync buckets, what the page marks and the report counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from api.fuel.rules import interval_sums

BUCKET_MS = 15 * 60_000
BUCKET_HOURS = BUCKET_MS / 3_600_000
RATED_MIN_KW = 0.2  # readings under this are left out of the rated-power learning
RATED_WINDOW_DAYS = 60
PRODUCING_SHARE = 0.2  # a production meter at ≥ 20 % of its rated power: the line produces
RUNNING_SHARE = 0.1  # a treatment meter under 10 % of its rated power: not running
# Means are rounded before the mode is taken: 2 % of the mean of the kept means, ≥ 0.1 kW.
RATED_RESOLUTION_SHARE = 0.02
RATED_RESOLUTION_MIN_KW = 0.1

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


def rated_resolution_kw(kept_mean_kw: float) -> float:
    """The width to which 15-minute means are rounded before counting the most frequent."""
    return max(RATED_RESOLUTION_MIN_KW, RATED_RESOLUTION_SHARE * kept_mean_kw)


def learn_rated_kw(means_kw: npt.ArrayLike) -> float | None:
    """The most frequent 15-minute mean power among those above the mean (< 0.2 kW left out).

    `means_kw`: the meter's 15-minute means over the trailing window (NaN where none).
    None when nothing is left to learn from.
    """
    values = np.asarray(means_kw, dtype=np.float64)
    kept = values[np.isfinite(values) & (values >= RATED_MIN_KW)]
    if kept.size == 0:
        return None
    mean = float(kept.mean())
    above = kept[kept > mean]
    if above.size == 0:
        above = kept  # every kept mean is equal: that is the rating
    step = rated_resolution_kw(mean)
    level = np.round(above / step).astype(np.int64)
    levels, counts = np.unique(level, return_counts=True)
    best = levels[np.flatnonzero(counts == counts.max())[-1]]
    # The rating is the mean of the means at the most frequent level, not the level's edge.
    return float(above[level == best].mean())


def bucket_grid(start_ms: int, end_ms: int) -> IntArray:
    """Starts of the quarter hours covering [start, end)."""
    first = start_ms - start_ms % BUCKET_MS
    return np.arange(first, end_ms, BUCKET_MS, dtype=np.int64)


def bucket_power_from_energy(
    ts_ms: npt.ArrayLike,
    energy_kwh: npt.ArrayLike,
    grid_ms: IntArray,
    max_kw: float,
    max_gap_ms: int,
) -> FloatArray:
    """Mean kW per bucket from register readings, by the one consumption rule; NaN where silent.

    A bucket's kWh is the sum of the register's counted steps whose later reading lies in it
    (`interval_sums`); a bucket without a reading has no power (not zero).
    """
    t = np.asarray(ts_ms, dtype=np.int64)
    v = np.asarray(energy_kwh, dtype=np.float64)
    order = np.argsort(t, kind="stable")
    t, v = t[order], v[order]
    out = np.full(grid_ms.size, np.nan)
    first = np.searchsorted(t, grid_ms)
    last = np.searchsorted(t, grid_ms + BUCKET_MS)
    for i in np.flatnonzero(last > first).tolist():
        # the bucket's readings and the one before them: all the rule needs (O(n) in all)
        lo, hi = max(int(first[i]) - 1, 0), int(last[i])
        start = int(grid_ms[i])
        sums = interval_sums(t[lo:hi], v[lo:hi], start, start + BUCKET_MS, max_kw, max_gap_ms)
        out[i] = sums.consumption / BUCKET_HOURS
    return out


@dataclass(frozen=True, slots=True)
class MeterPower:
    """One meter's 15-minute mean power on the line's grid, and its rated power."""

    meter: str
    facility: str  # production | treatment
    power_kw: FloatArray  # NaN where the meter sent nothing
    rated_kw: float | None
    rated_learned: bool = False


@dataclass(frozen=True, slots=True)
class LineBuckets:
    """Per bucket of one line: producing, treatment not running, and both (out of sync)."""

    plant: str
    line: str
    grid_ms: IntArray
    producing: BoolArray
    not_running: BoolArray
    meters: tuple[MeterPower, ...] = ()

    @property
    def out_of_sync(self) -> BoolArray:
        return self.producing & self.not_running


def _shares(meters: Sequence[MeterPower], n: int) -> list[FloatArray]:
    out = []
    for m in meters:
        if m.rated_kw is None or m.rated_kw <= 0:
            continue  # no rating, no judgement of this meter
        out.append(m.power_kw / m.rated_kw if m.power_kw.size else np.full(n, np.nan))
    return out


def line_buckets(
    plant: str, line: str, grid_ms: IntArray, meters: Sequence[MeterPower]
) -> LineBuckets:
    """Producing and not-running per bucket of one line (the rule of SPEC section 13).

    Producing: any production meter ≥ 20 % of its rating. Not running: the line has a rated
    treatment meter and every one of them reported under 10 % of its rating (a silent
    treatment meter is `meter_offline`'s concern, not evidence that treatment stopped).
    """
    n = grid_ms.size
    production = _shares([m for m in meters if m.facility == "production"], n)
    treatment = _shares([m for m in meters if m.facility == "treatment"], n)
    producing = np.zeros(n, dtype=bool)
    with np.errstate(invalid="ignore"):
        for share in production:
            producing |= np.isfinite(share) & (np.round(share, 9) >= PRODUCING_SHARE)
        not_running = np.full(n, bool(treatment))
        for share in treatment:
            not_running &= np.isfinite(share) & (np.round(share, 9) < RUNNING_SHARE)
    return LineBuckets(plant, line, grid_ms, producing, not_running, tuple(meters))


@dataclass(frozen=True, slots=True)
class Period:
    """Out of sync from `start_ms` to `end_ms` (whole buckets)."""

    start_ms: int
    end_ms: int

    @property
    def minutes(self) -> float:
        return (self.end_ms - self.start_ms) / 60_000


def periods(grid_ms: IntArray, flags: BoolArray) -> list[Period]:
    """Runs of consecutive flagged buckets as periods."""
    out: list[Period] = []
    if grid_ms.size == 0:
        return out
    padded = np.concatenate([[False], np.asarray(flags, dtype=bool), [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    for begin, end in zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True):
        out.append(Period(int(grid_ms[begin]), int(grid_ms[end - 1]) + BUCKET_MS))
    return out


def latest_complete(grid_ms: IntArray, now_ms: int) -> int | None:
    """Index of the latest bucket that has ended by `now` (None if none has)."""
    ended = np.flatnonzero(grid_ms + BUCKET_MS <= now_ms)
    return int(ended[-1]) if ended.size else None


def facility_kw(line: LineBuckets, facility: str, index: int) -> tuple[float | None, float | None]:
    """(power kW at bucket `index`, rated kW) summed over the line's meters of a facility."""
    meters = [m for m in line.meters if m.facility == facility]
    powers = [float(m.power_kw[index]) for m in meters if np.isfinite(m.power_kw[index])]
    rated = [m.rated_kw for m in meters if m.rated_kw is not None]
    return (sum(powers) if powers else None), (sum(rated) if rated else None)
