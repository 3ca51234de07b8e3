"""A county's worth of data in a real InfluxDB, written once for all dashboard tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from ingest.registry import Registry, load_registry
from ingest.settings import demo_registry_path
from ingest.store import InfluxStore
from scripts.devstack import Server
from tests.dashboards.county_data import CountyFacts, fill_county


@dataclass(frozen=True)
class CountyDb:
    url: str
    database: str
    store: InfluxStore
    registry: Registry
    facts: CountyFacts


@pytest.fixture(scope="session")
def county_db(influxd: Server) -> Iterator[CountyDb]:
    """The demo county: a year of simulated fuel history, VOC, alerts and ingest health."""
    url = f"http://127.0.0.1:{influxd.port}"
    database = f"dash_{uuid.uuid4().hex[:10]}"
    registry = load_registry(demo_registry_path())
    with InfluxStore(url, database) as store:
        store.create_database()
        facts = fill_county(store, registry, datetime.now(UTC))
        yield CountyDb(url, database, store, registry, facts)
