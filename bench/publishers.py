"""Fast publishers: one `mosquitto_pub -l` (C, QoS 1) per meter, fed from a prepared file.

The same publishers feed the broker ceiling, the naive baseline and the collector runs, so
their figures differ only in what consumes the messages.
"""

from __future__ import annotations

import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from bench.workload import firm_ids, publisher_lines, readings_topic

DAY_MS = 86_400_000
PUBLISH_WAIT_SECONDS = 600.0


@dataclass(frozen=True, slots=True)
class PublisherFiles:
    """Prepared message files, one per meter, and the total they hold."""

    files: tuple[tuple[str, Path], ...]  # (topic, file)
    total: int  # messages
    payload_bytes: int
    readings_per_message: int = 1

    @property
    def readings(self) -> int:
        return self.total * self.readings_per_message


def prepare(
    workdir: Path, total: int, publishers: int, start_ms: int, per_message: int = 1
) -> PublisherFiles:
    """Split `total` messages over `publishers` gas meters (one file each)."""
    workdir.mkdir(parents=True, exist_ok=True)
    plants = firm_ids(publishers)
    per, extra = divmod(total, publishers)
    files = []
    sizes: list[int] = []
    for i, plant in enumerate(plants):
        count = per + (1 if i < extra else 0)
        path = workdir / f"pub-{i:03d}.txt"
        lines = list(publisher_lines(count, start_ms, per_message))
        sizes.extend(len(line) for line in lines[:10])
        path.write_bytes(b"\n".join(lines) + b"\n")
        files.append((readings_topic(plant, "gas-1"), path))
    return PublisherFiles(tuple(files), total, round(sum(sizes) / max(1, len(sizes))), per_message)


class Running:
    """Publishers at work; `seconds` is set when the last one has finished."""

    def __init__(self, procs: list[subprocess.Popen[bytes]]) -> None:
        self.procs = procs
        self.started = time.monotonic()
        self.seconds: float | None = None
        self.ok = False
        self._waiter = threading.Thread(target=self._wait, daemon=True)
        self._waiter.start()

    def _wait(self) -> None:
        ok = True
        for proc in self.procs:
            try:
                ok = proc.wait(PUBLISH_WAIT_SECONDS) == 0 and ok
            except subprocess.TimeoutExpired:
                ok = False
        self.ok = ok
        self.seconds = time.monotonic() - self.started

    def finish(self) -> None:
        """Stop any publisher still running and wait for the waiter."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
        self._waiter.join(30)


def start_publishers(port: int, prepared: PublisherFiles) -> Running:
    """Start every publisher at once without waiting for them."""
    procs = []
    for i, (topic, path) in enumerate(prepared.files):
        with path.open("rb") as stdin:
            procs.append(
                subprocess.Popen(
                    [
                        "mosquitto_pub",
                        "-p",
                        str(port),
                        "-q",
                        "1",
                        "-l",
                        "-t",
                        topic,
                        "-i",
                        f"bench-pub-{i}-{time.monotonic_ns()}",
                    ],
                    stdin=stdin,
                )
            )
    return Running(procs)
