"""SQL table of conversion records (SQLAlchemy Core on `api.db.METADATA`), append-only.

`record_outbox` holds, in the transaction that keeps a coal delivery, the (plant, meter)
whose manual register must be published; the row goes once the broker has the readings
(api/records/outbox.py). A correction is a new row whose `supersedes` names the row it replaces; the unique
constraint lets a row be superseded once. Times are epoch milliseconds, as in the alert tables.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, ForeignKey, Index, Integer, String, Table, Text

from api.db import METADATA

conversion_records = Table(
    "conversion_records",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("plant", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("effective_at", BigInteger, nullable=False),
    Column("meter", String(64), nullable=False, default=""),
    Column("old_register", Float, nullable=True),
    Column("new_register", Float, nullable=True),
    Column("mass_kg", Float, nullable=True),
    Column("recorded_by", String(128), nullable=False),
    Column("recorded_at", BigInteger, nullable=False),
    Column("reason", Text, nullable=False),
    Column("attachment", String(500), nullable=False, default=""),
    Column("supersedes", Integer, ForeignKey("conversion_records.id"), nullable=True, unique=True),
    Index("ix_conversion_records_plant", "plant", "effective_at"),
)

record_outbox = Table(
    "record_outbox",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("record_id", Integer, ForeignKey("conversion_records.id"), nullable=False),
    Column("plant", String(64), nullable=False),
    Column("meter", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
)
