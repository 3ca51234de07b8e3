"""The service's relational state (API keys, alerts): SQLAlchemy Core over one engine.

SQLite by default (a file under `var/`); PostgreSQL by setting `PLANTWATCH_DATABASE_URL`
(e.g. `postgresql+psycopg://...`). Modules declare their tables on `METADATA`; `connect`
creates whatever is missing, and the HJ 212 gateway's command log (`ingest.gateway.audit`)
too, so officers can read it through the API.
"""

from __future__ import annotations

from sqlalchemy import Engine, MetaData

from ingest.gateway.audit import METADATA as HJ212_METADATA
from ingest.sql import open_engine

METADATA = MetaData()


def connect(url: str) -> Engine:
    """An engine for `url` with every table of `METADATA` created."""
    return open_engine(url, METADATA, HJ212_METADATA)
