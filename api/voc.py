"""VOC compliance (SPEC section 7) as pure functions over numpy arrays.

HJ 212-2017 Appendix D averaging: a minute mean is the mean of the minute's valid (flag `N`)
readings; an hourly mean is the mean of the hour's valid minute means and exists only when
at least `MIN_VALID_MINUTES` minutes are valid, otherwise the hour is `insufficient` (never a
pass). An hour that has not ended yet is `pending`. Limits are GB 21902-2008 Table 5, with
per-stack overrides from the registry (`limits`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
MIN_VALID_MINUTES = 45
FLOW_FIELD = "flow_m3h"
# GB 21902-2008 Table 5 (synthetic leather, new sources), mg/m³; NMHC stands in for VOCs.
DEFAULT_LIMITS_MGM3: Mapping[str, float] = {
    "dmf_mgm3": 50.0,
    "benzene_mgm3": 2.0,
    "toluene_mgm3": 30.0,
    "xylene_mgm3": 40.0,
    "nmhc_mgm3": 200.0,
}
POLLUTANTS = tuple(DEFAULT_LIMITS_MGM3)
LIMIT_STANDARD = "GB 21902-2008 Table 5"
EMISSION_KG_PER_MG = 1e-6

VALID, INSUFFICIENT, PENDING = "valid", "insufficient", "pending"

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Limit:
    pollutant: str
    limit_mgm3: float
    source: str  # LIMIT_STANDARD or "registry"


@dataclass(frozen=True, slots=True)
class HourlyMeans:
    """Per-hour results for one value of one stack; arrays have one entry per hour."""

    hour_start_ms: IntArray
    valid_minutes: IntArray
    mean: FloatArray  # NaN unless the hour is valid
    status: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PollutantCompliance:
    limit: Limit
    hours: HourlyMeans
    flow_m3h: FloatArray  # hourly mean flow, NaN unless the flow's hour is valid
    exceeds: npt.NDArray[np.bool_]
    emission_kgh: FloatArray  # NaN unless both the pollutant's and the flow's hour are valid

    def counts(self) -> dict[str, int]:
        """Valid, insufficient, pending and exceeding hours."""
        status = np.asarray(self.hours.status)
        return {
            "hours": len(status),
            VALID: int(np.sum(status == VALID)),
            INSUFFICIENT: int(np.sum(status == INSUFFICIENT)),
            PENDING: int(np.sum(status == PENDING)),
            "exceeding": int(np.sum(self.exceeds)),
        }


def limits_for(overrides: Mapping[str, float]) -> dict[str, Limit]:
    """The limit of every pollutant for a stack: Table 5 defaults, registry overrides on top."""
    out = {p: Limit(p, float(v), LIMIT_STANDARD) for p, v in DEFAULT_LIMITS_MGM3.items()}
    for pollutant, value in overrides.items():
        out[pollutant] = Limit(pollutant, float(value), "registry")
    return out


def minute_means(
    ts_ms: IntArray, values: FloatArray, valid: npt.NDArray[np.bool_]
) -> tuple[IntArray, FloatArray]:
    """Minute starts and means of the valid readings; minutes without one are left out."""
    keep = valid & np.isfinite(values)
    ts = np.asarray(ts_ms, dtype=np.int64)[keep]
    vals = np.asarray(values, dtype=np.float64)[keep]
    if ts.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
    minute = ts - ts % MINUTE_MS
    starts, index = np.unique(minute, return_inverse=True)
    sums = np.bincount(index, weights=vals)
    counts = np.bincount(index)
    return starts.astype(np.int64), sums / counts


def hourly_means(
    minute_start_ms: IntArray,
    minute_mean: FloatArray,
    first_hour_ms: int,
    n_hours: int,
    now_ms: int,
    min_valid_minutes: int = MIN_VALID_MINUTES,
) -> HourlyMeans:
    """Hourly means of minute means under the 45-valid-minute rule, for `n_hours` from `first_hour_ms`."""
    if first_hour_ms % HOUR_MS:
        raise ValueError("first_hour_ms must be on a whole hour")
    starts = first_hour_ms + HOUR_MS * np.arange(n_hours, dtype=np.int64)
    minutes = np.asarray(minute_start_ms, dtype=np.int64)
    means = np.asarray(minute_mean, dtype=np.float64)
    keep = (
        np.isfinite(means)
        & (minutes >= first_hour_ms)
        & (minutes < first_hour_ms + n_hours * HOUR_MS)
    )
    # A minute counts once even if a caller passes duplicates: its first mean is used.
    minutes, first = np.unique(minutes[keep] - minutes[keep] % MINUTE_MS, return_index=True)
    means = means[keep][first]
    index = (minutes - first_hour_ms) // HOUR_MS
    counts = np.bincount(index, minlength=n_hours).astype(np.int64)
    sums = np.bincount(index, weights=means, minlength=n_hours)
    ended = starts + HOUR_MS <= now_ms
    valid = ended & (counts >= min_valid_minutes)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(valid, sums / np.maximum(counts, 1), np.nan)
    status = tuple(
        VALID if ok else (PENDING if not done else INSUFFICIENT)
        for ok, done in zip(valid.tolist(), ended.tolist(), strict=True)
    )
    return HourlyMeans(starts, counts, mean, status)


def exceeds_limit(mean_mgm3: FloatArray, limit_mgm3: float) -> npt.NDArray[np.bool_]:
    """True where a valid hourly mean is above its limit (NaN never exceeds)."""
    # Rounded to 9 decimals so a mean exactly on the limit is not pushed over by float noise.
    with np.errstate(invalid="ignore"):
        return np.isfinite(mean_mgm3) & (np.round(mean_mgm3, 9) > limit_mgm3)


def emission_rate_kgh(concentration_mgm3: FloatArray, flow_m3h: FloatArray) -> FloatArray:
    """Emission rate kg/h = concentration mg/m³ × flow m³/h × 10⁻⁶ (NaN where either is NaN)."""
    return np.asarray(concentration_mgm3, dtype=np.float64) * flow_m3h * EMISSION_KG_PER_MG


def pollutant_compliance(
    limit: Limit, hours: HourlyMeans, flow_hours: HourlyMeans
) -> PollutantCompliance:
    """Combine one pollutant's hours with the stack's flow hours and its limit."""
    if not np.array_equal(hours.hour_start_ms, flow_hours.hour_start_ms):
        raise ValueError("pollutant and flow hours must cover the same hours")
    return PollutantCompliance(
        limit,
        hours,
        flow_hours.mean,
        exceeds_limit(hours.mean, limit.limit_mgm3),
        emission_rate_kgh(hours.mean, flow_hours.mean),
    )


def hour_range(start_ms: int, end_ms: int) -> tuple[int, int]:
    """The whole hours covering [start, end): first hour start and the number of hours."""
    first = start_ms - start_ms % HOUR_MS
    last = -(-end_ms // HOUR_MS) * HOUR_MS
    return first, max(0, (last - first) // HOUR_MS)


@dataclass(frozen=True, slots=True)
class StackCompliance:
    plant: str
    meter: str
    flow_hours: HourlyMeans
    pollutants: tuple[PollutantCompliance, ...]


MinuteSeries = tuple[IntArray, FloatArray]


def stack_compliance(
    plant: str,
    meter: str,
    minutes: Mapping[str, MinuteSeries],
    overrides: Mapping[str, float],
    first_hour_ms: int,
    n_hours: int,
    now_ms: int,
) -> StackCompliance:
    """Every limited pollutant of one stack: hourly means, validity, exceedance, emission rate."""
    empty: MinuteSeries = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64))

    def hours_of(field: str) -> HourlyMeans:
        return hourly_means(*minutes.get(field, empty), first_hour_ms, n_hours, now_ms)

    flow = hours_of(FLOW_FIELD)
    pollutants = tuple(
        pollutant_compliance(limit, hours_of(name), flow)
        for name, limit in limits_for(overrides).items()
    )
    return StackCompliance(plant, meter, flow, pollutants)
