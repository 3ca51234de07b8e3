"""Coal deliveries entered by hand, as readings flagged S (manual) through the HTTP push path.

The delivery records of a manual coal meter make a cumulative `mass_kg` register: at each
delivery's time, the sum of the current deliveries up to it. Every time a delivery was ever
recorded at (superseded ones too) is published again, so a correction overwrites the
points it changes (same plant, meter and time stay one point) instead of leaving stale ones.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from api.push import ReadingPublisher, check_push
from api.records.model import COAL_DELIVERY, Record, RecordError
from ingest.pipeline import IngestRules, Refused
from ingest.schema import to_epoch_ms

MANUAL_FLAG = "S"


def delivery_payload(records: Sequence[Record], meter: str) -> bytes | None:
    """The JSON readings of `meter`'s delivery register, or None when it has no deliveries."""
    deliveries = [r for r in records if r.kind == COAL_DELIVERY and r.meter == meter]
    if not deliveries:
        return None
    current = sorted((r.effective_at, r.mass_kg or 0.0) for r in deliveries if r.current)
    readings = []
    for at in sorted({r.effective_at for r in deliveries}):
        total = sum(kg for when, kg in current if when <= at)
        readings.append(
            {
                "ts": to_epoch_ms(at),
                "values": {"mass_kg": total},
                "flags": {"mass_kg": MANUAL_FLAG},
            }
        )
    return json.dumps({"readings": readings}, separators=(",", ":")).encode()


def publish_deliveries(
    rules: IngestRules,
    publisher: ReadingPublisher,
    plant: str,
    meter: str,
    records: Sequence[Record],
    now: datetime,
) -> int:
    """Validate like a collector and publish the register at QoS 1; the number of readings."""
    payload = delivery_payload(records, meter)
    if payload is None:
        return 0
    topic, outcome = check_push(rules, plant, meter, payload, now)
    if isinstance(outcome, Refused):
        raise RecordError(f"the delivery readings were refused: {outcome.reason}")
    publisher.publish(topic, payload)
    return len(outcome.readings) or sum(1 for line in outcome.lines if line)
