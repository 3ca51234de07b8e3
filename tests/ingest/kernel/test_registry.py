"""Registry loading: the demo file loads; bad files say which plant and key."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from ingest.kernel.errors import RegistryError
from ingest.kernel.registry import ID_PATTERN, load_registry, parse_registry
from ingest.settings import demo_registry_path
from tests.builders import FUEL_METERS, TWO_COUNTIES_TOML, registry_toml

GOOD_PLANT = '[[plants]]\nid = "ss-001"\nsector = "stainless_steel"\n'


def test_demo_registry_loads() -> None:
    registry = load_registry(demo_registry_path())
    assert registry.gas_share_goal == 0.5
    assert len(registry.by_sector("stainless_steel")) >= 4
    plant, meter = registry.stack_by_mn("33112400SL001STACK000001") or (None, None)
    assert plant is not None and meter is not None and meter.limits_mgm3["dmf_mgm3"] == 50.0
    # DMF under the demo loggers' vendor code, never a99051 (carbon disulfide)
    assert dict(meter.codes) == {"a99999": "dmf_mgm3"} and meter.flow_unit == "m3/s"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("[county\n", "not valid TOML"),
        ("[county]\ngas_share_goal = 2\n", "gas_share_goal must be a number in"),
        (
            '[[plants]]\nid = "SS 1"\nsector = "stainless_steel"\n',
            r"plants\[0\]: key 'id' must match",
        ),
        (
            '[[plants]]\nid = "ss-001"\nsector = "steel"\n',
            r"plant 'ss-001'.*key 'sector' must be one of",
        ),
        (GOOD_PLANT + GOOD_PLANT, "plant 'ss-001' is listed twice"),
        (
            GOOD_PLANT + '[[plants.meters]]\nid = "gas-1"\nkind = "steam"\n',
            r"plant 'ss-001'.*meter 'gas-1'.*key 'kind' must be one of",
        ),
        (
            GOOD_PLANT + '[[plants.meters]]\nid = "s"\nkind = "voc"\nlimits = { dmf_mgm3 = -1 }\n',
            r"meter 's'.*limits",
        ),
        (
            GOOD_PLANT + '[[plants.meters]]\nid = "a"\nkind = "voc"\nhj212_mn = "X"\n'
            '[[plants.meters]]\nid = "b"\nkind = "voc"\nhj212_mn = "X"\n',
            "already used by ss-001/a",
        ),
        (
            GOOD_PLANT + '[[plants.meters]]\nid = "s"\nkind = "voc"\ncodes = { a99999 = "dmf" }\n',
            r"meter 's'.*key 'codes' must map HJ 212 codes to VOC value names",
        ),
        (
            GOOD_PLANT + '[[plants.meters]]\nid = "s"\nkind = "voc"\nflow_unit = "l/s"\n',
            r"meter 's'.*key 'flow_unit' must be one of m3/s, m3/h",
        ),
    ],
)
def test_bad_registry_names_the_culprit(tmp_path: Path, text: str, reason: str) -> None:
    path = tmp_path / "registry.toml"
    path.write_text(text)
    with pytest.raises(RegistryError, match=reason):
        load_registry(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="cannot read"):
        load_registry(tmp_path / "nope.toml")


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("ss-001", True),
        ("a" * 32, True),
        ("ss-001\n", False),  # `$` would match before this newline: a broken ACL line
        ("\nss-001", False),
        ("ss-001\r", False),
        ("a" * 33, False),
        ("SS-001", False),
        ("", False),
    ],
)
def test_ids_are_whole_strings(value: str, ok: bool) -> None:
    assert bool(ID_PATTERN.match(value)) is ok
    assert bool(ID_PATTERN.fullmatch(value)) is ok


def test_a_plant_id_with_a_trailing_newline_is_refused(tmp_path: Path) -> None:
    text = registry_toml({"ss-001": ("stainless_steel", FUEL_METERS)})
    path = tmp_path / "registry.toml"
    path.write_text(text.replace('id = "ss-001"', 'id = "ss-001\\n"'), encoding="utf-8")
    with pytest.raises(RegistryError, match="must match"):
        load_registry(path)


def test_two_counties_load_with_their_firms_and_goals() -> None:
    registry = parse_registry(tomllib.loads(TWO_COUNTIES_TOML))
    assert [(c.id, c.name, c.gas_share_goal) for c in registry.counties] == [
        ("songyang", "松阳县", 0.5),
        ("suichang", "遂昌县", 0.7),
    ]
    assert (registry.county_name, registry.gas_share_goal) == ("丽水市（测试）", 0.6)
    assert {p.id: p.county for p in registry.plants} == {
        "ss-a": "songyang",
        "sl-a": "songyang",
        "ss-b": "suichang",
        "sl-b": "suichang",
    }
    assert "county" not in registry.plant("ss-a").extra  # type: ignore[union-attr]


def test_a_county_scope_keeps_its_firms_name_and_goal() -> None:
    scoped = parse_registry(tomllib.loads(TWO_COUNTIES_TOML)).scoped("suichang")
    assert [p.id for p in scoped.plants] == ["ss-b", "sl-b"]
    assert (scoped.county_name, scoped.gas_share_goal) == ("遂昌县", 0.7)
    assert [c.id for c in scoped.counties] == ["suichang"]
    assert scoped.plant("ss-a") is None and scoped.plant("ss-b") is not None
    with pytest.raises(RegistryError, match="county 'lishui' is not in the registry"):
        scoped.scoped("lishui")


def test_the_single_county_form_is_one_county() -> None:
    registry = load_registry(demo_registry_path())
    assert [(c.id, c.name) for c in registry.counties] == [("county", registry.county_name)]
    assert {p.county for p in registry.plants} == {"county"}
    assert registry.scoped("county").plants == registry.plants
    named = parse_registry(
        tomllib.loads('[county]\nid = "songyang"\nname = "松阳县"\n' + GOOD_PLANT)
    )
    assert [c.id for c in named.counties] == ["songyang"]
    assert named.plant("ss-001").county == "songyang"  # type: ignore[union-attr]


COUNTY_A = '[[counties]]\nid = "a"\n'
COUNTY_B = '[[counties]]\nid = "b"\n'


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (COUNTY_A + COUNTY_A, "county 'a' is listed twice"),
        (
            COUNTY_A + GOOD_PLANT + 'county = "z"\n',
            r"plant 'ss-001'.*key 'county' must name one "
            r"of the counties \(a\), got 'z'",
        ),
        (
            COUNTY_A + COUNTY_B + GOOD_PLANT,
            r"plant 'ss-001'.*key 'county' must name one of the "
            r"counties \(a, b\), got None",
        ),
        (
            COUNTY_A + '[county]\nname = "x"\n',
            r"either as one \[county\] table or as \[\[counties\]\]",
        ),
        ("counties = []\n", r"\[\[counties\]\] must be a non-empty array"),
        ('[[counties]]\nid = "A 1"\n', r"counties\[0\]: key 'id' must match"),
        (COUNTY_A + "gas_share_goal = 0\n", r"county 'a'\).gas_share_goal must be a number in"),
        ('[county]\nid = "X"\n', r"county.id must match"),
        ("[province]\ngas_share_goal = 1.5\n" + COUNTY_A, r"province.gas_share_goal must be"),
    ],
)
def test_bad_counties_name_the_culprit(tmp_path: Path, text: str, reason: str) -> None:
    path = tmp_path / "registry.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RegistryError, match=reason):
        load_registry(path)
