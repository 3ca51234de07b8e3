"""The simulated county's firms from a seed, written as a registry TOML file (SPEC section 3).

Only what a real registry would hold goes into the file (ids, names, sectors, meters, stack
MNs and limits, the firm's town). How each firm behaves (size, shifts, conversion date) is
derived from the seed and the plant id by `simulators.plans`, so any registry can be simulated.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from simulators.seeding import rng_for, seeded_unit

COUNTY_CODE = "331124"  # Songyang county's administrative division code
TOWNS = (
    "西屏", "水南", "望松", "古市", "象溪", "大东坝", "新兴", "斋坛", "赤寿",
    "叶村", "四都", "樟溪", "竹源", "三都", "玉岩", "枫坪", "安民", "板桥",
)  # fmt: skip
BRANDS = (
    "华峰", "鑫源", "永达", "恒泰", "宏达", "金鹰", "瑞丰", "天马", "兴业", "顺发",
    "盛达", "东方", "腾飞", "浙松", "汇丰", "嘉诚", "万通", "博达", "富源", "隆兴",
    "振兴", "新力", "通达", "远大", "金城", "华联", "信达", "荣盛", "泰隆", "德信",
    "宝丰", "恒通", "金桥", "海森", "立信", "广源", "中兴", "亿达", "银河", "鼎盛",
)  # fmt: skip
STAINLESS_KINDS = (
    "不锈钢管业有限公司", "不锈钢制品有限公司", "不锈钢有限公司", "特钢有限公司",
    "精密钢管有限公司", "不锈钢管件厂", "钢业有限公司", "金属材料有限公司",
)  # fmt: skip
LEATHER_KINDS = ("合成革有限公司", "超纤合成革有限公司", "革业有限公司", "人造革有限公司")
OTHER_KINDS = (
    ("茶叶加工有限公司", "tea"),
    ("竹木制品有限公司", "bamboo"),
    ("食品有限公司", "food"),
    ("机械制造有限公司", "machinery"),
    ("纺织有限公司", "textile"),
)
DEFAULT_STAINLESS = 60
DEFAULT_LEATHER = 25
DEFAULT_OTHER = 4
DEFAULT_SEED = 2026
# Each stack's permit states its DMF limit (DMF has no national HJ 212 code, so the permit
# is where it is written down); a few firms have a stricter local limit than GB 21902's.
DMF_LIMIT_MGM3 = 50.0
STRICT_DMF_LIMIT_MGM3 = 40.0
# DMF has no national HJ 212 code (a99051 is carbon disulfide): the demo's loggers send it
# under a vendor code, mapped per stack in the registry.
VENDOR_DMF_CODE = "a99999"
# The last firms installed their loggers from 2026: HJ 212-2025, MN a 24-hex network code;
# all but the last few encrypt with an SM4 key (the simulator's loggers follow the MN).
# Small test fleets (no more leather firms than that) stay HJ 212-2017.
HJ212_2025_FIRMS = 8
HJ212_2025_PLAIN_FIRMS = 3
# Where the new limits matter in the demo (GB 21902-2008 Table 5 by process, 4.2.6 height):
# one PVC line's stack and one stack under 15 m.
PVC_STACK = ("sl-002", "stack-1")
PARTICULATE_CODE = "a34013"  # 烟尘 (particulates), mapped on the PVC stack that measures them
SHORT_STACK = ("sl-004", "stack-1")
SHORT_STACK_HEIGHT_M = 12.0
STACK_HEIGHT_M = 25.0
# Tube and pipe works pickle their steel (acid-mist scrubbers); their names say so.
PICKLING_WORDS = ("管",)


def power_meters(plant_id: str, seed: int, pickling: bool) -> tuple[MeterSpec, ...]:
    """A line's production meter and its treatment meter (RTO for leather, scrubber for pickling)."""
    line, prod, treat = (
        ("pickling", "pickle-1", "scrubber-1") if pickling else ("line-1", "prod-1", "rto-1")
    )
    prod_kw = round(80 + 400 * seeded_unit(seed, f"{plant_id}/{prod}/rated"), 0)
    treat_kw = round(15 + 60 * seeded_unit(seed, f"{plant_id}/{treat}/rated"), 0)
    return (
        MeterSpec(
            prod,
            "electricity",
            extra=(("facility", "production"), ("line", line), ("rated_kw", prod_kw)),
        ),
        MeterSpec(
            treat,
            "electricity",
            extra=(("facility", "treatment"), ("line", line), ("rated_kw", treat_kw)),
        ),
    )


