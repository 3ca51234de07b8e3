"""The record keeper: the one edge where readings reach InfluxDB, first write kept.

`RecordKeeper.write(points)` replaces `ingest.kernel.dirty.write_points` for the collector, and
`write_lines` for its spool replayer (spooled lines read back as points); points become
line protocol here, when they are written. Per batch it resolves each recorded point
against its recent index (`ingest.kernel.record.RecentIndex`); for the points the index cannot
answer it asks InfluxDB in ONE request (one statement per series and run of times), never
per reading. Then it writes, in one request: the new points, the revisions (`revisions`),
the other points (events, dead letters) and the rollup dirty marks of what it wrote. Duplicates are dropped, so a
redelivered message changes nothing and an accepted revision is never overwritten by a
resend. docs/decisions.md says why the check is here and not in front of the spool.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from ingest.kernel import record
from ingest.kernel.dirty import dirty_points, write_points
from ingest.kernel.influxql import quote_ident, quote_literal
from ingest.kernel.lineproto import encode, parse_line
from ingest.kernel.record import (
    RECORDED,
    REVISIONS_MEASUREMENT,
    STORED,
    LineKey,
    Point,
    PointKey,
    RecentIndex,
    RevisionKey,
    SeriesKey,
    Sig,
)
from ingest.kernel.store import InfluxStore, Series
from ingest.metrics import Counters

# Times of one series further apart than this are asked for in separate ranges, so one old
# resend does not read back everything written since.
RUN_GAP_MS = 3_600_000
TAG_COLUMNS = frozenset({"plant", "meter", "measurement", "name", "n", "time"})


class RecordKeeper:
    """First-write-wins writes of readings; `check=False` writes as before (for the bench)."""

    def __init__(
        self,
        store: InfluxStore,
        counters: Counters | None = None,
        check: bool = True,
        trust_index: bool = True,
        points_per_series: int = 1024,
    ) -> None:
        self.store = store
        self.check = check
        self.trust_index = trust_index
        self.index = RecentIndex(points_per_series)
        self.counters = counters or Counters()
        self.queries = 0  # read-back requests made (the bench reports them)
        self._lock = threading.Lock()

    def write(self, points: Sequence[Point]) -> None:
        """Write a batch of points (readings and anything else) with first write kept."""
        if not self.check:
            write_points(self.store, points)
            return
        with self._lock:
            self._write(points)

    def write_lines(self, lines: Sequence[str]) -> None:
        """Write spooled lines (replay), read back as points; a line that is not one goes as is."""
        points = []
        raw = []
        for line in lines:
            point = parse_line(line)
            if point is None:
                raw.append(line)
            else:
                points.append(point)
        if raw:
            self.store.write_lines(raw)
        self.write(points)

    def _write(self, points: Sequence[Point]) -> None:
        keyed: list[tuple[Point, LineKey]] = []
        other: list[Point] = []
        repeats: dict[PointKey, int] = {}
        for point in points:
            if (
                point.measurement not in RECORDED
                or not point.tags.get("plant")
                or not point.tags.get("meter")
            ):
                other.append(point)  # not a reading: nothing to judge
                continue
            found = LineKey.of(point)
            keyed.append((point, found))
            repeats[found.key] = repeats.get(found.key, 0) + 1
        fresh: list[Point] = []  # new points, known from the index alone: written as they came
        written: dict[PointKey, int] = {}
        kept: list[Point] = []
        to_resolve: list[Point] = []
        learn: set[SeriesKey] = set()
        duplicates = 0
        for point, found in keyed:
            verdict = self.index.verdict(found) if self.trust_index else None
            if verdict == "new" and repeats[found.key] == 1:
                fresh.append(point)
                written[found.key] = found.values
                continue
            if verdict == "duplicate":
                duplicates += len(record.signatures(point.fields))
                continue
            kept.append(point)
            if verdict is None:
                to_resolve.append(point)
                if self.trust_index and self.index.horizon(point.series) is None:
                    learn.add(point.series)
        stored = self._stored(to_resolve, learn) if to_resolve else {}
        plan = record.plan_writes(kept, stored)
        revisions: list[Point] = []
        if plan.revisions:
            numbered, repeated = record.number_revisions(
                plan.revisions, self._kept_revisions(plan.revisions)
            )
            revisions = [record.revision_point(n, rev) for n, rev in numbered]
            duplicates += repeated
        readings = [*fresh, *plan.points, *other]
        marks = dirty_points(readings, int(time.time() * 1000))
        self.store.write_lines([encode(p) for p in (*readings, *revisions, *marks)])
        self.counters.add(duplicates=duplicates + plan.duplicates, revisions=len(revisions))
        if self.trust_index:
            self.index.remember({**written, **dict.fromkeys(plan.written, STORED)})

    def _stored(self, points: list[Point], learn: set[SeriesKey]) -> dict[PointKey, dict[str, Sig]]:
        """What InfluxDB holds at the points' keys: one request, a statement per series run."""
        by_series: dict[SeriesKey, list[int]] = {}
        for p in points:
            by_series.setdefault(p.series, []).append(p.ts_ms)
        statements: list[tuple[SeriesKey, int, bool, str]] = []
        for series, times in sorted(by_series.items()):
            measurement, plant, meter = series
            runs = _runs(sorted(set(times)))
            for index, (lo, hi) in enumerate(runs):
                open_ended = series in learn and index == len(runs) - 1
                upper = "" if open_ended else f" AND time <= {hi}ms"
                statements.append(
                    (
                        series,
                        lo,
                        open_ended,
                        f"SELECT * FROM {quote_ident(measurement)} "
                        f'WHERE "plant" = {quote_literal(plant)} AND "meter" = {quote_literal(meter)} '
                        f"AND time >= {lo}ms{upper}",
                    )
                )
        self.queries += 1
        results = self.store.query_many(";".join(s for *_, s in statements))
        out: dict[PointKey, dict[str, Sig]] = {}
        for (series, lo, open_ended, _), result in zip(statements, results, strict=True):
            found = _points(result)
            for ts, sigs in found.items():
                out[(series, ts)] = sigs
            if open_ended:
                self.index.learn(series, lo, found)
            elif self.trust_index:
                self.index.remember(dict.fromkeys(((series, ts) for ts in found), STORED))
        return out

    def _kept_revisions(
        self, revisions: Sequence[record.Revision]
    ) -> dict[RevisionKey, list[tuple[int, Sig]]]:
        """Revisions already kept for these keys (revisions are rare: one request when any)."""
        by_series: dict[SeriesKey, list[int]] = {}
        for rev in revisions:
            by_series.setdefault(rev.series, []).append(rev.ts_ms)
        statements: list[tuple[SeriesKey, str]] = []
        for series, times in sorted(by_series.items()):
            measurement, plant, meter = series
            for lo, hi in _runs(sorted(set(times))):
                statements.append(
                    (
                        series,
                        'SELECT "value", "flag", "invalid" '
                        f"FROM {quote_ident(REVISIONS_MEASUREMENT)} "
                        f'WHERE "plant" = {quote_literal(plant)} AND "meter" = {quote_literal(meter)} '
                        f'AND "measurement" = {quote_literal(measurement)} '
                        f'AND time >= {lo}ms AND time <= {hi}ms GROUP BY "name", "n"',
                    )
                )
        self.queries += 1
        results = self.store.query_many(";".join(s for _, s in statements))
        out: dict[RevisionKey, list[tuple[int, Sig]]] = {}
        for (series, _), result in zip(statements, results, strict=True):
            for s in result:
                for row in s.rows():
                    value = row.get("value")
                    sig = Sig(
                        float(value) if value is not None else None,
                        row.get("flag") or record.VALID_FLAG,
                        row.get("invalid"),
                    )
                    key = (series, int(row["time"]), s.tags.get("name", ""))
                    out.setdefault(key, []).append((int(s.tags.get("n", "0")), sig))
        return out


def _runs(times: list[int]) -> list[tuple[int, int]]:
    """Sorted times split into [lo, hi] runs with gaps under RUN_GAP_MS."""
    runs: list[tuple[int, int]] = []
    for ts in times:
        if runs and ts - runs[-1][1] <= RUN_GAP_MS:
            runs[-1] = (runs[-1][0], ts)
        else:
            runs.append((ts, ts))
    return runs


def _points(series: list[Series]) -> dict[int, dict[str, Sig]]:
    out: dict[int, dict[str, Sig]] = {}
    for s in series:
        for row in s.rows():
            fields = {k: v for k, v in row.items() if k not in TAG_COLUMNS and v is not None}
            sigs = record.signatures(fields)
            if sigs:
                out[int(row["time"])] = sigs
    return out
