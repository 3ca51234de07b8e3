"""What the gateway does with one framed packet. Pure: registry and rules in, a decision out.

An SM4-encrypted HJ 212-2025 packet is decrypted with its stack's registry key before
anything else (one its key does not open is refused as `undecryptable`). The decision
carries the decoded plaintext; `raw` stays the bytes the logger sent, published as they
came (the collector decrypts with the same registry), and `plain` the plaintext packet
(forwarding). A control packet's `raw` is its plaintext.

A data packet goes through the collector's own `accept` (the same validation an MQTT
`hj212` packet gets) as the packet decoded here, with its stack: no second decode, no second
registry lookup, nothing encoded (docs/decisions.md). Before that come the checks only a
TCP gateway can make: the MN names a registered stack and the packet carries its `PW`.
Answers to the gateway's own commands (9011/9012, a CN 1011 time upload) and
time-calibration requests are control traffic for `commands.py`, not data.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime

from ingest.gateway import protocol
from ingest.kernel import hj212, hj212_sm4
from ingest.kernel.errors import RefusedReading
from ingest.kernel.pipeline import Hj212Data, IngestRules, Refused, accept
from ingest.kernel.registry import Meter, Plant, Registry
from ingest.kernel.topics import Topics

CONTROL_CNS = frozenset(
    {
        *protocol.COMMAND_ANSWERS,
        protocol.CN_GET_TIME,
        protocol.CN_TIME_CALIBRATION_REQUEST,
        protocol.CN_HEARTBEAT,
    }
)

WRONG_PASSWORD = "wrong_password"  # noqa: S105 (a refusal code, not a password)
UNDECRYPTABLE = "undecryptable"  # HJ 212-2025 SM4: the stack's key does not decrypt it
LOCKED_OUT = "locked_out"
AUTH_FAILURE_CODES = frozenset({WRONG_PASSWORD, UNDECRYPTABLE})


@dataclass(frozen=True, slots=True)
class DataPacket:
    """Accepted data: publish `raw` to `topic`, then answer if the packet asks."""

    plant: Plant
    meter: Meter
    packet: hj212.Packet
    raw: bytes
    topic: str
    plain: bytes = b""  # the plaintext packet when `raw` came SM4-encrypted (HJ 212-2025)


@dataclass(frozen=True, slots=True)
class ControlPacket:
    """A logger's answer to a command, or its own request (time calibration, heartbeat)."""

    plant: Plant
    meter: Meter
    packet: hj212.Packet
    raw: bytes


@dataclass(frozen=True, slots=True)
class Refusal:
    """Refused: no answer; kept as a dead letter and told on the plant's `rejected` topic."""

    refused: Refused
    topic: str  # the topic the packet would have gone to ("" when the plant is unknown)
    mn: str = ""


Decision = DataPacket | ControlPacket | Refusal


def check_frame(rules: IngestRules, raw: bytes, now: datetime) -> Decision:
    """Decrypt, decode, identify the stack, check its PW, then validate as the collector would.

    An SM4-encrypted packet (HJ 212-2025) is decrypted with its stack's key first
    (`hj212_sm4.py`); one that does not decrypt is refused.
    """
    sealed = hj212_sm4.is_encrypted(raw)
    plain = raw
    stack: tuple[Plant, Meter] | None = None
    if sealed:
        mn = hj212_sm4.header_field(raw, "MN")
        stack = rules.registry.stack_by_mn(mn)
        if stack is None:
            reason = f"MN {mn!r} is not a registered stack"
            return Refusal(Refused("", "unknown_source", reason), "", mn)
        try:
            plain, _key_index = hj212_sm4.open_packet(raw, stack[1].sm4_keys, mn)
        except RefusedReading as exc:
            topic = Topics(rules.topic_root).hj212(stack[0].id)
            return Refusal(Refused(stack[0].id, exc.code, str(exc)), topic, mn)
    try:
        packet = hj212.decode_packet(plain)
        hj212.check_logger_mn(packet)
    except RefusedReading as exc:
        return Refusal(Refused("", exc.code, str(exc)), "")
    # the stack that opened a sealed packet is the packet's own (the MN it decrypted under)
    found = (
        stack if stack is not None and packet.mn == mn else rules.registry.stack_by_mn(packet.mn)
    )
    if found is None:
        reason = f"MN {packet.mn!r} is not a registered stack"
        return Refusal(Refused("", "unknown_source", reason), "", packet.mn)
    plant, meter = found
    topic = Topics(rules.topic_root).hj212(plant.id)
    try:
        hj212_sm4.check_sealed(packet, meter.sm4_keys, sealed)
    except RefusedReading as exc:
        return Refusal(Refused(plant.id, exc.code, str(exc)), topic, packet.mn)
    if meter.hj212_pw is not None and not pw_matches(packet.header.get("PW", ""), meter.hj212_pw):
        reason = (
            f"PW of MN {packet.mn!r} does not match the registry's for "
            f"{plant.id}/{meter.id} (the logger's password is wrong)"
        )
        return Refusal(Refused(plant.id, WRONG_PASSWORD, reason), topic, packet.mn)
    if packet.cn in CONTROL_CNS:
        return ControlPacket(plant, meter, packet, plain)
    outcome = accept(rules, Hj212Data(plant, meter, packet), now)
    if isinstance(outcome, Refused):
        return Refusal(outcome, topic, packet.mn)
    return DataPacket(plant, meter, packet, raw, topic, plain if sealed else b"")


def pw_matches(sent: str, expected: str) -> bool:
    """Constant-time: how long the comparison takes tells nothing about the PW."""
    return hmac.compare_digest(sent.encode(), expected.encode())


def stacks_without_pw(registry: Registry) -> list[str]:
    """`plant/meter` of every stack with an MN but no `hj212_pw` (it would take any PW)."""
    return [
        f"{plant.id}/{meter.id}"
        for plant in registry.plants
        for meter in plant.meters
        if meter.hj212_mn and meter.hj212_pw is None
    ]
