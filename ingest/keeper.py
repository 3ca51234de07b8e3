"""The record keeper: the one edge where readings reach the store, first write kept.

`RecordKeeper.write(points)` is the collector's write, and `write_lines` its spool
replayer's (spooled lines read back as points). Per batch it resolves each recorded point
against its recent index (`ingest.kernel.record.RecentIndex`); for the points the index
cannot answer it asks the store in ONE request (runs of times per series), never per
reading. Then it writes the new points, the revisions, the other points (events, dead
letters) and the rollup dirty marks of what it wrote. Duplicates are dropped, so a
redelivered message changes nothing and an accepted revision is never overwritten by a
resend. docs/decisions.md says why the check is here and not in front of the spool.

The rule and the index are engine-neutral; what it asks of a store is a `RecordEngine`:
`InfluxRecords` below (InfluxQL, line protocol, one write request per batch) or
`ingest.kernel.clickhouse.ClickHouseStore` (SQL, rows).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Protocol

from ingest.kernel import record
from ingest.kernel.dirty import dirty_points
from ingest.kernel.engines import StoreEngine
from ingest.kernel.influxql import quote_ident, quote_literal
from ingest.kernel.lineproto import encode, parse_line
from ingest.kernel.record import (
    REVISIONS_MEASUREMENT,
    STORED,
    LineKey,
    Point,
    PointKey,
    RecentIndex,
    Revision,
    RevisionKey,
    Run,
    SeriesKey,
    Sig,
)
from ingest.kernel.store import InfluxStore, Series
from ingest.metrics import Counters

# Times of one series further apart than this are asked for in separate ranges, so one old
# resend does not read back everything written since.
RUN_GAP_MS = 3_600_000
TAG_COLUMNS = frozenset({"plant", "meter", "measurement", "name", "n", "time"})


class RecordEngine(Protocol):
    """What the keeper asks of a store engine."""

    def create_database(self) -> None: ...

    def stored(self, runs: Sequence[Run]) -> list[dict[int, dict[str, Sig]]]:
        """Per run, the points held at its times: time -> value name -> the record."""
        ...

    def kept_revisions(self, runs: Sequence[Run]) -> dict[RevisionKey, list[tuple[int, Sig]]]:
        """The revisions kept at the runs' times: key -> (ordinal, what it said)."""
        ...

    def write_batch(
        self,
        points: Sequence[Point],
        revisions: Sequence[tuple[int, Revision]],
        marks: Sequence[Point],
    ) -> None:
        """Write points (readings and others), numbered revisions and dirty marks."""
        ...

    def write_unparsed(self, lines: Sequence[str]) -> None:
        """Spooled text that is not a point (written as it is, or refused)."""
        ...


def record_engine(store: StoreEngine) -> RecordEngine:
    """The keeper's engine for a store `ingest.kernel.store.open_store` opened."""
    return InfluxRecords(store) if isinstance(store, InfluxStore) else store


