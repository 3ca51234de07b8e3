"""The collector's write edge on ClickHouse: what first write kept (SPEC 14) costs there.

In one process, the record keeper (ingest/keeper.py) writes batches of gas readings (one
value name each, spread over meters, as a county's back-fill arrives) into a private
ClickHouse server (Debian's 18.16, loopback HTTP), in four ways:

    plain        PLANTWATCH_FIRST_WRITE_CHECK=false: rows and marks, nothing read
    checked      the default: the recent index answers for new readings, nothing read
    cold         a keeper with an empty index per batch (as if restarted before each):
                 every batch asks the store once what it holds
    redelivered  the cold batches again through one new keeper (a restart, then the broker
                 redelivers): its first batch learns each meter's times from there on,
                 every reading is a duplicate, no row is written

and, with `--influx`, the same four on a private InfluxDB 1.x for comparison. Readings/s
per mode (median of `--rounds`), and the load average before and after.

    .venv/bin/python -m bench.clickhouse_write --quick
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.machine import describe, load_average
from bench.report import RESULTS_DIR
from ingest.keeper import RecordKeeper
from ingest.kernel.clickhouse import ClickHouseStore, HttpRunner, Layout
from ingest.kernel.engines import StoreEngine
from ingest.kernel.lineproto import Point
from ingest.kernel.store import InfluxStore
from scripts.devstack import clickhouse_server, influxd_server

T0_MS = 1_772_323_200_000
MINUTE_MS = 60_000
MODES = ("plain", "checked", "cold", "redelivered")


def batches(count: int, size: int, meters: int, offset: int) -> list[list[Point]]:
    """`count` batches of `size` readings, each meter's minutes in order (a back-fill)."""
    out = []
    for b in range(count):
        batch = []
        for k in range(size):
            i = b * size + k
            minute = offset + i // meters
            batch.append(
                Point(
                    "gas",
                    {"plant": f"ss-{i % meters // 4:03d}", "meter": f"gas-{i % 4 + 1}"},
                    {
                        "volume_m3": 1000.0 + i,
                        "volume_m3_flag": "N",
                        "_arrived_ms": T0_MS + minute * MINUTE_MS + 1,
                        "_source": "mqtt",
                    },
                    T0_MS + minute * MINUTE_MS,
                )
            )
        out.append(batch)
    return out


def timed(write: Callable[[list[Point]], None], work: list[list[Point]]) -> float:
    """Readings/s of writing every batch of `work` in order."""
    started = time.perf_counter()
    for batch in work:
        write(batch)
    return sum(map(len, work)) / (time.perf_counter() - started)


def measure(store: StoreEngine, args: argparse.Namespace, round_: int) -> dict[str, float]:
    """One round of every mode on `store`, each on readings of its own."""
    base = round_ * 4 * (args.batches * args.batch // args.meters + 1)
    span = args.batches * args.batch // args.meters + 1
    work = {
        m: batches(args.batches, args.batch, args.meters, base + i * span)
        for i, m in enumerate(MODES)
    }
    out = {}
    out["plain"] = timed(RecordKeeper(store, check=False).write, work["plain"])
    out["checked"] = timed(RecordKeeper(store).write, work["checked"])
    out["cold"] = timed(lambda b: RecordKeeper(store).write(b), work["cold"])
    out["redelivered"] = timed(RecordKeeper(store).write, work["cold"])
    return out


@contextmanager
def clickhouse(workdir: Path) -> Iterator[StoreEngine]:
    server = clickhouse_server(workdir / "clickhouse").start()
    store = ClickHouseStore(HttpRunner(f"http://127.0.0.1:{server.port}"), Layout("bench"))
    try:
        store.create_database()
        yield store
    finally:
        store.close()
        server.stop()


@contextmanager
def influx(workdir: Path) -> Iterator[StoreEngine]:
    server = influxd_server(workdir / "influxd").start()
    store = InfluxStore(f"http://127.0.0.1:{server.port}", "bench")
    try:
        store.create_database()
        yield store
    finally:
        store.close()
        server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.clickhouse_write", description=__doc__)
    parser.add_argument("--batches", type=int, default=40, help="batches per mode and round")
    parser.add_argument("--batch", type=int, default=1000, help="readings per batch")
    parser.add_argument("--meters", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--influx", action="store_true", help="the same on InfluxDB 1.x")
    parser.add_argument("--quick", action="store_true", help="10 batches, 1 round")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    if args.quick:
        args.batches, args.rounds = 10, 1
    started = datetime.now(UTC)
    machine = describe()
    engines = {"clickhouse": clickhouse} | ({"influxdb": influx} if args.influx else {})
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="plantwatch-bench-chwrite-") as tmp:
        for name, opened in engines.items():
            with opened(Path(tmp) / name) as store:
                rounds = [measure(store, args, r) for r in range(args.rounds)]
            out[name] = {m: round(statistics.median(r[m] for r in rounds)) for m in MODES} | {
                "rounds": rounds
            }
            print(name, {m: out[name][m] for m in MODES}, flush=True)
    machine["load_average_at_end"] = load_average()
    results = {
        "started": started.isoformat(timespec="seconds"),
        "what": f"RecordKeeper.write, batches of {args.batch} gas readings over {args.meters} "
        f"meters, {args.batches} batches per mode, {args.rounds} round(s); readings/s",
        "machine": machine,
        "readings_per_s": out,
    }
    args.results_dir.mkdir(parents=True, exist_ok=True)
    path = args.results_dir / f"clickhouse_write-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
