"""The SQL edge of marks: create, list and review, each audited in the same transaction."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, insert, select, update

from api.alerts.model import from_ms, to_ms
from api.audit import record_audit
from api.marks import rules
from api.marks.model import PENDING, Mark, MarkConflict, MarkNotFound, NewMark, review_status
from api.marks.tables import marks
from api.voc.rules import Spans

MAX_COMMENT_CHARS = 2000


def _mark(row: Any) -> Mark:
    m = row._mapping
    return Mark(
        id=m["id"],
        plant=m["plant"],
        meter=m["meter"],
        kind=m["kind"],
        start=from_ms(m["start_ms"]),  # type: ignore[arg-type]
        end=from_ms(m["end_ms"]),  # type: ignore[arg-type]
        reason=m["reason"],
        evidence=tuple(json.loads(m["evidence"])),
        status=m["status"],
        created_by=m["created_by"],
        created_at=from_ms(m["created_at"]),  # type: ignore[arg-type]
        reviewed_by=m["reviewed_by"],
        reviewed_at=from_ms(m["reviewed_at"]),
        review_comment=m["review_comment"],
    )


class MarkRepo:
    """Marks in the SQL database behind `engine`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, new: NewMark, who: str, now: datetime) -> Mark:
        with self.engine.begin() as conn:
            result = conn.execute(
                insert(marks).values(
                    plant=new.plant,
                    meter=new.meter,
                    kind=new.kind,
                    start_ms=to_ms(new.start),
                    end_ms=to_ms(new.end),
                    reason=new.reason.strip(),
                    evidence=json.dumps(list(new.evidence), ensure_ascii=False),
                    status=PENDING,
                    created_by=who,
                    created_at=to_ms(now),
                )
            )
            mark_id = int(result.inserted_primary_key[0])  # type: ignore[index]
            row = conn.execute(select(marks).where(marks.c.id == mark_id)).one()
            mark = _mark(row)
            record_audit(conn, who, "mark.created", f"mark:{mark_id}", mark.as_json(), at=now)
        return mark

    def get(self, mark_id: int) -> Mark:
        with self.engine.connect() as conn:
            row = conn.execute(select(marks).where(marks.c.id == mark_id)).first()
        if row is None:
            raise MarkNotFound(f"no mark {mark_id}")
        return _mark(row)

    def find(
        self,
        status: str | None = None,
        plant: str | None = None,
        limit: int = 500,
        plants: Sequence[str] | None = None,
    ) -> list[Mark]:
        """Newest first; `plants`: only these firms' (a county's view), None: all."""
        query = select(marks).order_by(marks.c.id.desc()).limit(limit)
        if status is not None:
            query = query.where(marks.c.status == status)
        if plant is not None:
            query = query.where(marks.c.plant == plant)
        if plants is not None:
            query = query.where(marks.c.plant.in_(sorted(plants)))
        with self.engine.connect() as conn:
            return [_mark(r) for r in conn.execute(query)]

    def spans(self, start: datetime, end: datetime, plants: Sequence[str] | None = None) -> Spans:
        """Accepted marks overlapping [start, end) as the compliance core's spans."""
        query = (
            select(marks)
            .where(marks.c.status == "accepted")
            .where(marks.c.start_ms < to_ms(end))
            .where(marks.c.end_ms > to_ms(start))
        )
        if plants is not None:
            query = query.where(marks.c.plant.in_(list(plants)))
        with self.engine.connect() as conn:
            return rules.spans(_mark(r) for r in conn.execute(query))

    def review(self, mark_id: int, accept: bool, who: str, comment: str, now: datetime) -> Mark:
        """pending -> accepted or rejected, once, with the officer's comment (audited)."""
        comment = comment.strip()
        if len(comment) > MAX_COMMENT_CHARS:
            raise MarkConflict(f"comment longer than {MAX_COMMENT_CHARS} characters")
        with self.engine.begin() as conn:
            row = conn.execute(select(marks).where(marks.c.id == mark_id)).first()
            if row is None:
                raise MarkNotFound(f"no mark {mark_id}")
            status = review_status(_mark(row), accept)
            done = conn.execute(
                update(marks)
                .where(marks.c.id == mark_id)
                .where(marks.c.status == PENDING)
                .values(
                    status=status,
                    reviewed_by=who,
                    reviewed_at=to_ms(now),
                    review_comment=comment or None,
                )
            )
            if done.rowcount != 1:
                raise MarkConflict(f"mark {mark_id} was reviewed meanwhile")
            mark = _mark(conn.execute(select(marks).where(marks.c.id == mark_id)).one())
            record_audit(
                conn,
                who,
                f"mark.{status}",
                f"mark:{mark_id}",
                {"plant": mark.plant, "meter": mark.meter, "comment": mark.review_comment},
                at=now,
            )
        return mark
