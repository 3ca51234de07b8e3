"""What each logger last sent, kept in SQL: entries only move forward (SQLite, or
PostgreSQL with PLANTWATCH_TEST_DATABASE=postgresql)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ingest.gateway import lastseen
from ingest.sql import open_engine

T = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def test_entries_are_kept_and_only_move_forward(database_url: str) -> None:
    engine = open_engine(database_url, lastseen.METADATA)
    assert lastseen.load(engine) == {}
    lastseen.save(engine, {("MN1", "2051"): T, ("MN1", "2061"): T - HOUR}, 1)
    lastseen.save(engine, {("MN1", "2051"): T - HOUR, ("MN2", "2051"): T}, 2)  # one older
    lastseen.save(engine, {("MN1", "2061"): T}, 3)
    engine.dispose()
    reopened = open_engine(database_url, lastseen.METADATA)
    assert lastseen.load(reopened) == {
        ("MN1", "2051"): T,
        ("MN1", "2061"): T,
        ("MN2", "2051"): T,
    }
    reopened.dispose()
