"""The one way any plantwatch process opens the SQL database (SQLAlchemy Core).

SQLite by default (a file under `var/`), PostgreSQL by URL. The API's tables (`api.db`)
and the HJ 212 gateway's command log (`ingest.gateway.audit`) live in the same database,
whose schema the Alembic revisions of `ingest.migrations` make: opening it upgrades it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Connection, Engine, MetaData, create_engine, event, inspect, text

from ingest import migrations

log = logging.getLogger(__name__)

# Several processes may start at once on a new PostgreSQL database: one creates the tables
# (and the audit trigger) while the others wait, instead of colliding.
SCHEMA_LOCK_KEY = 0x706C616E74  # "plant"


def open_engine(
    url: str, *metadatas: MetaData, after_create: Callable[[Connection], None] | None = None
) -> Engine:
    """An engine for `url`, its database upgraded to the newest revision, then `after_create` run.

    A table of `metadatas` that no revision makes is still created, with a warning: the
    schema test (tests/ingest/test_migrations.py) fails until a revision makes it.
    """
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, future=True)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:
            # WAL lets readers run while another process writes; FULL sync keeps every
            # committed change through a power cut.
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA busy_timeout=5000")
            cursor.close()

    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK_KEY})
        migrations.upgrade(conn)
        have = set(inspect(conn).get_table_names())
        for metadata in metadatas:
            missing = [t.name for t in metadata.sorted_tables if t.name not in have]
            if missing:
                log.warning(
                    "tables declared without a migration; add a revision (docs/operations.md)",
                    extra={"tables": missing},
                )
                metadata.create_all(conn)
        if after_create is not None:
            after_create(conn)
    return engine
