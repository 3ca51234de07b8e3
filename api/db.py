"""The service's relational state (API keys, alerts): SQLAlchemy Core over one engine.

SQLite by default (a file under `var/`); PostgreSQL by setting `PLANTWATCH_DATABASE_URL`
(e.g. `postgresql+psycopg://...`). Modules declare their tables on `METADATA`; `connect`
creates whatever is missing.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, MetaData, create_engine, event, inspect, text

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

    METADATA.create_all(engine)
    _add_missing_columns(engine)
    return engine


def _add_missing_columns(engine: Engine) -> None:
    """Add nullable columns declared since a table was created (no data migration needed)."""
    inspector = inspect(engine)
    with engine.begin() as conn:
        for table in METADATA.sorted_tables:
            have = {c["name"] for c in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name in have or not column.nullable:
                    continue
                kind = column.type.compile(dialect=engine.dialect)
                name = engine.dialect.identifier_preparer.quote(column.name)
                conn.execute(text(f"ALTER TABLE {table.name} ADD COLUMN {name} {kind}"))
