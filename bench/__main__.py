"""`python -m bench` (`make bench`): ingest and API benchmarks against private servers.

Every figure is printed and written to `bench/results/<timestamp>.json` and
`bench/results/latest.md` together with the machine's description. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import (
    api,
    broker,
    collector,
    first_write,
    fuel,
    hj212,
    influx,
    latency,
    monthly,
    naive,
    power,
    report,
    voc,
)
from bench.machine import describe, load_average
from bench.publishers import prepare
from bench.sizes import FULL, QUICK, Sizes
from bench.stack import progress, start_stack
from bench.workload import county_firms, registry_toml
from scripts.devstack import clickhouse_server

BENCHMARKS = (
    "broker",
    "influx",
    "naive",
    "collector",
    "first_write",
    "latency",
    "api",
    "fuel",
    "monthly",
    "hj212",
    "voc",
    "power",
)
BUSY_LOAD_PER_CORE = 0.5


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="plantwatch benchmarks: broker and InfluxDB ceilings, a naive baseline, the "
        "collector (1 and N) with publish-to-queryable latency, and API latency over a year of "
        "history. Starts its own Mosquitto and InfluxDB on free ports.",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes (about 1-2 minutes)")
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, help="run only these benchmarks")
    parser.add_argument("--note", action="append", default=[], help="a note for the results")
    parser.add_argument(
        "--collector-messages", type=int, help="messages per collector run (override)"
    )
    parser.add_argument("--history-days", type=float, help="days of API history (override)")
    parser.add_argument(
        "--store",
        choices=("influxdb", "clickhouse"),
        default="influxdb",
        help="the engine of the fuel consistency check (clickhouse: a private ClickHouse "
        "server, PLANTWATCH_STORE=clickhouse; the other benchmarks stay on InfluxDB)",
    )
    parser.add_argument(
        "--results-dir", type=Path, default=report.RESULTS_DIR, help="where results go"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    sizes: Sizes = QUICK if args.quick else FULL
    overrides: dict[str, Any] = {}
    if args.collector_messages:
        overrides["collector_messages"] = args.collector_messages
    if args.history_days:
        overrides["history_days"] = args.history_days
    if overrides:
        sizes = Sizes(**{**{f: getattr(sizes, f) for f in sizes.__dataclass_fields__}, **overrides})
    selected = set(args.only or BENCHMARKS)
    machine = describe()
    notes = list(args.note)
    cores = machine["cpu_cores"] or 1
    if machine["load_average_at_start"][0] > BUSY_LOAD_PER_CORE * cores:
        notes.append(
            f"The machine was busy at start (1-min load {machine['load_average_at_start'][0]} on "
            f"{cores} cores): figures are lower bounds; re-run on a quiet machine."
        )
    started = datetime.now(UTC)
    t0 = time.monotonic()
    benchmarks: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="plantwatch-bench-") as tmp:
        workdir = Path(tmp)
        progress(f"starting private Mosquitto and InfluxDB in {workdir}")
        stack = start_stack(workdir)
        clickhouse = (
            clickhouse_server(workdir / "clickhouse") if args.store == "clickhouse" else None
        )
        try:
            clickhouse_url = None
            if clickhouse is not None:
                clickhouse.start()
                clickhouse_url = f"http://127.0.0.1:{clickhouse.port}"
            benchmarks = _run_all(stack, workdir, sizes, selected, clickhouse_url)
        finally:
            if clickhouse is not None:
                clickhouse.stop()
            stack.stop()
    machine["load_average_at_end"] = load_average()
    results = {
        "started": started.isoformat(timespec="seconds"),
        "mode": "quick" if args.quick else "full",
        "seconds": round(time.monotonic() - t0, 1),
        "notes": notes,
        "machine": machine,
        "sizes": {f: getattr(sizes, f) for f in sizes.__dataclass_fields__},
        "benchmarks": benchmarks,
        "ratios": report.ratios(benchmarks),
    }
    path = report.write(results, started.strftime("%Y%m%dT%H%M%SZ"), args.results_dir)
    print(json.dumps({"benchmarks": benchmarks, "ratios": results["ratios"]}, indent=2))
    print(f"results: {path} and {path.parent / 'latest.md'}")
    return 0


def _guarded(out: dict[str, Any], name: str, run: Callable[[], dict[str, Any]]) -> None:
    """Run one benchmark; a failure is recorded in the results, never ends the run."""
    try:
        out[name] = run()
    except Exception as exc:
        progress(f"{name} failed: {exc!r}")
        out[name] = {"error": repr(exc)}


def _run_all(
    stack: Any,
    workdir: Path,
    sizes: Sizes,
    selected: set[str],
    clickhouse_url: str | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    firms = county_firms(sizes.history_firms)
    registry = workdir / "registry.toml"
    registry.write_text(registry_toml(firms), encoding="utf-8")
    cap = sizes.max_seconds_per_phase * 4
    # Past, fixed-size days keep every run's points distinct and never "in the future".
    start_ms = int((datetime.now(UTC) - timedelta(days=60)).timestamp() * 1000)
    if "broker" in selected:
        files = prepare(workdir / "broker", sizes.broker_messages, sizes.publishers, start_ms)
        _guarded(out, "broker_ceiling", lambda: broker.run(stack, files, cap))
    if "influx" in selected:
        _guarded(
            out,
            "influx_ceiling",
            lambda: influx.run(stack, sizes.influx_points, sizes.influx_batch_points, cap),
        )
    if "naive" in selected:
        naive_files = prepare(workdir / "naive", sizes.naive_messages, sizes.publishers, start_ms)
        _guarded(
            out,
            "naive_baseline",
            lambda: naive.run(stack, naive_files, sizes.max_seconds_per_phase * 2),
        )
    if "collector" in selected:
        one = prepare(workdir / "collector", sizes.collector_messages, sizes.publishers, start_ms)
        for n in sizes.collector_counts:
            _guarded(
                out,
                f"collector_x{n}",
                lambda n=n: collector.run(stack, registry, one, n, cap),  # type: ignore[misc]
            )
        batched = prepare(
            workdir / "batched",
            sizes.batched_messages,
            sizes.publishers,
            start_ms,
            sizes.batched_readings_per_message,
        )
        _guarded(
            out, "batched_collector_x1", lambda: collector.run(stack, registry, batched, 1, cap)
        )
    if "first_write" in selected:
        checked = prepare(
            workdir / "first_write", sizes.collector_messages, sizes.publishers, start_ms
        )
        _guarded(out, "first_write", lambda: first_write.run(stack, registry, checked, cap))
    if "latency" in selected:
        _guarded(
            out,
            "latency",
            lambda: latency.run(stack, registry, sizes.latency_rate_per_s, sizes.latency_seconds),
        )
    if "api" in selected:
        _guarded(
            out,
            "api",
            lambda: api.run(
                stack,
                registry,
                firms,
                sizes.history_days,
                sizes.api_requests,
                sizes.api_concurrency,
                sizes.api_concurrent_requests,
                sizes.max_seconds_per_phase,
            ),
        )
    if "fuel" in selected:
        _guarded(
            out,
            "fuel_consistency",
            lambda: fuel.consistency(stack, workdir, sizes.history_firms, clickhouse_url),
        )
        if clickhouse_url is None:  # the growth figures are InfluxDB's (bench.province: both)
            _guarded(out, "fuel_growth", lambda: fuel.growth(stack, workdir, sizes.growth_firms))
    if "monthly" in selected:
        _guarded(out, "monthly_report", lambda: monthly.run(stack, workdir))
    if "hj212" in selected:
        # the gateway under N loggers, SIGKILLed halfway (`python -m bench.hj212` for more)
        _guarded(
            out,
            "hj212_gateway",
            lambda: hj212.run_load(
                stack, workdir, sizes.hj212_loggers, sizes.hj212_seconds, 1,
                sizes.hj212_seconds / 2,
            ),
        )  # fmt: skip
    if "voc" in selected:
        _guarded(
            out,
            "voc",
            lambda: voc.run(stack, workdir, sizes.voc_stacks, sizes.voc_days, sizes.api_requests),
        )
    if "power" in selected:
        _guarded(out, "power", lambda: power.run(stack, 10, sizes.voc_days, 5))
    return out


if __name__ == "__main__":
    sys.exit(main())
