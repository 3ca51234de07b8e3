"""The SQL schema's history: Alembic revisions, applied by `ingest.sql.open_engine` on open.

Every process that opens the service database (`api.db.connect`, the HJ 212 gateway's
command desk) upgrades it to the newest revision first, under a PostgreSQL advisory lock so
processes starting together wait for one another. A database written by a release before
migrations (tables, no `alembic_version`) is adopted by the baseline revision: it creates
what is missing and keeps every row. Adding a table or a column: one file in `versions/`
(docs/operations.md, "Changing the SQL schema").
"""

from __future__ import annotations

import logging
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent
VERSION_TABLE = "alembic_version"


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration for this folder; with `connection`, migrations run on it."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@cache
def head() -> str:
    """The newest revision (read once per process: the files do not change while it runs)."""
    found = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert found is not None, "no revision in ingest/migrations/versions"
    return found


def current(connection: Connection) -> str | None:
    """The revision the database is at; None for a new database or one from before migrations."""
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(connection: Connection) -> None:
    """Bring the database to the newest revision, inside the caller's transaction."""
    at = current(connection)
    if at == head():
        return
    if at is None and inspect(connection).get_table_names():
        log.warning(
            "adopting a database created before migrations",
            extra={"tables": sorted(inspect(connection).get_table_names())},
        )
    command.upgrade(alembic_config(connection), "head")
