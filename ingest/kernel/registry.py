"""The county registry: firms and their meters, loaded from one TOML file (SPEC section 3)."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ingest.kernel.catalogue import VALUE_RANGES
from ingest.kernel.errors import RegistryError
from ingest.kernel.hj212 import DEFAULT_FLOW_UNIT, FLOW_UNIT_FACTORS
from ingest.kernel.limits import PROCESSES, Limit, resolve_limits

# \A..\Z, not ^..$: `$` also matches before a trailing newline ("ss-001\n").
ID_PATTERN = re.compile(r"\A[a-z0-9-]{1,32}\Z")
HJ212_PW_PATTERN = re.compile(r"\A(?:(?![;=&,])[!-~]){1,32}\Z")
CODE_PATTERN = re.compile(r"\A[A-Za-z0-9]{1,16}\Z")
METER_KEYS = (
    "id",
    "kind",
    "hj212_mn",
    "hj212_pw",
    "limits",
    "codes",
    "flow_unit",
    "hj212_sm4_key",
    "hj212_sm4_key_previous",
    "process",
    "height_m",
    "o2_reference_pct",
    "facility",
    "line",
    "rated_kw",
)
SM4_KEY_PATTERN = re.compile(r"\A[0-9A-Fa-f]{32}\Z")
# Electricity meters (SPEC section 13): what a meter measures, and the line it belongs to.
FACILITIES = ("production", "treatment", "site")
SECTORS = ("stainless_steel", "synthetic_leather", "other")
METER_KINDS = ("gas", "coal", "voc", "electricity")
DEFAULT_GAS_SHARE_GOAL = 0.5
# The id of the one county of a registry written in the single `[county]` form (SPEC section
# 3), unless that table names its own `id`.
DEFAULT_COUNTY_ID = "county"


@dataclass(frozen=True, slots=True)
class Meter:
    id: str
    kind: str
    hj212_mn: str | None = None
    limits_mgm3: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    extra: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    # HJ 212: vendor code -> value name (e.g. a DMF code), and the unit of the flow code
    codes: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    flow_unit: str = DEFAULT_FLOW_UNIT
    hj212_pw: str | None = None  # the PW its data logger must send (HJ 212 TCP gateway)
    # HJ 212-2025 SM4 keys (secrets: kept out of repr, logs and API answers). The previous
    # key is still accepted while a rotation (CN 1014) is under way (docs/protocol.md).
    hj212_sm4_key: str | None = field(default=None, repr=False)
    hj212_sm4_key_previous: str | None = field(default=None, repr=False)

    @property
    def sm4_keys(self) -> tuple[bytes, ...]:
        """The keys a packet of this stack may be encrypted with, current first."""
        texts = (self.hj212_sm4_key, self.hj212_sm4_key_previous)
        return tuple(bytes.fromhex(t) for t in texts if t)

    # VOC stacks: GB 21902 Table 5 process, stack height, reference O2 (after an RTO)
    process: str | None = None
    height_m: float | None = None
    o2_reference_pct: float | None = None
    # electricity meters: production | treatment | site, the line, a rated power if known
    facility: str | None = None
    line: str | None = None
    rated_kw: float | None = None

    def limits(self) -> dict[str, Limit]:
        """The resolved limit of every pollutant of this stack (process, height, overrides)."""
        return resolve_limits(self.process, self.height_m, self.limits_mgm3)


@dataclass(frozen=True, slots=True)
class County:
    """A county of the registry: a tenant with its own firms and gas-share goal."""

    id: str
    name: str
    gas_share_goal: float


@dataclass(frozen=True, slots=True)
class Plant:
    id: str
    name: str
    sector: str
    meters: tuple[Meter, ...]
    extra: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    county: str = DEFAULT_COUNTY_ID
    # Built once: every inbound JSON message looks its meter up here (the first of an id).
    _by_meter_id: Mapping[str, Meter] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_id = {m.id: m for m in reversed(self.meters)}
        object.__setattr__(self, "_by_meter_id", MappingProxyType(by_id))

    def meter(self, meter_id: str) -> Meter | None:
        return self._by_meter_id.get(meter_id)

    def meters_of(self, kind: str) -> tuple[Meter, ...]:
        return tuple(m for m in self.meters if m.kind == kind)


@dataclass(frozen=True, slots=True)
class Registry:
    """Firms and meters of one or several counties.

    `county_name` and `gas_share_goal` are those of the whole: the one county's, or the
    province's when several are named. `scoped(county)` is one county's view of it.
    """

    county_name: str
    gas_share_goal: float
    plants: tuple[Plant, ...]
    source: Path | None = None
    # Empty: one county, named by `county_name` with id DEFAULT_COUNTY_ID.
    counties: tuple[County, ...] = ()
    # Indexes built once: every inbound message looks its plant (or stack MN) up here.
    _by_id: Mapping[str, Plant] = field(init=False, repr=False, compare=False)
    _by_mn: Mapping[str, tuple[Plant, Meter]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.counties:
            only = County(DEFAULT_COUNTY_ID, self.county_name, self.gas_share_goal)
            object.__setattr__(self, "counties", (only,))
        by_mn = {m.hj212_mn: (p, m) for p in self.plants for m in p.meters if m.hj212_mn}
        object.__setattr__(self, "_by_id", MappingProxyType({p.id: p for p in self.plants}))
        object.__setattr__(self, "_by_mn", MappingProxyType(by_mn))

    def plant(self, plant_id: str) -> Plant | None:
        return self._by_id.get(plant_id)

    def county(self, county_id: str) -> County | None:
        return next((c for c in self.counties if c.id == county_id), None)

    def plants_of(self, county_id: str) -> tuple[Plant, ...]:
        return tuple(p for p in self.plants if p.county == county_id)

    def scoped(self, county_id: str) -> Registry:
        """The registry as one county sees it: its firms, its name and its goal."""
        county = self.county(county_id)
        if county is None:
            raise RegistryError(f"county {county_id!r} is not in the registry")
        return Registry(
            county.name, county.gas_share_goal, self.plants_of(county.id), self.source, (county,)
        )

    def by_sector(self, sector: str) -> tuple[Plant, ...]:
        return tuple(p for p in self.plants if p.sector == sector)

    def stack_by_mn(self, mn: str) -> tuple[Plant, Meter] | None:
        return self._by_mn.get(mn)


def load_registry(path: Path) -> Registry:
    """Read and check a registry file; errors name the plant, meter and key at fault."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise RegistryError(f"registry {path}: cannot read: {exc.strerror or exc}") from exc
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RegistryError(f"registry {path}: not valid TOML: {exc}") from exc
    registry = parse_registry(doc, where=str(path))
    return Registry(
        registry.county_name,
        registry.gas_share_goal,
        registry.plants,
        Path(path),
        registry.counties,
    )


