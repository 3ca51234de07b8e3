"""Counties as tenants (issue 26, item 4): `api_keys.county`, the county an officer, viewer
or inspector key is scoped to; NULL is province-wide (api/keys.py, api/scope.py).

Revision ID: 0004_county_keys
Revises: 0003_marks_tasks
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_county_keys"
down_revision = "0003_marks_tasks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("api_keys", sa.Column("county", sa.String(length=32), nullable=True))


def downgrade() -> None:
    op.drop_column("api_keys", "county")
