"""SQL table of plants' marks (SQLAlchemy Core on `api.db.METADATA`); times in epoch ms."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, Text

from api.db import METADATA

marks = Table(
    "marks",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("plant", String(64), nullable=False),
    Column("meter", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("start_ms", BigInteger, nullable=False),
    Column("end_ms", BigInteger, nullable=False),
    Column("reason", Text, nullable=False),
    Column("evidence", Text, nullable=False),  # JSON list of references
    Column("status", String(16), nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("reviewed_by", String(128), nullable=True),
    Column("reviewed_at", BigInteger, nullable=True),
    Column("review_comment", Text, nullable=True),
    Index("ix_marks_plant", "plant", "start_ms"),
    Index("ix_marks_status", "status"),
)
