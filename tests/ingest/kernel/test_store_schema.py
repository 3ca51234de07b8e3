"""The InfluxDB data's shape version: marked in the store, upgraded in order, never read newer."""

from __future__ import annotations

import pytest

from ingest.kernel.errors import StoreSchemaError
from ingest.kernel.store import InfluxStore, encode_point
from ingest.kernel.store_schema import (
    SCHEMA_MEASUREMENT,
    SchemaPlan,
    ensure_store_schema,
    plan_schema,
    read_mark,
)


@pytest.mark.parametrize(
    ("found", "current", "plan"),
    [
        (None, 1, SchemaPlan((), 1)),  # new, or from before marks: version 1's shapes, marked
        (1, 1, SchemaPlan((), None)),  # nothing to do
        (None, 3, SchemaPlan((2, 3), 3)),  # before marks, two shape changes since
        (2, 3, SchemaPlan((3,), 3)),
    ],
)
def test_plan(found: int | None, current: int, plan: SchemaPlan) -> None:
    assert plan_schema(found, current) == plan


def test_data_newer_than_the_release_stops_it_with_what_to_do() -> None:
    with pytest.raises(StoreSchemaError, match=r"version 3, newer .* \(2\).*restore a backup"):
        plan_schema(3, 2)


def test_a_store_is_marked_then_upgraded_step_by_step(store: InfluxStore) -> None:
    store.write_lines(["voc_hourly,plant=sl-001 dmf_mgm3=3 1764547200000"])  # old data
    assert ensure_store_schema(store, {}, current=1) == 1
    assert read_mark(store) == 1
    ran: list[int] = []
    steps = {2: lambda s: ran.append(2), 3: lambda s: ran.append(3)}
    assert ensure_store_schema(store, steps, current=3) == 3
    assert (ran, read_mark(store)) == ([2, 3], 3)
    assert ensure_store_schema(store, steps, current=3) == 3 and ran == [2, 3]
    with pytest.raises(StoreSchemaError):
        ensure_store_schema(store, steps, current=2)


def test_the_mark_is_one_point_however_often_it_moves(store: InfluxStore) -> None:
    for version in (1, 2, 3):
        store.write_lines([encode_point(SCHEMA_MEASUREMENT, {}, {"version": version}, 0)])
    (series,) = store.query(f'SELECT count(version) FROM "{SCHEMA_MEASUREMENT}"')
    assert series.rows()[0]["count"] == 1
