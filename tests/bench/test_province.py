"""The province bench's registry is a real one of ten counties; its growth exponent."""

from __future__ import annotations

import tomllib

import pytest

from bench.province import COUNTIES, exponent, province_toml, voc_plants
from bench.workload import county_firms
from ingest.kernel.registry import parse_registry


def test_the_province_registry_has_ten_counties_with_the_firms_dealt_out() -> None:
    registry = parse_registry(tomllib.loads(province_toml(county_firms(25))))
    assert len(registry.counties) == COUNTIES
    per_county = {c.id: len(registry.scoped(c.id).plants) for c in registry.counties}
    assert sorted(per_county.values()) == [2] * 5 + [3] * 5
    assert per_county["county-01"] == 3  # ss-001, ss-011, ss-021


@pytest.mark.parametrize(
    ("values", "slope"),
    [
        ([10.0, 100.0], 1.0),  # linear in firms
        ([10.0, 10.0], 0.0),  # flat
        ([100.0, 10.0], -1.0),
        ([None, 10.0], None),
        ([0.0, 10.0], None),
    ],
)
def test_exponent(values: list[float | None], slope: float | None) -> None:
    assert exponent([60, 600], values) == slope


def test_one_voc_logger_per_three_firms_dealt_to_the_counties_in_turn() -> None:
    loggers = voc_plants(3000)
    assert len(loggers) == 1000  # issue 26: 1,000 HJ 212 loggers at 3,000 firms
    registry = parse_registry(tomllib.loads(province_toml(county_firms(30), voc_plants(30))))
    stacks = [(p.id, p.county) for p in registry.plants if p.meters_of("voc")]
    assert len(stacks) == 10
    assert {county for _, county in stacks} == {c.id for c in registry.counties}
    first = registry.scoped("county-01")
    assert [p.id for p in first.plants if p.meters_of("voc")] == voc_plants(30)[::COUNTIES]
    assert len({m.hj212_mn for p in registry.plants for m in p.meters_of("voc")}) == 10
