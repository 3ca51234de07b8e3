"""Hostile payloads fuzzed into the validator and the HJ 212 parser (hypothesis).

Property: whatever arrives, `handle_message` returns either `Accepted` with points InfluxDB
can store, or `Refused` with a code and a non-empty reason; it never raises. The same holds
for `hj212.decode_packet` + `to_readings`, which raise only `Hj212Error` with a reason.
A crash here would stop a collector on a poison message that the broker redelivers forever.

Known defects found by this suite are pinned as strict xfails at the bottom: when the owner
fixes one, its test passes, strict xfail turns that into a failure, and the marker goes.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.kernel import hj212
from ingest.kernel.errors import Hj212Error
from ingest.kernel.pipeline import Accepted, IngestRules, Refused, handle_message
from ingest.kernel.schema import FLAGS
from tests.builders import MeterSpec, RegistryBuilder

MN = "33112400SL001STACK000001"
REGISTRY = (
    RegistryBuilder(county="Fuzz county")
    .plant("ss-001")
    .plant("sl-001", "synthetic_leather", [MeterSpec("stack-1", "voc", {"hj212_mn": MN})])
    .registry()
)
RULES = IngestRules(REGISTRY)
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
GAS_TOPIC = "plantwatch/plants/ss-001/meters/gas-1/readings"
VOC_TOPIC = "plantwatch/plants/sl-001/meters/stack-1/readings"
HJ212_TOPIC = "plantwatch/plants/sl-001/hj212"
TOPICS = [
    GAS_TOPIC,
    VOC_TOPIC,
    "plantwatch/plants/ss-001/meters/coal-1/readings",
    "plantwatch/plants/ss-001/meters/nope/readings",
    "plantwatch/plants/zz-999/meters/gas-1/readings",
    HJ212_TOPIC,
    "plantwatch/plants/ss-001/hj212",
    "plantwatch/plants/ss-001",
    "",
]
# InfluxDB stores times between 1677-09-21 and 2262-04-11 (int64 nanoseconds).
MIN_STORABLE_MS = -9_223_372_036_854
MAX_STORABLE_MS = 9_223_372_036_854
VALUE_NAMES = ["volume_m3", "flow_m3h", "mass_kg", "nmhc_mgm3", "dmf_mgm3", "o2_pct", "x"]
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check(outcome: object) -> None:
    """Accepted with storable points, or refused with a code and a reason."""
    if isinstance(outcome, Accepted):
        assert outcome.lines, "accepted but nothing to store"
        for line in outcome.lines:
            ts_ms = int(line.rsplit(" ", 1)[1])
            assert MIN_STORABLE_MS <= ts_ms <= MAX_STORABLE_MS, line
        return
    assert isinstance(outcome, Refused), outcome
    assert outcome.code.strip()
    assert outcome.reason.strip()


# --- JSON readings ---------------------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
)
timestamps = st.one_of(
    scalars,
    st.integers(min_value=946_684_800_000, max_value=4_102_444_800_000),
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    st.sampled_from(
        [
            "2026-11-27T08:00:00+08:00",
            "2026-11-27T08:00:00",
            "2026-11-27",
            "9999-12-31T23:59:59-23:59",
        ]
    ),
)
readings = st.fixed_dictionaries(
    {
        "ts": timestamps,
        "values": st.dictionaries(
            st.sampled_from(VALUE_NAMES) | st.text(max_size=10), scalars, max_size=4
        ),
    },
    optional={
        "flags": st.dictionaries(
            st.sampled_from(VALUE_NAMES) | st.text(max_size=5),
            st.sampled_from(sorted(FLAGS)) | st.text(max_size=3),
            max_size=3,
        ),
        "extra": scalars,
    },
)
documents = st.one_of(
    st.fixed_dictionaries({"readings": st.lists(readings, max_size=5)}),
    readings,
    st.recursive(
        scalars, lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner), max_leaves=20
    ),
)


def dump(doc: Any) -> bytes:
    return json.dumps(doc, allow_nan=True).encode()


@FUZZ
@given(topic=st.sampled_from(TOPICS), doc=documents)
def test_hostile_json_is_accepted_or_refused_with_a_reason(topic: str, doc: Any) -> None:
    check(handle_message(RULES, topic, dump(doc), NOW))


@FUZZ
@given(topic=st.sampled_from(TOPICS), payload=st.binary(max_size=600))
def test_random_bytes_are_refused_with_a_reason(topic: str, payload: bytes) -> None:
    check(handle_message(RULES, topic, payload, NOW))


VALID = (
    b'{"readings":[{"ts":1772323200000,"values":{"volume_m3":18234.5},"flags":{"volume_m3":"N"}}]}'
)


@FUZZ
@given(
    edits=st.lists(
        st.tuples(st.integers(0, len(VALID)), st.integers(0, 255), st.sampled_from("ids")),
        min_size=1,
        max_size=6,
    )
)
def test_mutated_valid_payloads_are_accepted_or_refused(edits: list[tuple[int, int, str]]) -> None:
    payload = bytearray(VALID)
    for pos, byte, op in edits:
        pos = min(pos, len(payload))
        if op == "i":
            payload.insert(pos, byte)
        elif op == "d" and pos < len(payload):
            del payload[pos]
        elif pos < len(payload):
            payload[pos] = byte
    check(handle_message(RULES, GAS_TOPIC, bytes(payload), NOW))


@FUZZ
@given(topic=st.text(max_size=80))
def test_hostile_topics_are_refused_with_a_reason(topic: str) -> None:
    check(handle_message(RULES, topic, VALID, NOW))


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b"", "invalid_payload"),
        (b"null", "invalid_payload"),
        (b'{"readings": []}', "invalid_payload"),
        (b'{"readings": [{"ts": 1772323200000, "values": {"volume_m3": NaN}}]}', "invalid_payload"),
        (
            b'{"readings": [{"ts": 1772323200000, "values": {"volume_m3": 1e999}}]}',
            "invalid_payload",
        ),
        (b'{"ts": 1772323200, "values": {"volume_m3": 1}}', "invalid_payload"),  # epoch seconds
        (b'{"ts": "2026-11-27T08:00:00", "values": {"volume_m3": 1}}', "invalid_payload"),
        (b'{"ts": 1772323200000, "values": {"volume_m3": -1}}', "invalid_payload"),
        (b'{"ts": 1772323200000, "values": {"volume_l": 1}}', "invalid_payload"),
        (b'{"ts": 1772323200000, "values": {"volume_m3": "1"}}', "invalid_payload"),
        (b'{"ts": 1772323200000, "values": {"volume_m3": true}}', "invalid_payload"),
        (b"\xff\xfe{}", "invalid_payload"),
        (b"x" * 4_000_001, "invalid_payload"),  # over the payload cap
    ],
)
def test_hostile_json_literals_are_refused_with_their_code(payload: bytes, code: str) -> None:
    outcome = handle_message(RULES, GAS_TOPIC, payload, NOW)
    assert isinstance(outcome, Refused), outcome
    assert outcome.code == code
    assert outcome.reason


# --- HJ 212 -------------------------------------------------------------------------------------


def frame_any(segment: bytes) -> bytes:
    """A frame with a correct length and CRC around any segment (even one the standard forbids)."""
    return (
        b"##"
        + f"{len(segment):04d}".encode()
        + segment
        + f"{hj212.crc16(segment):04X}".encode()
        + b"\r\n"
    )


field_text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=12)
codes = st.sampled_from([*hj212.CODE_MAP, "a99999"]) | field_text
kinds = st.sampled_from(["Rtd", "Avg", "Min", "Max", "Cou", "Flag"]) | field_text
numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**20), 10**20).map(str),
    st.sampled_from(sorted(FLAGS)),
    field_text,
)
# DataTime within InfluxDB's storable years; other years are pinned in an xfail below.
data_times = st.one_of(
    st.datetimes(min_value=datetime(1678, 1, 1), max_value=datetime(2261, 12, 31)).map(
        lambda d: d.strftime("%Y%m%d%H%M%S")
    ),
    field_text,
)


@st.composite
def segments(draw: st.DrawFn) -> bytes:
    cn = draw(st.sampled_from(["2011", "2051", "2061", "9014"]) | field_text)
    mn = draw(st.sampled_from([MN, "33112400SL001STACK000002"]) | field_text)
    items = draw(st.lists(st.tuples(codes, kinds, numbers), max_size=6))
    cp = ";".join([f"DataTime={draw(data_times)}", *(f"{c}-{k}={v}" for c, k, v in items)])
    head = f"QN={draw(field_text)};ST=31;CN={cn};PW=123456;MN={mn};Flag=4;"
    text = head + f"CP=&&{cp}&&" if draw(st.booleans()) else head + cp
    return text.encode()


@FUZZ
@given(segment=segments())
def test_hostile_hj212_packets_are_accepted_or_refused(segment: bytes) -> None:
    packet = frame_any(segment)
    check(handle_message(RULES, HJ212_TOPIC, packet, NOW))
    try:
        readings = hj212.to_readings(hj212.decode_packet(packet), "Asia/Shanghai")
    except Hj212Error as exc:
        assert str(exc).strip()
    else:
        assert readings and (readings[0].values or readings[0].invalid)


@FUZZ
@given(raw=st.binary(max_size=300))
def test_random_bytes_into_the_hj212_parser(raw: bytes) -> None:
    for payload in (raw, b"##" + raw, frame_any(raw)):
        check(handle_message(RULES, HJ212_TOPIC, payload, NOW))
        try:
            hj212.decode_packet(payload)
        except Hj212Error as exc:
            assert str(exc).strip()


GOOD_PACKET = hj212.encode_packet(
    qn="20261127120000000",
    cn="2011",
    mn=MN,
    data_time="20261127195900",
    items={"a24088": {"Rtd": "12.5", "Flag": "N"}, "a00000": {"Rtd": "3.2"}},
)


def test_the_unmutated_packet_is_accepted() -> None:
    """The mutation test below starts from a packet that is really accepted."""
    assert isinstance(handle_message(RULES, HJ212_TOPIC, GOOD_PACKET, NOW), Accepted)


@FUZZ
@given(pos=st.integers(0, len(GOOD_PACKET) - 1), byte=st.integers(0, 255))
def test_one_flipped_byte_in_a_packet_is_caught(pos: int, byte: int) -> None:
    payload = bytearray(GOOD_PACKET)
    changed = payload[pos] != byte
    payload[pos] = byte
    outcome = handle_message(RULES, HJ212_TOPIC, bytes(payload), NOW)
    check(outcome)
    # Any change to the length or the data segment must be refused: the CRC sees it.
    # (The CRC text itself may be reparsed leniently, e.g. lower-case hex: same checksum.)
    if changed and 2 <= pos < len(GOOD_PACKET) - 6:
        assert isinstance(outcome, Refused), (pos, byte)


# --- defects this suite found, now fixed (regression tests) --------------------------------------------------------------


def test_deeply_nested_json_is_refused() -> None:
    check(handle_message(RULES, GAS_TOPIC, b"[" * 100_000, NOW))


def test_a_list_as_a_flag_is_refused() -> None:
    payload = b'{"ts": 1772323200000, "values": {"volume_m3": 1}, "flags": {"volume_m3": []}}'
    check(handle_message(RULES, GAS_TOPIC, payload, NOW))


def test_hj212_datatime_out_of_range_is_refused() -> None:
    packet = hj212.encode_packet(
        qn="1", cn="2011", mn=MN, data_time="00010101000000", items={"a24088": {"Rtd": "1"}}
    )
    check(handle_message(RULES, HJ212_TOPIC, packet, NOW))


def test_hj212_text_beyond_latin1_is_refused() -> None:
    with pytest.raises(Hj212Error):
        hj212.decode_packet("##0004松阳AB\r\n")
