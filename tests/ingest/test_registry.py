"""Registry loading: the demo file loads; bad files say which plant and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.kernel.errors import RegistryError
from ingest.kernel.registry import ID_PATTERN, load_registry
from ingest.settings import demo_registry_path
from tests.builders import FUEL_METERS, registry_toml

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
