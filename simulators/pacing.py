"""Pace a back-fill by what the collector has taken, so the broker never holds a month.

`make run` back-fills a month (2 million readings) faster than one collector stores it. What
the collector has not taken waits in the broker, and Mosquitto, saving its whole store on
every change for durable acknowledgements, slows with the square of that backlog: at 406 MB
the gateway's acknowledgements timed out and the TCP loggers' data fell two hours behind
(docs/decisions.md, "the broker under a backlog"). The simulator therefore publishes at most
`window` readings ahead of the collector's counters (its `/metrics`). A collector that does
not move for `stall_seconds` (InfluxDB away, the collector stopped) releases the pace.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable

import httpx

log = logging.getLogger(__name__)

DEFAULT_WINDOW_READINGS = 200_000
STALL_SECONDS = 60.0
POLL_SECONDS = 0.5
# What the collector has taken off the broker: stored, resent identically, or kept as revisions.
HANDLED = ("points_written", "duplicates", "revisions")
_SAMPLE = re.compile(r"^plantwatch_ingest_(\w+?)_total\{[^}]*\} (\S+)$", re.M)


def handled_readings(metrics_text: str) -> int:
    """Readings the collector has taken, summed over every collector in the exposition."""
    return int(sum(float(v) for name, v in _SAMPLE.findall(metrics_text) if name in HANDLED))


class CollectorPace:
    """Blocks a publisher while it is more than `window` readings ahead of the collector."""

    def __init__(
        self,
        url: str,
        window: int = DEFAULT_WINDOW_READINGS,
        *,
        stall_seconds: float = STALL_SECONDS,
        poll_seconds: float = POLL_SECONDS,
        fetch: Callable[[str], str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url, self.window = url, window
        self.stall_seconds, self.poll_seconds = stall_seconds, poll_seconds
        self.fetch = fetch or (lambda u: httpx.get(u, timeout=2.0).text)
        self.clock = clock
        self._base: int | None = None  # the collector's count when pacing began

    def _handled(self) -> int | None:
        try:
            return handled_readings(self.fetch(self.url))
        except httpx.HTTPError:
            return None

    def wait(self, published: int, stop: threading.Event) -> None:
        """Return once `published` is within the window of what the collector has taken."""
        handled = self._handled()
        if handled is None:
            return  # no collector to pace by (not started yet, another setup): publish
        if self._base is None:
            self._base = handled
        last, moved_at = handled, self.clock()
        while published - (handled - self._base) > self.window and not stop.is_set():
            if self.clock() - moved_at > self.stall_seconds:
                log.warning(
                    "the collector has not moved; publishing on",
                    extra={"ahead": published - (handled - self._base)},
                )
                return
            stop.wait(self.poll_seconds)
            now = self._handled()
            if now is None:
                return
            handled = now
            if handled != last:
                last, moved_at = handled, self.clock()
