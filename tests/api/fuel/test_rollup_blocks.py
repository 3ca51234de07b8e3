"""Totals over daily rollups are read in fixed blocks, so a moving window reuses them (pure)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from api.fuel.queries import rollup_blocks
from api.ranges import Segment

DAY = timedelta(days=1)


@pytest.mark.parametrize(
    ("days", "pieces"),
    [
        (3, 1),  # short: as it is
        (28, 1),
        (30, 2),  # from 3 February: 10 days to the block boundary, then 20
        (365, 14),
    ],
)
def test_daily_totals_are_read_in_fixed_blocks_that_cover_the_stretch(
    days: int, pieces: int
) -> None:
    start = datetime(2026, 2, 2, 16, tzinfo=UTC)  # local midnight, 3 February (Asia/Shanghai)
    segment = Segment("daily", start, start + timedelta(days=days))
    blocks = rollup_blocks(segment)
    assert len(blocks) == pieces
    assert blocks[0].start == segment.start and blocks[-1].end == segment.end
    assert all(a.end == b.start for a, b in itertools.pairwise(blocks))
    assert all(b.start.hour == 16 and b.end.hour == 16 for b in blocks)
    # a window one day later shares every inner block
    later = rollup_blocks(Segment("daily", start + DAY, start + DAY + timedelta(days=days)))
    assert len(set(blocks[1:-1]) - set(later)) == 0
