"""The data model (docs/data-model.md): readings, events and dead letters as points.

The `*_lines` forms encode the same points for callers that write line protocol themselves
(tests filling a store, the bench); the collector carries the points to its write edge.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from ingest.kernel.hj212 import EVENT_MEASUREMENT, Event
from ingest.kernel.lineproto import Point, encode
from ingest.kernel.record import ARRIVED_FIELD, FLAG_SUFFIX, INVALID_SUFFIX, SOURCE_FIELD
from ingest.kernel.registry import ID_PATTERN, Meter, Plant
from ingest.kernel.schema import VALID_FLAG, Reading, to_epoch_ms

__all__ = [
    "FLAG_SUFFIX",
    "INVALID_SUFFIX",
    "dead_letter_line",
    "dead_letter_point",
    "event_line",
    "event_point",
    "reading_lines",
    "reading_points",
]

BACKFILL_FIELD = "backfill"  # HJ 212-2025 RF=1: the logger back-filled this reading
DEAD_LETTER_MEASUREMENT = "dead_letter"
MAX_DEAD_LETTER_PAYLOAD_CHARS = 4000


def reading_points(
    plant: Plant,
    meter: Meter,
    readings: Sequence[Reading],
    measurement: str | None = None,
    arrived_ms: int | None = None,
    source: str | None = None,
    backfill: bool = False,
) -> list[Point]:
    """One point per reading: measurement = meter kind, tags plant+meter, time = device time.

    HJ 212 minute and hourly averages go to `voc_minute` / `voc_hour` so they never
    overwrite a real-time reading stamped with the same second.

    The tag set and timestamp are the point's identity, so a re-delivered reading
    is a duplicate (ingest/keeper.py) instead of becoming a second point. `arrived_ms`
    (when the collector received it) and `source` are kept with every reading (SPEC 14).
    A back-filled reading (HJ 212-2025 `RF=1`) carries the boolean field `backfill`: a
    field, not a tag, so a back-fill of a reading already stored stays one point.
    """
    tags = {"plant": plant.id, "meter": meter.id}
    name = measurement or meter.kind
    points = []
    for reading in readings:
        values, flags = reading.values, reading.flags
        fields: dict[str, float | str | bool] = dict(values)
        for value_name in values:  # `Reading.flag`, read directly (once per value)
            fields[value_name + FLAG_SUFFIX] = flags.get(value_name, VALID_FLAG)
        for value_name, reason in reading.invalid.items():
            fields[value_name + INVALID_SUFFIX] = reason
        if arrived_ms is not None:
            fields[ARRIVED_FIELD] = arrived_ms
        if source is not None:
            fields[SOURCE_FIELD] = source
        if backfill:
            fields[BACKFILL_FIELD] = True
        points.append(Point(name, tags, fields, to_epoch_ms(reading.ts)))
    return points


def reading_lines(
    plant: Plant,
    meter: Meter,
    readings: Sequence[Reading],
    measurement: str | None = None,
    arrived_ms: int | None = None,
    source: str | None = None,
    backfill: bool = False,
) -> list[str]:
    """`reading_points`, encoded."""
    points = reading_points(plant, meter, readings, measurement, arrived_ms, source, backfill)
    return [encode(p) for p in points]


def event_point(plant: Plant, meter: Meter, event: Event) -> Point:
    """A status or event packet of a stack's logger; identity (plant, meter, cn, time)."""
    return Point(
        EVENT_MEASUREMENT,
        {"plant": plant.id, "meter": meter.id, "cn": event.cn},
        {"description": event.description, "cp": event.cp},
        event.ts_ms,
    )


def event_line(plant: Plant, meter: Meter, event: Event) -> str:
    """`event_point`, encoded."""
    return encode(event_point(plant, meter, event))


def dead_letter_point(
    topic: str, plant: str, code: str, reason: str, payload: bytes, received: datetime, seq: int
) -> Point:
    """A refused message, kept with its reason; `seq` keeps same-millisecond refusals apart.

    String fields are written with control characters escaped (`lineproto.encode`); the plant
    tag is the topic's plant only when it is a well-formed id, otherwise `unknown`.
    """
    text = payload.decode("utf-8", errors="replace")[:MAX_DEAD_LETTER_PAYLOAD_CHARS]
    return Point(
        DEAD_LETTER_MEASUREMENT,
        {"plant": plant if ID_PATTERN.fullmatch(plant) else "unknown", "code": code},
        {"topic": topic, "reason": reason, "payload": text, "seq": seq},
        to_epoch_ms(received),
    )


def dead_letter_line(
    topic: str, plant: str, code: str, reason: str, payload: bytes, received: datetime, seq: int
) -> str:
    """`dead_letter_point`, encoded."""
    return encode(dead_letter_point(topic, plant, code, reason, payload, received, seq))
