"""The county fleet and its registry file."""

from __future__ import annotations

import tomllib
from pathlib import Path

from ingest.kernel.registry import load_registry, parse_registry
from simulators.fleet import build_fleet, registry_toml

ROOT = Path(__file__).resolve().parents[2]


def test_default_fleet_has_the_county_sizes_and_id_scheme() -> None:
    fleet = build_fleet(2026)
    sectors = [p.sector for p in fleet]
    assert sectors.count("stainless_steel") == 60
    assert sectors.count("synthetic_leather") == 25
    assert sectors.count("other") == 4
    assert [p.id for p in fleet[:2]] == ["ss-001", "ss-002"]
    assert fleet[60].id == "sl-001" and fleet[-1].id == "ot-004"
    assert len({p.name for p in fleet}) == len(fleet)
    assert all(p.name.startswith("松阳县") for p in fleet)


def test_registry_text_is_a_valid_registry_with_stack_mns() -> None:
    registry = parse_registry(tomllib.loads(registry_toml(build_fleet(7, 5, 4, 2))))
    assert len(registry.plants) == 11
    ss = registry.plant("ss-003")
    assert ss is not None and [m.id for m in ss.meters][:2] == ["gas-1", "coal-1"]
    # tube and pipe works (管) pickle: a production meter and a scrubber on line "pickling"
    for plant in registry.by_sector("stainless_steel"):
        power = [(m.id, m.facility, m.line) for m in plant.meters_of("electricity")]
        assert power == (
            [("pickle-1", "production", "pickling"), ("scrubber-1", "treatment", "pickling")]
            if "管" in plant.name
            else []
        )
    leather = registry.by_sector("synthetic_leather")
    assert all(
        [(m.id, m.facility, m.line) for m in p.meters_of("electricity")]
        == [("prod-1", "production", "line-1"), ("rto-1", "treatment", "line-1")]
        for p in leather
    )
    stacks = [m for p in leather for m in p.meters_of("voc")]
    assert all(m.kind == "voc" and m.hj212_mn and len(m.hj212_mn) == 24 for m in stacks)
    assert registry.stack_by_mn(stacks[0].hj212_mn or "") is not None
    assert registry.plant("ot-001").meters[0].kind == "electricity"  # type: ignore[union-attr]


def test_same_seed_same_fleet_other_seed_other_names() -> None:
    assert build_fleet(11) == build_fleet(11)
    assert [p.name for p in build_fleet(11)] != [p.name for p in build_fleet(12)]


def test_shipped_demo_registry_is_the_default_seed() -> None:
    shipped = ROOT / "ingest" / "data" / "songyang-demo.toml"
    assert shipped.read_text(encoding="utf-8") == registry_toml(build_fleet(2026), seed=2026)
    assert len(load_registry(shipped).by_sector("stainless_steel")) == 60