def parse_registry(doc: Mapping[str, Any], where: str = "registry") -> Registry:
    """Build a `Registry` from a parsed TOML document.

    Counties come as one `[county]` table (its firms name no county) or as `[[counties]]`
    with ids, each firm naming its `county`, and an optional `[province]` name and goal.
    """
    counties, name, goal = _parse_counties(doc, where)
    raw_plants = doc.get("plants", [])
    if not isinstance(raw_plants, list):
        raise RegistryError(f"{where}: [[plants]] must be an array of tables")
    plants: list[Plant] = []
    seen: set[str] = set()
    mns: dict[str, str] = {}
    for index, raw in enumerate(raw_plants):
        plant = _parse_plant(raw, f"{where}: plants[{index}]", counties)
        if plant.id in seen:
            raise RegistryError(f"{where}: plant {plant.id!r} is listed twice")
        seen.add(plant.id)
        shared = _shared_power_mns(plant)
        for meter in plant.meters:
            if meter.hj212_mn is not None:
                if meter.hj212_mn in mns and meter.hj212_mn not in shared:
                    raise RegistryError(
                        f"{where}: plant {plant.id!r} meter {meter.id!r}: hj212_mn "
                        f"{meter.hj212_mn!r} already used by {mns[meter.hj212_mn]}"
                    )
                mns[meter.hj212_mn] = f"{plant.id}/{meter.id}"
        plants.append(plant)
    return Registry(name, goal, tuple(plants), None, counties)


def _goal(table: Mapping[str, Any], where: str, default: float) -> float:
    goal = table.get("gas_share_goal", default)
    if isinstance(goal, bool) or not isinstance(goal, int | float) or not 0 < goal <= 1:
        raise RegistryError(f"{where}.gas_share_goal must be a number in (0, 1], got {goal!r}")
    return float(goal)


def _name(table: Mapping[str, Any], where: str, default: str) -> str:
    name = table.get("name", default)
    if not isinstance(name, str):
        raise RegistryError(f"{where}.name must be a string, got {name!r}")
    return name


