"""The service's relational state (API keys, alerts): SQLAlchemy Core over one engine.

SQLite by default (a file under `var/`); PostgreSQL by setting `PLANTWATCH_DATABASE_URL`
(e.g. `postgresql+psycopg://...`). Modules declare their tables on `METADATA`, and an
Alembic revision in `ingest/migrations/versions/` makes each (docs/operations.md);
`connect` upgrades the database to the newest revision, the HJ 212 gateway's command log
(`ingest.gateway.audit`) included, so officers can read it through the API.
"""

from __future__ import annotations

import logging

from sqlalchemy import Connection, Engine, MetaData, inspect, text

from ingest.gateway.audit import METADATA as HJ212_METADATA
from ingest.gateway.lastseen import METADATA as LAST_SEEN_METADATA
from ingest.sql import open_engine

log = logging.getLogger(__name__)

METADATA = MetaData()


def connect(url: str) -> Engine:
    """An engine for `url`, its database upgraded to the newest revision."""
    return open_engine(
        url, METADATA, HJ212_METADATA, LAST_SEEN_METADATA, after_create=_add_missing_columns
    )


def declared_metadata() -> list[MetaData]:
    """Every table the code declares, for comparison with what the revisions make."""
    import api.app  # noqa: F401  (its modules declare their tables on METADATA)

    return [METADATA, HJ212_METADATA, LAST_SEEN_METADATA]


def _add_missing_columns(conn: Connection) -> None:
    """Add nullable columns declared without a revision yet (a warning; the schema test fails)."""
    inspector = inspect(conn)
    for table in METADATA.sorted_tables:
        have = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in have or not column.nullable:
                continue
            kind = column.type.compile(dialect=conn.dialect)
            name = conn.dialect.identifier_preparer.quote(column.name)
            log.warning(
                "column declared without a migration; add a revision (docs/operations.md)",
                extra={"table": table.name, "column": column.name},
            )
            conn.execute(text(f"ALTER TABLE {table.name} ADD COLUMN {name} {kind}"))
