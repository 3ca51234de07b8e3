"""The gateway's dead-letter writer (ingest/gateway/deadletters.py `LineWriter`), no servers:
a store that answers "not now" for a while (away, or ClickHouse 18.16 refusing a quorum insert
while another writer's is pending) gets the batch later; a refused batch is not tried again."""

from __future__ import annotations

from collections.abc import Sequence

from ingest.gateway.deadletters import WRITE_ATTEMPTS, LineWriter
from ingest.gateway.stats import Tally
from ingest.kernel.errors import StoreRejected, StoreUnavailable

LINE = 'dead_letter,code=unknown_source,plant=unknown reason="x" 1772323200000'


class FlakyStore:
    """Raises `error` for the first `failures` writes, then keeps the lines."""

    def __init__(self, failures: int, error: Exception) -> None:
        self.failures = failures
        self.error = error
        self.tries = 0
        self.lines: list[str] = []

    def write_lines(self, lines: Sequence[str]) -> None:
        self.tries += 1
        if self.tries <= self.failures:
            raise self.error
        self.lines.extend(lines)


def written(store: FlakyStore) -> tuple[list[str], int, int]:
    tally = Tally()
    writer = LineWriter(store, tally)  # type: ignore[arg-type]  # writes lines, nothing else
    writer._write([LINE])  # the writer thread's step, here on the test's thread
    writer.close()
    return store.lines, store.tries, tally.get("dead_letters_written")


def test_a_store_busy_for_a_while_gets_the_batch_on_a_later_try() -> None:
    store = FlakyStore(2, StoreUnavailable("Quorum for previous write has not been satisfied"))
    assert written(store) == ([LINE], 3, 1)


def test_a_store_away_for_longer_loses_the_batch_after_the_last_try() -> None:
    store = FlakyStore(WRITE_ATTEMPTS, StoreUnavailable("connection refused"))
    assert written(store) == ([], WRITE_ATTEMPTS, 0)


def test_a_refused_batch_is_not_tried_again() -> None:
    store = FlakyStore(1, StoreRejected("not a point"))
    assert written(store) == ([], 1, 0)
