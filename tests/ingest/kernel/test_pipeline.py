"""Table tests of `handle_message`: topic -> registry -> schema -> per-kind validation."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from ingest.kernel import hj212
from ingest.kernel.pipeline import Accepted, IngestRules, Refused, handle_message
from tests.builders import MeterSpec, RegistryBuilder

REGISTRY = (
    RegistryBuilder()
    .plant("ss-001")
    .plant("sl-001", "synthetic_leather", [MeterSpec("stack-1", "voc", {"hj212_mn": "MN-SL001"})])
    .plant("sl-002", "synthetic_leather", [MeterSpec("stack-1", "voc", {"hj212_mn": "MN-SL002"})])
    .registry()
)
RULES = IngestRules(REGISTRY, future_tolerance=timedelta(minutes=5))
NOW = datetime(2026, 3, 1, 0, 10, tzinfo=UTC)
ARRIVED = "_arrived_ms=1772323800000i"  # every reading keeps when it arrived (NOW)
TS = 1_772_323_200_000  # 2026-03-01T00:00:00Z
GAS = "plantwatch/plants/ss-001/meters/gas-1/readings"
COAL = "plantwatch/plants/ss-001/meters/coal-1/readings"
VOC = "plantwatch/plants/sl-001/meters/stack-1/readings"
VOC_NAMES = (
    "(expected benzene_mgm3, dmf_mgm3, flow_m3h, humidity_pct, nmhc_mgm3, o2_pct, "
    "particulate_mgm3, pressure_kpa, temp_c, thc_mgm3, toluene_mgm3, xylene_mgm3)"
)


def packet(mn: str, cn: str = "2011", data_time: str = "20260301080000") -> bytes:
    kind = "Rtd" if cn == "2011" else "Avg"
    return hj212.encode_packet(
        qn="1", cn=cn, mn=mn, data_time=data_time, items={"a24088": {kind: "12.5", "Flag": "N"}}
    )


@pytest.mark.parametrize(
    ("topic", "payload", "code", "reason"),
    [
        ("plantwatch/plants/ss-999/meters/gas-1/readings", b"{}", "unknown_source", "ss-999"),
        ("plantwatch/plants/ss-001/meters/gas-9/readings", b"{}", "unknown_source", "gas-9"),
        ("plantwatch/plants/ss-001/other", b"{}", "unknown_source", "not a plantwatch"),
        ("elsewhere/plants/ss-001/meters/gas-1/readings", b"{}", "unknown_source", "topic"),
        (GAS, b"{not json", "invalid_payload", "not valid UTF-8 JSON"),
        (
            GAS,
            b'{"ts": %d, "values": {"mass_kg": 1}}' % TS,
            "invalid_payload",
            "'mass_kg' is not a value of a gas",
        ),
        (
            GAS,
            b'{"ts": %d, "values": {"flow_m3h": 1}}' % TS,
            "invalid_payload",
            "must send volume_m3",
        ),
        (
            GAS,
            b'{"ts": %d, "values": {"volume_m3": -1}}' % TS,
            "invalid_payload",
            "outside the plausible range",
        ),
        (
            GAS,  # nothing usable: the register is not valid, the other value unknown
            b'{"readings": [{"ts": %d, "values": {"volume_m3": -1, "x": 1}}]}' % TS,
            "invalid_payload",
            "no valid value in the message: reading: dropped, a gas meter must send volume_m3; "
            "volume_m3=-1 is outside the plausible range [0, 1e+12]; 'x' is not a value",
        ),
        (
            GAS,  # a future time refuses the batch, its valid readings too
            b'{"readings": [{"ts": %d, "values": {"volume_m3": 5}}, {"ts": %d, "values": {"volume_m3": 6}}]}'
            % (TS, TS + 16 * 60_000),
            "invalid_payload",
            "readings[1]: ts",
        ),
        (
            VOC,
            b'{"readings": [%s]}' % b",".join([b'{"ts": %d, "values": {"o2_pct": 30}}' % TS] * 7),
            "invalid_payload",
            "readings[4]: o2_pct=30 is outside the plausible range [0, 25]; and 2 more",
        ),
        (VOC, b'{"ts": %d, "values": {"o2_pct": 30}}' % TS, "invalid_payload", "o2_pct=30"),
        (VOC, b'{"ts": %d, "values": {"temp_c": -60}}' % TS, "invalid_payload", "temp_c=-60"),
        (
            VOC,
            b'{"ts": %d, "values": {"humidity_pct": 101}}' % TS,
            "invalid_payload",
            "humidity_pct",
        ),
        (
            GAS,
            b'{"ts": %d, "values": {"volume_m3": 5}}' % (TS + 16 * 60_000),
            "invalid_payload",
            "360s in the future",
        ),
        (
            GAS,
            b'{"readings": [{"ts": %d, "values": {"volume_m3": 5}}, {"ts": "yesterday", "values": {"volume_m3": 6}}]}'
            % TS,
            "invalid_payload",
            "readings[1]",
        ),
        (
            GAS,
            b'{"ts": %d, "values": {"volume_m3": 5}, "flags": {"volume_m3": "X"}}' % TS,
            "invalid_payload",
            "not an HJ 212 flag",
        ),
        (
            "plantwatch/plants/sl-001/hj212",
            packet("MN-SL002"),
            "unknown_source",
            "not a stack of plant 'sl-001'",
        ),
        ("plantwatch/plants/sl-001/hj212", packet("MN-NOPE"), "unknown_source", "MN-NOPE"),
        (
            "plantwatch/plants/sl-001/hj212",
            packet("MN-SL001")[:-6] + b"0000\r\n",
            "hj212",
            "CRC mismatch",
        ),
        (
            "plantwatch/plants/sl-001/hj212",
            packet("MN-SL001", data_time="20260301083000"),
            "invalid_payload",
            "in the future",
        ),
    ],
)
def test_refusals(topic: str, payload: bytes, code: str, reason: str) -> None:
    outcome = handle_message(RULES, topic, payload, NOW)
    assert isinstance(outcome, Refused), outcome
    assert outcome.code == code
    assert reason in outcome.reason


@pytest.mark.parametrize(
    ("topic", "payload", "lines"),
    [
        (
            GAS,
            b'{"ts": "2026-03-01T08:00:00+08:00", "values": {"volume_m3": 18234.5}}',
            [
                f'gas,meter=gas-1,plant=ss-001 {ARRIVED},_source="mqtt",volume_m3=18234.5,volume_m3_flag="N" {TS}'
            ],
        ),
        (
            GAS,  # the service's own paths say which they are; the rest is mqtt
            b'{"source": "http", "readings": [{"ts": %d, "values": {"volume_m3": 1}}]}' % TS,
            [
                f'gas,meter=gas-1,plant=ss-001 {ARRIVED},_source="http",volume_m3=1,volume_m3_flag="N" {TS}'
            ],
        ),
        (
            GAS,  # within the tolerance of 5 minutes ahead of NOW
            b'{"ts": %d, "values": {"volume_m3": 1, "flow_m3h": 2}, "flags": {"flow_m3h": "M"}}'
            % (TS + 14 * 60_000),
            [
                f'gas,meter=gas-1,plant=ss-001 {ARRIVED},_source="mqtt",flow_m3h=2,flow_m3h_flag="M",volume_m3=1,'
                f'volume_m3_flag="N" {TS + 14 * 60_000}'
            ],
        ),
        (
            "plantwatch/plants/sl-001/hj212",
            packet("MN-SL001", cn="2051"),
            [
                f'voc_minute,meter=stack-1,plant=sl-001 {ARRIVED},_source="hj212",nmhc_mgm3=12.5,'
                f'nmhc_mgm3_flag="N" {TS}'
            ],
        ),
    ],
)
def test_accepted(topic: str, payload: bytes, lines: list[str]) -> None:
    outcome = handle_message(RULES, topic, payload, NOW)
    assert isinstance(outcome, Accepted), outcome
    assert outcome.lines == lines


@pytest.mark.parametrize(
    ("topic", "payload", "lines", "problems"),
    [
        (  # one value out of range: the reading keeps its other values
            COAL,
            b'{"ts": %d, "values": {"mass_kg": 5, "rate_kgh": 2e6}}' % TS,
            [
                f'coal,meter=coal-1,plant=ss-001 {ARRIVED},_source="mqtt",mass_kg=5,mass_kg_flag="N",rate_kgh_invalid='
                f'"rate_kgh=2e+06 is outside the plausible range [0, 1e+06]" {TS}'
            ],
            [(0, "rate_kgh", "reading: rate_kgh=2e+06 is outside the plausible range [0, 1e+06]")],
        ),
        (  # a reading without its register is dropped, the next one kept
            GAS,
            b'{"readings": [{"ts": %d, "values": {"flow_m3h": 3}}, {"ts": %d, "values": {"volume_m3": 9}}]}'
            % (TS, TS + 60_000),
            [
                f'gas,meter=gas-1,plant=ss-001 {ARRIVED},_source="mqtt",volume_m3=9,volume_m3_flag="N" {TS + 60_000}'
            ],
            [(0, None, "readings[0]: dropped, a gas meter must send volume_m3")],
        ),
        (  # an invalid register drops its reading; the reason names why
            GAS,
            b'{"readings": [{"ts": %d, "values": {"volume_m3": "n/a", "flow_m3h": 3}}, {"ts": %d, "values": {"volume_m3": 9}}]}'
            % (TS, TS + 60_000),
            [
                f'gas,meter=gas-1,plant=ss-001 {ARRIVED},_source="mqtt",volume_m3=9,volume_m3_flag="N" {TS + 60_000}'
            ],
            [
                (
                    0,
                    None,
                    'readings[0]: dropped, a gas meter must send volume_m3; volume_m3="n/a" is '
                    "not a number",
                )
            ],
        ),
        (  # unknown name, bad flag, non-number: each invalid with its reason, flow kept
            VOC,
            b'{"ts": %d, "values": {"nmhc_mgm3": null, "flow_m3h": 9000, "dmf": 3, "o2_pct": 20}, '
            b'"flags": {"o2_pct": "Z", "flow_m3h": "M"}}' % TS,
            [
                f'voc,meter=stack-1,plant=sl-001 {ARRIVED},_source="mqtt",dmf_invalid="\'dmf\' is not a value of a voc '
                f'meter {VOC_NAMES}",flow_m3h=9000,flow_m3h_flag="M",'
                'nmhc_mgm3_invalid="nmhc_mgm3=null is '
                'not a number",o2_pct_invalid="flag \\"Z\\" for \'o2_pct\' is not an HJ 212 flag '
                f'(NFMSDCTB)" {TS}'
            ],
            [
                (0, "nmhc_mgm3", "reading: nmhc_mgm3=null is not a number"),
                (0, "o2_pct", "reading: flag \"Z\" for 'o2_pct' is not an HJ 212 flag (NFMSDCTB)"),
                (0, "dmf", f"reading: 'dmf' is not a value of a voc meter {VOC_NAMES}"),
            ],
        ),
        (  # HJ 212 averaged-data names are not JSON value names
            VOC,
            b'{"ts": %d, "values": {"nmhc_mgm3": 4, "nmhc_mgm3_max": 5}}' % TS,
            [
                f'voc,meter=stack-1,plant=sl-001 {ARRIVED},_source="mqtt",nmhc_mgm3=4,nmhc_mgm3_flag="N",nmhc_mgm3_max_invalid='
                f"\"'nmhc_mgm3_max' is not a value of a voc meter {VOC_NAMES}\" {TS}"
            ],
            [
                (
                    0,
                    "nmhc_mgm3_max",
                    f"reading: 'nmhc_mgm3_max' is not a value of a voc meter {VOC_NAMES}",
                )
            ],
        ),
    ],
)
def test_kept_in_part(topic: str, payload: bytes, lines: list[str], problems: list) -> None:
    outcome = handle_message(RULES, topic, payload, NOW)
    assert isinstance(outcome, Accepted), outcome
    assert outcome.lines == lines
    assert [(p.index, p.value, p.reason) for p in outcome.problems] == problems


def test_the_plant_is_told_what_was_not_kept() -> None:
    payload = (
        b'{"readings": [{"ts": %d, "values": {"flow_m3h": 3}}, '
        b'{"ts": %d, "values": {"volume_m3": 9, "flow_m3h": -2}}]}' % (TS, TS + 60_000)
    )
    outcome = handle_message(RULES, GAS, payload, NOW)
    assert isinstance(outcome, Accepted)
    partial = outcome.partial_refusal()
    assert partial is not None and partial.partial
    assert json.loads(partial.to_json(GAS, NOW)) == {
        "topic": GAS,
        "code": "invalid_values",
        "reason": "1 reading(s) kept, 1 value(s) stored as invalid, 1 reading(s) dropped: "
        "readings[0]: dropped, a gas meter must send volume_m3",
        "received": "2026-03-01T00:10:00+00:00",
        "accepted": 1,
        "invalid": [
            {
                "reading": 1,
                "ts": "2026-03-01T00:01:00+00:00",
                "value": "flow_m3h",
                "reason": "readings[1]: flow_m3h=-2 is outside the plausible range [0, 1e+06]",
            }
        ],
        "invalid_total": 1,
        "dropped": [
            {
                "reading": 0,
                "ts": "2026-03-01T00:00:00+00:00",
                "reason": "readings[0]: dropped, a gas meter must send volume_m3",
            }
        ],
        "dropped_total": 1,
    }
    line = partial.dead_letter(GAS, payload, NOW, 3)
    assert line.startswith("dead_letter,code=invalid_values,plant=ss-001 ")
    # a whole refusal keeps its shape
    refused = handle_message(RULES, GAS, b"{", NOW)
    assert isinstance(refused, Refused) and not refused.partial
    assert set(json.loads(refused.to_json(GAS, NOW))) == {"topic", "code", "reason", "received"}
    clean = handle_message(RULES, GAS, b'{"ts": %d, "values": {"volume_m3": 1}}' % TS, NOW)
    assert isinstance(clean, Accepted) and clean.partial_refusal() is None


def test_a_long_list_is_capped_with_totals() -> None:
    readings = [{"ts": TS + i, "values": {"volume_m3": 1, "flow_m3h": -1}} for i in range(150)]
    outcome = handle_message(RULES, GAS, json.dumps({"readings": readings}).encode(), NOW)
    assert isinstance(outcome, Accepted) and len(outcome.readings) == 150
    partial = outcome.partial_refusal()
    assert partial is not None
    doc = json.loads(partial.to_json(GAS, NOW))
    assert (len(doc["invalid"]), doc["invalid_total"], doc["dropped_total"]) == (100, 150, 0)


def test_a_refusal_never_raises() -> None:
    for payload in (b"", b"\xff\xfe", b"[]", b"null", b"##", b'{"readings": []}'):
        assert isinstance(handle_message(RULES, GAS, payload, NOW), Refused)


FORGED_LINE = "gas,meter=gas-1,plant=ss-002 volume_m3=1e11 1772323200000"


@pytest.mark.parametrize(
    ("topic", "payload"),
    [
        # issue 14: a refused payload carrying a line for another plant
        (GAS, b"junk\n" + FORGED_LINE.encode() + b"\n"),
        (GAS, b"junk\r\n" + FORGED_LINE.encode() + b"\x85\xe2\x80\xa8\x1b[2J"),
        # the same through a meter id in the topic (HTTP push builds the topic from the path)
        (f"plantwatch/plants/ss-001/meters/x\n{FORGED_LINE}/readings", b"{}"),
        (f"plantwatch/plants/ss-001\n{FORGED_LINE}/hj212", b"##"),
    ],
)
def test_a_dead_letter_is_one_line_without_control_characters(topic: str, payload: bytes) -> None:
    refused = handle_message(RULES, topic, payload, NOW)
    assert isinstance(refused, Refused)
    line = refused.dead_letter(topic, payload, NOW, 1)
    assert not [
        ch for ch in line if ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 or ch in "\u2028\u2029"
    ]
    assert line.startswith("dead_letter,code=")
    assert ",plant=ss-001 " in line or ",plant=unknown " in line
    assert "\\n" + "gas,meter=gas-1,plant=ss-002" in line  # kept, visibly escaped
