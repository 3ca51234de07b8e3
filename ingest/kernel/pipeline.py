"""The pure heart of a collector: one inbound message to points, or a refusal with a reason.

    handle_message(topic, payload) = decode (topic, registry, payload: each once)
                                     then accept (screen values, check the clock, make points)

`accept` is the one way in: JSON readings, an HJ 212 packet from MQTT, and the TCP gateway's
packet (`Hj212Data`, decoded by the gateway's own checks) all go through it. Points stay data
(`ingest.kernel.lineproto.Point`) until the write edge encodes them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from ingest.kernel import hj212, hj212_sm4
from ingest.kernel.errors import RefusedReading, UnknownSource
from ingest.kernel.lineproto import Point, encode
from ingest.kernel.points import dead_letter_point, event_point, reading_points
from ingest.kernel.record import HJ212, declared_source
from ingest.kernel.registry import Meter, Plant, Registry
from ingest.kernel.schema import Reading, parse_message, to_epoch_ms
from ingest.kernel.topics import Source, parse_topic
from ingest.kernel.validate import Problem, check_clock, screen_readings, screen_values
from ingest.settings import CommonSettings

# A partial refusal lists at most this many invalid values and dropped readings (the
# `rejected` message must stay well under the broker's packet limit); totals say the rest.
MAX_PROBLEMS_LISTED = 100
PARTIAL_CODE = "invalid_values"


@dataclass(frozen=True, slots=True)
class Accepted:
    plant: str
    meter: str
    points: tuple[Point, ...]
    kind: str = ""
    readings: tuple[Reading, ...] = ()
    # JSON only: values stored as invalid and readings dropped, which the plant is told
    problems: tuple[Problem, ...] = ()

    @property
    def lines(self) -> list[str]:
        """The points as line protocol, for callers that write lines themselves."""
        return [encode(p) for p in self.points]

    def partial_refusal(self) -> Refused | None:
        """What the plant is told (and the dead letter keeps) of a message kept in part."""
        if not self.problems:
            return None
        dropped = sum(1 for p in self.problems if p.value is None)
        invalid = len(self.problems) - dropped
        reason = (
            f"{len(self.readings)} reading(s) kept, {invalid} value(s) stored as invalid, "
            f"{dropped} reading(s) dropped: {self.problems[0].reason}"
        )
        return Refused(self.plant, PARTIAL_CODE, reason, self.problems, len(self.readings))


@dataclass(frozen=True, slots=True)
class Refused:
    """A message refused whole, or (`problems` set) the part of a kept message refused."""

    plant: str
    code: str
    reason: str
    problems: tuple[Problem, ...] = ()
    accepted: int = 0  # readings kept from a partially refused message

    @property
    def partial(self) -> bool:
        return bool(self.problems)

    def to_json(self, topic: str, received: datetime) -> bytes:
        """The message published to the plant's `rejected` topic."""
        doc: dict[str, object] = {
            "topic": topic,
            "code": self.code,
            "reason": self.reason,
            "received": received.isoformat(),
        }
        if self.partial:
            doc.update(problem_lists(self.problems))
            doc["accepted"] = self.accepted
        return json.dumps(doc, ensure_ascii=False).encode()

    def dead_letter_point(self, topic: str, payload: bytes, received: datetime, seq: int) -> Point:
        """The point that keeps this refused message in `dead_letter`, with its reason."""
        return dead_letter_point(topic, self.plant, self.code, self.reason, payload, received, seq)

    def dead_letter(self, topic: str, payload: bytes, received: datetime, seq: int) -> str:
        """`dead_letter_point`, encoded (for writers of lines: the gateway, HTTP push)."""
        return encode(self.dead_letter_point(topic, payload, received, seq))


@dataclass(frozen=True, slots=True)
class IngestRules:
    registry: Registry
    topic_root: str = "plantwatch"
    future_tolerance: timedelta = timedelta(minutes=5)
    timezone: str = CommonSettings.model_fields["timezone"].default

    @classmethod
    def from_settings(cls, settings: CommonSettings, registry: Registry) -> IngestRules:
        """The one way to build the rules: collectors and HTTP push validate alike."""
        return cls(
            registry,
            settings.topic_root,
            timedelta(seconds=settings.future_tolerance_seconds),
            settings.timezone,
        )


