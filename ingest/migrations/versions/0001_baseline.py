"""Baseline: the schema of the last release without migrations (keys, alerts, audit, records,
HJ 212 commands and last-seen times).

On a new database it creates every table. On a database that release wrote (its tables, no
`alembic_version`), it creates only what is missing and adds the nullable columns that
release added on the fly, so every row is kept. The tables are written out here, frozen, not
imported from the code: later revisions change them from this shape.

Revision ID: 0001_baseline
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_baseline"
down_revision = None
branch_labels = None
depends_on = None

BASELINE = sa.MetaData()

sa.Table(
    "alert_lease",
    BASELINE,
    sa.Column("name", sa.String(length=64), nullable=False),
    sa.Column("holder", sa.String(length=128), nullable=False),
    sa.Column("expires_at", sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint("name"),
)
sa.Table(
    "alert_outbox",
    BASELINE,
    sa.Column("channel", sa.String(length=64), nullable=False),
    sa.Column("last_event_id", sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint("channel"),
)
sa.Table(
    "alerts",
    BASELINE,
    sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
    sa.Column("kind", sa.String(length=64), nullable=False),
    sa.Column("plant", sa.String(length=64), nullable=False),
    sa.Column("meter", sa.String(length=64), nullable=False),
    sa.Column("pollutant", sa.String(length=64), nullable=False),
    sa.Column("open_key", sa.String(length=300), nullable=True),
    sa.Column("status", sa.String(length=16), nullable=False),
    sa.Column("message", sa.Text(), nullable=False),
    sa.Column("value", sa.Float(), nullable=True),
    sa.Column("limit", sa.Float(), nullable=True),
    sa.Column("opened_at", sa.BigInteger(), nullable=False),
    sa.Column("last_seen_at", sa.BigInteger(), nullable=False),
    sa.Column("updated_at", sa.BigInteger(), nullable=False),
    sa.Column("cleared_since", sa.BigInteger(), nullable=True),
    sa.Column("acknowledged_by", sa.String(length=128), nullable=True),
    sa.Column("acknowledged_at", sa.BigInteger(), nullable=True),
    sa.Column("ack_comment", sa.Text(), nullable=True),
    sa.Column("resolved_at", sa.BigInteger(), nullable=True),
    sa.Column("resolved_by", sa.String(length=128), nullable=True),
    sa.Column("resolve_comment", sa.Text(), nullable=True),
    sa.Column("reopen_count", sa.Integer(), nullable=False),
    sa.Column("unit", sa.String(length=16), nullable=True),
    sa.Column("since", sa.BigInteger(), nullable=True),
    sa.Column("late", sa.Boolean(), nullable=True),
    sa.Column("details", sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint("id"),
    sa.UniqueConstraint("open_key"),
    sa.Index("ix_alerts_key", "kind", "plant", "meter", "pollutant"),
    sa.Index("ix_alerts_status", "status"),
)
sa.Table(
    "api_keys",
    BASELINE,
    sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
    sa.Column("name", sa.String(length=100), nullable=False),
    sa.Column("role", sa.String(length=20), nullable=False),
    sa.Column("plant", sa.String(length=32), nullable=True),
    sa.Column("key_hash", sa.String(length=64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint("id"),
    sa.UniqueConstraint("key_hash"),
)
sa.Table(
    "audit_log",
    BASELINE,
    sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
    sa.Column("at_ms", sa.BigInteger(), nullable=False),
    sa.Column("actor", sa.String(length=128), nullable=False),
    sa.Column("action", sa.String(length=64), nullable=False),
    sa.Column("target", sa.String(length=200), nullable=False),
    sa.Column("detail", sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint("id"),
    sa.Index("ix_audit_action", "action"),
    sa.Index("ix_audit_target", "target"),
)
sa.Table(
    "conversion_records",
    BASELINE,
    sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
    sa.Column("plant", sa.String(length=64), nullable=False),
    sa.Column("kind", sa.String(length=32), nullable=False),
    sa.Column("effective_at", sa.BigInteger(), nullable=False),
    sa.Column("meter", sa.String(length=64), nullable=False),
    sa.Column("old_register", sa.Float(), nullable=True),
    sa.Column("new_register", sa.Float(), nullable=True),
    sa.Column("mass_kg", sa.Float(), nullable=True),
    sa.Column("recorded_by", sa.String(length=128), nullable=False),
    sa.Column("recorded_at", sa.BigInteger(), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("attachment", sa.String(length=500), nullable=False),
    sa.Column("supersedes", sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(
        ["supersedes"],
        ["conversion_records.id"],
    ),
    sa.PrimaryKeyConstraint("id"),
    sa.UniqueConstraint("supersedes"),
    sa.Index("ix_conversion_records_plant", "plant", "effective_at"),
)
sa.Table(
    "alert_events",
    BASELINE,
    sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
    sa.Column("alert_id", sa.Integer(), nullable=False),
    sa.Column("event", sa.String(length=16), nullable=False),
    sa.Column("at", sa.BigInteger(), nullable=False),
    sa.Column("actor", sa.String(length=128), nullable=False),
    sa.Column("comment", sa.Text(), nullable=True),
    sa.Column("snapshot", sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(
        ["alert_id"],
        ["alerts.id"],
    ),
    sa.PrimaryKeyConstraint("id"),
    sa.Index("ix_alert_events_alert_id", "alert_id"),
)
sa.Table(
    "hj212_command_log",
    BASELINE,
    sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
    sa.Column("command_id", sa.Integer(), nullable=True),
    sa.Column("mn", sa.String(length=64), nullable=False),
    sa.Column("qn", sa.String(length=32), nullable=False),
    sa.Column("cn", sa.String(length=8), nullable=False),
    sa.Column("direction", sa.String(length=4), nullable=False),
    sa.Column("packet", sa.Text(), nullable=False),
    sa.Column("at", sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint("id"),
    sa.Index("ix_hj212_command_log_command_id", "command_id"),
)
sa.Table(
    "hj212_commands",
    BASELINE,
    sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
    sa.Column("plant", sa.String(length=64), nullable=False),
    sa.Column("meter", sa.String(length=64), nullable=False),
    sa.Column("mn", sa.String(length=64), nullable=False),
    sa.Column("cn", sa.String(length=8), nullable=False),
    sa.Column("qn", sa.String(length=32), nullable=True),
    sa.Column("params", sa.Text(), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("requested_by", sa.String(length=128), nullable=False),
    sa.Column("status", sa.String(length=16), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
    sa.Column("sent_at", sa.BigInteger(), nullable=True),
    sa.Column("finished_at", sa.BigInteger(), nullable=True),
    sa.Column("result", sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint("id"),
    sa.Index("ix_hj212_commands_stack", "plant", "meter", "id"),
    sa.Index("ix_hj212_commands_status", "status"),
)
sa.Table(
    "hj212_last_seen",
    BASELINE,
    sa.Column("mn", sa.String(length=64), nullable=False),
    sa.Column("level", sa.String(length=8), nullable=False),
    sa.Column("data_time", sa.BigInteger(), nullable=False),
    sa.Column("updated_at", sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint("mn", "level"),
)

_APPEND_ONLY = "audit_log is append-only"
# The audit log refuses UPDATE and DELETE (api/audit.py); IF NOT EXISTS / OR REPLACE: a
# database from before migrations has them already.
AUDIT_TRIGGERS = {
    "sqlite": [
        "CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log "
        f"BEGIN SELECT RAISE(ABORT, '{_APPEND_ONLY}'); END",
        "CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log "
        f"BEGIN SELECT RAISE(ABORT, '{_APPEND_ONLY}'); END",
    ],
    "postgresql": [
        "CREATE OR REPLACE FUNCTION audit_log_refuse() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN RAISE EXCEPTION '{_APPEND_ONLY}'; END $$",
        "DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log",
        "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE "
        "ON audit_log FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse()",
    ],
}


def upgrade() -> None:
    bind = op.get_bind()
    have = set(sa.inspect(bind).get_table_names())
    for table in BASELINE.sorted_tables:
        if table.name not in have:
            table.create(bind)
            continue
        present = {c["name"] for c in sa.inspect(bind).get_columns(table.name)}
        for column in table.columns:
            if column.name not in present and column.nullable:
                op.add_column(table.name, sa.Column(column.name, column.type, nullable=True))
        indexed = {i["name"] for i in sa.inspect(bind).get_indexes(table.name)}
        for index in table.indexes:
            if index.name not in indexed:
                index.create(bind)
    for statement in AUDIT_TRIGGERS.get(bind.dialect.name, []):
        op.execute(statement)


def downgrade() -> None:
    for table in reversed(BASELINE.sorted_tables):
        op.drop_table(table.name)
