"""Table tests of `handle_message`: topic -> registry -> schema -> per-kind validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ingest import hj212
from ingest.pipeline import Accepted, IngestRules, Refused, handle_message
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
TS = 1_772_323_200_000  # 2026-03-01T00:00:00Z
GAS = "plantwatch/plants/ss-001/meters/gas-1/readings"
COAL = "plantwatch/plants/ss-001/meters/coal-1/readings"
VOC = "plantwatch/plants/sl-001/meters/stack-1/readings"


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
            COAL,
            b'{"ts": %d, "values": {"mass_kg": 5, "rate_kgh": 2e6}}' % TS,
            "invalid_payload",
            "rate_kgh=2e+06",
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
            [f'gas,meter=gas-1,plant=ss-001 volume_m3=18234.5,volume_m3_flag="N" {TS}'],
        ),
        (
            GAS,  # within the tolerance of 5 minutes ahead of NOW
            b'{"ts": %d, "values": {"volume_m3": 1, "flow_m3h": 2}, "flags": {"flow_m3h": "M"}}'
            % (TS + 14 * 60_000),
            [
                'gas,meter=gas-1,plant=ss-001 flow_m3h=2,flow_m3h_flag="M",volume_m3=1,'
                f'volume_m3_flag="N" {TS + 14 * 60_000}'
            ],
        ),
        (
            "plantwatch/plants/sl-001/hj212",
            packet("MN-SL001", cn="2051"),
            [f'voc_minute,meter=stack-1,plant=sl-001 nmhc_mgm3=12.5,nmhc_mgm3_flag="N" {TS}'],
        ),
    ],
)
def test_accepted(topic: str, payload: bytes, lines: list[str]) -> None:
    outcome = handle_message(RULES, topic, payload, NOW)
    assert isinstance(outcome, Accepted), outcome
    assert outcome.lines == lines


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
