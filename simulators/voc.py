"""Synthetic-leather stacks: VOC analyser readings that follow production (pure generator).

While the coating and drying lines run, DMF (the PU solvent), NMHC and the aromatics rise
with production; when they stop, the fan idles and the analyser sees near-ambient air
(flag F). Exceedance episodes, maintenance (flag M) and the daily zero/span calibration
(flag C) are drawn per block from the Generator passed in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from ingest.kernel.limits import DEFAULT_PROCESS, resolve_limits
from simulators.calendar import local_hour, production_on

POLLUTANTS = ("nmhc_mgm3", "dmf_mgm3", "benzene_mgm3", "toluene_mgm3", "xylene_mgm3")
# What the simulated stacks are built for: the one limit table's column of a stack that
# declares no process (ingest.kernel.limits, GB 21902-2008 Table 5), mg/m³.
DEFAULT_LIMITS_MGM3: Mapping[str, float] = MappingProxyType(
    {p: lim.limit_mgm3 for p, lim in resolve_limits(DEFAULT_PROCESS).items() if p in POLLUTANTS}
)
PARTICULATE = "particulate_mgm3"
STATE_VALUES = ("flow_m3h", "temp_c", "pressure_kpa", "humidity_pct", "o2_pct")
VOC_VALUES = (*POLLUTANTS, "thc_mgm3", *STATE_VALUES)
# Near-ambient concentrations seen while the line is stopped, mg/m³
AMBIENT_MGM3 = {
    "nmhc_mgm3": 2.5,
    "dmf_mgm3": 0.4,
    "benzene_mgm3": 0.01,
    "toluene_mgm3": 0.15,
    "xylene_mgm3": 0.1,
}
METHANE_MGM3 = 1.3  # THC = NMHC + ambient methane
# Span gas of the daily calibration, as a share of each pollutant's limit.
SPAN_SHARE_OF_LIMIT = 0.8
# Which pollutant an exceedance episode drives (DMF and NMHC dominate in PU coating).
EPISODE_WEIGHTS = {
    "dmf_mgm3": 0.4,
    "nmhc_mgm3": 0.3,
    "toluene_mgm3": 0.15,
    "xylene_mgm3": 0.1,
    "benzene_mgm3": 0.05,
}


@dataclass(frozen=True, slots=True)
class StackPlan:
    """How one stack behaves (derived from the seed)."""

    plant: str
    meter: str
    hj212_mn: str | None
    shift: str
    works_sunday: bool
    flow_m3h: float  # flue-gas flow while running (standard, dry)
    base_mgm3: Mapping[str, float]  # running concentrations at full production
    limits_mgm3: Mapping[str, float] = field(default_factory=lambda: DEFAULT_LIMITS_MGM3)
    episodes_per_week: float = 0.7
    maintenance_every_days: float = 30.0
    calibration_hour: float = 2.0  # local hour of the daily zero/span check
    calibration_minutes: float = 15.0
    stack_temp_c: float = 45.0
    # HJ 212: value name -> (code, multiplier from plantwatch's unit to the logger's)
    hj212_codes: Mapping[str, tuple[str, float]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    # HJ 212-2025 SM4 key of its logger (a secret: kept out of repr)
    hj212_sm4_key: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class VocBlock:
    """One block of a stack's readings, column-wise; flags are one-letter HJ 212 flags."""

    times_s: np.ndarray
    values: Mapping[str, np.ndarray]
    flags: Mapping[str, np.ndarray]
    episodes: tuple[tuple[float, float, str], ...] = ()  # (start s, end s, pollutant)


