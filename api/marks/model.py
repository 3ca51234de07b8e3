"""Marks as plain data and their validation (pure).

PlantwatchError
└── InvalidInput (api.errors)
    └── MarkError           a mark cannot be kept or reviewed (the message says why)
        ├── MarkNotFound    no mark with that id (or not one the caller may see)
        └── MarkConflict    the review does not fit the mark's state (already reviewed)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from api.errors import Conflict, InvalidInput, NotFound

# The national marking rules' kinds: 停产, 检修, 故障, 校准.
STOPPED, MAINTENANCE, FAULT, CALIBRATION = "stopped", "maintenance", "fault", "calibration"
KINDS = (STOPPED, MAINTENANCE, FAULT, CALIBRATION)
PENDING, ACCEPTED, REJECTED = "pending", "accepted", "rejected"
STATUSES = (PENDING, ACCEPTED, REJECTED)
MAX_PERIOD = timedelta(days=31)
MAX_EVIDENCE = 20
MAX_EVIDENCE_CHARS = 500


class MarkError(InvalidInput):
    """A mark cannot be kept or reviewed; `str(exc)` says why."""


class MarkNotFound(MarkError, NotFound):
    """No mark with that id the caller may see."""

    code = NotFound.code


class MarkConflict(MarkError, Conflict):
    """The mark was reviewed already."""

    code = Conflict.code


@dataclass(frozen=True, slots=True)
class NewMark:
    """What a plant declares: a period of one stack or meter, why, and the evidence."""

    plant: str
    meter: str
    kind: str
    start: datetime
    end: datetime
    reason: str
    evidence: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Mark:
    id: int
    plant: str
    meter: str
    kind: str
    start: datetime
    end: datetime
    reason: str
    evidence: tuple[str, ...]
    status: str
    created_by: str
    created_at: datetime
    reviewed_by: str | None = None
    reviewed_at: datetime | None = None
    review_comment: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "plant": self.plant,
            "meter": self.meter,
            "kind": self.kind,
            "start": _iso(self.start),
            "end": _iso(self.end),
            "reason": self.reason,
            "evidence": list(self.evidence),
            "status": self.status,
            "created_by": self.created_by,
            "created_at": _iso(self.created_at),
            "reviewed_by": self.reviewed_by,
            "reviewed_at": _iso(self.reviewed_at),
            "review_comment": self.review_comment,
        }


def _iso(ts: datetime | None) -> str | None:
    return None if ts is None else ts.astimezone(UTC).isoformat(timespec="seconds")


def check(new: NewMark, meters: Mapping[str, str], now: datetime) -> None:
    """Raise MarkError unless `new` is a mark its plant may keep (`meters`: its id -> kind)."""
    if new.kind not in KINDS:
        raise MarkError(f"kind must be one of {', '.join(KINDS)}, got {new.kind!r}")
    if new.meter not in meters:
        raise MarkError(f"{new.plant} has no meter {new.meter!r}; its meters: {', '.join(meters)}")
    if new.end <= new.start:
        raise MarkError("'end' must be after 'start'")
    if new.end - new.start > MAX_PERIOD:
        raise MarkError(f"a mark covers at most {MAX_PERIOD.days} days; split longer periods")
    if new.start > now:
        raise MarkError("'start' lies in the future: a mark declares what happened")
    if not new.reason.strip():
        raise MarkError("'reason' must say why")
    if len(new.evidence) > MAX_EVIDENCE:
        raise MarkError(f"at most {MAX_EVIDENCE} evidence references")
    for ref in new.evidence:
        if not ref.strip() or len(ref) > MAX_EVIDENCE_CHARS:
            raise MarkError(f"each evidence reference is 1 to {MAX_EVIDENCE_CHARS} characters")


def review_status(mark: Mark, accept: bool) -> str:
    """The status a review gives `mark`; a mark is reviewed once."""
    if mark.status != PENDING:
        raise MarkConflict(f"mark {mark.id} was {mark.status} already")
    return ACCEPTED if accept else REJECTED
