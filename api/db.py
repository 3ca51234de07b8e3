"""The service's relational state (API keys, alerts): SQLAlchemy Core over one engine.

SQLite by default (a file under `var/`); PostgreSQL by setting `PLANTWATCH_DATABASE_URL`
(e.g. `postgresql+psycopg://...`). Modules declare their tables on `METADATA`; `connect`
creates whatever is missing.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, MetaData, create_engine, event, text

METADATA = MetaData()


def connect(url: str) -> Engine:
    """An engine for `url` with every table of `METADATA` created."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, future=True)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:
            # WAL lets readers run while the alert engine writes; FULL sync keeps every
            # committed change through a power cut.
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA busy_timeout=5000")
            cursor.close()

    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            # Several API processes may start at once on a new database: one creates the
            # tables (and the audit trigger) while the others wait, instead of colliding.
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK_KEY})
        METADATA.create_all(conn)
    return engine


SCHEMA_LOCK_KEY = 0x706C616E74  # "plant"
