"""A read bigger than ClickHouse's memory limit for a query spills to disk instead of failing
(issue 26: the 3,000-firm province's rollup catch-up exited 2, its first read of the
fortnight's registers "Memory limit (for query) exceeded: would use 1.88 GiB").

A private ClickHouse server (Debian's 18.16) whose limit is a fifth of the 2 GB the stack
runs with, and as many registers as that limit fails on: the read the rollup's catch-up
starts with (the first reading of each register, over everything) must answer.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from api.fuel.queries import EPOCH, earliest_reading
from ingest.kernel.clickhouse import ClickHouseStore, HttpRunner, Layout
from scripts.devstack import clickhouse_server

pytestmark = [pytest.mark.integration, pytest.mark.slow]

LIMIT_BYTES = 1_000_000_000
ROWS = 2_400_000  # its record view takes more than LIMIT_BYTES (measured: it fails without spill)
INSERT_ROWS = 300_000  # an insert stays well within the limit
PLANTS = 3000
FIRST_MS = 1_600_000_000_000
STEP_MS = 900_000


def test_the_first_reading_of_more_registers_than_fit_in_memory(tmp_path: Path) -> None:
    server = clickhouse_server(tmp_path / "clickhouse", max_memory_usage=LIMIT_BYTES)
    server.start()
    try:
        runner = HttpRunner(f"http://127.0.0.1:{server.port}", timeout_seconds=280.0)
        with ClickHouseStore(runner, Layout("memory")) as store:
            store.create_database()
            # Gas registers of PLANTS meters every 15 minutes.
            for offset in range(0, ROWS, INSERT_ROWS):
                store.runner.run(
                    f"INSERT INTO {store.layout.table} SELECT 'gas', "
                    f"concat('p-', toString(number % {PLANTS})), 'gas-1', 'volume_m3', "
                    f"{FIRST_MS} + intDiv(number, {PLANTS}) * {STEP_MS}, toFloat64(number), "
                    "'N', '', 0, 'mqtt', 0, number "
                    f"FROM (SELECT number + {offset} AS number FROM system.numbers "
                    f"LIMIT {INSERT_ROWS})"
                )
            assert earliest_reading(store) == EPOCH + timedelta(milliseconds=FIRST_MS)
            assert store.read_settings() == {"max_bytes_before_external_group_by": LIMIT_BYTES // 4}
    finally:
        server.stop()
