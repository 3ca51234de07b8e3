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
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import cast

from ingest.store import Series

ENTRIES = 512
# How long a reader waits for another's read of the same statement before reading it itself.
FLIGHT_WAIT_SECONDS = 30.0

Scope = tuple[str, str]  # InfluxDB url, database


class RollupCache:
    """Statement text -> its rows, per database, valid for the generation last synced."""

    def __init__(self, entries: int = ENTRIES) -> None:
        self.entries = entries
        # Statement rows, and values derived from them (`keep`), under the same invalidation.
        self._rows: OrderedDict[tuple[Scope, str], tuple[object, datetime]] = OrderedDict()
        self._seen: dict[Scope, datetime | None] = {}
        # Reads under way (`reading`): the event is set when the reader has kept its answer.
        self._flights: dict[tuple[Scope, str], threading.Event] = {}
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
            for key, (_, reach) in list(self._rows.items()):
                if key[0] == scope and (changed_from is None or reach > changed_from):
                    del self._rows[key]
            self._seen[scope] = generation

    def get(self, scope: Scope, text: str) -> list[Series] | None:
        return cast("list[Series] | None", self.lookup(scope, text))

    def lookup(self, scope: Scope, key: str) -> object | None:
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
        text: str,
        rows: Sequence[Series],
        reach: datetime,
    ) -> None:
        """Keep `rows`, read from data before `reach`, if `generation` is the one synced."""
        self.keep(scope, generation, text, list(rows), reach)

    def keep(
        self, scope: Scope, generation: datetime | None, key: str, value: object, reach: datetime
    ) -> None:
        """Keep `value`, computed from data before `reach`, if `generation` is the one synced."""
        with self._lock:
            if generation is None or self._seen.get(scope) != generation:
                return
            self._rows[(scope, key)] = (value, reach)
            while len(self._rows) > self.entries:
                self._rows.popitem(last=False)

    @contextmanager
    def reading(self, scope: Scope, keys: Sequence[str]) -> Iterator[bool]:
        """Claim the reads of `keys` for the caller until the block ends; first wait for the
        ones another reader has claimed (then look them up again). Yields whether it waited.

        Concurrent readers of a moving window need the same new block at once: one read
        serves them all. A reader waits only here, before it reads, and only for claims made
        before its own, so no two readers wait for each other.
        """
        mine: list[tuple[Scope, str]] = []
        others: list[threading.Event] = []
        with self._lock:
            for key in keys:
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
