"""Emission limits of a stack (SPEC section 7): the one home of the limit table. Pure, no I/O.

GB 21902-2008 Table 5 sets limits by the stack's process; a stack under 15 m meets them
50 % stricter (4.2.6); the registry's `limits` override both. Each resolved `Limit` says
which rule produced it. NMHC is what analysers measure; the standard limits "VOCs", so
NMHC is judged against the VOCs limit and labelled as its proxy.

Stacks after combustion treatment (RTO) declare `o2_reference_pct`: their concentrations are
judged corrected to it, C = C_measured × (21 − O2_ref) / (21 − O2_measured) (GB 37822-2019
10.3.3). Emission rates use the uncorrected concentration.

Lives in `ingest` (the kernel) because the simulators shape their stacks by the same table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import numpy.typing as npt

PROCESSES = ("pu_wet", "pu_dry", "pvc", "post_treatment", "other")
# A stack that declares no process: polyurethane dry lines are what most of the county's
# synthetic-leather stacks serve, and their column is the flat table applied before.
DEFAULT_PROCESS = "pu_dry"
STANDARD = "GB 21902-2008 Table 5"
REGISTRY = "registry"
SHORT_STACK_HEIGHT_M = 15.0
SHORT_STACK_FACTOR = 0.5  # GB 21902-2008 4.2.6: a stack under 15 m, limits 50 % stricter
VOC_PROXY = "nmhc_mgm3"  # NMHC is measured; the standard's "VOCs" limit applies to it
O2_FIELD = "o2_pct"
AIR_O2_PCT = 21.0

_PU_AND_OTHERS = ("pvc", "pu_dry", "post_treatment", "other")


def _table() -> Mapping[str, Mapping[str, float]]:
    rows: dict[str, dict[str, float]] = {
        "dmf_mgm3": {"pu_wet": 50.0, "pu_dry": 50.0},
        "benzene_mgm3": dict.fromkeys(_PU_AND_OTHERS, 2.0),
        "toluene_mgm3": dict.fromkeys(_PU_AND_OTHERS, 30.0),
        "xylene_mgm3": dict.fromkeys(_PU_AND_OTHERS, 40.0),
        VOC_PROXY: {p: 150.0 if p == "pvc" else 200.0 for p in PROCESSES},
        "particulate_mgm3": {"pvc": 10.0},
    }
    return MappingProxyType({k: MappingProxyType(v) for k, v in rows.items()})


# pollutant (value name) -> process -> limit mg/m³; a process missing from a row has no limit.
TABLE5_MGM3: Mapping[str, Mapping[str, float]] = _table()
POLLUTANTS = tuple(TABLE5_MGM3)


@dataclass(frozen=True, slots=True)
class Limit:
    """One pollutant's limit for one stack, and the rule that produced it."""

    pollutant: str
    limit_mgm3: float
    source: str  # STANDARD or REGISTRY (an override)
    process: str = DEFAULT_PROCESS
    halved: bool = False  # the standard's value halved for a stack under 15 m
    table_mgm3: float | None = None  # the Table 5 value before halving (None: not in the table)

    @property
    def rule(self) -> str:
        """The rule in words, e.g. `GB 21902-2008 Table 5 (pvc), × 0.5: stack under 15 m`."""
        if self.source == REGISTRY:
            return "registry override"
        text = f"{STANDARD} ({self.process})"
        if self.halved:
            text += f", × {SHORT_STACK_FACTOR:g}: stack under {SHORT_STACK_HEIGHT_M:g} m"
        return text

    @property
    def proxy_of(self) -> str | None:
        """The standard's pollutant this measured value stands in for (NMHC for VOCs)."""
        return "VOCs" if self.pollutant == VOC_PROXY else None

    def as_json(self) -> dict[str, object]:
        return {
            "limit_mgm3": self.limit_mgm3,
            "limit_source": self.source,
            "limit_rule": self.rule,
            "process": self.process,
            "halved": self.halved,
            "table_mgm3": self.table_mgm3,
            "proxy_of": self.proxy_of,
        }


def resolve_limits(
    process: str | None = None,
    height_m: float | None = None,
    overrides: Mapping[str, float] | None = None,
) -> dict[str, Limit]:
    """Every limited pollutant of a stack: Table 5 by process, halved under 15 m, overrides on top."""
    proc = process or DEFAULT_PROCESS
    if proc not in PROCESSES:
        raise ValueError(f"process {proc!r} is not one of {', '.join(PROCESSES)}")
    short = height_m is not None and height_m < SHORT_STACK_HEIGHT_M
    out: dict[str, Limit] = {}
    for pollutant, by_process in TABLE5_MGM3.items():
        value = by_process.get(proc)
        if value is None:
            continue
        factor = SHORT_STACK_FACTOR if short else 1.0
        out[pollutant] = Limit(pollutant, value * factor, STANDARD, proc, short, value)
    for pollutant, value in (overrides or {}).items():
        table = TABLE5_MGM3.get(pollutant, {}).get(proc)
        out[pollutant] = Limit(pollutant, float(value), REGISTRY, proc, False, table)
    return out


def o2_factor(o2_measured_pct: npt.ArrayLike, o2_reference_pct: float) -> npt.NDArray[np.float64]:
    """(21 − O2_ref) / (21 − O2_measured); NaN where O2 is missing or not below 21 %."""
    o2 = np.asarray(o2_measured_pct, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(
            np.isfinite(o2) & (o2 < AIR_O2_PCT),
            (AIR_O2_PCT - o2_reference_pct) / (AIR_O2_PCT - o2),
            np.nan,
        )


def o2_corrected(
    conc_mgm3: npt.ArrayLike, o2_measured_pct: npt.ArrayLike, o2_reference_pct: float
) -> npt.NDArray[np.float64]:
    """Concentrations corrected to the reference oxygen; NaN where O2 cannot correct them."""
    return np.asarray(conc_mgm3, dtype=np.float64) * o2_factor(o2_measured_pct, o2_reference_pct)
