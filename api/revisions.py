"""Revisions of recorded readings (SPEC section 14): listed for officers, accepted by them.

The collector keeps a revision as a `revisions` point (ingest/kernel/record.py) on either engine;
here it is read back and, on acceptance, made the value every figure uses: the revised
value is written as the record (`ingest.kernel.record.acceptance_points`: over the record
point on InfluxDB, as the key's accepted row on ClickHouse), with a rollup dirty mark so
rollups recompute, and the revision point gains `accepted_by` / `accepted_ms` (it keeps the
original as `record_value`). The acceptance is audited in the same SQL transaction.

api.errors.NotFound  (404)  RevisionNotFound: no revision with that id
api.errors.Conflict  (409)  RevisionConflict: the revision was accepted already
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from api.audit import record_audit
from api.errors import Conflict, NotFound
from api.ranges import EPOCH
from ingest.kernel.dirty import dirty_lines
from ingest.kernel.lineproto import encode
from ingest.kernel.reads import Points, Tags, tags
from ingest.kernel.record import (
    ARRIVED_FIELD,
    REVISIONS_MEASUREMENT,
    SOURCE_FIELD,
    RevisionId,
    Sig,
    acceptance_points,
)
from ingest.kernel.schema import VALID_FLAG, to_epoch_ms
from ingest.kernel.store import Series, Store

PENDING, ACCEPTED = "pending", "accepted"
MAX_LISTED = 5000
COLUMNS = (
    "value",
    "flag",
    "invalid",
    "record_value",
    "record_flag",
    "record_invalid",
    ARRIVED_FIELD,
    SOURCE_FIELD,
    "accepted_by",
    "accepted_ms",
    "accept_comment",
)

MS = timedelta(milliseconds=1)


class RevisionNotFound(NotFound):
    """No revision with that id."""


class RevisionConflict(Conflict):
    """The revision was accepted already."""


@dataclass(frozen=True, slots=True)
class Revision:
    """A revision as officers see it: the record, the revised value, how and when it came."""

    id: RevisionId
    revised: Sig
    record: Sig
    arrived_ms: int
    source: str
    accepted_by: str | None
    accepted_ms: int | None
    accept_comment: str | None

    @property
    def status(self) -> str:
        return ACCEPTED if self.accepted_ms is not None else PENDING

    def as_json(self) -> dict[str, Any]:
        rid = self.id
        return {
            "id": str(rid),
            "plant": rid.plant,
            "meter": rid.meter,
            "measurement": rid.measurement,
            "name": rid.name,
            "ts": _iso(rid.ts_ms),
            "number": rid.number,
            "value": self.revised.value,
            "flag": self.revised.flag,
            "invalid": self.revised.invalid,
            "record_value": self.record.value,
            "record_flag": self.record.flag,
            "record_invalid": self.record.invalid,
            "arrived_at": _iso(self.arrived_ms) if self.arrived_ms else None,
            "source": self.source,
            "status": self.status,
            "accepted_by": self.accepted_by,
            "accepted_at": _iso(self.accepted_ms) if self.accepted_ms is not None else None,
            "accept_comment": self.accept_comment,
        }


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


def _revisions(series: list[Series], plant: str) -> list[Revision]:
    out = []
    for s in series:
        tags = s.tags
        for row in s.rows():
            rid = RevisionId(
                plant,
                tags.get("meter", ""),
                tags.get("measurement", ""),
                tags.get("name", ""),
                int(row["time"]),
                int(tags.get("n", "0") or 0),
            )
            out.append(
                Revision(
                    rid,
                    _sig(row.get("value"), row.get("flag"), row.get("invalid")),
                    _sig(
                        row.get("record_value"), row.get("record_flag"), row.get("record_invalid")
                    ),
                    int(row.get(ARRIVED_FIELD) or 0),
                    str(row.get(SOURCE_FIELD) or ""),
                    row.get("accepted_by"),
                    int(row["accepted_ms"]) if row.get("accepted_ms") is not None else None,
                    row.get("accept_comment"),
                )
            )
    return out


def _sig(value: object, flag: object, invalid: object) -> Sig:
    return Sig(
        float(value) if isinstance(value, int | float) else None,
        flag if isinstance(flag, str) else VALID_FLAG,
        invalid if isinstance(invalid, str) else None,
    )


def _read(store: Store, where: Tags, at_ms: int | None = None) -> list[Series]:
    """The revisions matching `where` (at `at_ms` only, if given), per series revised."""
    start = EPOCH + at_ms * MS if at_ms is not None else None
    end = start + MS if start is not None else None  # stored times are whole milliseconds
    group = ("meter", "measurement", "name", "n")
    (found,) = store.read([Points(REVISIONS_MEASUREMENT, COLUMNS, start, end, where, group)])
    return found


def list_revisions(store: Store, plant: str, status: str | None = None) -> list[Revision]:
    """A plant's revisions, newest arrival first (at most MAX_LISTED), optionally by status."""
    found = _revisions(_read(store, tags(plant=plant)), plant)
    if status is not None:
        found = [r for r in found if r.status == status]
    found.sort(key=lambda r: (-r.arrived_ms, str(r.id)))
    return found[:MAX_LISTED]


def get_revision(store: Store, rid: RevisionId) -> Revision:
    where = tags(
        plant=rid.plant,
        meter=rid.meter,
        measurement=rid.measurement,
        name=rid.name,
        n=str(rid.number),
    )
    found = _revisions(_read(store, where, rid.ts_ms), rid.plant)
    if not found:
        raise RevisionNotFound(f"no revision {rid}")
    return found[0]


def accept_revision(
    store: Store,
    db: Engine,
    text_id: str,
    who: str,
    comment: str | None,
    now: datetime,
) -> Revision:
    """Make a revision the value every figure uses (audited); the original stays in it."""
    rid = RevisionId.parse(text_id)
    if rid is None:
        raise RevisionNotFound(f"no revision {text_id!r}")
    revision = get_revision(store, rid)
    if revision.accepted_ms is not None:
        raise RevisionConflict(
            f"revision {rid} was accepted by {revision.accepted_by} at {_iso(revision.accepted_ms)}"
        )
    now_ms = to_epoch_ms(now)
    record, mark = map(encode, acceptance_points(rid, revision.revised, who, now_ms, comment))
    with db.begin() as conn:
        record_audit(
            conn,
            who,
            "revision.accepted",
            f"plant:{rid.plant}/{rid.meter}",
            {
                "revision": str(rid),
                "value": revision.revised.value,
                "flag": revision.revised.flag,
                "record_value": revision.record.value,
                "record_flag": revision.record.flag,
                "comment": comment,
            },
            at=now,
        )
        # In the transaction: a store failure rolls the audit row back with it.
        store.write_lines([record, mark, *dirty_lines([record], now_ms)])
    return get_revision(store, rid)