def _parse_counties(doc: Mapping[str, Any], where: str) -> tuple[tuple[County, ...], str, float]:
    """The counties, and the name and goal of the whole (one county's, or the province's)."""
    if "counties" not in doc:
        county = doc.get("county", {})
        if not isinstance(county, Mapping):
            raise RegistryError(f"{where}: [county] must be a table")
        county_id = county.get("id", DEFAULT_COUNTY_ID)
        if not isinstance(county_id, str) or not ID_PATTERN.fullmatch(county_id):
            raise RegistryError(
                f"{where}: county.id must match [a-z0-9-]{{1,32}}, got {county_id!r}"
            )
        only = County(
            county_id,
            _name(county, f"{where}: county", ""),
            _goal(county, f"{where}: county", DEFAULT_GAS_SHARE_GOAL),
        )
        return (only,), only.name, only.gas_share_goal
    if "county" in doc:
        raise RegistryError(
            f"{where}: name the counties either as one [county] table or as [[counties]], not both"
        )
    raw = doc["counties"]
    if not isinstance(raw, list) or not raw:
        raise RegistryError(f"{where}: [[counties]] must be a non-empty array of tables")
    counties: list[County] = []
    for index, table in enumerate(raw):
        at = f"{where}: counties[{index}]"
        if not isinstance(table, Mapping):
            raise RegistryError(f"{at}: must be a table")
        county_id = _require_id(table, "id", at)
        if any(c.id == county_id for c in counties):
            raise RegistryError(f"{where}: county {county_id!r} is listed twice")
        at = f"{at} (county {county_id!r})"
        counties.append(
            County(
                county_id,
                _name(table, at, county_id),
                _goal(table, at, DEFAULT_GAS_SHARE_GOAL),
            )
        )
    province = doc.get("province", {})
    if not isinstance(province, Mapping):
        raise RegistryError(f"{where}: [province] must be a table")
    # The whole's goal: the province's if it names one, else the strictest county's.
    name = _name(province, f"{where}: province", "、".join(c.name for c in counties))
    goal = _goal(province, f"{where}: province", max(c.gas_share_goal for c in counties))
    return tuple(counties), name, goal


def _shared_power_mns(plant: Plant) -> set[str]:
    """MNs only electricity meters of this plant use: one power-monitoring logger (HJ 212
    ST=44) sends the d2xxxx / d3xxxx codes of several meters, each picking its own `codes`."""
    users: dict[str, set[str]] = {}
    for m in plant.meters:
        if m.hj212_mn is not None:
            users.setdefault(m.hj212_mn, set()).add(m.kind)
    return {mn for mn, kinds in users.items() if kinds == {"electricity"}}


def _parse_plant(raw: Any, where: str, counties: tuple[County, ...]) -> Plant:
    if not isinstance(raw, Mapping):
        raise RegistryError(f"{where}: must be a table")
    plant_id = _require_id(raw, "id", where)
    where = f"{where} (plant {plant_id!r})"
    county = raw.get("county")
    ids = [c.id for c in counties]
    if county is None and len(counties) == 1:
        county = ids[0]
    elif county not in ids:
        raise RegistryError(
            f"{where}: key 'county' must name one of the counties ({', '.join(ids)}), "
            f"got {county!r}"
        )
    sector = raw.get("sector")
    if sector not in SECTORS:
        raise RegistryError(
            f"{where}: key 'sector' must be one of {', '.join(SECTORS)}, got {sector!r}"
        )
    name = raw.get("name", plant_id)
    if not isinstance(name, str):
        raise RegistryError(f"{where}: key 'name' must be a string")
    raw_meters = raw.get("meters", [])
    if not isinstance(raw_meters, list):
        raise RegistryError(f"{where}: key 'meters' must be an array of tables")
    meters: list[Meter] = []
    for index, raw_meter in enumerate(raw_meters):
        meter = _parse_meter(raw_meter, f"{where}: meters[{index}]")
        if any(m.id == meter.id for m in meters):
            raise RegistryError(f"{where}: meter {meter.id!r} is listed twice")
        meters.append(meter)
    extra = {k: v for k, v in raw.items() if k not in ("id", "name", "sector", "meters", "county")}
    return Plant(plant_id, name, sector, tuple(meters), MappingProxyType(extra), county)


