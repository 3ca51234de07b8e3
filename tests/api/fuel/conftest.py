"""Fixtures for the fuel domain's tests: each store engine."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from ingest.kernel.clickhouse import ChdbRunner, ClickHouseStore, HttpRunner, Layout
from ingest.kernel.store import Store


@pytest.fixture(params=["influxdb", "clickhouse"])
def engine(request: pytest.FixtureRequest) -> Iterator[Store]:
    """Each engine: the session's InfluxDB, or ClickHouse (chdb in-process, or the server
    `PLANTWATCH_TEST_CLICKHOUSE_URL` names) with the read model's writes as its rows."""
    if request.param == "influxdb":
        yield request.getfixturevalue("store")
        return
    pytest.importorskip("chdb")
    url = os.environ.get("PLANTWATCH_TEST_CLICKHOUSE_URL")
    name = f"t_fuel_{uuid.uuid4().hex[:8]}"
    with ClickHouseStore(HttpRunner(url) if url else ChdbRunner(), Layout(name)) as ch:
        ch.create_database()
        yield ch
        ch.runner.run(f"DROP DATABASE IF EXISTS {name}")
