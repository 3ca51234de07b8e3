"""The SQL schema under Alembic: revisions make every declared table; old databases are adopted.

`database_url` is SQLite here and PostgreSQL under `make test-pg`.
"""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from api.db import connect, declared_metadata
from ingest import migrations


def test_the_revisions_make_every_table_and_column_the_code_declares(database_url: str) -> None:
    engine = create_engine(database_url)
    with engine.begin() as conn:
        migrations.upgrade(conn)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), declared_metadata())
    # Not empty: a table or column was declared without a revision; add one under
    # ingest/migrations/versions/ (docs/operations.md, "Changing the SQL schema").
    assert diff == []


def test_a_new_database_is_at_the_newest_revision_and_opening_again_changes_nothing(
    database_url: str,
) -> None:
    engine = connect(database_url)
    with engine.connect() as conn:
        assert migrations.current(conn) == migrations.head()
        tables = set(inspect(conn).get_table_names())
    with connect(database_url).connect() as conn:
        assert set(inspect(conn).get_table_names()) == tables
        assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1


# The key table as a release before migrations made it, and an alerts table from before
# its `details` and `late` columns (that release added such columns on the fly).
LEGACY_DDL = [
    "CREATE TABLE api_keys (id INTEGER NOT NULL PRIMARY KEY, name VARCHAR(100) NOT NULL, "
    "role VARCHAR(20) NOT NULL, plant VARCHAR(32), key_hash VARCHAR(64) NOT NULL UNIQUE, "
    "created_at TIMESTAMP NOT NULL, revoked_at TIMESTAMP)",
    "INSERT INTO api_keys (id, name, role, key_hash, created_at) "
    "VALUES (7, 'officer', 'officer', 'abc', '2026-11-01 00:00:00')",
    "CREATE TABLE alerts (id INTEGER NOT NULL PRIMARY KEY, kind VARCHAR(64) NOT NULL, "
    "plant VARCHAR(64) NOT NULL, meter VARCHAR(64) NOT NULL, pollutant VARCHAR(64) NOT NULL, "
    "open_key VARCHAR(300) UNIQUE, status VARCHAR(16) NOT NULL, message TEXT NOT NULL, "
    'value FLOAT, "limit" FLOAT, opened_at BIGINT NOT NULL, last_seen_at BIGINT NOT NULL, '
    "updated_at BIGINT NOT NULL, cleared_since BIGINT, acknowledged_by VARCHAR(128), "
    "acknowledged_at BIGINT, ack_comment TEXT, resolved_at BIGINT, resolved_by VARCHAR(128), "
    "resolve_comment TEXT, reopen_count INTEGER NOT NULL, unit VARCHAR(16), since BIGINT)",
    "INSERT INTO alerts (id, kind, plant, meter, pollutant, status, message, opened_at, "
    "last_seen_at, updated_at, reopen_count) "
    "VALUES (3, 'voc_exceedance', 'sl-001', 'stack-1', 'dmf_mgm3', 'open', 'over', 1, 2, 3, 0)",
]


def test_a_database_from_before_migrations_is_adopted_with_every_row(database_url: str) -> None:
    with create_engine(database_url).begin() as conn:
        for statement in LEGACY_DDL:
            conn.execute(text(statement))
    engine = connect(database_url)
    with engine.connect() as conn:
        assert migrations.current(conn) == migrations.head()
        assert conn.execute(text("SELECT name FROM api_keys WHERE id = 7")).scalar() == "officer"
        row = conn.execute(text("SELECT plant, details, late FROM alerts WHERE id = 3")).one()
        assert tuple(row) == ("sl-001", None, None)
        assert "audit_log" in inspect(conn).get_table_names()
        diff = compare_metadata(MigrationContext.configure(conn), declared_metadata())
    # Every table, column and index is there (the hand-written DDL's constraints aside).
    assert [d[0] for d in diff if d[0] in ("add_table", "add_column", "add_index")] == []
