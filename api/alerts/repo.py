"""The SQL edge of the alert engine: alerts, their event log, the lease and delivery cursors.

Every state change writes its event row in the same transaction, so the log and the state
never disagree, and notifications are delivered from the log (an outbox), surviving
restarts. Engine writes are fenced by the lease: a transaction whose holder lost the lease
is rolled back (`LeaseLost`).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from api.alerts.lifecycle import Plan, Raise, Reopen, Resolve, Touch
from api.alerts.model import (
    ACKNOWLEDGED,
    ACTIVE,
    ENGINE_ACTOR,
    OPEN,
    RAISED,
    REOPENED,
    RESOLVED,
    Alert,
    AlertConflict,
    AlertKey,
    AlertNotFound,
    Condition,
    LeaseLost,
    from_ms,
    iso,
    to_ms,
)
from api.alerts.tables import alert_events, alert_lease, alert_outbox, alerts
from api.audit import record_audit

LEASE_NAME = "alert-engine"
MAX_COMMENT_CHARS = 2000


@dataclass(frozen=True, slots=True)
class EventRecord:
    id: int
    alert_id: int
    event: str
    at: datetime
    actor: str
    comment: str | None
    snapshot: Mapping[str, Any]

    def message(self) -> dict[str, Any]:
        """The JSON published on every channel for this event."""
        return {
            "event_id": self.id,
            "event": self.event,
            "at": iso(self.at),
            "actor": self.actor,
            "comment": self.comment,
            "alert": dict(self.snapshot),
        }


def _alert(row: Any) -> Alert:
    m = row._mapping
    return Alert(
        id=m["id"],
        key=AlertKey(m["kind"], m["plant"], m["meter"], m["pollutant"]),
        status=m["status"],
        opened_at=from_ms(m["opened_at"]),  # type: ignore[arg-type]
        last_seen_at=from_ms(m["last_seen_at"]),  # type: ignore[arg-type]
        updated_at=from_ms(m["updated_at"]),  # type: ignore[arg-type]
        value=m["value"],
        limit=m["limit"],
        message=m["message"],
        cleared_since=from_ms(m["cleared_since"]),
        acknowledged_by=m["acknowledged_by"],
        acknowledged_at=from_ms(m["acknowledged_at"]),
        ack_comment=m["ack_comment"],
        resolved_at=from_ms(m["resolved_at"]),
        resolved_by=m["resolved_by"],
        resolve_comment=m["resolve_comment"],
        reopen_count=m["reopen_count"],
        unit=m["unit"] or "",
        since=from_ms(m["since"]),
        late=bool(m["late"]),
        details=json.loads(m["details"]) if m["details"] else {},
    )


def _facts(c: Condition) -> dict[str, Any]:
    """The structured columns of a condition."""
    return {
        "unit": c.unit or None,
        "since": None if c.since is None else to_ms(c.since),
        "late": c.late,
        "details": json.dumps(dict(c.details), ensure_ascii=False) if c.details else None,
    }


def _event(row: Any) -> EventRecord:
    m = row._mapping
    return EventRecord(
        m["id"],
        m["alert_id"],
        m["event"],
        from_ms(m["at"]),  # type: ignore[arg-type]
        m["actor"],
        m["comment"],
        json.loads(m["snapshot"]),
    )


def _clean_comment(comment: str | None) -> str | None:
    if comment is None:
        return None
    comment = comment.strip()
    if len(comment) > MAX_COMMENT_CHARS:
        raise AlertConflict(f"comment longer than {MAX_COMMENT_CHARS} characters")
    return comment or None


class AlertRepo:
    """Alerts and events in the SQL database behind `engine`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- reading -------------------------------------------------------------------------

    def get(self, alert_id: int) -> Alert | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(alerts).where(alerts.c.id == alert_id)).first()
        return _alert(row) if row is not None else None

    def find(
        self,
        status: str | None = None,
        plant: str | None = None,
        kind: str | None = None,
        limit: int = 500,
        plants: Collection[str] | None = None,
    ) -> list[Alert]:
        """Most recent first; `status="active"` means open or acknowledged; `plants`: only
        alerts about these firms (a county's view, api/scope.py), None: all."""
        query = select(alerts).order_by(alerts.c.id.desc()).limit(limit)
        if status == "active":
            query = query.where(alerts.c.status.in_(sorted(ACTIVE)))
        elif status is not None:
            query = query.where(alerts.c.status == status)
        if plant is not None:
            query = query.where(alerts.c.plant == plant)
        if kind is not None:
            query = query.where(alerts.c.kind == kind)
        if plants is not None:
            query = query.where(alerts.c.plant.in_(sorted(plants)))
        with self.engine.connect() as conn:
            return [_alert(r) for r in conn.execute(query)]

    def overlapping(self, start: datetime, end: datetime) -> list[Alert]:
        """Alerts open at some time in [start, end): opened before `end`, not resolved before
        `start`; and late ones about that time (`since` in it), whenever they were found."""
        about = and_(
            alerts.c.late.is_(True),
            alerts.c.since >= to_ms(start),
            alerts.c.since < to_ms(end),
        )
        query = (
            select(alerts)
            .where(
                (
                    (alerts.c.opened_at < to_ms(end))
                    & ((alerts.c.resolved_at.is_(None)) | (alerts.c.resolved_at >= to_ms(start)))
                )
                | about
            )
            .order_by(alerts.c.id)
        )
        with self.engine.connect() as conn:
            return [_alert(r) for r in conn.execute(query)]

    def seen_since(self, kinds: Sequence[str], since: datetime) -> list[Alert]:
        """Alerts of `kinds` last seen at or after `since`, whatever their status."""
        query = (
            select(alerts)
            .where(alerts.c.kind.in_(list(kinds)))
            .where(alerts.c.last_seen_at >= to_ms(since))
            .order_by(alerts.c.id)
        )
        with self.engine.connect() as conn:
            return [_alert(r) for r in conn.execute(query)]

    def events(self, alert_id: int) -> list[EventRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(alert_events)
                .where(alert_events.c.alert_id == alert_id)
                .order_by(alert_events.c.id)
            )
            return [_event(r) for r in rows]

    def events_after(self, event_id: int, limit: int = 100) -> list[EventRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(alert_events)
                .where(alert_events.c.id > event_id)
                .order_by(alert_events.c.id)
                .limit(limit)
            )
            return [_event(r) for r in rows]

    def last_event_id(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.max(alert_events.c.id))).scalar() or 0)

    def latest_by_key(self) -> dict[AlertKey, Alert]:
        """Each key's most recent alert (active or resolved)."""
        newest = (
            select(func.max(alerts.c.id))
            .group_by(alerts.c.kind, alerts.c.plant, alerts.c.meter, alerts.c.pollutant)
            .scalar_subquery()
        )
        with self.engine.connect() as conn:
            rows = conn.execute(select(alerts).where(alerts.c.id.in_(newest)))
            return {a.key: a for a in map(_alert, rows)}

    # -- officer actions -----------------------------------------------------------------

    def acknowledge(self, alert_id: int, who: str, comment: str | None, now: datetime) -> Alert:
        """open -> acknowledged, recording who, when and why."""
        comment = _clean_comment(comment)
        with self.engine.begin() as conn:
            current = self._current(conn, alert_id)
            if current.status != OPEN:
                by = f" by {current.acknowledged_by}" if current.status == ACKNOWLEDGED else ""
                raise AlertConflict(f"alert {alert_id} is {current.status}{by}, not open")
            at = to_ms(now)
            done = conn.execute(
                update(alerts)
                .where(and_(alerts.c.id == alert_id, alerts.c.status == OPEN))
                .values(
                    status=ACKNOWLEDGED,
                    acknowledged_by=who,
                    acknowledged_at=at,
                    ack_comment=comment,
                    updated_at=at,
                )
            )
            if done.rowcount != 1:
                raise AlertConflict(f"alert {alert_id} changed meanwhile; try again")
            record_audit(conn, who, "alert.ack", f"alert:{alert_id}", {"comment": comment}, at=now)
            return self._log(conn, alert_id, ACKNOWLEDGED, at, who, comment)[0]

    def resolve(self, alert_id: int, who: str, comment: str | None, now: datetime) -> Alert:
        """open or acknowledged -> resolved by an officer."""
        comment = _clean_comment(comment)
        with self.engine.begin() as conn:
            current = self._current(conn, alert_id)
            if not current.active:
                raise AlertConflict(
                    f"alert {alert_id} is already resolved (by {current.resolved_by})"
                )
            resolved = self._resolve(conn, alert_id, to_ms(now), who, comment)
            if resolved is None:
                raise AlertConflict(f"alert {alert_id} changed meanwhile; try again")
            record_audit(
                conn, who, "alert.resolve", f"alert:{alert_id}", {"comment": comment}, at=now
            )
            return resolved[0]

    # -- the engine ----------------------------------------------------------------------

    def try_lease(self, holder: str, now: datetime, seconds: float) -> bool:
        """Take or renew the evaluation lease; False while another holder's lease is alive."""
        at, expires = to_ms(now), to_ms(now) + int(seconds * 1000)
        with self.engine.begin() as conn:
            done = conn.execute(
                update(alert_lease)
                .where(
                    and_(
                        alert_lease.c.name == LEASE_NAME,
                        (alert_lease.c.holder == holder) | (alert_lease.c.expires_at < at),
                    )
                )
                .values(holder=holder, expires_at=expires)
            )
            if done.rowcount == 1:
                return True
            exists = conn.execute(
                select(alert_lease.c.name).where(alert_lease.c.name == LEASE_NAME)
            ).first()
            if exists is not None:
                return False
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(alert_lease).values(name=LEASE_NAME, holder=holder, expires_at=expires)
                )
            return True
        except IntegrityError:
            return False  # another engine inserted it first

    def release_lease(self, holder: str) -> None:
        """Give the lease up (on a clean stop) so another engine takes over at once."""
        with self.engine.begin() as conn:
            conn.execute(
                update(alert_lease)
                .where(and_(alert_lease.c.name == LEASE_NAME, alert_lease.c.holder == holder))
                .values(expires_at=0)
            )

    def lease_holder(self, now: datetime) -> str | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(alert_lease).where(
                    and_(alert_lease.c.name == LEASE_NAME, alert_lease.c.expires_at >= to_ms(now))
                )
            ).first()
        return row._mapping["holder"] if row is not None else None

    def apply(self, plan: Plan, now: datetime, holder: str, lease_seconds: float) -> list[int]:
        """Carry out a plan in one transaction fenced by the lease; returns the new event ids."""
        at = to_ms(now)
        events: list[int] = []
        with self.engine.begin() as conn:
            renewed = conn.execute(
                update(alert_lease)
                .where(and_(alert_lease.c.name == LEASE_NAME, alert_lease.c.holder == holder))
                .values(expires_at=at + int(lease_seconds * 1000))
            )
            if renewed.rowcount != 1:
                raise LeaseLost(f"{holder} no longer holds the alert engine lease")
            for t in plan.transitions:
                if isinstance(t, Touch):
                    self._touch(conn, t, at)
                elif isinstance(t, Raise):
                    events.append(self._raise(conn, t.condition, at))
                elif isinstance(t, Reopen):
                    event = self._reopen(conn, t, at)
                    if event is not None:
                        events.append(event)
                elif isinstance(t, Resolve):
                    resolved = self._resolve(conn, t.alert_id, at, ENGINE_ACTOR, None)
                    if resolved is not None:
                        events.append(resolved[1])
        return events

    # -- delivery cursors ----------------------------------------------------------------

    def cursor(self, channel: str) -> int:
        """The last event delivered on `channel`; a new channel starts after the current log."""
        query = select(alert_outbox.c.last_event_id).where(alert_outbox.c.channel == channel)
        try:
            with self.engine.begin() as conn:
                row = conn.execute(query).first()
                if row is not None:
                    return int(row[0])
                last = int(conn.execute(select(func.max(alert_events.c.id))).scalar() or 0)
                conn.execute(insert(alert_outbox).values(channel=channel, last_event_id=last))
                return last
        except IntegrityError:
            # another process created the cursor at the same moment: use theirs
            with self.engine.connect() as conn:
                return int(conn.execute(query).scalar_one())

    def set_cursor(self, channel: str, event_id: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(alert_outbox)
                .where(alert_outbox.c.channel == channel)
                .values(last_event_id=event_id)
            )

    # -- internals -----------------------------------------------------------------------

    def _current(self, conn: Connection, alert_id: int) -> Alert:
        row = conn.execute(select(alerts).where(alerts.c.id == alert_id)).first()
        if row is None:
            raise AlertNotFound(f"no alert {alert_id}")
        return _alert(row)

    def _log(
        self, conn: Connection, alert_id: int, event: str, at: int, actor: str, comment: str | None
    ) -> tuple[Alert, int]:
        alert = self._current(conn, alert_id)
        result = conn.execute(
            insert(alert_events).values(
                alert_id=alert_id,
                event=event,
                at=at,
                actor=actor,
                comment=comment,
                snapshot=json.dumps(alert.as_json(), ensure_ascii=False),
            )
        )
        return alert, int(result.inserted_primary_key[0])  # type: ignore[index]

    def _touch(self, conn: Connection, t: Touch, at: int) -> None:
        values: dict[str, Any] = {
            "cleared_since": None if t.cleared_since is None else to_ms(t.cleared_since)
        }
        if t.condition is not None:
            values.update(
                last_seen_at=at,
                value=t.condition.value,
                limit=t.condition.limit,
                message=t.condition.message,
                **_facts(t.condition),
            )
            # `since` is when the condition began: a condition still holding keeps it.
            values["since"] = func.coalesce(alerts.c.since, values["since"])
        conn.execute(
            update(alerts)
            .where(and_(alerts.c.id == t.alert_id, alerts.c.status.in_(sorted(ACTIVE))))
            .values(**values)
        )

    def _raise(self, conn: Connection, c: Condition, at: int) -> int:
        result = conn.execute(
            insert(alerts).values(
                kind=c.key.kind,
                plant=c.key.plant,
                meter=c.key.meter,
                pollutant=c.key.pollutant,
                open_key=str(c.key),
                status=OPEN,
                message=c.message,
                value=c.value,
                limit=c.limit,
                opened_at=at,
                last_seen_at=at,
                updated_at=at,
                reopen_count=0,
                **_facts(c),
            )
        )
        alert_id = int(result.inserted_primary_key[0])  # type: ignore[index]
        return self._log(conn, alert_id, RAISED, at, ENGINE_ACTOR, None)[1]

    def _reopen(self, conn: Connection, t: Reopen, at: int) -> int | None:
        c = t.condition
        done = conn.execute(
            update(alerts)
            .where(and_(alerts.c.id == t.alert_id, alerts.c.status == RESOLVED))
            .values(
                status=OPEN,
                open_key=str(c.key),
                message=c.message,
                value=c.value,
                limit=c.limit,
                last_seen_at=at,
                updated_at=at,
                cleared_since=None,
                acknowledged_by=None,
                acknowledged_at=None,
                ack_comment=None,
                resolved_at=None,
                resolved_by=None,
                resolve_comment=None,
                reopen_count=alerts.c.reopen_count + 1,
                **_facts(c),
            )
        )
        if done.rowcount != 1:
            return None
        return self._log(conn, t.alert_id, REOPENED, at, ENGINE_ACTOR, None)[1]

    def _resolve(
        self, conn: Connection, alert_id: int, at: int, who: str, comment: str | None
    ) -> tuple[Alert, int] | None:
        done = conn.execute(
            update(alerts)
            .where(and_(alerts.c.id == alert_id, alerts.c.status.in_(sorted(ACTIVE))))
            .values(
                status=RESOLVED,
                open_key=None,
                resolved_at=at,
                resolved_by=who,
                resolve_comment=comment,
                updated_at=at,
            )
        )
        if done.rowcount != 1:
            return None
        return self._log(conn, alert_id, RESOLVED, at, who, comment)
