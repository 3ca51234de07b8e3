"""The service's relational state (API keys, alerts): SQLAlchemy Core over one engine.

SQLite by default (a file under `var/`); PostgreSQL by setting `PLANTWATCH_DATABASE_URL`
(e.g. `postgresql+psycopg://...`). Modules declare their tables on `METADATA`; `connect`
creates whatever is missing, and the HJ 212 gateway's command log (`ingest.gateway.audit`)
too, so officers can read it through the API.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, MetaData, inspect, text

from ingest.gateway.audit import METADATA as HJ212_METADATA
from ingest.sql import open_engine

METADATA = MetaData()


def connect(url: str) -> Engine:
    """An engine for `url` with every table of `METADATA` created."""
    return open_engine(url, METADATA, HJ212_METADATA, after_create=_add_missing_columns)


def _add_missing_columns(conn: Connection) -> None:
    """Add nullable columns declared since a table was created (no data migration needed)."""
    inspector = inspect(conn)
    for table in METADATA.sorted_tables:
        have = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in have or not column.nullable:
                continue
            kind = column.type.compile(dialect=conn.dialect)
            name = conn.dialect.identifier_preparer.quote(column.name)
            conn.execute(text(f"ALTER TABLE {table.name} ADD COLUMN {name} {kind}"))
