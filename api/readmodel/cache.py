"""Answers read from the rollups (and raw reads of rolled-up hours), kept until a rollup pass
changes the hours they cover.

A rollup pass that writes rollups renews the generation and records the earliest local
day it changed (`api.fuel.rollup`). When a reader meets a newer generation, it drops only
the answers reaching past the earliest day changed since the generation it last saw
(`touched_since`); the answers before it stay. Without that record (a catch-up still
under way, a first look) every answer of that database is dropped.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import cast

from ingest.kernel.store import Series

ENTRIES = 512
# And at most this many rows in all (a block of a county's rollup rows is one entry of many
# rows: 60 firms' 28 days are 3,360, 3,000 firms' 168,000).
ROWS = 2_000_000
# How long a reader waits for another's read of the same request before reading it itself.
FLIGHT_WAIT_SECONDS = 30.0

Scope = tuple[str, str]  # InfluxDB url, database
# A read request (`ingest.kernel.reads`), or a tuple naming a value derived from requests' rows.
Key = Hashable


class RollupCache:
    """Read request -> its rows, per database, valid for the generation last synced."""

    def __init__(self, entries: int = ENTRIES, rows: int = ROWS) -> None:
        self.entries = entries
        self.rows = rows
        # Statement rows, and values derived from them (`keep`), under the same invalidation:
        # (value, reach, rows it holds).
        self._rows: OrderedDict[tuple[Scope, Key], tuple[object, datetime, int]] = OrderedDict()
        self._held = 0  # rows held in all
        self._seen: dict[Scope, datetime | None] = {}
        # Reads under way (`reading`): the event is set when the reader has kept its answer.
        self._flights: dict[tuple[Scope, Key], threading.Event] = {}
        self._lock = threading.Lock()

    def sync(
        self,
        scope: Scope,
        generation: datetime | None,
        touched_since: Callable[[datetime], datetime | None],
    ) -> None:
        """Bring the cache of `scope` to `generation`; `touched_since(seen)` is the earliest
        time any rollup changed after generation `seen` (None: unknown, drop everything)."""
        with self._lock:
            seen = self._seen.get(scope)
        if generation is None or (seen is not None and generation <= seen):
            return
        changed_from = touched_since(seen) if seen is not None else None
        with self._lock:
            if self._seen.get(scope) != seen:
                return  # another reader synced meanwhile
            for key, (_, reach, held) in list(self._rows.items()):
                if key[0] == scope and (changed_from is None or reach > changed_from):
                    del self._rows[key]
                    self._held -= held
            self._seen[scope] = generation

    def get(self, scope: Scope, text: Key) -> list[Series] | None:
        return cast("list[Series] | None", self.lookup(scope, text))

    def lookup(self, scope: Scope, key: Key) -> object | None:
        """The rows or value kept under `key`, or None."""
        with self._lock:
            found = self._rows.get((scope, key))
            if found is None:
                return None
            self._rows.move_to_end((scope, key))
            return found[0]

    def put(
        self,
        scope: Scope,
        generation: datetime | None,
        text: Key,
        rows: Sequence[Series],
        reach: datetime,
    ) -> None:
        """Keep `rows`, read from data before `reach`, if `generation` is the one synced."""
        held = sum(len(s.values) for s in rows)
        self.keep(scope, generation, text, list(rows), reach, max(held, 1))

    def keep(
        self,
        scope: Scope,
        generation: datetime | None,
        key: Key,
        value: object,
        reach: datetime,
        rows: int = 1,
    ) -> None:
        """Keep `value` (holding about `rows` rows), computed from data before `reach`, if
        `generation` is the one synced; the least recently used go first past the limits."""
        with self._lock:
            if generation is None or self._seen.get(scope) != generation:
                return
            old = self._rows.pop((scope, key), None)
            self._held += rows - (old[2] if old is not None else 0)
            self._rows[(scope, key)] = (value, reach, rows)
            while len(self._rows) > self.entries or (self._held > self.rows and self._rows):
                _, (_, _, held) = self._rows.popitem(last=False)
                self._held -= held

    @contextmanager
    def reading(self, scope: Scope, keys: Sequence[Key]) -> Iterator[bool]:
        """Claim the reads of `keys` for the caller until the block ends; first wait for the
        ones another reader has claimed (then look them up again). Yields whether it waited.

        Concurrent readers of a moving window need the same new block at once: one read
        serves them all. A reader waits only here, before it reads, and only for claims made
        before its own, so no two readers wait for each other.
        """
        mine: list[tuple[Scope, Key]] = []
        others: list[threading.Event] = []
        with self._lock:
            for key in dict.fromkeys(keys):  # a key asked twice is claimed once
                if (scope, key) in self._rows:
                    continue
                flight = self._flights.get((scope, key))
                if flight is None:
                    self._flights[(scope, key)] = threading.Event()
                    mine.append((scope, key))
                else:
                    others.append(flight)
        try:
            for flight in others:
                flight.wait(FLIGHT_WAIT_SECONDS)
            yield bool(others)
        finally:
            with self._lock:
                for claim in mine:
                    self._flights.pop(claim).set()
