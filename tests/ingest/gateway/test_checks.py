"""What the gateway decides for one packet: literal tables, no network."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from ingest.gateway import protocol
from ingest.gateway.checks import ControlPacket, DataPacket, Refusal, check_frame
from ingest.gateway.run import build_rules
from ingest.kernel import hj212
from ingest.kernel.errors import RegistryError
from ingest.kernel.pipeline import IngestRules
from ingest.kernel.registry import load_registry
from ingest.settings import GatewaySettings
from tests.builders import MeterSpec, RegistryBuilder
from tests.ingest import hj2025 as v2025
from tests.ingest.gateway.helpers import MN, OTHER_MN, PW, packet, registry
from tests.ingest.gateway.packets import ANSWER_9014_LOWERCASE_CRC, HOUR_2061
from tests.support import write_registry

NOW = datetime(2026, 3, 1, 0, 10, tzinfo=UTC)  # 08:10 in Songyang
T = datetime(2026, 3, 1, 0, 5, tzinfo=UTC)


@pytest.fixture
def rules(tmp_path: Path):
    path = registry(tmp_path / "r.toml")
    return build_rules(GatewaySettings(registry=path), load_registry(path))


@pytest.mark.parametrize(
    ("raw", "kind", "code"),
    [
        (packet(T), DataPacket, ""),
        (packet(T, pw="123456"), Refusal, "wrong_password"),
        (packet(T, mn="UNKNOWN"), Refusal, "unknown_source"),
        (packet(T, mn=OTHER_MN, pw="anything"), DataPacket, ""),  # no PW in the registry
        (packet(T)[:-8] + b"0000\r\n", Refusal, "hj212"),  # CRC
        (HOUR_2061, Refusal, "unknown_source"),  # a real field packet, not our logger
        (packet(datetime(2026, 3, 2, tzinfo=UTC)), Refusal, "invalid_payload"),  # future
        (
            hj212.frame(f"QN=1;ST=91;CN=9012;PW={PW};MN={MN};Flag=4;CP=&&ExeRtn=1&&"),
            ControlPacket,
            "",
        ),
        (
            hj212.frame(f"QN=1;ST=31;CN=1013;PW={PW};MN={MN};Flag=5;CP=&&&&"),
            ControlPacket,
            "",
        ),
    ],
)
def test_decisions(rules, raw: bytes, kind: type, code: str) -> None:
    decision = check_frame(rules, raw, NOW)
    assert isinstance(decision, kind), decision
    if isinstance(decision, Refusal):
        assert decision.refused.code == code
        assert decision.refused.reason
    if isinstance(decision, DataPacket):
        assert decision.topic == f"plantwatch/plants/{decision.plant.id}/hj212"


def test_wrong_password_names_the_stack_and_is_told_to_its_plant(rules) -> None:
    decision = check_frame(rules, packet(T, pw="nope"), NOW)
    assert isinstance(decision, Refusal)
    assert decision.refused.plant == "sl-001"
    assert "sl-001/stack-1" in decision.refused.reason


@pytest.mark.parametrize(
    ("flag", "wants"), [("5", True), ("4", False), ("7", True), ("0", False), ("x", False)]
)
def test_flag_answer_bit(flag: str, wants: bool) -> None:
    assert protocol.wants_answer(hj212.decode_packet(packet(T, flag=flag))) is wants


def test_data_answer_carries_the_qn_and_is_a_valid_packet() -> None:
    answer = protocol.data_answer(hj212.decode_packet(packet(T, qn="20260301080500123")))
    decoded = hj212.decode_packet(answer)
    assert (decoded.qn, decoded.cn, decoded.st, decoded.mn) == (
        "20260301080500123", "9014", "91", MN,
    )  # fmt: skip
    assert answer.endswith(b"\r\n")
    # the shape of a real platform's answer
    assert hj212.decode_packet(ANSWER_9014_LOWERCASE_CRC).cn == "9014"


@pytest.mark.parametrize("pw", ["", "a;b", "x" * 33, 123456])
def test_registry_refuses_a_bad_hj212_pw(tmp_path: Path, pw: object) -> None:
    text = RegistryBuilder().plant(
        "sl-001", "synthetic_leather", [MeterSpec("stack-1", "voc", {"hj212_pw": pw})]
    )
    path = write_registry(tmp_path / "r.toml", text.toml())
    with pytest.raises(RegistryError, match="hj212_pw"):
        load_registry(path)


# -- HJ 212-2025 ------------------------------------------------------------------------


def test_an_encrypted_packet_goes_on_as_its_plaintext() -> None:
    decision = check_frame(v2025.rules(), v2025.A2_SEALED_TAIL, NOW)
    assert isinstance(decision, DataPacket), decision
    assert decision.raw == v2025.A2_SEALED_TAIL  # published as the logger sent it
    assert decision.plain == v2025.A2_PLAIN_TAIL  # what the forwarder reads
    assert decision.packet == hj212.decode_packet(v2025.A2_PLAIN_TAIL)
    assert protocol.data_answer(decision.packet).count(b"Flag=8;") == 1


@pytest.mark.parametrize(
    ("raw", "code", "plant"),
    [
        (v2025.A2_SEALED_TAIL.replace(b"0x3E,", b"0x3F,"), "undecryptable", "sl-025"),
        (v2025.A2_PLAIN_TAIL, "not_encrypted", "sl-025"),
        (v2025.A2_SEALED_TAIL.replace(v2025.MN.encode(), b"F" * 24), "unknown_source", ""),
        (packet(T, flag="9"), "hj212", ""),  # the demo's 2017 MN on a 2025 packet
    ],
)
def test_2025_refusals(raw: bytes, code: str, plant: str) -> None:
    rules = v2025.rules()
    if code == "hj212":
        rules = IngestRules(RegistryBuilder().registry())
    decision = check_frame(rules, raw, NOW)
    assert isinstance(decision, Refusal), decision
    assert (decision.refused.code, decision.refused.plant) == (code, plant)
    assert v2025.KEY_HEX not in decision.refused.reason
