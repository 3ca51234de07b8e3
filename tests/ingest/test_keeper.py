"""The record keeper against a real InfluxDB: the first write stays, revisions kept apart."""

from __future__ import annotations

import pytest

from ingest.keeper import RecordKeeper
from ingest.kernel.dirty import DIRTY_MEASUREMENT
from ingest.kernel.lineproto import parse_line
from ingest.kernel.store import InfluxStore
from ingest.metrics import Counters

pytestmark = pytest.mark.integration

T0 = 1_772_323_200_000  # 2026-03-01T00:00:00Z
MINUTE = 60_000


def voc(value: float, ts: int, arrived: int, source: str = "mqtt", flag: str = "N") -> str:
    # as a collector writes it (fields sorted: arrival and source first)
    return (
        f'voc,meter=stack-1,plant=sl-001 _arrived_ms={arrived}i,_source="{source}",'
        f'nmhc_mgm3={value},nmhc_mgm3_flag="{flag}" {ts}'
    )


def stored(store: InfluxStore) -> list[tuple[int, float, int]]:
    series = store.query('SELECT "nmhc_mgm3", "_arrived_ms" FROM "voc"')
    return [tuple(row) for s in series for row in s.values]  # type: ignore[misc]


def revisions(store: InfluxStore) -> list[tuple[int, str, float, float, str]]:
    series = store.query('SELECT "value", "record_value", "_source" FROM "revisions" GROUP BY "n"')
    return sorted((row[0], s.tags["n"], row[1], row[2], row[3]) for s in series for row in s.values)


def marks(store: InfluxStore) -> int:
    series = store.query(f'SELECT count("points") FROM "{DIRTY_MEASUREMENT}"')
    return int(series[0].values[0][1]) if series else 0


@pytest.mark.parametrize("trust_index", [True, False])
def test_first_write_stays_and_a_different_resend_is_a_revision(
    store: InfluxStore, trust_index: bool
) -> None:
    counters = Counters()
    keeper = RecordKeeper(store, counters, trust_index=trust_index)
    first = [voc(80.0 + k, T0 + k * MINUTE, T0 + 61 * MINUTE) for k in range(30)]
    keeper.write_lines(first)
    before = stored(store)
    assert len(before) == 30 and marks(store) == 1
    # A crashed collector redelivers: identical values, a later arrival, nothing changes.
    keeper.write_lines([voc(80.0 + k, T0 + k * MINUTE, T0 + 99 * MINUTE) for k in range(30)])
    assert stored(store) == before and counters.duplicates == 30 and marks(store) == 1
    # The plant resends the same 30 minutes with clean values, over HTTP.
    clean = [voc(10.0, T0 + k * MINUTE, T0 + 2000 * MINUTE, "http") for k in range(30)]
    keeper.write_lines(clean)
    assert stored(store) == before  # the record is untouched, no rollup is marked dirty
    assert marks(store) == 1 and counters.revisions == 30
    kept = revisions(store)
    assert len(kept) == 30 and {(n, v, s) for _, n, v, _, s in kept} == {("1", 10.0, "http")}
    assert [r[3] for r in kept] == [80.0 + k for k in range(30)]
    # The same forgery again is a duplicate of its revision; another value is revision 2.
    keeper.write_lines(clean)
    assert counters.revisions == 30
    keeper.write_lines([voc(11.0, T0, T0 + 2001 * MINUTE)])
    assert counters.revisions == 31 and revisions(store)[1][1:3] == ("2", 11.0)
    assert stored(store) == before


def test_a_fresh_keeper_reads_back_what_an_earlier_process_wrote(store: InfluxStore) -> None:
    RecordKeeper(store).write_lines([voc(80.0, T0, T0 + 1), voc(81.0, T0 + MINUTE, T0 + 1)])
    again = RecordKeeper(store)  # a restarted collector: an empty index
    again.write_lines([voc(1.0, T0 + MINUTE, T0 + 5), voc(82.0, T0 + 2 * MINUTE, T0 + 5)])
    assert [row[1] for row in stored(store)] == [80.0, 81.0, 82.0]
    assert again.counters.revisions == 1 and again.queries == 2  # read-back, revisions
    # Newer readings are judged from the index: no query.
    again.write_lines([voc(83.0, T0 + 3 * MINUTE, T0 + 6)])
    assert again.queries == 2


def test_a_flag_change_is_a_revision_and_a_new_value_name_is_recorded(
    store: InfluxStore,
) -> None:
    keeper = RecordKeeper(store)
    keeper.write_lines([voc(80.0, T0, T0 + 1, flag="T")])
    keeper.write_lines([voc(80.0, T0, T0 + 2, flag="N")])
    keeper.write_lines(
        [
            'voc,meter=stack-1,plant=sl-001 toluene_mgm3=3.0,toluene_mgm3_flag="N",'
            f'_arrived_ms={T0 + 3}i,_source="mqtt" {T0}'
        ]
    )
    rows = store.query('SELECT "nmhc_mgm3_flag", "toluene_mgm3", "_arrived_ms" FROM "voc"')
    assert rows[0].values == ((T0, "T", 3.0, T0 + 1),)  # first arrival kept
    assert keeper.counters.revisions == 1


def test_unchecked_writes_overwrite_as_before(store: InfluxStore) -> None:
    keeper = RecordKeeper(store, check=False)
    keeper.write_lines([voc(80.0, T0, T0 + 1)])
    keeper.write_lines([voc(10.0, T0, T0 + 2)])
    assert [row[1] for row in stored(store)] == [10.0]


def test_one_batch_cannot_slip_a_second_value_past_the_first(store: InfluxStore) -> None:
    keeper = RecordKeeper(store)
    keeper.write_lines([voc(80.0, T0 + k * MINUTE, T0 + 1) for k in range(3)])  # the index knows
    escaped = (
        f'voc,meter=stack-1,plant=sl-001 _arrived_ms={T0 + 9}i,_source="mqtt",'
        f'nmhc_mgm3=5.0,nmhc_mgm3_flag="N",o2_pct_invalid="o2_pct=\\"x\\" is not a number" '
        f"{T0 + 5 * MINUTE}"
    )
    keeper.write_lines([voc(81.0, T0 + 5 * MINUTE, T0 + 9), escaped])
    assert [row[1] for row in stored(store)] == [80.0, 80.0, 80.0, 81.0]
    assert keeper.counters.revisions == 1


def test_points_from_the_collector_and_lines_from_the_spool_are_judged_alike(
    store: InfluxStore,
) -> None:
    counters = Counters()
    keeper = RecordKeeper(store, counters)
    points = [parse_line(voc(80.0 + k, T0 + k * MINUTE, T0 + 1)) for k in range(3)]
    keeper.write([p for p in points if p is not None])  # the collector's batch: points
    assert len(stored(store)) == 3 and marks(store) == 1
    # a spooled copy replayed: its lines are read back as points, every one a duplicate
    keeper.write_lines([voc(80.0 + k, T0 + k * MINUTE, T0 + 9) for k in range(3)])
    assert counters.duplicates == 3 and len(stored(store)) == 3 and marks(store) == 1