def _parse_meter(raw: Any, where: str) -> Meter:
    if not isinstance(raw, Mapping):
        raise RegistryError(f"{where}: must be a table")
    meter_id = _require_id(raw, "id", where)
    where = f"{where} (meter {meter_id!r})"
    kind = raw.get("kind")
    if kind not in METER_KINDS:
        raise RegistryError(
            f"{where}: key 'kind' must be one of {', '.join(METER_KINDS)}, got {kind!r}"
        )
    mn = raw.get("hj212_mn")
    if mn is not None and (not isinstance(mn, str) or not 1 <= len(mn) <= 24):
        raise RegistryError(f"{where}: key 'hj212_mn' must be a string of 1 to 24 characters")
    limits = raw.get("limits", {})
    if not isinstance(limits, Mapping) or not all(
        isinstance(v, int | float) and v > 0 for v in limits.values()
    ):
        raise RegistryError(f"{where}: key 'limits' must map value names to positive numbers")
    pw = raw.get("hj212_pw")
    if pw is not None and (not isinstance(pw, str) or not HJ212_PW_PATTERN.match(pw)):
        raise RegistryError(
            f"{where}: key 'hj212_pw' must be 1 to 32 characters without ';', '=', '&' or ','"
        )
    codes = raw.get("codes", {})
    names = VALUE_RANGES["electricity" if kind == "electricity" else "voc"]
    if not isinstance(codes, Mapping) or not all(
        isinstance(k, str) and CODE_PATTERN.match(k) and v in names for k, v in codes.items()
    ):
        raise RegistryError(
            f"{where}: key 'codes' must map HJ 212 codes to {'power meter' if kind == 'electricity' else 'VOC'} value names "
            f'({", ".join(sorted(names))}), e.g. codes = {{ a99999 = "dmf_mgm3" }}'
        )
    flow_unit = raw.get("flow_unit", DEFAULT_FLOW_UNIT)
    if flow_unit not in FLOW_UNIT_FACTORS:
        raise RegistryError(
            f"{where}: key 'flow_unit' must be one of {', '.join(FLOW_UNIT_FACTORS)}, "
            f"got {flow_unit!r}"
        )
    keys = {name: raw.get(name) for name in ("hj212_sm4_key", "hj212_sm4_key_previous")}
    for name, key in keys.items():
        if key is not None and (not isinstance(key, str) or not SM4_KEY_PATTERN.match(key)):
            # The value is a secret: the message never repeats it.
            raise RegistryError(f"{where}: key {name!r} must be 32 hex characters (16 bytes)")
    if keys["hj212_sm4_key_previous"] and not keys["hj212_sm4_key"]:
        raise RegistryError(f"{where}: 'hj212_sm4_key_previous' needs 'hj212_sm4_key'")
    process = raw.get("process")
    if process is not None and process not in PROCESSES:
        raise RegistryError(
            f"{where}: key 'process' must be one of {', '.join(PROCESSES)}, got {process!r}"
        )
    height_m = _positive(raw, "height_m", where)
    o2_ref = raw.get("o2_reference_pct")
    if o2_ref is not None and (
        isinstance(o2_ref, bool) or not isinstance(o2_ref, int | float) or not 0 <= o2_ref < 21
    ):
        raise RegistryError(f"{where}: key 'o2_reference_pct' must be a number in [0, 21)")
    facility = raw.get("facility")
    if facility is not None and facility not in FACILITIES:
        raise RegistryError(
            f"{where}: key 'facility' must be one of {', '.join(FACILITIES)}, got {facility!r}"
        )
    line = raw.get("line")
    if line is not None and (not isinstance(line, str) or not ID_PATTERN.fullmatch(line)):
        raise RegistryError(f"{where}: key 'line' must match [a-z0-9-]{{1,32}}, got {line!r}")
    if facility in ("production", "treatment") and line is None:
        raise RegistryError(f"{where}: a {facility} meter needs a 'line'")
    extra = {k: v for k, v in raw.items() if k not in METER_KEYS}
    return Meter(
        meter_id,
        kind,
        mn,
        MappingProxyType({k: float(v) for k, v in limits.items()}),
        MappingProxyType(extra),
        MappingProxyType(dict(codes)),
        flow_unit,
        pw,
        keys["hj212_sm4_key"],
        keys["hj212_sm4_key_previous"],
        process,
        height_m,
        None if o2_ref is None else float(o2_ref),
        facility,
        line,
        _positive(raw, "rated_kw", where),
    )


def _positive(raw: Mapping[str, Any], key: str, where: str) -> float | None:
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise RegistryError(f"{where}: key {key!r} must be a positive number, got {value!r}")
    return float(value)


def _require_id(raw: Mapping[str, Any], key: str, where: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
        raise RegistryError(f"{where}: key {key!r} must match [a-z0-9-]{{1,32}}, got {value!r}")
    return value
