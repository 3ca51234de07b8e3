"""The pure heart of a collector: one inbound message to points, or a refusal with a reason."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from ingest import hj212, hj212_sm4
from ingest.errors import RefusedReading, UnknownSource
from ingest.points import dead_letter_line, event_line, reading_lines
from ingest.record import HJ212, declared_source
from ingest.registry import Plant, Registry
from ingest.schema import Reading, parse_message, to_epoch_ms
from ingest.settings import CommonSettings
from ingest.topics import parse_topic
from ingest.validate import Problem, check_clock, screen_readings, screen_values

# A partial refusal lists at most this many invalid values and dropped readings (the
# `rejected` message must stay well under the broker's packet limit); totals say the rest.
MAX_PROBLEMS_LISTED = 100
PARTIAL_CODE = "invalid_values"


@dataclass(frozen=True, slots=True)
class Accepted:
    plant: str
    meter: str
    lines: list[str]
    kind: str = ""
    readings: tuple[Reading, ...] = ()
    # JSON only: values stored as invalid and readings dropped, which the plant is told
    problems: tuple[Problem, ...] = ()

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

    def dead_letter(self, topic: str, payload: bytes, received: datetime, seq: int) -> str:
        """The line that keeps this refused message in `dead_letter`, with its reason."""
        return dead_letter_line(topic, self.plant, self.code, self.reason, payload, received, seq)


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


def handle_message(
    rules: IngestRules, topic: str, payload: bytes, now: datetime
) -> Accepted | Refused:
    """Parse, check and encode one message; never raises for bad input."""
    plant_id = ""
    try:
        source = parse_topic(topic, rules.topic_root)
        plant_id = source.plant
        plant = rules.registry.plant(source.plant)
        if plant is None:
            raise UnknownSource(f"plant {source.plant!r} is not in the registry")
        if source.kind == "hj212":
            return _hj212_packet(rules, plant, payload, now)
        assert source.meter is not None
        meter = plant.meter(source.meter)
        if meter is None:
            raise UnknownSource(f"meter {source.meter!r} is not registered for plant {plant.id!r}")
        readings, declared = parse_message(payload)
        screened = screen_readings(meter, readings, now, rules.future_tolerance)
        arrived_ms = to_epoch_ms(now)
        came_by = declared_source(declared)
        return Accepted(
            plant.id,
            meter.id,
            reading_lines(plant, meter, screened.readings, None, arrived_ms, came_by),
            meter.kind,
            screened.readings,
            screened.problems,
        )
    except RefusedReading as exc:
        return Refused(plant_id, exc.code, str(exc))
    except Exception as exc:
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


def _hj212_packet(rules: IngestRules, plant: Plant, payload: bytes, now: datetime) -> Accepted:
    """A packet is refused only for its frame, CN, MN, key or time; its values one by one.

    An SM4-encrypted packet (HJ 212-2025) is decrypted with its stack's key; an RF=1
    packet's points are marked `backfill` (stored at their own DataTime).
    """

    def keys_of(mn: str) -> tuple[bytes, ...] | None:
        stack = rules.registry.stack_by_mn(mn)
        return stack[1].sm4_keys if stack is not None and stack[0].id == plant.id else None

    plain, sealed = hj212_sm4.unseal(payload, keys_of)
    packet = hj212.decode_packet(plain)
    hj212.check_logger_mn(packet)
    found = rules.registry.stack_by_mn(packet.mn)
    if found is None or found[0].id != plant.id:
        raise UnknownSource(f"MN {packet.mn!r} is not a stack of plant {plant.id!r}")
    meter = found[1]
    hj212_sm4.check_sealed(packet, meter.sm4_keys, sealed)
    if meter.kind == "electricity":
        return _power_packet(rules, plant, packet, now)
    result = hj212.interpret(packet, rules.timezone, hj212.code_map(meter.codes, meter.flow_unit))
    if isinstance(result, hj212.Event):
        check_clock([result.ts], now, rules.future_tolerance)
        return Accepted(plant.id, meter.id, [event_line(plant, meter, result)], meter.kind)
    reading = screen_values(meter.kind, result.reading)
    check_clock([reading.ts], now, rules.future_tolerance)
    lines = reading_lines(
        plant,
        meter,
        [reading],
        result.measurement,
        to_epoch_ms(now),
        HJ212,
        backfill=packet.backfill,
    )
    return Accepted(plant.id, meter.id, lines, meter.kind, (reading,))


def _power_packet(
    rules: IngestRules, plant: Plant, packet: hj212.Packet, now: datetime
) -> Accepted:
    """HJ 212 power monitoring (ST=44): the codes of every electricity meter on this MN.

    One logger sends the d2xxxx (production) and d3xxxx (treatment) codes of several meters;
    each meter's registry `codes` picks its own, its values go to `electricity`. A packet
    none of them maps is kept as an event, like any unmapped upload.
    """
    meters = [m for m in plant.meters_of("electricity") if m.hj212_mn == packet.mn]
    lines: list[str] = []
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
        lines += reading_lines(plant, m, [reading])
        readings.append(reading)
    if not lines and first_event is not None:
        check_clock([first_event.ts], now, rules.future_tolerance)
        return Accepted(plant.id, meters[0].id, [event_line(plant, meters[0], first_event)], "")
    return Accepted(plant.id, meters[0].id, lines, meters[0].kind, tuple(readings))
