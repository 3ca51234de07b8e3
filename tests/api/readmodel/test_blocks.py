"""Rollup rows kept in fixed blocks sum to what InfluxQL's sum() and count() give (pure)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from api.readmodel.blocks import RowBlock, block_spans
from ingest.kernel.store import Series

HOUR = timedelta(hours=1)
T = datetime(2026, 3, 2, tzinfo=UTC)
T_MS = int(T.timestamp() * 1000)
HOUR_MS = 3_600_000


@pytest.mark.parametrize(
    ("start", "end", "width", "anchor", "count"),
    [
        (T, T + HOUR, 24 * HOUR, timedelta(0), 1),
        (T + 5 * HOUR, T + 30 * HOUR, 24 * HOUR, timedelta(0), 2),
        (T + 16 * HOUR, T + 40 * HOUR, 24 * HOUR, 16 * HOUR, 1),  # on the anchor's grid
        (T, T + 15 * HOUR, 7 * HOUR, timedelta(0), 3),
    ],
)
def test_blocks_are_fixed_and_cover_the_stretch(
    start: datetime, end: datetime, width: timedelta, anchor: timedelta, count: int
) -> None:
    spans = block_spans(start, end, width, anchor)
    assert len(spans) == count
    assert spans[0][0] <= start and spans[-1][1] >= end
    assert all(a[1] == b[0] for a, b in itertools.pairwise(spans))
    # the same places whatever stretch asks: a later stretch shares the blocks it overlaps
    later = block_spans(start + HOUR, end + HOUR, width, anchor)
    assert set(spans) & set(later) == {s for s in spans if s[1] > start + HOUR}


def series(plant: str, rows: list[tuple[int, float | None, float | None]]) -> Series:
    return Series("fuel_hourly", {"plant": plant}, ("time", "a", "b"), tuple(rows))


def test_totals_are_the_sums_and_counts_of_the_rows_in_the_stretch() -> None:
    hour = [T_MS + h * HOUR_MS for h in range(5)]
    block = RowBlock.of(
        [
            series("p1", [(hour[0], 1.0, 10.0), (hour[1], 2.0, None), (hour[3], 4.0, 40.0)]),
            series("p2", [(hour[2], 0.5, 5.0)]),
            series("p3", []),  # no rows: not a series of the block
        ],
        ("plant",),
        ("a", "b"),
    )
    assert block.keys == (("p1",), ("p2",))
    present, sums, counts = block.totals(T + HOUR, T + 4 * HOUR)
    assert present.tolist() == [True, True]
    np.testing.assert_array_equal(sums, [[6.0, 40.0], [0.5, 5.0]])
    np.testing.assert_array_equal(counts, [[2, 1], [1, 1]])
    present, sums, counts = block.totals(T + 3 * HOUR, T + 5 * HOUR)
    assert present.tolist() == [True, False]
    np.testing.assert_array_equal(sums, [[4.0, 40.0], [0.0, 0.0]])
    present, _, _ = block.totals(T + 4 * HOUR, T + 5 * HOUR)  # an hour without rows
    assert not present.any()


def test_an_empty_block_has_no_series() -> None:
    block = RowBlock.of([], ("plant",), ("a",))
    present, sums, counts = block.totals(T, T + HOUR)
    assert block.keys == () and present.shape == (0,)
    assert sums.shape == counts.shape == (0, 1)
