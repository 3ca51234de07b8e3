"""HJ 212-2025: the standard's own Appendix A examples, versions, MN, RF, SM4. Pure tables.

The Appendix A packets are the standard's (tests/ingest/support.py says where from).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ingest.gateway import protocol
from ingest.kernel import hj212, hj212_sm4
from ingest.kernel.errors import Hj212Error, UnknownSource
from ingest.kernel.pipeline import Accepted, Refused, handle_message
from tests.ingest.hj2025 import (
    A1,
    A2_PLAIN_13_BLOCKS,
    A2_PLAIN_TAIL,
    A2_SEALED_13_BLOCKS,
    A2_SEALED_TAIL,
    KEY,
    KEY_HEX,
    MN,
    NOW,
    PLAIN_MN,
    PW,
    rules,
)


def test_appendix_a1_crc_example_decodes_as_a_2025_packet() -> None:
    packet = hj212.decode_packet(A1)
    assert hj212.crc16(A1[6:-4]) == 0x2200
    assert (packet.cn, packet.mn, packet.flag, packet.version) == ("1011", MN, 9, 2)
    assert protocol.wants_answer(packet)
    hj212.check_logger_mn(packet)  # a 24-hex network code


@pytest.mark.parametrize(
    ("plain", "sealed", "tail"),
    [(A2_PLAIN_13_BLOCKS, A2_SEALED_13_BLOCKS, b"}&&"), (A2_PLAIN_TAIL, A2_SEALED_TAIL, b"}g=N&&")],
    ids=["13-blocks", "plain-tail"],
)
def test_appendix_a2_examples_decrypt_and_encrypt_byte_for_byte(
    plain: bytes, sealed: bytes, tail: bytes
) -> None:
    assert hj212.decode_packet(plain).data_time == "20240520210600"  # CRC over the plaintext
    assert hj212_sm4.is_encrypted(sealed) and not hj212_sm4.is_encrypted(plain)
    assert hj212_sm4.open_packet(sealed, [KEY], MN) == (plain, 0)
    assert hj212_sm4.encrypt_packet(plain, KEY) == sealed + b"\r\n"
    assert tail in sealed
    # the length field gives the plaintext's length, not what is on the wire
    assert int(sealed[2:6]) == len(plain) - 10 < len(sealed) - 10


def test_a_wrong_or_missing_key_does_not_open_a_packet() -> None:
    with pytest.raises(hj212_sm4.UndecryptableError, match="does not decrypt"):
        hj212_sm4.open_packet(A2_SEALED_TAIL, [b"1" * 16], MN)
    with pytest.raises(hj212_sm4.UndecryptableError, match="no hj212_sm4_key"):
        hj212_sm4.open_packet(A2_SEALED_TAIL, [], MN)
    with pytest.raises(Hj212Error, match="whole 16-byte"):
        hj212_sm4.open_packet(A2_SEALED_TAIL.replace(b",0xA4}", b"}"), [KEY], MN)


def test_during_a_rotation_the_previous_key_still_opens_a_packet() -> None:
    new = bytes(range(16))
    assert hj212_sm4.open_packet(A2_SEALED_13_BLOCKS, [new, KEY], MN) == (A2_PLAIN_13_BLOCKS, 1)
    resealed = hj212_sm4.encrypt_packet(A2_PLAIN_13_BLOCKS, new)
    assert hj212_sm4.open_packet(resealed, [new, KEY], MN) == (A2_PLAIN_13_BLOCKS, 0)


@pytest.mark.parametrize(
    ("flag", "version", "answer_flag", "split"),
    [
        ("4", 1, "4", False),
        ("5", 1, "4", False),
        ("7", 1, "4", True),
        ("8", 2, "8", False),
        ("9", 2, "8", False),
        ("11", 2, "8", True),
        ("", 1, "4", False),  # field loggers without Flag are answered as 2017
    ],
)
def test_version_from_flag_and_answers_in_it(
    flag: str, version: int, answer_flag: str, split: bool
) -> None:
    split_fields = "PNUM=2;PNO=1;" if split else ""
    flag_field = f"Flag={flag};" if flag else ""
    raw = hj212.frame(
        f"QN=1;ST=31;CN=2011;PW=1;MN={MN};{flag_field}{split_fields}CP=&&DataTime=20260301000000&&"
    )
    packet = hj212.decode_packet(raw)
    assert packet.version == version
    assert (packet.split == (2, 1)) is split
    answer = hj212.decode_packet(protocol.data_answer(packet))
    assert (answer.cn, answer.header["Flag"]) == ("9014", answer_flag)


def test_commands_go_out_in_the_loggers_version_and_encrypted_with_its_key() -> None:
    command = protocol.Command("1", "2051", MN, PW, {"BeginTime": "20260301000000"}, version=2)
    sealed = command.encode(KEY)
    assert b"Flag=9;" in sealed and hj212_sm4.is_encrypted(sealed)
    plain, _ = hj212_sm4.open_packet(sealed, [KEY], MN)
    assert plain + b"\r\n" == command.encode()
    time_set = protocol.Command("2", "1012", MN, PW, {"SystemTime": "20260301000000"}, version=2)
    assert not hj212_sm4.is_encrypted(time_set.encode(KEY))  # CN 1012 is not encrypted
    assert b"Flag=5;" in protocol.Command("3", "1011", "M", PW, {}).encode()


@pytest.mark.parametrize(
    ("mn", "flag", "refused"),
    [
        ("33112400SL001STACK000001", "9", True),  # the demo's 2017 MN on a 2025 packet
        ("010000a8900016f000169dc0", "9", True),  # lower case is not the network code
        ("010000A8900016F000169DC", "8", True),  # 23 characters
        (MN, "9", False),
        ("33112400SL001STACK000001", "5", False),  # 2017 MNs are free-form
    ],
)
def test_2025_loggers_carry_a_24_hex_mn(mn: str, flag: str, refused: bool) -> None:
    packet = hj212.decode_packet(
        hj212.frame(f"QN=1;ST=31;CN=2011;PW=1;MN={mn};Flag={flag};CP=&&DataTime=20260301000000&&")
    )
    if refused:
        with pytest.raises(Hj212Error, match="24-character network code"):
            hj212.check_logger_mn(packet)
    else:
        hj212.check_logger_mn(packet)


def _topic() -> str:
    return "plantwatch/plants/sl-025/hj212"


def test_an_encrypted_packet_on_mqtt_is_decrypted_and_stored() -> None:
    outcome = handle_message(rules(), _topic(), A2_SEALED_13_BLOCKS, NOW)
    assert isinstance(outcome, Accepted), outcome
    assert outcome.readings[0].values["temp_c"] == 9.3
    assert outcome.lines[0].startswith("voc_minute,meter=stack-1,plant=sl-025 ")


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (A2_SEALED_13_BLOCKS.replace(b"0x41}", b"0x42}"), "undecryptable"),
        (A2_PLAIN_13_BLOCKS, "not_encrypted"),  # a keyed stack's data in plain text
    ],
)
def test_what_a_keyed_stack_cannot_send(payload: bytes, code: str) -> None:
    outcome = handle_message(rules(), _topic(), payload, NOW)
    assert isinstance(outcome, Refused) and outcome.code == code, outcome
    assert KEY_HEX not in outcome.reason


def test_an_encrypted_packet_of_an_unknown_mn_is_unknown_not_undecryptable() -> None:
    with pytest.raises(UnknownSource):
        hj212_sm4.unseal(A2_SEALED_13_BLOCKS.replace(MN.encode(), b"F" * 24), lambda mn: None)


def _plain(cn: str, cp: str, *, st: str = "31", rf: str = "") -> bytes:
    return hj212.frame(
        f"QN=20260301080000000;ST={st};CN={cn};PW={PW};MN={PLAIN_MN};Flag=9;{rf}CP=&&{cp}&&"
    )


def test_rf_1_is_stored_at_its_own_time_marked_backfill() -> None:
    cp = "DataTime=20260228080000;a24088-Avg=12.5,a24088-Flag=N"
    outcome = handle_message(rules(), _topic(), _plain("2051", cp, rf="RF=1;"), NOW)
    assert isinstance(outcome, Accepted), outcome
    assert outcome.readings[0].ts == datetime(2026, 2, 28, 0, 0, tzinfo=UTC)
    assert "backfill=true" in outcome.lines[0]
    live = handle_message(rules(), _topic(), _plain("2051", cp), NOW)
    assert isinstance(live, Accepted) and "backfill" not in live.lines[0]


@pytest.mark.parametrize(
    ("st", "cn", "cp"),
    [
        ("91", "9015", "DataTime=20260301080000"),  # heartbeat
        ("31", "3020", "DataTime=20260301080000;i11001-Info=//设备故障//"),  # device info
        ("27", "2013", "DataTime=20260301080000;a24088-Rtd=1.0,a24088-Flag=N"),  # raw analyser
        ("44", "2011", "DataTime=20260301080000;d20001-Rtd=55.1,d30001-Rtd=0.2"),  # power
        ("45", "2011", "DataTime=20260301080000;p99101-Rtd=1"),  # production conditions
    ],
)
def test_new_2025_data_systems_are_kept_never_refused(st: str, cn: str, cp: str) -> None:
    outcome = handle_message(rules(), _topic(), _plain(cn, cp, st=st), NOW)
    assert isinstance(outcome, Accepted), outcome
    assert outcome.lines[0].startswith("hj212_event,")


def test_keys_stay_out_of_the_registry_repr() -> None:
    stack = rules().registry.stack_by_mn(MN)
    assert stack is not None
    assert KEY_HEX not in repr(stack[1]) and stack[1].sm4_keys == (KEY,)


def test_an_upstream_gets_the_packet_with_its_own_key() -> None:
    upstream = bytes(range(16))
    resealed = hj212_sm4.reseal(A2_SEALED_TAIL, [KEY], upstream)
    assert hj212_sm4.open_packet(resealed, [upstream]) == (A2_PLAIN_TAIL, 0)
    assert hj212_sm4.reseal(A2_SEALED_TAIL, [KEY], None) == A2_PLAIN_TAIL + b"\r\n"
    assert hj212_sm4.reseal(A2_PLAIN_TAIL, [], KEY) == A2_SEALED_TAIL + b"\r\n"
