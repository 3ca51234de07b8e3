"""The store engine a process opens: `PLANTWATCH_STORE` selects it (SPEC 15, issue 26).

InfluxDB 1.x (`ingest.kernel.store.InfluxStore`) is the default for one machine; ClickHouse
(`ingest.kernel.clickhouse.ClickHouseStore`, readings as rows) for a cluster. Here, apart
from both, so neither engine's module imports the other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ingest.kernel.clickhouse import ClickHouseStore
from ingest.kernel.store import InfluxStore

if TYPE_CHECKING:
    from ingest.settings import CommonSettings

StoreEngine = InfluxStore | ClickHouseStore


def open_store(settings: CommonSettings) -> StoreEngine:
    """The engine `PLANTWATCH_STORE` selects, configured from its settings (not connected yet)."""
    if settings.store == "clickhouse":
        return ClickHouseStore.from_settings(settings)
    return InfluxStore.from_settings(settings)
