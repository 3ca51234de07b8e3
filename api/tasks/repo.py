"""The SQL edge of tasks: create, list, record actions, close, escalate (each audited)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from api.alerts.model import from_ms, to_ms
from api.alerts.tables import alerts
from api.audit import record_audit
from api.tasks.model import (
    CLOSED,
    MAX_ALERTS,
    OPEN,
    PRIORITIES,
    Action,
    Task,
    TaskConflict,
    TaskError,
    TaskNotFound,
    check_text,
)
from api.tasks.tables import task_actions, task_alerts, tasks

ENGINE_ACTOR = "alert-engine"


class TaskRepo:
    """Tasks in the SQL database behind `engine`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create(
        self,
        alert_ids: Sequence[int],
        assignee: str,
        deadline: datetime,
        priority: str,
        note: str,
        who: str,
        now: datetime,
    ) -> Task:
        """A task over existing alerts, for `assignee`, due at `deadline`."""
        ids = sorted(set(alert_ids))
        if not ids or len(ids) > MAX_ALERTS:
            raise TaskError(f"a task covers 1 to {MAX_ALERTS} alerts")
        if priority not in PRIORITIES:
            raise TaskError(f"priority must be one of {', '.join(PRIORITIES)}")
        assignee = assignee.strip()
        if not assignee or len(assignee) > 128:
            raise TaskError("'assignee' must be 1 to 128 characters")
        if deadline <= now:
            raise TaskError("'deadline' must lie in the future")
        with self.engine.begin() as conn:
            found = {
                r.id: r.plant
                for r in conn.execute(
                    select(alerts.c.id, alerts.c.plant).where(alerts.c.id.in_(ids))
                )
            }
            missing = [i for i in ids if i not in found]
            if missing:
                raise TaskNotFound(f"no alert {', '.join(map(str, missing))}")
            result = conn.execute(
                insert(tasks).values(
                    assignee=assignee,
                    deadline=to_ms(deadline),
                    priority=priority,
                    note=note.strip(),
                    status=OPEN,
                    created_by=who,
                    created_at=to_ms(now),
                )
            )
            task_id = int(result.inserted_primary_key[0])  # type: ignore[index]
            conn.execute(
                insert(task_alerts),
                [{"task_id": task_id, "alert_id": i, "plant": found[i]} for i in ids],
            )
            detail = {"alerts": ids, "assignee": assignee, "deadline": deadline.isoformat(),
                      "priority": priority}  # fmt: skip
            record_audit(conn, who, "task.created", f"task:{task_id}", detail, at=now)
            return self._load(conn, task_id)

    def get(self, task_id: int) -> Task:
        with self.engine.connect() as conn:
            return self._load(conn, task_id)

    def find(
        self,
        status: str | None = None,
        assignee: str | None = None,
        plant: str | None = None,
        limit: int = 500,
    ) -> list[Task]:
        """Newest first."""
        query = select(tasks.c.id).order_by(tasks.c.id.desc()).limit(limit)
        if status is not None:
            query = query.where(tasks.c.status == status)
        if assignee is not None:
            query = query.where(tasks.c.assignee == assignee)
        if plant is not None:
            query = query.where(
                tasks.c.id.in_(select(task_alerts.c.task_id).where(task_alerts.c.plant == plant))
            )
        with self.engine.connect() as conn:
            return [self._load(conn, r.id) for r in conn.execute(query)]

    def add_action(
        self, task_id: int, who: str, note: str, evidence: Sequence[str], now: datetime
    ) -> Task:
        note = check_text("note", note, tuple(evidence))
        with self.engine.begin() as conn:
            task = self._load(conn, task_id)
            if task.status != OPEN:
                raise TaskConflict(f"task {task_id} is closed")
            conn.execute(
                insert(task_actions).values(
                    task_id=task_id,
                    actor=who,
                    at=to_ms(now),
                    note=note,
                    evidence=json.dumps(list(evidence), ensure_ascii=False),
                )
            )
            detail = {"note": note, "evidence": list(evidence)}
            record_audit(conn, who, "task.action", f"task:{task_id}", detail, at=now)
            return self._load(conn, task_id)

    def close(self, task_id: int, who: str, conclusion: str, now: datetime) -> Task:
        conclusion = check_text("conclusion", conclusion)
        with self.engine.begin() as conn:
            done = conn.execute(
                update(tasks)
                .where(tasks.c.id == task_id)
                .where(tasks.c.status == OPEN)
                .values(status=CLOSED, closed_by=who, closed_at=to_ms(now), conclusion=conclusion)
            )
            if done.rowcount != 1:
                self._load(conn, task_id)  # 404 before 409
                raise TaskConflict(f"task {task_id} is closed already")
            detail = {"conclusion": conclusion}
            record_audit(conn, who, "task.closed", f"task:{task_id}", detail, at=now)
            return self._load(conn, task_id)

    def escalate_overdue(self, now: datetime) -> list[Task]:
        """Open tasks past their deadline; each newly overdue one is marked escalated (audited)."""
        with self.engine.begin() as conn:
            rows = conn.execute(
                select(tasks.c.id, tasks.c.escalated_at)
                .where(tasks.c.status == OPEN)
                .where(tasks.c.deadline < to_ms(now))
            ).all()
            for row in rows:
                if row.escalated_at is None:
                    conn.execute(
                        update(tasks).where(tasks.c.id == row.id).values(escalated_at=to_ms(now))
                    )
                    record_audit(conn, ENGINE_ACTOR, "task.escalated", f"task:{row.id}", {}, at=now)
            return [self._load(conn, row.id) for row in rows]

    def overlapping(self, start: datetime, end: datetime) -> list[Task]:
        """Tasks created before `end` and not closed before `start` (the month's report)."""
        query = (
            select(tasks.c.id)
            .where(tasks.c.created_at < to_ms(end))
            .where(tasks.c.closed_at.is_(None) | (tasks.c.closed_at >= to_ms(start)))
            .order_by(tasks.c.id)
        )
        with self.engine.connect() as conn:
            return [self._load(conn, r.id) for r in conn.execute(query)]

    def _load(self, conn: Connection, task_id: int) -> Task:
        row = conn.execute(select(tasks).where(tasks.c.id == task_id)).first()
        if row is None:
            raise TaskNotFound(f"no task {task_id}")
        m: Any = row._mapping
        linked = conn.execute(
            select(task_alerts.c.alert_id, task_alerts.c.plant)
            .where(task_alerts.c.task_id == task_id)
            .order_by(task_alerts.c.alert_id)
        ).all()
        actions = conn.execute(
            select(task_actions)
            .where(task_actions.c.task_id == task_id)
            .order_by(task_actions.c.id)
        ).all()
        return Task(
            id=m["id"],
            alerts=tuple(r.alert_id for r in linked),
            plants=tuple(dict.fromkeys(r.plant for r in linked)),
            assignee=m["assignee"],
            deadline=from_ms(m["deadline"]),  # type: ignore[arg-type]
            priority=m["priority"],
            note=m["note"] or "",
            status=m["status"],
            created_by=m["created_by"],
            created_at=from_ms(m["created_at"]),  # type: ignore[arg-type]
            escalated_at=from_ms(m["escalated_at"]),
            closed_by=m["closed_by"],
            closed_at=from_ms(m["closed_at"]),
            conclusion=m["conclusion"],
            actions=tuple(
                Action(a.id, a.actor, _at(a.at), a.note, tuple(json.loads(a.evidence)))
                for a in actions
            ),
        )


def _at(ms: int) -> datetime:
    return from_ms(ms)  # type: ignore[return-value]
