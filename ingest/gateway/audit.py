"""The HJ 212 command log: every command the gateway sends and every answer (SQL).

Tables live in the same database as the API's (`PLANTWATCH_DATABASE_URL`), so officers
read a stack's log and request a back-fill or a time sync through the API, which only
inserts a `requested` row: the gateway's command desk picks it up. Times are epoch
milliseconds (BigInteger), as in the alert tables.

status of a command: requested -> sent -> accepted (9011 QnRtn=1) -> done (9012 ExeRtn=1)
or refused (QnRtn != 1), failed (ExeRtn not 1 or 100), timeout (no answer after retries).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from contextlib import nullcontext
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    insert,
    select,
    update,
)

METADATA = MetaData()
ACTIVE = ("requested", "sent", "accepted")
FINAL = ("done", "refused", "failed", "timeout")

commands = Table(
    "hj212_commands",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("plant", String(64), nullable=False),
    Column("meter", String(64), nullable=False),
    Column("mn", String(64), nullable=False),
    Column("cn", String(8), nullable=False),
    Column("qn", String(32), nullable=True),
    Column("params", Text, nullable=False, default="{}"),  # JSON: BeginTime, EndTime, ...
    Column("reason", Text, nullable=False),
    Column("requested_by", String(128), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("created_at", BigInteger, nullable=False),
    Column("sent_at", BigInteger, nullable=True),
    Column("finished_at", BigInteger, nullable=True),
    Column("result", Text, nullable=True),  # JSON: QnRtn, ExeRtn, drift_seconds, ...
    Index("ix_hj212_commands_stack", "plant", "meter", "id"),
    Index("ix_hj212_commands_status", "status"),
)

exchanges = Table(
    "hj212_command_log",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("command_id", Integer, nullable=True, index=True),
    Column("mn", String(64), nullable=False),
    Column("qn", String(32), nullable=False),
    Column("cn", String(8), nullable=False),
    Column("direction", String(4), nullable=False),  # "out" to the logger, "in" from it
    Column("packet", Text, nullable=False),
    Column("at", BigInteger, nullable=False),
)


def request(
    db: Engine | Connection,
    *,
    plant: str,
    meter: str,
    mn: str,
    cn: str,
    params: Mapping[str, str],
    reason: str,
    requested_by: str,
    now_ms: int,
) -> int:
    """Queue a command; the gateway sends it when the logger is connected.

    `db` is an Engine, or the Connection of the caller's transaction (the API audits there).
    """
    with nullcontext(db) if isinstance(db, Connection) else db.begin() as conn:
        result = conn.execute(
            insert(commands).values(
                plant=plant, meter=meter, mn=mn, cn=cn, params=json.dumps(dict(params)),
                reason=reason, requested_by=requested_by, status="requested", attempts=0,
                created_at=now_ms,
            )
        )  # fmt: skip
        return int(result.inserted_primary_key[0])  # type: ignore[index]


def requested(engine: Engine) -> list[dict[str, Any]]:
    """Commands waiting to be sent, oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(commands).where(commands.c.status == "requested").order_by(commands.c.id)
        )
        return [dict(r._mapping) for r in rows]


def mark(engine: Engine, command_id: int, **values: Any) -> None:
    if "result" in values and not isinstance(values["result"], str | None):
        values["result"] = json.dumps(values["result"])
    with engine.begin() as conn:
        conn.execute(update(commands).where(commands.c.id == command_id).values(**values))


def log_packet(
    engine: Engine, command_id: int | None, mn: str, qn: str, cn: str, direction: str,
    packet: bytes, now_ms: int,
) -> None:  # fmt: skip
    with engine.begin() as conn:
        conn.execute(
            insert(exchanges).values(
                command_id=command_id, mn=mn, qn=qn, cn=cn, direction=direction,
                packet=packet.decode("ascii", "replace").rstrip("\r\n"), at=now_ms,
            )
        )  # fmt: skip


def resume(engine: Engine) -> int:
    """After a restart, commands that were in flight are sent again."""
    with engine.begin() as conn:
        result = conn.execute(
            update(commands)
            .where(commands.c.status.in_(("sent", "accepted")))
            .values(status="requested")
        )
        return int(result.rowcount or 0)


def stack_log(engine: Engine, plant: str, meter: str, limit: int = 100) -> list[dict[str, Any]]:
    """A stack's latest commands, newest first, each with its packets in and out."""
    with engine.connect() as conn:
        rows = [
            dict(r._mapping)
            for r in conn.execute(
                select(commands)
                .where(commands.c.plant == plant, commands.c.meter == meter)
                .order_by(commands.c.id.desc())
                .limit(limit)
            )
        ]
        ids = [r["id"] for r in rows]
        packets: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
        if ids:
            for p in conn.execute(
                select(exchanges).where(exchanges.c.command_id.in_(ids)).order_by(exchanges.c.id)
            ):
                packets[p.command_id].append(dict(p._mapping))
    for row in rows:
        row["params"] = json.loads(row["params"] or "{}")
        row["result"] = json.loads(row["result"]) if row["result"] else None
        row["packets"] = packets[row["id"]]
    return rows
