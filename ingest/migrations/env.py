"""Alembic's entry point: run the revisions on the connection `ingest.migrations` hands over.

From the command line (`alembic revision --autogenerate`, see docs/operations.md) it opens
`sqlalchemy.url` of alembic.ini and compares with the tables the code declares.
"""

from __future__ import annotations

from pathlib import Path

from alembic import context
from sqlalchemy import create_engine

config = context.config
connection = config.attributes.get("connection")

if connection is not None:
    context.configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()
else:
    # Developer tooling only: the declared tables live in both packages.
    from api.db import declared_metadata

    url = config.get_main_option("sqlalchemy.url") or "sqlite://"
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url)
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=declared_metadata())
        with context.begin_transaction():
            context.run_migrations()
