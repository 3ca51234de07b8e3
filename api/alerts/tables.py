"""SQL tables of the alert engine (SQLAlchemy Core on `api.db.METADATA`).

Times are epoch milliseconds (BigInteger): exact, zone-free and identical on SQLite and
PostgreSQL. `open_key` holds the alert's key while it is active and NULL once resolved; its
unique constraint is the database's guarantee of one active alert per key (NULLs never
collide on either database).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from api.db import METADATA

alerts = Table(
    "alerts",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(64), nullable=False),
    Column("plant", String(64), nullable=False),
    Column("meter", String(64), nullable=False, default=""),
    Column("pollutant", String(64), nullable=False, default=""),
    Column("open_key", String(300), nullable=True, unique=True),
    Column("status", String(16), nullable=False),
    Column("message", Text, nullable=False),
    Column("value", Float, nullable=True),
    Column("limit", Float, nullable=True),
    Column("opened_at", BigInteger, nullable=False),
    Column("last_seen_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("cleared_since", BigInteger, nullable=True),
    Column("acknowledged_by", String(128), nullable=True),
    Column("acknowledged_at", BigInteger, nullable=True),
    Column("ack_comment", Text, nullable=True),
    Column("resolved_at", BigInteger, nullable=True),
    Column("resolved_by", String(128), nullable=True),
    Column("resolve_comment", Text, nullable=True),
    Column("reopen_count", Integer, nullable=False, default=0),
    # Structured facts for renderers (api/alerts/texts.py); nullable so `api.db.connect`
    # can add them to a database created before they existed.
    Column("unit", String(16), nullable=True),
    Column("since", BigInteger, nullable=True),
    Column("late", Boolean, nullable=True),
    Column("details", Text, nullable=True),
    Index("ix_alerts_key", "kind", "plant", "meter", "pollutant"),
    Index("ix_alerts_status", "status"),
)

alert_events = Table(
    "alert_events",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("alert_id", Integer, ForeignKey("alerts.id"), nullable=False, index=True),
    Column("event", String(16), nullable=False),
    Column("at", BigInteger, nullable=False),
    Column("actor", String(128), nullable=False),
    Column("comment", Text, nullable=True),
    # The alert as it was right after this change, JSON: what every channel publishes.
    Column("snapshot", Text, nullable=False),
)

alert_lease = Table(
    "alert_lease",
    METADATA,
    Column("name", String(64), primary_key=True),
    Column("holder", String(128), nullable=False),
    Column("expires_at", BigInteger, nullable=False),
)

# How far each notification channel has delivered the event log (an outbox cursor).
alert_outbox = Table(
    "alert_outbox",
    METADATA,
    Column("channel", String(64), primary_key=True),
    Column("last_event_id", Integer, nullable=False),
)
