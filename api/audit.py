"""The audit log: who did what to which thing, when. Append-only, in the service's SQL database.

Other modules call `record_audit` (keys created and revoked, alert actions, HJ 212 commands,
conversion records, manual entries), preferably with the `Connection` of the transaction
that makes the change, so the change and its record commit or roll back together. No code
path updates or deletes a row, and the database refuses to: a trigger on SQLite and
PostgreSQL aborts any UPDATE or DELETE of `audit_log`.

The owner of the database file can drop a trigger, so rows are hash-chained as well
(`api.audit_chain`): each insert first updates the one-row `audit_chain` head (which
serializes writers on SQLite and PostgreSQL alike), links the new row to the head's hash and
moves the head on. `verify_audit` (`python -m api audit verify`) finds an edited, inserted or
deleted row.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    DDL,
    BigInteger,
    Column,
    Connection,
    Engine,
    Index,
    Integer,
    String,
    Table,
    Text,
    event,
    insert,
    select,
    update,
)

from api.audit_chain import GENESIS, ChainReport, ChainRow, row_hash, verify_chain
from api.db import METADATA
from ingest.kernel.errors import PlantwatchError

MAX_ACTOR_CHARS = 128
MAX_ACTION_CHARS = 64
MAX_TARGET_CHARS = 200
MAX_LIST = 1000

audit_log = Table(
    "audit_log",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at_ms", BigInteger, nullable=False),
    Column("actor", String(MAX_ACTOR_CHARS), nullable=False),
    Column("action", String(MAX_ACTION_CHARS), nullable=False),
    Column("target", String(MAX_TARGET_CHARS), nullable=False),
    # JSON object with whatever else explains the action (comment, role, command text ...).
    Column("detail", Text, nullable=False),
    # The hash chain (api/audit_chain.py); NULL on rows written before it existed.
    Column("prev_hash", String(64), nullable=True),
    Column("row_hash", String(64), nullable=True),
    Index("ix_audit_action", "action"),
    Index("ix_audit_target", "target"),
)
# One row (inserted by its revision, ingest/migrations/versions/0002_pathsafe.py): the last
# chained row's id and hash. Updated by every insert (which also makes concurrent inserts
# take turns), never by anything else.
audit_chain = Table(
    "audit_chain",
    METADATA,
    Column("id", Integer, primary_key=True),
    Column("last_id", Integer, nullable=False),
    Column("last_hash", String(64), nullable=False),
)

_APPEND_ONLY = "audit_log is append-only"
event.listen(
    audit_log,
    "after_create",
    DDL(
        "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
        f"BEGIN SELECT RAISE(ABORT, '{_APPEND_ONLY}'); END"
    ).execute_if(dialect="sqlite"),
)
event.listen(
    audit_log,
    "after_create",
    DDL(
        "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
        f"BEGIN SELECT RAISE(ABORT, '{_APPEND_ONLY}'); END"
    ).execute_if(dialect="sqlite"),
)
event.listen(
    audit_log,
    "after_create",
    DDL(
        "CREATE OR REPLACE FUNCTION audit_log_refuse() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN RAISE EXCEPTION '{_APPEND_ONLY}'; END $$"
    ).execute_if(dialect="postgresql"),
)
event.listen(
    audit_log,
    "after_create",
    DDL(
        "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE "
        "ON audit_log FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse()"
    ).execute_if(dialect="postgresql"),
)


class AuditError(PlantwatchError):
    """An audit record or query was malformed; the message says why."""


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    detail: Mapping[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "detail": dict(self.detail),
        }


def record_audit(
    db: Engine | Connection,
    actor: str,
    action: str,
    target: str,
    detail: Mapping[str, Any] | None = None,
    *,
    at: datetime | None = None,
) -> int:
    """Append one record and return its id.

    `db` is an Engine (own transaction) or the Connection of the caller's transaction.
    `actor` is the principal's name (`Principal.name`, `cli`, `alert-engine`, ...); `action`
    a dotted verb such as `key.created`, `alert.ack`, `hj212.command`; `target` the thing
    acted on (`key:12`, `alert:7`, `plant:ss-001/stack-1`); `detail` JSON-able facts.
    """
    for name, value, limit in (
        ("actor", actor, MAX_ACTOR_CHARS),
        ("action", action, MAX_ACTION_CHARS),
        ("target", target, MAX_TARGET_CHARS),
    ):
        if not value or len(value) > limit:
            raise AuditError(f"audit {name} must be 1 to {limit} characters, got {value!r}")
    when = (at or datetime.now(UTC)).astimezone(UTC)
    row = {
        "at_ms": int(when.timestamp() * 1000),
        "actor": actor,
        "action": action,
        "target": target,
        "detail": json.dumps(dict(detail or {}), ensure_ascii=False, default=str),
    }
    if isinstance(db, Connection):
        return _append_chained(db, row)
    with db.begin() as conn:
        return _append_chained(conn, row)


def _append_chained(conn: Connection, row: dict[str, Any]) -> int:
    # Touch the head first: a write lock on SQLite, a row lock on PostgreSQL, so the head
    # read next is the latest and no other insert can link to it at the same time.
    conn.execute(update(audit_chain).where(audit_chain.c.id == 1).values(id=1))
    prev = conn.execute(select(audit_chain.c.last_hash).where(audit_chain.c.id == 1)).scalar()
    prev_hash = prev if prev is not None else GENESIS
    digest = row_hash(
        prev_hash, row["at_ms"], row["actor"], row["action"], row["target"], row["detail"]
    )
    result = conn.execute(insert(audit_log).values(**row, prev_hash=prev_hash, row_hash=digest))
    new_id = int(result.inserted_primary_key[0])  # type: ignore[index]
    conn.execute(
        update(audit_chain).where(audit_chain.c.id == 1).values(last_id=new_id, last_hash=digest)
    )
    return new_id


def verify_audit(engine: Engine) -> ChainReport:
    """Check every audit row against the hash chain and its head (api/audit_chain.py)."""
    with engine.connect() as conn:
        head = conn.execute(select(audit_chain).where(audit_chain.c.id == 1)).first()
        rows = (
            ChainRow(r.id, r.at_ms, r.actor, r.action, r.target, r.detail, r.prev_hash, r.row_hash)
            for r in conn.execute(select(audit_log).order_by(audit_log.c.id))
        )
        return verify_chain(
            rows,
            head.last_id if head is not None else None,
            head.last_hash if head is not None else None,
        )


def find_audit(
    engine: Engine,
    action: str | None = None,
    actor: str | None = None,
    target: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 200,
) -> list[AuditEntry]:
    """Records matching every given filter, newest first; `action` ending in `.` is a prefix."""
    query = select(audit_log).order_by(audit_log.c.id.desc()).limit(min(limit, MAX_LIST))
    if action is not None:
        if action.endswith("."):
            query = query.where(audit_log.c.action.startswith(action, autoescape=True))
        else:
            query = query.where(audit_log.c.action == action)
    if actor is not None:
        query = query.where(audit_log.c.actor == actor)
    if target is not None:
        query = query.where(audit_log.c.target == target)
    if since is not None:
        query = query.where(audit_log.c.at_ms >= int(since.timestamp() * 1000))
    if until is not None:
        query = query.where(audit_log.c.at_ms < int(until.timestamp() * 1000))
    with engine.connect() as conn:
        return [_entry(r) for r in conn.execute(query)]


def _entry(row: Any) -> AuditEntry:
    m = row._mapping
    return AuditEntry(
        m["id"],
        datetime.fromtimestamp(m["at_ms"] / 1000, tz=UTC),
        m["actor"],
        m["action"],
        m["target"],
        json.loads(m["detail"]),
    )