@dataclass(frozen=True, slots=True)
class JsonReadings:
    """A JSON message decoded, its plant and meter resolved from the topic."""

    plant: Plant
    meter: Meter
    readings: tuple[Reading, ...]
    source: str  # how it came (`mqtt`, or the delivery path the document declares)


@dataclass(frozen=True, slots=True)
class Hj212Data:
    """An HJ 212 packet decoded (decrypted if it came sealed), its stack found and checked.

    Made by `decode` for a packet that arrived on a plant's `hj212` topic, or by the TCP
    gateway, which has decoded and identified the packet already (`gateway/checks.py`).
    """

    plant: Plant
    meter: Meter
    packet: hj212.Packet


Decoded = JsonReadings | Hj212Data


def handle_message(
    rules: IngestRules, topic: str, payload: bytes, now: datetime
) -> Accepted | Refused:
    """Decode, check and turn one message into points; never raises for bad input."""
    plant_id = ""
    try:
        source = parse_topic(topic, rules.topic_root)
        plant_id = source.plant
        decoded = decode(rules, source, payload)
    except Exception as exc:
        return _refusal(plant_id, exc)
    return accept(rules, decoded, now)


def decode(rules: IngestRules, source: Source, payload: bytes) -> Decoded:
    """The message's payload decoded and its source looked up in the registry, once.

    Raises `RefusedReading` for an unknown source or a payload that cannot be read.
    """
    plant = rules.registry.plant(source.plant)
    if plant is None:
        raise UnknownSource(f"plant {source.plant!r} is not in the registry")
    if source.kind == "hj212":
        return _decode_hj212(rules, plant, payload)
    assert source.meter is not None
    meter = plant.meter(source.meter)
    if meter is None:
        raise UnknownSource(f"meter {source.meter!r} is not registered for plant {plant.id!r}")
    readings, declared = parse_message(payload)
    return JsonReadings(plant, meter, tuple(readings), declared_source(declared))


def accept(rules: IngestRules, decoded: Decoded, now: datetime) -> Accepted | Refused:
    """Check a decoded message and turn it into points: the one way in for every path.

    JSON readings and HJ 212 packets (from MQTT or from the TCP gateway) come through here;
    never raises for bad input.
    """
    try:
        if isinstance(decoded, Hj212Data):
            return _hj212_points(rules, decoded, now)
        plant, meter = decoded.plant, decoded.meter
        screened = screen_readings(meter, decoded.readings, now, rules.future_tolerance)
        points = reading_points(
            plant, meter, screened.readings, None, to_epoch_ms(now), decoded.source
        )
        return Accepted(
            plant.id, meter.id, tuple(points), meter.kind, screened.readings, screened.problems
        )
    except Exception as exc:
        return _refusal(decoded.plant.id, exc)


def _refusal(plant_id: str, exc: Exception) -> Refused:
    if isinstance(exc, RefusedReading):
        return Refused(plant_id, exc.code, str(exc))
    # A bug in a parser would otherwise be redelivered forever; keep the message as a
    # dead letter with the error so it can be replayed once fixed.
    return Refused(
        plant_id,
        "internal_error",
        f"message could not be processed: {type(exc).__name__}: {exc}",
    )


def problem_lists(problems: tuple[Problem, ...]) -> dict[str, object]:
    """`invalid` values and `dropped` readings as the plant is told them (capped, with totals)."""
    invalid = [p for p in problems if p.value is not None]
    dropped = [p for p in problems if p.value is None]
    return {
        "invalid": [
            {"reading": p.index, "ts": p.ts.isoformat(), "value": p.value, "reason": p.reason}
            for p in invalid[:MAX_PROBLEMS_LISTED]
        ],
        "invalid_total": len(invalid),
        "dropped": [
            {"reading": p.index, "ts": p.ts.isoformat(), "reason": p.reason}
            for p in dropped[:MAX_PROBLEMS_LISTED]
        ],
        "dropped_total": len(dropped),
    }


