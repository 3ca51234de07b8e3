"""Publish coal deliveries after their record is committed (the outbox of `record_outbox`).

A record is kept first, then its readings go to the broker: a record refused (422, 404)
publishes nothing, and one kept while the broker is away is published by the next drain
(after the next record, or the API's periodic retry). A drain republishes a meter's whole
register from the current records, so publishing twice is harmless (same points).
"""

from __future__ import annotations

import logging
from datetime import datetime

from api.push import PushUnavailable, ReadingPublisher
from api.records.manual import publish_deliveries
from api.records.model import RecordError
from api.records.repo import RecordRepo
from ingest.kernel.pipeline import IngestRules

log = logging.getLogger(__name__)

RETRY_SECONDS = 30.0


def drain(
    repo: RecordRepo, rules: IngestRules, publisher: ReadingPublisher, now: datetime
) -> dict[tuple[str, str], int]:
    """Publish every pending (plant, meter) register; {(plant, meter): readings published}.

    Stops at the first publish the broker does not acknowledge (the rest stay pending).
    """
    done: dict[tuple[str, str], int] = {}
    by_meter: dict[tuple[str, str], list[int]] = {}
    for outbox_id, plant, meter in repo.pending_publications():
        by_meter.setdefault((plant, meter), []).append(outbox_id)
    for (plant, meter), ids in by_meter.items():
        try:
            done[plant, meter] = publish_deliveries(
                rules, publisher, plant, meter, repo.list(plant), now
            )
        except PushUnavailable as exc:
            log.warning(
                "coal deliveries not published yet; retrying later",
                extra={"plant": plant, "meter": meter, "error": str(exc)},
            )
            break
        except RecordError as exc:
            # Checked before the record was kept; a registry change since can refuse them.
            log.error("coal deliveries refused", extra={"plant": plant, "error": str(exc)})
        repo.published(ids)
    return done
