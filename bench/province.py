"""`python -m bench.province`: a province's cost curve (issue 26, SPEC section 15).

Ten counties as tenants, 60, 600 and 3,000 stainless-steel firms (gas and coal registers
every 15 minutes for two weeks) and one synthetic-leather firm with an HJ 212 logger on its
VOC stack per three of them (20, 200 and 1,000 loggers; `--voc-days` of minute data, CN 2051,
as the collector stores it), one run, each size in a database of its own on the same
private servers. For each size and engine:

- readings/s per core: the fuel readings written divided by the CPU seconds the store's
  server used meanwhile (`/proc`), so the figure does not depend on how busy the machine is
  (the bench's own process, which generates the readings, is not counted);
- bytes per reading on disk: the store's files for that database right after the fuel
  writes (InfluxDB: its TSM and WAL folders, the WAL not yet compacted; ClickHouse:
  `system.parts.bytes_on_disk` after `OPTIMIZE ... FINAL`);
- KPI: the gas-share KPI of `python -m api` after `python -m api rollup`, sequential, `at`
  moved back one hour per request (no two alike, as an officer's "now"), with a province
  key; then the same with a key scoped to one county, which must see only its county's firms;
- VOC month: the officer's VOC emissions of the month (`GET /api/v1/voc/emissions`,
  `period=month`) over the 30 days before `end`, `end` moved back one hour per request,
  with both keys; the county key must see only its county's stacks.

The growth exponent of each figure is the slope of log(figure) over log(firms) between the
smallest and the largest size (1: linear, 0: flat). ClickHouse takes the collector's write
path (rows, first write kept: `ingest/kernel/clickhouse.py`), then `python -m api rollup`
and the API run on it (`PLANTWATCH_STORE=clickhouse`).
"""

from __future__ import annotations

import argparse
import json
import math
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bench.api import STEP_MINUTES, _catch_up_rollups, write_history
from bench.machine import describe, load_average
from bench.stack import (
    ROOT,
    Stack,
    clickhouse_env,
    clickhouse_store,
    cpu_seconds,
    progress,
    start_stack,
    stop_process,
    wait_http_ok,
)
from bench.voc import minute_lines
from bench.workload import Firm, county_firms, history_lines
from ingest.kernel.clickhouse import Layout
from ingest.kernel.lineproto import parse_line
from ingest.kernel.store import InfluxStore
from scripts.devstack import clickhouse_server, free_port

SIZES = (60, 600, 3000)
COUNTIES = 10
DAYS = 14
REQUESTS = 20
RESULTS = ROOT / "bench" / "results"
FIRMS_PER_LOGGER = 3
VOC_STACK = "stack-1"  # bench.voc.minute_lines' meter
VOC_WINDOW = timedelta(days=30)  # the VOC month answer's window, `end` moved per request
CH_BATCH_READINGS = 50_000


def county_id(index: int) -> str:
    return f"county-{index + 1:02d}"