def _decode_hj212(rules: IngestRules, plant: Plant, payload: bytes) -> Hj212Data:
    """Decrypt (HJ 212-2025 SM4) with the stack's key, decode, and find the stack by its MN.

    The stack of an MN is looked up once; an MN that is not a stack of this plant is an
    unknown source (a plant publishes only its own stacks' packets).
    """
    stacks: dict[str, tuple[Plant, Meter] | None] = {}

    def stack_of(mn: str) -> tuple[Plant, Meter] | None:
        if mn not in stacks:
            found = rules.registry.stack_by_mn(mn)
            stacks[mn] = found if found is not None and found[0].id == plant.id else None
        return stacks[mn]

    def keys_of(mn: str) -> tuple[bytes, ...] | None:
        stack = stack_of(mn)
        return stack[1].sm4_keys if stack is not None else None

    plain, sealed = hj212_sm4.unseal(payload, keys_of)
    packet = hj212.decode_packet(plain)
    hj212.check_logger_mn(packet)
    found = stack_of(packet.mn)
    if found is None:
        raise UnknownSource(f"MN {packet.mn!r} is not a stack of plant {plant.id!r}")
    meter = found[1]
    hj212_sm4.check_sealed(packet, meter.sm4_keys, sealed)
    return Hj212Data(plant, meter, packet)


def _hj212_points(rules: IngestRules, data: Hj212Data, now: datetime) -> Accepted:
    """A packet is refused only for its frame, CN, MN, key or time; its values one by one.

    An RF=1 packet's points are marked `backfill` (stored at their own DataTime).
    """
    plant, meter, packet = data.plant, data.meter, data.packet
    if meter.kind == "electricity":
        return _power_packet(rules, plant, packet, now)
    result = hj212.interpret(packet, rules.timezone, hj212.code_map(meter.codes, meter.flow_unit))
    if isinstance(result, hj212.Event):
        check_clock([result.ts], now, rules.future_tolerance)
        return Accepted(plant.id, meter.id, (event_point(plant, meter, result),), meter.kind)
    reading = screen_values(meter.kind, result.reading)
    check_clock([reading.ts], now, rules.future_tolerance)
    points = reading_points(
        plant,
        meter,
        [reading],
        result.measurement,
        to_epoch_ms(now),
        HJ212,
        backfill=packet.backfill,
    )
    return Accepted(plant.id, meter.id, tuple(points), meter.kind, (reading,))


def _power_packet(
    rules: IngestRules, plant: Plant, packet: hj212.Packet, now: datetime
) -> Accepted:
    """HJ 212 power monitoring (ST=44): the codes of every electricity meter on this MN.

    One logger sends the d2xxxx (production) and d3xxxx (treatment) codes of several meters;
    each meter's registry `codes` picks its own, its values go to `electricity`. A packet
    none of them maps is kept as an event, like any unmapped upload.
    """
    meters = [m for m in plant.meters_of("electricity") if m.hj212_mn == packet.mn]
    points: list[Point] = []
    readings: list[Reading] = []
    first_event: hj212.Event | None = None
    for m in meters:
        codes = {code: (name, 1.0) for code, name in m.codes.items()}
        result = hj212.interpret(packet, rules.timezone, codes)
        if isinstance(result, hj212.Event):
            first_event = first_event or result
            continue
        reading = screen_values(m.kind, result.reading)
        check_clock([reading.ts], now, rules.future_tolerance)
        points += reading_points(plant, m, [reading])
        readings.append(reading)
    if not points and first_event is not None:
        check_clock([first_event.ts], now, rules.future_tolerance)
        event = event_point(plant, meters[0], first_event)
        return Accepted(plant.id, meters[0].id, (event,), "")
    return Accepted(plant.id, meters[0].id, tuple(points), meters[0].kind, tuple(readings))
