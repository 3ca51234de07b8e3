"""The read model's one state: the upgrade from the two old state measurements."""

from __future__ import annotations

import pytest

from api.readmodel.state import from_ms, read_watermarks
from ingest.kernel.store import InfluxStore, encode_point
from ingest.kernel.store_schema import ensure_store_schema

pytestmark = pytest.mark.integration


def test_version_2_moves_both_rollup_states_into_one(store: InfluxStore) -> None:
    """Fuel's `rollup_state` and VOC's `voc_rollup_state` (other field names) become one
    `readmodel_state` with a `domain` tag, cursors included (nothing late is lost)."""
    store.write_lines(
        [
            encode_point("rollup_state", {"level": level}, {"until_ms": ms}, 0)
            for level, ms in (("hourly", 7_200_000.0), ("daily", 0.0), ("cursor", 9_000_000.0))
        ]
        + [
            encode_point("voc_rollup_state", {"level": "hourly"}, {"until_ms": 3_600_000.0}, 0),
            encode_point("voc_rollup_state", {"level": "marks"}, {"arrived_ms": 5_000_000.0}, 0),
        ]
    )
    assert ensure_store_schema(store) == 2
    fuel, voc = read_watermarks(store, "fuel"), read_watermarks(store, "voc")
    assert (fuel.hourly, fuel.daily, fuel.cursor) == (
        from_ms(7_200_000),
        from_ms(0),
        from_ms(9_000_000),
    )
    assert (voc.hourly, voc.cursor) == (from_ms(3_600_000), from_ms(5_000_000))
