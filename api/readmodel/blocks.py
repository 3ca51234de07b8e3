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
from ingest.store import Series

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


@dataclass(frozen=True, slots=True)
class RowBlock:
    """The rows of one block: per row its series (an index into `keys`), time and values."""

    keys: tuple[tuple[str, ...], ...]  # per series: its values of the grouping tags
    series: np.ndarray  # per row: index into `keys`
    times_ms: np.ndarray  # per row
    values: np.ndarray  # rows x fields; NaN where a row has no value (InfluxDB's null)

    @classmethod
    def of(cls, result: Sequence[Series], tags: Sequence[str], fields: Sequence[str]) -> RowBlock:
        """From one statement's series (grouped by `tags`, time first, then `fields`)."""
        keys: list[tuple[str, ...]] = []
        series: list[np.ndarray] = []
        rows: list[tuple[object, ...]] = []
        for s in result:
            if not s.values:
                continue
            positions = [s.columns.index(f) for f in fields]
            series.append(np.full(len(s.values), len(keys), dtype=np.int64))
            keys.append(tuple(s.tags.get(t, "") for t in tags))
            rows += [(row[0], *(row[p] for p in positions)) for row in s.values]
        table = np.array(rows, dtype=np.float64).reshape(len(rows), len(fields) + 1)
        return cls(
            tuple(keys),
            np.concatenate(series) if series else np.zeros(0, dtype=np.int64),
            table[:, 0].astype(np.int64),
            table[:, 1:],
        )

    def totals(self, start: datetime, end: datetime) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Over the rows in [start, end): which series have any, and per series and field the
        sum and the count of values (InfluxQL's `sum` and `count`)."""
        start_ms, end_ms = (start - EPOCH) // MS, (end - EPOCH) // MS
        inside = (self.times_ms >= start_ms) & (self.times_ms < end_ms)
        series, values = self.series[inside], self.values[inside]
        n, fields = len(self.keys), self.values.shape[1]
        known = ~np.isnan(values)
        sums = np.zeros((n, fields))
        counts = np.zeros((n, fields), dtype=np.int64)
        for f in range(fields):
            sums[:, f] = np.bincount(
                series[known[:, f]], weights=values[known[:, f], f], minlength=n
            )
            counts[:, f] = np.bincount(series[known[:, f]], minlength=n)
        return np.bincount(series, minlength=n) > 0, sums, counts