def voc_plants(firms: int) -> list[str]:
    """The synthetic-leather firms with an HJ 212 logger on their VOC stack: one per
    `FIRMS_PER_LOGGER` energy-metered firms (1,000 loggers at 3,000 firms, issue 26)."""
    return [f"sl-{i:04d}" for i in range(1, firms // FIRMS_PER_LOGGER + 1)]


def province_toml(
    firms: list[Firm], loggers: list[str] | None = None, counties: int = COUNTIES
) -> str:
    """A registry of `counties` counties (issue 26 tenants), firms dealt out in turn, then
    the synthetic-leather firms of `loggers` (one VOC stack each) dealt out the same way."""
    parts = ['[province]\nname = "浙江 (bench)"\ngas_share_goal = 0.5\n']
    for k in range(counties):
        parts.append(
            f'[[counties]]\nid = "{county_id(k)}"\nname = "县 {k + 1:02d} (bench)"\n'
            "gas_share_goal = 0.5\n"
        )
    for i, firm in enumerate(firms):
        parts.append(
            f'[[plants]]\nid = "{firm.plant}"\nname = "{firm.plant} 不锈钢有限公司"\n'
            f'sector = "stainless_steel"\ncounty = "{county_id(i % counties)}"\n'
            '  [[plants.meters]]\n  id = "gas-1"\n  kind = "gas"\n'
            '  [[plants.meters]]\n  id = "coal-1"\n  kind = "coal"\n'
        )
    for i, plant in enumerate(loggers or []):
        parts.append(
            f'[[plants]]\nid = "{plant}"\nname = "{plant} 合成革有限公司"\n'
            f'sector = "synthetic_leather"\ncounty = "{county_id(i % counties)}"\n'
            f'  [[plants.meters]]\n  id = "{VOC_STACK}"\n  kind = "voc"\n'
            f'  hj212_mn = "PROV{i + 1:04d}"\n'
        )
    return "\n".join(parts)


def voc_history(loggers: list[str], end: datetime, days: float) -> Iterator[list[str]]:
    """Every logger's minute data (CN 2051, `voc_minute`) for `days` before `end`, as the
    collector stores it (bench.voc.minute_lines), one logger's lines at a time."""
    minutes = int(days * 1440)
    start_ms = int(end.timestamp() * 1000) - minutes * 60_000
    rng = np.random.default_rng(26)
    for plant in loggers:
        yield minute_lines(plant, start_ms, minutes, rng)


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def exponent(sizes: list[int], values: list[float | None]) -> float | None:
    """The slope of log(value) over log(size) between the first and the last size."""
    first, last = values[0], values[-1]
    if first is None or last is None or first <= 0 or last <= 0:
        return None
    return round(math.log(last / first) / math.log(sizes[-1] / sizes[0]), 2)


def influx_size(
    stack: Stack, firms: list[Firm], end: datetime, days: float, voc_days: float
) -> dict[str, Any]:
    """Write, measure the store, add the VOC loggers' minutes, roll up, start the API and ask
    the KPI and the VOC month."""
    n = len(firms)
    database = f"bench_province_{n}"
    loggers = voc_plants(n)
    registry = stack.workdir / f"province-{n}.toml"
    registry.write_text(province_toml(firms, loggers), encoding="utf-8")
    influxd_pid = stack.influxd.process.pid if stack.influxd.process else None
    cpu_before = (cpu_seconds(influxd_pid) or 0.0) if influxd_pid else 0.0
    history = write_history(stack, database, firms, end, days)
    cpu = (cpu_seconds(influxd_pid) or 0.0) - cpu_before if influxd_pid else 0.0
    readings = history["points"]
    data = stack.workdir / "influxd"
    stored = folder_bytes(data / "data" / database) + folder_bytes(data / "wal" / database)
    progress(f"province: {len(loggers)} VOC loggers x {voc_days:g} days of minutes")
    started = time.monotonic()
    voc_minutes = 0
    with InfluxStore(stack.influx_url, database, timeout_seconds=120.0) as store:
        for lines in voc_history(loggers, end, voc_days):
            store.write_lines(lines)
            voc_minutes += len(lines)
    voc_seconds = time.monotonic() - started
    rollup = _catch_up_rollups(stack, database, registry)
    kpi = ask_kpi(stack, database, registry, end, firms, loggers)
    return {
        "firms": n,
        "readings": readings,
        "write_seconds": history["seconds"],
        "cpu_seconds": round(cpu, 1),
        "readings_per_core_second": round(readings / cpu) if cpu else None,
        "bytes_per_reading": round(stored / readings, 2),
        "voc_loggers": len(loggers),
        "voc_minutes": voc_minutes,
        "voc_write_seconds": round(voc_seconds, 1),
        "rollup_seconds": rollup["seconds"],
        "rollup_exit": rollup["exit_code"],
        "rollup_error": rollup.get("error"),
        **kpi,
    }


def ask_kpi(
    stack: Stack,
    database: str,
    registry: Path,
    end: datetime,
    firms: list[Firm],
    loggers: list[str],
    **extra: str,
) -> dict[str, Any]:
    """KPI p50/p95 (moving `at`) with a province key, then with one county's key; the VOC
    month (moving `end`) with both keys. A county key must see only its county's firms and
    stacks (firms and loggers are dealt to counties in turn: the first county's every
    COUNTIES-th)."""
    first_county = {f.plant for f in firms[::COUNTIES]}
    first_county_stacks = set(loggers[::COUNTIES])
    admin = secrets.token_urlsafe(24)
    port = free_port()
    proc = stack.spawn(
        ["-m", "api"],
        stack.env(
            database,
            registry,
            PLANTWATCH_API_PORT=str(port),
            PLANTWATCH_ADMIN_KEY=admin,
            PLANTWATCH_DATABASE_URL=f"sqlite:///{stack.workdir / (database + extra.get('PLANTWATCH_STORE', '') + '.db')}",
            **extra,
        ),
        f"api-{database}",
    )
    base = f"http://127.0.0.1:{port}"
    try:
        if not wait_http_ok(f"{base}/healthz", 120):
            return {"error": "API did not start: " + stack.log_tail(f"api-{database}")}
        with httpx.Client(base_url=base, timeout=300.0) as http:

            def key(**body: str) -> str:
                answer = http.post(
                    "/api/v1/keys",
                    json={"name": "bench", **body},
                    headers={"Authorization": f"Bearer {admin}"},
                )
                return str(answer.raise_for_status().json()["key"])

            province = key(role="officer")
            county = key(role="officer", county=county_id(0))
            figures: dict[str, Any] = {
                "kpi_province": timings(http, province, KPI_PATH, kpi_params(end, 0)),
                "kpi_county": timings(http, county, KPI_PATH, kpi_params(end, REQUESTS)),
                "voc_month_province": timings(http, province, VOC_PATH, voc_params(end, 0)),
                "voc_month_county": timings(http, county, VOC_PATH, voc_params(end, REQUESTS)),
            }
            # A county key answers for its county only.
            doc = http.get(
                "/api/v1/kpi/gas-share",
                params={"at": end.isoformat()},
                headers={"Authorization": f"Bearer {county}"},
            ).json()
            seen = {row["plant"] for row in doc["rows"]}
            figures["county_key_sees_only_its_county"] = seen == first_county
            figures["county_key_firms"] = len(seen)
            answer = http.get(
                VOC_PATH,
                params=voc_params(end, 0)(0),
                headers={"Authorization": f"Bearer {county}"},
            )
            if answer.status_code != 200:
                figures["voc_error"] = f"{answer.status_code}: {answer.text[:500]}"
                return figures
            stacks = {row["plant"] for row in answer.json()["stacks"]}
            figures["county_key_sees_only_its_stacks"] = stacks == first_county_stacks
            figures["county_key_stacks"] = len(stacks)
            return figures
    finally:
        stop_process(proc)


KPI_PATH = "/api/v1/kpi/gas-share"
VOC_PATH = "/api/v1/voc/emissions"  # the officer's VOC month (api/routes/voc.py)


def kpi_params(end: datetime, first_hour: int) -> Callable[[int], dict[str, str]]:
    """The i-th KPI request's query: `at` one hour earlier each time (none alike)."""
    return lambda i: {"at": (end - timedelta(hours=first_hour + i)).isoformat()}


def voc_params(end: datetime, first_hour: int) -> Callable[[int], dict[str, str]]:
    """The i-th VOC month request's query: the month (`VOC_WINDOW`, every logger's minutes
    inside it) ending one hour earlier each time (none alike, so no answer is a cache's)."""

    def params(i: int) -> dict[str, str]:
        until = end - timedelta(hours=first_hour + i)
        return {
            "start": (until - VOC_WINDOW).isoformat(),
            "end": until.isoformat(),
            "period": "month",
        }

    return params


def timings(
    http: httpx.Client, key: str, path: str, params: Callable[[int], dict[str, str]]
) -> dict[str, Any]:
    """REQUESTS sequential requests of `path`, the i-th with `params(i)` (no two alike). The
    first of a key's series is reported apart (`first_ms`: the province key's reads the
    whole window's blocks cold); p50/p95 are over the rest."""
    took = []
    errors = 0
    for i in range(REQUESTS):
        started = time.perf_counter()
        answer = http.get(path, params=params(i), headers={"Authorization": f"Bearer {key}"})
        took.append(time.perf_counter() - started)
        errors += answer.status_code != 200
    first, rest = took[0], sorted(took[1:])
    return {
        "first_ms": round(1000 * first, 1),
        "p50_ms": round(1000 * statistics.median(rest), 1),
        "p95_ms": round(1000 * rest[math.ceil(0.95 * len(rest)) - 1], 1),
        "errors": errors,
    }


def clickhouse_size(
    stack: Stack,
    server_url: str,
    server_pid: int | None,
    firms: list[Firm],
    end: datetime,
    days: float,
    voc_days: float,
) -> dict[str, Any]:
    """The same history through the collector's ClickHouse write path (cost and bytes), the
    same VOC minutes, rolled up and asked of the API on ClickHouse (`PLANTWATCH_STORE=clickhouse`)."""
    n = len(firms)
    loggers = voc_plants(n)
    database = f"bench_province_{n}"
    layout = Layout(database)
    store = clickhouse_store(server_url, database)
    store.create_database()
    steps = int(days * 24 * 60 / STEP_MINUTES)
    start_ms = int((end - timedelta(minutes=STEP_MINUTES * steps)).timestamp() * 1000)
    rng = np.random.default_rng(7)
    cpu_before = (cpu_seconds(server_pid) or 0.0) if server_pid else 0.0
    started = time.monotonic()
    readings = 0
    batch: list[Any] = []
    for firm in firms:
        batch += [
            parse_line(line) for line in history_lines(firm, start_ms, steps, STEP_MINUTES, rng)
        ]
        if len(batch) >= CH_BATCH_READINGS:
            readings += store.write(batch)
            batch = []
    if batch:
        readings += store.write(batch)
    seconds = time.monotonic() - started
    cpu = (cpu_seconds(server_pid) or 0.0) - cpu_before if server_pid else 0.0
    store.runner.run(f"OPTIMIZE TABLE {layout.table} FINAL")
    stored = store.runner.run(
        "SELECT sum(bytes_on_disk) FROM system.parts "
        f"WHERE database = '{database}' AND table = 'readings' AND active"
    )
    on_disk = int(stored[0][0]) if stored and stored[0] else 0
    progress(f"province: {len(loggers)} VOC loggers x {voc_days:g} days of minutes")
    started = time.monotonic()
    voc_minutes = 0
    for lines in voc_history(loggers, end, voc_days):
        voc_minutes += store.write([p for p in map(parse_line, lines) if p is not None])
    voc_seconds = time.monotonic() - started
    store.close()
    engine = clickhouse_env(server_url, database)
    registry = stack.workdir / f"province-{n}.toml"
    registry.write_text(province_toml(firms, loggers), encoding="utf-8")
    rollup = _catch_up_rollups(stack, database, registry, **engine)
    kpi = ask_kpi(stack, database, registry, end, firms, loggers, **engine)
    return {
        "firms": n,
        "readings": readings,
        "write_seconds": round(seconds, 1),
        "cpu_seconds": round(cpu, 1),
        "readings_per_core_second": round(readings / cpu) if cpu else None,
        "bytes_per_reading": round(on_disk / readings, 2) if readings else None,
        "voc_loggers": len(loggers),
        "voc_minutes": voc_minutes,
        "voc_write_seconds": round(voc_seconds, 1),
        "rollup_seconds": rollup["seconds"],
        "rollup_exit": rollup["exit_code"],
        "rollup_error": rollup.get("error"),
        **kpi,
    }


ENGINES = (("influxdb", "InfluxDB 1.6"), ("clickhouse", "ClickHouse 18.16"))


def _number(value: float | None) -> str:
    return "–" if value is None else f"{value:,}"


def _ms(figures: dict[str, Any]) -> str:
    return f"{figures.get('first_ms')} / {figures.get('p50_ms')} / {figures.get('p95_ms')}"


def markdown(result: dict[str, Any]) -> str:
    sizes = [row["firms"] for row in result["influxdb"] or result["clickhouse"]]
    lines = [
        f"# Province cost curve ({result['at']})",
        "",
        f"{result['machine']['cpu_model']}, {result['machine']['cpu_cores']} cores, "
        f"commit {result['machine'].get('git_commit')}; load {result['load_before']} -> "
        f"{result['load_after']}; {COUNTIES} counties, {result['days']} days of 15-minute gas "
        f"and coal registers; one HJ 212 logger (a synthetic-leather VOC stack) per "
        f"{FIRMS_PER_LOGGER} firms with {result['voc_days']} days of minute data (CN 2051). "
        f"{REQUESTS} sequential requests per figure, none alike: the KPI's `at` and the VOC "
        f"month's `end` (its `start` {VOC_WINDOW.days} days before) move back one hour per "
        "request; first / p50 / p95 in ms, p50 and p95 over all but the first.",
        "",
        "| firms | engine | readings | readings/s per store core | bytes/reading | VOC loggers "
        "(minutes) | rollup s | KPI, province key | KPI, one county's key | VOC month, "
        "province key | VOC month, one county's key | county key sees only its county |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for engine, label in ENGINES:
        for row in result.get(engine, []):
            rollup = row.get("rollup_seconds")
            if row.get("rollup_exit"):
                rollup = f"{rollup} (exit {row['rollup_exit']})"
            lines.append(
                f"| {row['firms']:,} | {label} | {row['readings']:,} | "
                f"{_number(row['readings_per_core_second'])} | {row['bytes_per_reading']} | "
                f"{row.get('voc_loggers')} ({row.get('voc_minutes', 0):,}) | {rollup} | "
                f"{_ms(row.get('kpi_province', {}))} | {_ms(row.get('kpi_county', {}))} | "
                f"{_ms(row.get('voc_month_province', {}))} | "
                f"{_ms(row.get('voc_month_county', {}))} | "
                f"{row.get('county_key_sees_only_its_county')} ({row.get('county_key_firms')} "
                f"firms), {row.get('county_key_sees_only_its_stacks')} "
                f"({row.get('county_key_stacks')} stacks) |"
            )
    lines += ["", f"Growth exponents over {sizes[0]} -> {sizes[-1]} firms:", ""]
    for engine, figures in result["exponents"].items():
        lines.append(f"- {engine}: " + ", ".join(f"{k} {v}" for k, v in figures.items()))
    errors = [
        f"- {label}, {row['firms']:,} firms: {what}"
        for engine, label in ENGINES
        for row in result.get(engine, [])
        for what in (row.get("rollup_error"), row.get("error"), row.get("voc_error"))
        if what
    ]
    if errors:
        lines += ["", "Errors:", "", *errors]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.province", description=__doc__)
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="firms per run")
    parser.add_argument("--days", type=float, default=DAYS)
    parser.add_argument("--no-clickhouse", action="store_true", help="InfluxDB only")
    parser.add_argument("--no-influxdb", action="store_true", help="ClickHouse only")
    parser.add_argument(
        "--voc-days", type=float, default=DAYS, help="days of VOC minute data per logger"
    )
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    end -= timedelta(minutes=end.minute % STEP_MINUTES)
    result: dict[str, Any] = {
        "at": end.isoformat(),
        "machine": describe(),
        "load_before": load_average(),
        "days": args.days,
        "voc_days": args.voc_days,
        "influxdb": [],
        "clickhouse": [],
    }
    with tempfile.TemporaryDirectory(prefix="plantwatch-province-") as tmp:
        stack = start_stack(Path(tmp))
        try:
            for n in [] if args.no_influxdb else sizes:
                progress(f"province: InfluxDB, {n} firms")
                result["influxdb"].append(
                    influx_size(stack, county_firms(n), end, args.days, args.voc_days)
                )
            if not args.no_clickhouse:
                server = clickhouse_server(Path(tmp) / "clickhouse").start()
                try:
                    pid = server.process.pid if server.process else None
                    url = f"http://127.0.0.1:{server.port}"
                    for n in sizes:
                        progress(f"province: ClickHouse, {n} firms")
                        result["clickhouse"].append(
                            clickhouse_size(
                                stack, url, pid, county_firms(n), end, args.days, args.voc_days
                            )
                        )
                finally:
                    server.stop()
        finally:
            stack.stop()
    result["load_after"] = load_average()
    figures = ("readings_per_core_second", "bytes_per_reading")
    result["exponents"] = {}
    for name, rows in (("InfluxDB", result["influxdb"]), ("ClickHouse", result["clickhouse"])):
        if rows:
            result["exponents"][name] = {
                **{f: exponent(sizes, [r[f] for r in rows]) for f in figures},
                **{
                    f"{what} p95 (province)": exponent(
                        sizes, [r.get(key, {}).get("p95_ms") for r in rows]
                    )
                    for what, key in (("KPI", "kpi_province"), ("VOC month", "voc_month_province"))
                },
            }
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (RESULTS / f"province-{stamp}.json").write_text(json.dumps(result, indent=1))
    text = markdown(result)
    (RESULTS / f"province-{stamp}.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
