"""Power meters (SPEC 3, 4, 13): registry keys, JSON values, HJ 212 ST=44 codes mapped per meter."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ingest.kernel import hj212
from ingest.kernel.errors import RegistryError
from ingest.kernel.pipeline import Accepted, IngestRules, handle_message
from tests.builders import MeterSpec, RegistryBuilder

NOW = datetime(2026, 3, 1, 14, 5, tzinfo=UTC)
MN = "33112400SL001POWER000001"
POWER = [
    MeterSpec(
        "prod-1",
        "electricity",
        {"facility": "production", "line": "line-1", "rated_kw": 120.0, "hj212_mn": MN,
         "codes": {"d20011": "power_kw", "d20012": "current_a"}},
    ),
    MeterSpec(
        "rto-1",
        "electricity",
        {"facility": "treatment", "line": "line-1", "hj212_mn": MN,
         "codes": {"d30011": "power_kw", "d30013": "energy_kwh"}},
    ),
]  # fmt: skip
REGISTRY = RegistryBuilder().plant("sl-001", "synthetic_leather", POWER).registry()
RULES = IngestRules(REGISTRY)


def test_registry_reads_electricity_keys() -> None:
    plant = REGISTRY.plant("sl-001")
    assert plant is not None
    prod, rto = plant.meters
    assert (prod.facility, prod.line, prod.rated_kw) == ("production", "line-1", 120.0)
    assert (rto.facility, rto.line, rto.rated_kw) == ("treatment", "line-1", None)


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ({"facility": "boiler", "line": "l"}, "facility"),
        ({"facility": "production"}, "needs a 'line'"),
        ({"facility": "treatment", "line": "L 1"}, "'line' must match"),
        ({"rated_kw": -3}, "rated_kw"),
        ({"codes": {"d20011": "nmhc_mgm3"}}, "power meter value names"),
    ],
)
def test_bad_electricity_keys_refused(extra: dict[str, object], reason: str) -> None:
    builder = RegistryBuilder().plant("p", "other", [MeterSpec("e", "electricity", extra)])
    with pytest.raises(RegistryError, match=reason):
        builder.registry()


def test_an_mn_shared_with_a_stack_is_still_refused() -> None:
    meters = [*POWER, MeterSpec("stack-1", "voc", {"hj212_mn": MN})]
    with pytest.raises(RegistryError, match="already used"):
        RegistryBuilder().plant("sl-001", "synthetic_leather", meters).registry()


def test_json_power_without_register_is_kept() -> None:
    payload = b'{"ts": 1772373600000, "values": {"power_kw": 85.5, "current_a": 150}}'
    out = handle_message(RULES, "plantwatch/plants/sl-001/meters/prod-1/readings", payload, NOW)
    assert isinstance(out, Accepted), out
    assert out.lines == [
        'electricity,meter=prod-1,plant=sl-001 _arrived_ms=1772373900000i,_source="mqtt",'
        'current_a=150,current_a_flag="N",power_kw=85.5,power_kw_flag="N" 1772373600000'
    ]


def test_st44_packet_fans_out_to_each_meter_by_its_codes() -> None:
    packet = hj212.encode_packet(
        qn="20260301220000000",
        cn="2011",
        st="44",
        mn=MN,
        data_time="20260301220000",
        items={
            "d20011": {"Rtd": "96.5", "Flag": "N"},
            "d20012": {"Rtd": "180", "Flag": "N"},
            "d30011": {"Rtd": "0.3", "Flag": "N"},
            "d30013": {"Rtd": "1234.5", "Flag": "N"},
            "d39999": {"Rtd": "7", "Flag": "N"},  # nobody maps it: ignored
        },
    )
    out = handle_message(RULES, "plantwatch/plants/sl-001/hj212", packet, NOW)
    assert isinstance(out, Accepted), out
    assert sorted(out.lines) == [
        'electricity,meter=prod-1,plant=sl-001 current_a=180,current_a_flag="N",'
        'power_kw=96.5,power_kw_flag="N" 1772373600000',
        'electricity,meter=rto-1,plant=sl-001 energy_kwh=1234.5,energy_kwh_flag="N",'
        'power_kw=0.3,power_kw_flag="N" 1772373600000',
    ]


def test_st44_packet_nobody_maps_is_an_event() -> None:
    packet = hj212.encode_packet(
        qn="1",
        cn="2011",
        st="44",
        mn=MN,
        data_time="20260301220000",
        items={"d29999": {"Rtd": "1"}},
    )
    out = handle_message(RULES, "plantwatch/plants/sl-001/hj212", packet, NOW)
    assert isinstance(out, Accepted), out
    assert len(out.lines) == 1 and out.lines[0].startswith("hj212_event,")
