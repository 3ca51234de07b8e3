"""What each logger last sent, per level (minute, hour), kept in SQL across gateway restarts.

The planner (`planner.py`) finds a gap by comparing a packet's DataTime with the last one
seen from the same logger at the same level. Kept in memory only, that knowledge was lost
with a restart (or a SIGKILL), and a gap spanning it was never back-filled. The command
desk loads this table when it starts and writes the changed entries back every few
seconds (one transaction), so the entry may lag the last packets by that much: after a
SIGKILL the gateway asks for a few minutes it already had, which the store keeps once.
Same database as the command log (`audit.py`); times are epoch milliseconds, and an entry
only ever moves forward (a late history packet does not pull it back).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from sqlalchemy import BigInteger, Column, Connection, Engine, MetaData, String, Table, select
from sqlalchemy import update as sql_update
from sqlalchemy.dialects import postgresql, sqlite

METADATA = MetaData()

Key = tuple[str, str]  # (MN, level: CN 2051 minute data or CN 2061 hour data)

last_seen = Table(
    "hj212_last_seen",
    METADATA,
    Column("mn", String(64), primary_key=True),
    Column("level", String(8), primary_key=True),
    Column("data_time", BigInteger, nullable=False),  # the newest DataTime, epoch ms
    Column("updated_at", BigInteger, nullable=False),
)


def load(engine: Engine) -> dict[Key, datetime]:
    with engine.connect() as conn:
        return {
            (row.mn, row.level): datetime.fromtimestamp(row.data_time / 1000, UTC)
            for row in conn.execute(select(last_seen))
        }


def save(engine: Engine, seen: Mapping[Key, datetime], now_ms: int) -> None:
    """Move each entry forward to `seen` (never back), in one transaction."""
    with engine.begin() as conn:
        for (mn, level), when in seen.items():
            ms = int(when.timestamp() * 1000)
            moved = conn.execute(
                sql_update(last_seen)
                .where(last_seen.c.mn == mn, last_seen.c.level == level)
                .where(last_seen.c.data_time < ms)
                .values(data_time=ms, updated_at=now_ms)
            )
            if not moved.rowcount:
                _insert_new(conn, {"mn": mn, "level": level, "data_time": ms, "updated_at": now_ms})


def _insert_new(conn: Connection, row: dict[str, object]) -> None:
    """Insert unless the entry exists (then it is already as new or newer)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite  # the two we run on
    conn.execute(dialect.insert(last_seen).values(**row).on_conflict_do_nothing())