@dataclass(frozen=True, slots=True)
class MeterSpec:
    id: str
    kind: str
    hj212_mn: str | None = None
    limits_mgm3: tuple[tuple[str, float], ...] = ()
    codes: tuple[tuple[str, str], ...] = ()
    hj212_pw: str | None = None  # the password its data logger sends (6 digits, as in the field)
    hj212_sm4_key: str | None = field(default=None, repr=False)  # HJ 212-2025 loggers only
    # process, height_m (stacks); facility, line, rated_kw (power meters)
    extra: tuple[tuple[str, str | float], ...] = ()


@dataclass(frozen=True, slots=True)
class PlantSpec:
    id: str
    name: str
    sector: str
    town: str
    meters: tuple[MeterSpec, ...] = field(default=())


def build_fleet(
    seed: int = DEFAULT_SEED,
    stainless: int = DEFAULT_STAINLESS,
    leather: int = DEFAULT_LEATHER,
    other: int = DEFAULT_OTHER,
) -> tuple[PlantSpec, ...]:
    """The county's firms for `seed`: ids `ss-NNN`, `sl-NNN`, `ot-NNN`, unique names."""
    rng = rng_for(seed, "fleet")
    used: set[str] = set()

    def name(kinds: Sequence[str]) -> tuple[str, str]:
        while True:
            town = str(TOWNS[rng.integers(len(TOWNS))])
            brand = str(BRANDS[rng.integers(len(BRANDS))])
            kind = str(kinds[int(rng.integers(len(kinds)))])
            # Most firms carry the county in their name; some the town as well.
            full = f"松阳县{town + brand if rng.random() < 0.3 else brand}{kind}"
            if full not in used:
                used.add(full)
                return full, town

    plants: list[PlantSpec] = []
    for i in range(1, stainless + 1):
        full, town = name(STAINLESS_KINDS)
        meters: tuple[MeterSpec, ...] = (MeterSpec("gas-1", "gas"), MeterSpec("coal-1", "coal"))
        if any(w in full for w in PICKLING_WORDS):
            meters += power_meters(f"ss-{i:03d}", seed, pickling=True)
        plants.append(PlantSpec(f"ss-{i:03d}", full, "stainless_steel", town + "镇", meters))
    for i in range(1, leather + 1):
        full, town = name(LEATHER_KINDS)
        stacks = 2 if rng.random() < 0.2 else 1
        # sl-001 keeps the national limit: the docs and tests use it as their example stack.
        strict = rng.random() < 0.15 and i > 1
        v2025 = leather > HJ212_2025_FIRMS and i > leather - HJ212_2025_FIRMS
        keyed = v2025 and i <= leather - HJ212_2025_PLAIN_FIRMS
        meters = tuple(
            MeterSpec(
                f"stack-{k}",
                "voc",
                f"{COUNTY_CODE}A02025{i:04X}{k:08X}"
                if v2025
                else f"{COUNTY_CODE}00SL{i:03d}STACK{k:06d}",
                # the demo's PVC and short stacks are judged by Table 5 itself (no permit value)
                ()
                if stack_extra(f"sl-{i:03d}", f"stack-{k}")
                else (("dmf_mgm3", STRICT_DMF_LIMIT_MGM3 if strict else DMF_LIMIT_MGM3),),
                ((VENDOR_DMF_CODE, "dmf_mgm3"),)
                + (
                    ((PARTICULATE_CODE, "particulate_mgm3"),)
                    if (f"sl-{i:03d}", f"stack-{k}") == PVC_STACK
                    else ()
                ),
                # from its own key, so adding it changed no other generated number
                f"{int(seeded_unit(seed, f'sl-{i:03d}/stack-{k}/pw') * 1e6):06d}",
                _demo_key(seed, f"sl-{i:03d}/stack-{k}") if keyed else None,
                extra=stack_extra(f"sl-{i:03d}", f"stack-{k}"),
            )
            for k in range(1, stacks + 1)
        ) + power_meters(f"sl-{i:03d}", seed, pickling=False)
        plants.append(PlantSpec(f"sl-{i:03d}", full, "synthetic_leather", town + "镇", meters))
    for i in range(1, other + 1):
        kind, _ = OTHER_KINDS[(i - 1) % len(OTHER_KINDS)]
        full, town = name((kind,))
        plants.append(
            PlantSpec(
                f"ot-{i:03d}", full, "other", town + "镇", (MeterSpec("elec-1", "electricity"),)
            )
        )
    return tuple(plants)


