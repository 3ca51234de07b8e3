"""Coal deliveries entered by hand, as readings flagged S (manual) through the HTTP push path.

The delivery records of a manual coal meter make a cumulative `mass_kg` register: at each
delivery's time, the sum of the current deliveries up to it. Every time a delivery was ever
recorded at (superseded ones too) is published again: unchanged points are duplicates, and
each point a correction changes becomes a revision (SPEC section 14, source `records`) that
counts once an officer accepts it; the first value stays the record until then.

The register opens with a reading of 0 kg 1 ms before the earliest delivery ever recorded,
so the first delivery is a step like the others. The fuel core counts the step into every
reading flagged S whatever the silence before it (`api.fuel.rules`, manual readings).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta

from api.fuel.rules import MANUAL_FLAG
from api.push import ReadingPublisher, check_push
from api.records.model import COAL_DELIVERY, Record, RecordError
from ingest.kernel.pipeline import IngestRules, Refused
from ingest.kernel.record import RECORDS
from ingest.kernel.schema import to_epoch_ms

OPENING_BEFORE = timedelta(milliseconds=1)


def delivery_payload(records: Sequence[Record], meter: str) -> bytes | None:
    """The JSON readings of `meter`'s delivery register, or None when it has no deliveries."""
    deliveries = [r for r in records if r.kind == COAL_DELIVERY and r.meter == meter]
    if not deliveries:
        return None
    current = sorted((r.effective_at, r.mass_kg or 0.0) for r in deliveries if r.current)
    readings = []
    times = {r.effective_at for r in deliveries}
    times.add(min(times) - OPENING_BEFORE)
    for at in sorted(times):
        total = sum(kg for when, kg in current if when <= at)
        readings.append(
            {
                "ts": to_epoch_ms(at),
                "values": {"mass_kg": total},
                "flags": {"mass_kg": MANUAL_FLAG},
            }
        )
    # A changed delivery is a revision of the register (SPEC 14) that says it came from here.
    doc = {"source": RECORDS, "readings": readings}
    return json.dumps(doc, separators=(",", ":")).encode()


def checked_deliveries(
    rules: IngestRules, plant: str, meter: str, records: Sequence[Record], now: datetime
) -> tuple[str, bytes, int] | None:
    """The topic, payload and reading count of the register, validated like a collector.

    None when the meter has no deliveries; `RecordError` when a collector would refuse them
    (checked before the record is kept, so a refused record publishes nothing).
    """
    payload = delivery_payload(records, meter)
    if payload is None:
        return None
    topic, outcome = check_push(rules, plant, meter, payload, now)
    if isinstance(outcome, Refused):
        raise RecordError(f"the delivery readings were refused: {outcome.reason}")
    return topic, payload, len(outcome.readings) or len(outcome.points)


def publish_deliveries(
    rules: IngestRules,
    publisher: ReadingPublisher,
    plant: str,
    meter: str,
    records: Sequence[Record],
    now: datetime,
) -> int:
    """Validate like a collector and publish the register at QoS 1; the number of readings."""
    checked = checked_deliveries(rules, plant, meter, records, now)
    if checked is None:
        return 0
    topic, payload, count = checked
    publisher.publish(topic, payload)
    return count