class RecordKeeper:
    """First-write-wins writes of readings; `check=False` writes as before (for the bench)."""

    def __init__(
        self,
        store: StoreEngine,
        counters: Counters | None = None,
        check: bool = True,
        trust_index: bool = True,
        points_per_series: int = 1024,
    ) -> None:
        self.store = store
        self.engine = record_engine(store)
        self.check = check
        self.trust_index = trust_index
        self.index = RecentIndex(points_per_series)
        self.counters = counters or Counters()
        self.queries = 0  # read-back requests made (the bench reports them)
        self._lock = threading.Lock()

    def write(self, points: Sequence[Point]) -> None:
        """Write a batch of points (readings and anything else) with first write kept."""
        if not self.check:
            self.engine.write_batch(points, [], dirty_points(points, int(time.time() * 1000)))
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
            self.engine.write_unparsed(raw)
        self.write(points)

    def _write(self, points: Sequence[Point]) -> None:
        keyed: list[tuple[Point, LineKey]] = []
        other: list[Point] = []
        repeats: dict[PointKey, int] = {}
        for point in points:
            if not record.is_recorded(point):
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
        numbered: list[tuple[int, Revision]] = []
        if plan.revisions:
            self.queries += 1
            numbered, repeated = record.number_revisions(
                plan.revisions, self.engine.kept_revisions(_revision_runs(plan.revisions))
            )
            duplicates += repeated
        readings = [*fresh, *plan.points, *other]
        marks = dirty_points(readings, int(time.time() * 1000))
        try:
            self.engine.write_batch(readings, numbered, marks)
        except Exception:
            # Its outcome is unknown (a timeout, a cluster's quorum not met): some rows may be
            # stored, so the index may no longer call these keys new (else a replay of them
            # would write them twice on a row store; tests/ingest/test_clickhouse_replica_killed).
            self.index.forget({point.series for point, _ in keyed})
            raise
        self.counters.add(duplicates=duplicates + plan.duplicates, revisions=len(numbered))
        if self.trust_index:
            self.index.remember({**written, **dict.fromkeys(plan.written, STORED)})

    def _stored(self, points: list[Point], learn: set[SeriesKey]) -> dict[PointKey, dict[str, Sig]]:
        """What the store holds at the points' keys: one request for every series' runs."""
        by_series: dict[SeriesKey, list[int]] = {}
        for p in points:
            by_series.setdefault(p.series, []).append(p.ts_ms)
        runs: list[Run] = []
        for series, times in sorted(by_series.items()):
            found = _runs(sorted(set(times)))
            for index, (first, last) in enumerate(found):
                open_ended = series in learn and index == len(found) - 1
                runs.append((series, first, None if open_ended else last))
        self.queries += 1
        out: dict[PointKey, dict[str, Sig]] = {}
        for (series, lo, hi), held in zip(runs, self.engine.stored(runs), strict=True):
            for ts, sigs in held.items():
                out[(series, ts)] = sigs
            if hi is None:
                self.index.learn(series, lo, held)
            elif self.trust_index:
                self.index.remember(dict.fromkeys(((series, ts) for ts in held), STORED))
        return out


class InfluxRecords:
    """The keeper's engine on InfluxDB: InfluxQL reads, one line-protocol write per batch."""

    def __init__(self, store: InfluxStore) -> None:
        self.store = store

    def create_database(self) -> None:
        self.store.create_database()

    def write_batch(
        self,
        points: Sequence[Point],
        revisions: Sequence[tuple[int, Revision]],
        marks: Sequence[Point],
    ) -> None:
        """Points, revisions (`revisions` points) and marks in one request."""
        numbered = [record.revision_point(n, rev) for n, rev in revisions]
        self.store.write_lines([encode(p) for p in (*points, *numbered, *marks)])

    def write_unparsed(self, lines: Sequence[str]) -> None:
        self.store.write_lines(lines)

    def stored(self, runs: Sequence[Run]) -> list[dict[int, dict[str, Sig]]]:
        """One statement per run, all in one request."""
        statements = []
        for (measurement, plant, meter), lo, hi in runs:
            upper = "" if hi is None else f" AND time <= {hi}ms"
            statements.append(
                f"SELECT * FROM {quote_ident(measurement)} "
                f'WHERE "plant" = {quote_literal(plant)} AND "meter" = {quote_literal(meter)} '
                f"AND time >= {lo}ms{upper}"
            )
        return [_points(result) for result in self.store.query_many(";".join(statements))]

    def kept_revisions(self, runs: Sequence[Run]) -> dict[RevisionKey, list[tuple[int, Sig]]]:
        """Revisions already kept for these keys (revisions are rare: one request when any)."""
        statements = []
        for (measurement, plant, meter), lo, hi in runs:
            upper = "" if hi is None else f" AND time <= {hi}ms"
            statements.append(
                'SELECT "value", "flag", "invalid" '
                f"FROM {quote_ident(REVISIONS_MEASUREMENT)} "
                f'WHERE "plant" = {quote_literal(plant)} AND "meter" = {quote_literal(meter)} '
                f'AND "measurement" = {quote_literal(measurement)} '
                f'AND time >= {lo}ms{upper} GROUP BY "name", "n"'
            )
        results = self.store.query_many(";".join(statements))
        out: dict[RevisionKey, list[tuple[int, Sig]]] = {}
        for (series, _, _), result in zip(runs, results, strict=True):
            out.update(record.kept_of(series, result))
        return out


def _revision_runs(revisions: Sequence[Revision]) -> list[Run]:
    by_series: dict[SeriesKey, list[int]] = {}
    for rev in revisions:
        by_series.setdefault(rev.series, []).append(rev.ts_ms)
    return [
        (series, lo, hi)
        for series, times in sorted(by_series.items())
        for lo, hi in _runs(sorted(set(times)))
    ]


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