def voc_block(
    plan: StackPlan, times_s: np.ndarray, season_temp_c: float, rng: np.random.Generator
) -> VocBlock:
    """A stack's readings at `times_s` (one local day or less) with flags and episodes."""
    t = np.asarray(times_s, dtype=np.int64)
    n = len(t)
    hour = local_hour(t)
    running = production_on(t, plan.shift, True, plan.works_sunday)
    knots = rng.normal(0.0, 1.0, (len(POLLUTANTS) + 1, 26))
    grid = np.arange(26) - 0.5
    production = np.clip(0.8 + 0.12 * np.interp(hour, grid, knots[-1]), 0.4, 1.1)
    values: dict[str, np.ndarray] = {}
    for i, name in enumerate(POLLUTANTS):
        drift = np.exp(0.15 * np.interp(hour, grid, knots[i]) + rng.normal(0.0, 0.06, n))
        on = plan.base_mgm3[name] * production * drift
        off = AMBIENT_MGM3[name] * np.exp(rng.normal(0.0, 0.2, n))
        values[name] = np.where(running, on, off)
    # Exceedance episodes: a pollutant driven above its limit for a while (solvent
    # recovery or RTO trouble), only while the line runs.
    episodes = []
    start_s, end_s = int(t.min()), int(t.max()) + 1
    names = list(EPISODE_WEIGHTS)
    weights = np.array([EPISODE_WEIGHTS[k] for k in names])
    for _ in range(rng.poisson(plan.episodes_per_week / 7.0 * (end_s - start_s) / 86_400)):
        begin = float(rng.uniform(start_s, end_s))
        length = float(rng.uniform(20, 180)) * 60
        pollutant = names[int(rng.choice(len(names), p=weights / weights.sum()))]
        peak = plan.limits_mgm3.get(pollutant, DEFAULT_LIMITS_MGM3[pollutant]) * rng.uniform(
            1.2, 3.0
        )
        inside = (t >= begin) & (t < begin + length) & running
        if inside.any():
            values[pollutant] = np.where(
                inside, peak * np.exp(rng.normal(0.0, 0.08, n)), values[pollutant]
            )
            episodes.append((begin, begin + length, pollutant))
    values["flow_m3h"] = np.where(
        running,
        plan.flow_m3h * production * (0.97 + 0.03 * rng.standard_normal(n)),
        plan.flow_m3h * 0.08 * (1 + 0.05 * rng.standard_normal(n)),
    )
    values["temp_c"] = np.where(
        running,
        plan.stack_temp_c + rng.normal(0.0, 1.0, n),
        season_temp_c + rng.normal(0.0, 0.5, n),
    )
    values["pressure_kpa"] = (
        101.3 + 0.4 * np.interp(hour, grid, knots[0]) * 0.2 + rng.normal(0, 0.05, n)
    )
    values["humidity_pct"] = np.clip(
        np.where(running, 6.0, 3.0) + rng.normal(0.0, 0.5, n), 0.5, 99.0
    )
    values["o2_pct"] = np.where(running, 19.6, 20.8) + rng.normal(0.0, 0.1, n)
    flags = {name: np.where(running, "N", "F") for name in VOC_VALUES}
    # Daily zero/span check: half zero gas, half span gas, flagged C.
    calibration = (hour >= plan.calibration_hour) & (
        hour < plan.calibration_hour + plan.calibration_minutes / 60.0
    )
    zero_half = hour < plan.calibration_hour + plan.calibration_minutes / 120.0
    for name in POLLUTANTS:
        span = SPAN_SHARE_OF_LIMIT * plan.limits_mgm3.get(name, DEFAULT_LIMITS_MGM3[name])
        values[name] = np.where(calibration, np.where(zero_half, 0.0, span), values[name])
        flags[name] = np.where(calibration, "C", flags[name])
    # Maintenance: the analyser is opened up for a few hours, every value flagged M.
    if rng.random() < (end_s - start_s) / 86_400 / plan.maintenance_every_days:
        begin = float(rng.uniform(start_s, end_s))
        inside = (t >= begin) & (t < begin + rng.uniform(2, 6) * 3600)
        for name in VOC_VALUES:
            if name in POLLUTANTS:
                values[name] = np.where(inside, values[name] * rng.uniform(0.0, 0.3), values[name])
            flags[name] = np.where(inside, "M", flags[name])
    # The THC channel shares the NMHC analyser (and its calibration and maintenance).
    values["thc_mgm3"] = values["nmhc_mgm3"] + METHANE_MGM3 * np.exp(rng.normal(0.0, 0.05, n))
    flags["thc_mgm3"] = flags["nmhc_mgm3"]
    if PARTICULATE in plan.base_mgm3:
        # A PVC line's stack measures particulates too (Table 5 limits them there); drawn
        # last, so every other stack's numbers stay what they were.
        noise = np.exp(rng.normal(0.0, 0.1, n))
        on = plan.base_mgm3[PARTICULATE] * production * noise
        values[PARTICULATE] = np.where(running, on, 0.3 * noise)
        flags[PARTICULATE] = flags["flow_m3h"]
    rounded = {
        k: np.round(np.maximum(v, 0.0), 3 if k != "flow_m3h" else 1) for k, v in values.items()
    }
    return VocBlock(
        t,
        MappingProxyType(rounded),
        MappingProxyType({k: v.astype("<U1") for k, v in flags.items()}),
        tuple(episodes),
    )


def season_temp_c(day_of_year: int) -> float:
    """Songyang's mean outdoor temperature (°C) on a day of the year (coldest in January)."""
    return 17.5 - 11.0 * float(np.cos(2 * np.pi * (day_of_year - 20) / 365.0))
