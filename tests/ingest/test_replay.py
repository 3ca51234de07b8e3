"""The replayer's refusal path, no servers: a line InfluxDB refuses is its plant's dead letter."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import cast

from ingest.kernel.errors import StoreRejected
from ingest.kernel.store import InfluxStore
from ingest.metrics import Counters
from ingest.replay import Replayer
from ingest.spool import Record, Spool

GOOD = "gas,meter=gas-1,plant=ss-001 volume_m3=1.0 1772323200000"
CONFLICT = 'gas,meter=gas-1,plant=ss-002 volume_m3="x" 1772323200000'
NOT_A_POINT = "garbage ss-002"


class Store:
    """Takes whatever it is given; `write` below refuses anything of ss-002."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def write_lines(self, lines: Sequence[str]) -> None:
        self.lines.extend(lines)


def test_each_refused_line_becomes_a_dead_letter_of_its_plant(tmp_path: Path) -> None:
    store = Store()
    letters: list[tuple[str, str, str]] = []

    def write(lines: Sequence[str]) -> None:  # the keeper's write: dead letters go there too
        if any("ss-002" in line and not line.startswith("dead_letter") for line in lines):
            raise StoreRejected("field type conflict")
        store.write_lines(lines)

    def dead_letter(plant: str, reason: str, line: str) -> str:
        letters.append((plant, reason, line))
        return f"dead_letter {plant}"

    spool = Spool(tmp_path, 1_000_000)
    try:
        stop = threading.Event()
        influx = cast(InfluxStore, store)  # a stand-in: the replayer only writes lines to it
        replayer = Replayer(spool, influx, Counters(), stop, dead_letter, write)
        written = replayer._write(Record(tmp_path / "seg", 0, (GOOD, CONFLICT, NOT_A_POINT)))
    finally:
        spool.close()
    assert written == 1
    assert letters == [
        ("ss-002", "field type conflict", CONFLICT),
        ("", "field type conflict", NOT_A_POINT),
    ]
    assert store.lines == [GOOD, "dead_letter ss-002", "dead_letter "]
