"""HTTP push: same JSON and validation as MQTT, delivered through the broker (SPEC section 8)."""

from __future__ import annotations

import itertools
import logging
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, status
from fastapi.concurrency import run_in_threadpool

from api.deps import PlantPusherDep, StoreDep
from api.push import PushRefused, ReadingPublisher, check_push, check_push_size
from api.schemas import PushAccepted, error_responses
from ingest.kernel.errors import StoreError
from ingest.kernel.pipeline import Refused, problem_lists
from ingest.kernel.record import HTTP
from ingest.kernel.schema import with_source
from ingest.kernel.topics import Topics

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1/plants", tags=["readings"])
_refusals = itertools.count()

READINGS_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "description": "SPEC section 4: {'readings': [{'ts', 'values', 'flags'?}, ...]} "
                "or one bare reading {'ts', 'values', 'flags'?}",
                "example": {
                    "readings": [
                        {"ts": "2026-03-01T08:00:00+08:00", "values": {"volume_m3": 18234.5}}
                    ]
                },
            }
        }
    },
}


@router.post(
    "/{plant}/meters/{meter}/readings",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=PushAccepted,
    openapi_extra={"requestBody": READINGS_BODY},
    responses=error_responses(413),
)
async def push_readings(
    plant: str, meter: str, request: Request, _: PlantPusherDep, store: StoreDep
) -> PushAccepted:
    """Validate like a collector, publish at QoS 1, answer 202 after the broker's PUBACK.

    413 (with the limit) for a payload over the broker's packet limit, before publishing.
    202 lists the values stored as invalid and the readings dropped; 422 only when nothing
    in the message is usable (the collector would refuse it whole).
    """
    payload = await request.body()
    publisher: ReadingPublisher = request.app.state.publisher
    rules = request.app.state.ingest_rules
    # Before anything reads it: a payload the broker cannot take is 413, never published.
    check_push_size(
        Topics(rules.topic_root).readings(plant, meter), payload, publisher.max_packet_bytes
    )
    now = datetime.now(UTC)
    topic, outcome = check_push(rules, plant, meter, payload, now)
    if isinstance(outcome, Refused):
        await run_in_threadpool(_keep_refusal, store, topic, outcome, payload, now)
        raise PushRefused(outcome)
    # Published with `"source": "http"`, so a revision says how it came (SPEC 14); the
    # re-encoded message is checked against the broker's limit too.
    published = with_source(payload, HTTP)
    check_push_size(topic, published, publisher.max_packet_bytes)
    await run_in_threadpool(publisher.publish, topic, published)
    # The collector stores the kept part and keeps the dead letter of the rest (its partial
    # refusal); the plant's answer lists the same problems.
    return PushAccepted.model_validate(
        {
            "accepted": len(outcome.readings),
            "plant": outcome.plant,
            "meter": outcome.meter,
            "topic": topic,
            **problem_lists(outcome.problems),
        }
    )


def _keep_refusal(store: Any, topic: str, refused: Refused, payload: bytes, now: datetime) -> None:
    # Best effort: the plant has its answer already; a dead letter lost to an outage is logged.
    try:
        store.write_lines([refused.dead_letter(topic, payload, now, next(_refusals))])
    except StoreError as exc:
        log.warning("could not keep refused push", extra={"error": str(exc), "topic": topic})
