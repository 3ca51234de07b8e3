"""Rollup rows read in fixed blocks and kept in process as arrays, summed over any stretch.

A window that moves (an officer's "now" is a new hour on every request) covers nearly the
same rollup rows as the window before it, but any statement that sums exactly its stretch
is new text, read afresh: InfluxDB 1.x costs per series, field and shard read far more
than per row (an hour's worth of 120 series cost about what a day did). So the read model
reads whole blocks of rows at fixed places (`block_spans`) and sums the stretch in process
(`RowBlock.totals`, numpy): a moving window reads only the blocks its ends enter.

Blocks are kept in the generation cache (`api.readmodel.cache.RollupCache`) with the block's
end as their reach, so a rollup pass that rewrites any of their hours (a late reading, a
back-fill) drops them like every other rolled-up answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from api.ranges import EPOCH
from ingest.kernel.store import Series

MS = timedelta(milliseconds=1)


def block_spans(
    start: datetime, end: datetime, width: timedelta, anchor: timedelta = timedelta(0)
) -> list[tuple[datetime, datetime]]:
    """The fixed blocks (`width` wide, at `anchor` past the epoch's multiples) covering [start, end)."""
    out = []
    block = start - (start - EPOCH - anchor) % width
    while block < end:
        out.append((block, block + width))
        block += width
    return out


# Rows are found by (series, time) in one sorted key: series index above the time in ms.
SERIES_SHIFT = 2**42  # ms: past the year 2100


@dataclass(frozen=True, slots=True)
class RowBlock:
    """The rows of one block, grouped by series and in time order within each, with running
    sums: a stretch's totals are two look-ups per series, not a pass over the rows."""

    keys: tuple[tuple[str, ...], ...]  # per series: its values of the grouping tags
    order: np.ndarray  # per row: series index * SERIES_SHIFT + time (ms), ascending
    # Per series, a zero then its running sums (row r of series k at r + k + 1): a series' own
    # sums, so a stretch's total carries no rounding from the series before it.
    running_sums: np.ndarray  # (rows + series) x fields: sums of the values
    running_counts: np.ndarray  # (rows + series) x fields: how many values (not null)

    @classmethod
    def of(cls, result: Sequence[Series], tags: Sequence[str], fields: Sequence[str]) -> RowBlock:
        """From one statement's series (grouped by `tags`, time first, then `fields`)."""
        keys: list[tuple[str, ...]] = []
        order: list[int] = []
        sums: list[np.ndarray] = []
        counts: list[np.ndarray] = []
        zero = np.zeros((1, len(fields)))
        for s in result:
            if not s.values:
                continue
            positions = [s.columns.index(f) for f in fields]
            shift = len(keys) * SERIES_SHIFT
            keys.append(tuple(s.tags.get(t, "") for t in tags))
            order += [shift + int(row[0]) for row in s.values]  # InfluxDB answers in time order
            rows = [tuple(row[p] for p in positions) for row in s.values]
            values = np.array(rows, dtype=np.float64).reshape(len(rows), len(fields))  # null: NaN
            known = ~np.isnan(values)
            sums += [zero, np.cumsum(np.where(known, values, 0.0), axis=0)]
            counts += [zero, np.cumsum(known, axis=0)]
        if not keys:
            sums = counts = [np.zeros((0, len(fields)))]
        return cls(
            tuple(keys),
            np.asarray(order, dtype=np.int64),
            np.concatenate(sums),
            np.concatenate(counts).astype(np.int64),
        )

    def totals(self, start: datetime, end: datetime) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Over the rows in [start, end): which series have any, and per series and field the
        sum and the count of values (InfluxQL's `sum` and `count`)."""
        series = np.arange(len(self.keys), dtype=np.int64)
        first = np.searchsorted(self.order, series * SERIES_SHIFT + (start - EPOCH) // MS)
        after = np.searchsorted(self.order, series * SERIES_SHIFT + (end - EPOCH) // MS)
        sums = self.running_sums[after + series] - self.running_sums[first + series]
        counts = self.running_counts[after + series] - self.running_counts[first + series]
        return after > first, sums, counts
