"""Issue 23 (no plant can break the path; audit you can prove): the audit hash chain, key
expiry and rotation, revoked environment keys, and the coal-delivery outbox.

- `audit_log.prev_hash`, `audit_log.row_hash` (NULL on rows from before the chain) and the
  one-row `audit_chain` head (api/audit.py, api/audit_chain.py)
- `api_keys.expires_at`, `api_keys.replaced_by`, and `key_revocations` (api/keys.py)
- `record_outbox`: coal deliveries committed, not yet published (api/records/outbox.py)

Revision ID: 0002_pathsafe
Revises: 0001_baseline
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_pathsafe"
down_revision = "0001_baseline"
branch_labels = None
depends_on = None

NEW_COLUMNS: dict[str, list[sa.Column[object]]] = {
    "audit_log": [
        sa.Column("prev_hash", sa.String(length=64), nullable=True),
        sa.Column("row_hash", sa.String(length=64), nullable=True),
    ],
    "api_keys": [
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("replaced_by", sa.Integer(), nullable=True),
    ],
}
NEW_TABLES = sa.MetaData()
sa.Table(
    "audit_chain",
    NEW_TABLES,
    sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
    sa.Column("last_id", sa.Integer(), nullable=False),
    sa.Column("last_hash", sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint("id"),
)
sa.Table(
    "key_revocations",
    NEW_TABLES,
    sa.Column("key_hash", sa.String(length=64), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_by", sa.String(length=128), nullable=False),
    sa.PrimaryKeyConstraint("key_hash"),
)
sa.Table(
    "conversion_records",
    NEW_TABLES,
    sa.Column("id", sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint("id"),
)
sa.Table(
    "record_outbox",
    NEW_TABLES,
    sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
    sa.Column("record_id", sa.Integer(), nullable=False),
    sa.Column("plant", sa.String(length=64), nullable=False),
    sa.Column("meter", sa.String(length=64), nullable=False),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(["record_id"], ["conversion_records.id"]),
    sa.PrimaryKeyConstraint("id"),
)
CREATED = ("audit_chain", "key_revocations", "record_outbox")


def upgrade() -> None:
    bind = op.get_bind()
    for table_name, columns in NEW_COLUMNS.items():
        present = {c["name"] for c in sa.inspect(bind).get_columns(table_name)}
        for column in columns:
            if column.name not in present:
                op.add_column(table_name, column)
    have = set(sa.inspect(bind).get_table_names())
    for name in CREATED:
        if name not in have:
            NEW_TABLES.tables[name].create(bind)
    # The chain's head: no chained row yet (rows from before the chain keep NULL hashes).
    if bind.execute(sa.text("SELECT count(*) FROM audit_chain")).scalar() == 0:
        op.execute("INSERT INTO audit_chain (id, last_id, last_hash) VALUES (1, 0, '')")


def downgrade() -> None:
    for name in reversed(CREATED):
        op.drop_table(name)
    for table_name, columns in NEW_COLUMNS.items():
        for column in columns:
            op.drop_column(table_name, column.name)