def stack_extra(plant_id: str, meter_id: str) -> tuple[tuple[str, str | float], ...]:
    """Process and height of the demo stacks where they change the limits, else nothing."""
    if (plant_id, meter_id) == PVC_STACK:
        return (("process", "pvc"), ("height_m", STACK_HEIGHT_M))
    if (plant_id, meter_id) == SHORT_STACK:
        return (("process", "pu_dry"), ("height_m", SHORT_STACK_HEIGHT_M))
    return ()


def registry_toml(
    plants: Sequence[PlantSpec], county: str = "松阳县（演示）", seed: int | None = None
) -> str:
    """The registry file text for `plants` (SPEC section 3 shape, plus each firm's town)."""
    lines = []
    if seed is not None:
        lines.append(
            f"# Generated by `python -m simulators registry --seed {seed}`; do not edit by hand."
        )
    lines += ["[county]", f"name = {_string(county)}", "gas_share_goal = 0.5", ""]
    for plant in plants:
        lines += [
            "[[plants]]",
            f"id = {_string(plant.id)}",
            f"name = {_string(plant.name)}",
            f"sector = {_string(plant.sector)}",
            f"town = {_string(plant.town)}",
        ]
        for meter in plant.meters:
            lines += [
                "  [[plants.meters]]",
                f"  id = {_string(meter.id)}",
                f"  kind = {_string(meter.kind)}",
            ]
            if meter.hj212_mn:
                lines.append(f"  hj212_mn = {_string(meter.hj212_mn)}")
            if meter.hj212_pw:
                lines.append(f"  hj212_pw = {_string(meter.hj212_pw)}")
            if meter.hj212_sm4_key:
                lines.append(f"  hj212_sm4_key = {_string(meter.hj212_sm4_key)}")
            if meter.limits_mgm3:
                inner = ", ".join(f"{k} = {v!r}" for k, v in meter.limits_mgm3)
                lines.append(f"  limits = {{ {inner} }}")
            if meter.codes:
                inner = ", ".join(f"{k} = {_string(v)}" for k, v in meter.codes)
                lines.append(f"  codes = {{ {inner} }}")
            for key, value in meter.extra:
                text = _string(value) if isinstance(value, str) else repr(value)
                lines.append(f"  {key} = {text}")
        lines.append("")
    return "\n".join(lines)


def _demo_key(seed: int, name: str) -> str:
    """A demo logger's SM4 key, from the seed (a real one is a secret, never in git)."""
    return hashlib.sha256(f"{seed}/{name}/sm4".encode()).hexdigest()[:32].upper()


def _string(text: str) -> str:
    # JSON string escapes are valid TOML basic-string escapes.
    return json.dumps(text, ensure_ascii=False)
