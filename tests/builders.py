"""The one place tests build registries, register readings and settings inputs.

Every test that needs a registry writes it with `registry_toml` (or `RegistryBuilder` for
stacks with HJ 212 MNs, limits and code maps), so the registry's shape lives in one place.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ingest.kernel.registry import Registry, parse_registry

FUEL_METERS = [("gas-1", "gas"), ("coal-1", "coal")]
SECTOR_NAMES = {"stainless_steel": "不锈钢", "synthetic_leather": "合成革"}
REGISTER_FIELDS = {"gas": "volume_m3", "coal": "mass_kg", "electricity": "energy_kwh"}


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, Sequence):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML for {value!r}")


@dataclass
class MeterSpec:
    id: str
    kind: str
    extra: dict[str, Any] = field(default_factory=dict)  # hj212_mn, limits, codes, ...


@dataclass
class PlantSpec:
    id: str
    sector: str
    meters: list[MeterSpec]
    name: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class RegistryBuilder:
    """A registry assembled plant by plant; `toml()` gives the file's text."""

    county: str = "测试县"
    goal: float = 0.5
    plants: list[PlantSpec] = field(default_factory=list)

    def plant(
        self,
        plant_id: str,
        sector: str = "stainless_steel",
        meters: Sequence[tuple[str, str] | MeterSpec] = tuple(FUEL_METERS),
        name: str | None = None,
        **extra: Any,
    ) -> RegistryBuilder:
        specs = [m if isinstance(m, MeterSpec) else MeterSpec(m[0], m[1]) for m in meters]
        self.plants.append(PlantSpec(plant_id, sector, specs, name, dict(extra)))
        return self

    def toml(self) -> str:
        parts = [f'[county]\nname = "{self.county}"\ngas_share_goal = {self.goal}\n']
        for p in self.plants:
            name = p.name or f"{p.id} {SECTOR_NAMES.get(p.sector, '')}有限公司"
            lines = [
                "[[plants]]",
                f'id = "{p.id}"',
                f"name = {_toml_value(name)}",
                f'sector = "{p.sector}"',
            ]
            lines += [f"{k} = {_toml_value(v)}" for k, v in p.extra.items()]
            for m in p.meters:
                lines += ["  [[plants.meters]]", f'  id = "{m.id}"', f'  kind = "{m.kind}"']
                lines += [f"  {k} = {_toml_value(v)}" for k, v in m.extra.items()]
            parts.append("\n".join(lines) + "\n")
        return "\n".join(parts)

    def registry(self) -> Registry:
        """The parsed registry, as every component would load it from `toml()`."""
        return parse_registry(tomllib.loads(self.toml()))


# Two counties as tenants (issue 26): each with a stainless-steel firm and a leather firm's
# stack, so every family of answers has something in either county. Written out literally:
# it is the shape an operator writes.
TWO_COUNTIES_TOML = """\
[province]
name = "丽水市（测试）"
gas_share_goal = 0.6

[[counties]]
id = "songyang"
name = "松阳县"
gas_share_goal = 0.5

[[counties]]
id = "suichang"
name = "遂昌县"
gas_share_goal = 0.7

[[plants]]
id = "ss-a"
name = "松阳甲不锈钢有限公司"
sector = "stainless_steel"
county = "songyang"
  [[plants.meters]]
  id = "gas-1"
  kind = "gas"
  [[plants.meters]]
  id = "coal-1"
  kind = "coal"

[[plants]]
id = "sl-a"
name = "松阳甲合成革有限公司"
sector = "synthetic_leather"
county = "songyang"
  [[plants.meters]]
  id = "stack-1"
  kind = "voc"
  process = "pu_dry"

[[plants]]
id = "ss-b"
name = "遂昌乙不锈钢有限公司"
sector = "stainless_steel"
county = "suichang"
  [[plants.meters]]
  id = "gas-1"
  kind = "gas"
  [[plants.meters]]
  id = "coal-1"
  kind = "coal"

[[plants]]
id = "sl-b"
name = "遂昌乙合成革有限公司"
sector = "synthetic_leather"
county = "suichang"
  [[plants.meters]]
  id = "stack-1"
  kind = "voc"
  process = "pu_dry"
"""


def registry_toml(plants: dict[str, tuple[str, list[tuple[str, str]]]], goal: float = 0.5) -> str:
    """plant id -> (sector, [(meter id, kind)]) as a registry file (names in Chinese)."""
    builder = RegistryBuilder(goal=goal)
    for plant, (sector, meters) in plants.items():
        builder.plant(plant, sector, meters)
    return builder.toml()


def register_lines(
    kind: str,
    plant: str,
    meter: str,
    start: datetime,
    step: timedelta,
    values: list[float],
) -> list[str]:
    """Line protocol for a cumulative register read every `step` from `start`."""
    field_name = REGISTER_FIELDS[kind]
    lines = []
    for i, value in enumerate(values):
        ts_ms = int((start + i * step).timestamp() * 1000)
        lines.append(f"{kind},plant={plant},meter={meter} {field_name}={float(value)!r} {ts_ms}")
    return lines
