"""`python -m bench.province`: a province's cost curve (issue 26, SPEC section 15).

Ten counties as tenants, 60, 600 and 3,000 stainless-steel firms (gas and coal registers
every 15 minutes for two weeks), one run, each size in a database of its own on the same
private servers. For each size and engine:

- readings/s per core: readings written divided by the CPU seconds the store's server used
  meanwhile (`/proc`), so the figure does not depend on how busy the machine is (the bench's
  own process, which generates the readings, is not counted);
- bytes per reading on disk: the store's files for that database right after the writes
  (InfluxDB: its TSM and WAL folders, the WAL not yet compacted; ClickHouse:
  `system.parts.bytes_on_disk` after `OPTIMIZE ... FINAL`);
- KPI p95: the gas-share KPI of `python -m api` after `python -m api rollup`, sequential,
  `at` moved back one hour per request (no two alike, as an officer's "now"), with a
  province key; then the same with a key scoped to one county, which must see only its
  county's firms.

The growth exponent of each figure is the slope of log(figure) over log(firms) between the
smallest and the largest size (1: linear, 0: flat). ClickHouse takes the collector's write
path (rows, first write kept: `ingest/kernel/clickhouse.py`), then `python -m api rollup`
and the API run on it (`PLANTWATCH_STORE=clickhouse`). VOC is not in this run (see
docs/operations.md).
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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bench.api import STEP_MINUTES, _catch_up_rollups, write_history
from bench.machine import describe, load_average
from bench.stack import ROOT, Stack, cpu_seconds, progress, start_stack, stop_process, wait_http_ok
from bench.workload import Firm, county_firms, history_lines
from ingest.kernel.clickhouse import ClickHouseStore, HttpRunner, Layout
from ingest.kernel.lineproto import parse_line
from scripts.devstack import clickhouse_server, free_port

SIZES = (60, 600, 3000)
COUNTIES = 10
DAYS = 14
REQUESTS = 20
RESULTS = ROOT / "bench" / "results"
CH_BATCH_READINGS = 50_000


def county_id(index: int) -> str:
    return f"county-{index + 1:02d}"


def province_toml(firms: list[Firm], counties: int = COUNTIES) -> str:
    """A registry of `counties` counties (issue 26 tenants), firms dealt out in turn."""
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
    return "\n".join(parts)


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def exponent(sizes: list[int], values: list[float | None]) -> float | None:
    """The slope of log(value) over log(size) between the first and the last size."""
    first, last = values[0], values[-1]
    if first is None or last is None or first <= 0 or last <= 0:
        return None
    return round(math.log(last / first) / math.log(sizes[-1] / sizes[0]), 2)


def influx_size(stack: Stack, firms: list[Firm], end: datetime, days: float) -> dict[str, Any]:
    """Write, measure the store, roll up, start the API and ask the KPI."""
    n = len(firms)
    database = f"bench_province_{n}"
    registry = stack.workdir / f"province-{n}.toml"
    registry.write_text(province_toml(firms), encoding="utf-8")
    influxd_pid = stack.influxd.process.pid if stack.influxd.process else None
    cpu_before = (cpu_seconds(influxd_pid) or 0.0) if influxd_pid else 0.0
    history = write_history(stack, database, firms, end, days)
    cpu = (cpu_seconds(influxd_pid) or 0.0) - cpu_before if influxd_pid else 0.0
    readings = history["points"]
    data = stack.workdir / "influxd"
    stored = folder_bytes(data / "data" / database) + folder_bytes(data / "wal" / database)
    rollup = _catch_up_rollups(stack, database, registry)
    kpi = ask_kpi(stack, database, registry, end, {f.plant for f in firms[::COUNTIES]})
    return {
        "firms": n,
        "readings": readings,
        "write_seconds": history["seconds"],
        "cpu_seconds": round(cpu, 1),
        "readings_per_core_second": round(readings / cpu) if cpu else None,
        "bytes_per_reading": round(stored / readings, 2),
        "rollup_seconds": rollup["seconds"],
        **kpi,
    }


def ask_kpi(
    stack: Stack,
    database: str,
    registry: Path,
    end: datetime,
    first_county: set[str],
    **extra: str,
) -> dict[str, Any]:
    """KPI p50/p95 (moving `at`) with a province key, then with one county's key."""
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
            figures: dict[str, Any] = {"kpi_province": timings(http, province, end, 0)}
            figures["kpi_county"] = timings(http, county, end, REQUESTS)
            # A county key answers for its county only.
            doc = http.get(
                "/api/v1/kpi/gas-share",
                params={"at": end.isoformat()},
                headers={"Authorization": f"Bearer {county}"},
            ).json()
            firms = {row["plant"] for row in doc["rows"]}
            figures["county_key_sees_only_its_county"] = firms == first_county
            figures["county_key_firms"] = len(firms)
            return figures
    finally:
        stop_process(proc)


def timings(http: httpx.Client, key: str, end: datetime, first_hour: int) -> dict[str, Any]:
    """REQUESTS sequential KPI requests, `at` one hour earlier each time (none alike). The
    first of a key's series is reported apart (`first_ms`: the province key's reads the
    whole window's blocks cold); p50/p95 are over the rest."""
    took = []
    errors = 0
    for i in range(REQUESTS):
        at = end - timedelta(hours=first_hour + i)
        started = time.perf_counter()
        answer = http.get(
            "/api/v1/kpi/gas-share",
            params={"at": at.isoformat()},
            headers={"Authorization": f"Bearer {key}"},
        )
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
) -> dict[str, Any]:
    """The same history through the collector's ClickHouse write path (cost and bytes),
    rolled up and asked of the API on ClickHouse (`PLANTWATCH_STORE=clickhouse`)."""
    n = len(firms)
    database = f"bench_province_{n}"
    layout = Layout(database)
    store = ClickHouseStore(HttpRunner(server_url, timeout_seconds=300.0), layout)
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
    store.close()
    engine = {
        "PLANTWATCH_STORE": "clickhouse",
        "PLANTWATCH_CLICKHOUSE_URL": server_url,
        "PLANTWATCH_CLICKHOUSE_DB": database,
        "PLANTWATCH_CLICKHOUSE_TIMEOUT_SECONDS": "300",
    }
    registry = stack.workdir / f"province-{n}.toml"
    registry.write_text(province_toml(firms), encoding="utf-8")
    rollup = _catch_up_rollups(stack, database, registry, **engine)
    kpi = ask_kpi(stack, database, registry, end, {f.plant for f in firms[::COUNTIES]}, **engine)
    return {
        "firms": n,
        "readings": readings,
        "write_seconds": round(seconds, 1),
        "cpu_seconds": round(cpu, 1),
        "readings_per_core_second": round(readings / cpu) if cpu else None,
        "bytes_per_reading": round(on_disk / readings, 2) if readings else None,
        "rollup_seconds": rollup["seconds"],
        "rollup_exit": rollup["exit_code"],
        "rollup_error": rollup.get("error"),
        **kpi,
    }


def markdown(result: dict[str, Any]) -> str:
    sizes = [row["firms"] for row in result["influxdb"]]
    lines = [
        f"# Province cost curve ({result['at']})",
        "",
        f"{result['machine']['cpu_model']}, {result['machine']['cpu_cores']} cores, "
        f"commit {result['machine'].get('git_commit')}; load {result['load_before']} -> {result['load_after']}; "
        f"{COUNTIES} counties, {result['days']} days of 15-minute gas and coal registers.",
        "",
        "| firms | engine | readings | readings/s per store core | bytes/reading | rollup s "
        "| KPI first / p50 / p95, province key (ms) | KPI first / p50 / p95, one county's key (ms) "
        "| county key sees only its county |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in result["influxdb"]:
        p, c = row.get("kpi_province", {}), row.get("kpi_county", {})
        lines.append(
            f"| {row['firms']:,} | InfluxDB 1.6 | {row['readings']:,} | "
            f"{row['readings_per_core_second']:,} | {row['bytes_per_reading']} | "
            f"{row['rollup_seconds']} | {p.get('first_ms')} / {p.get('p50_ms')} / {p.get('p95_ms')} | "
            f"{c.get('first_ms')} / {c.get('p50_ms')} / {c.get('p95_ms')} | "
            f"{row.get('county_key_sees_only_its_county')} ({row.get('county_key_firms')} firms) |"
        )
    for row in result.get("clickhouse", []):
        p, c = row.get("kpi_province", {}), row.get("kpi_county", {})
        lines.append(
            f"| {row['firms']:,} | ClickHouse 18.16 | {row['readings']:,} | "
            f"{row['readings_per_core_second']:,} | {row['bytes_per_reading']} | "
            f"{row.get('rollup_seconds')} | {p.get('first_ms')} / {p.get('p50_ms')} / {p.get('p95_ms')} | "
            f"{c.get('first_ms')} / {c.get('p50_ms')} / {c.get('p95_ms')} | "
            f"{row.get('county_key_sees_only_its_county')} ({row.get('county_key_firms')} firms) |"
        )
    lines += ["", f"Growth exponents over {sizes[0]} -> {sizes[-1]} firms:", ""]
    for engine, figures in result["exponents"].items():
        lines.append(f"- {engine}: " + ", ".join(f"{k} {v}" for k, v in figures.items()))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.province", description=__doc__)
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="firms per run")
    parser.add_argument("--days", type=float, default=DAYS)
    parser.add_argument("--no-clickhouse", action="store_true", help="InfluxDB only")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    end -= timedelta(minutes=end.minute % STEP_MINUTES)
    result: dict[str, Any] = {
        "at": end.isoformat(),
        "machine": describe(),
        "load_before": load_average(),
        "days": args.days,
        "influxdb": [],
        "clickhouse": [],
    }
    with tempfile.TemporaryDirectory(prefix="plantwatch-province-") as tmp:
        stack = start_stack(Path(tmp))
        try:
            for n in sizes:
                progress(f"province: InfluxDB, {n} firms")
                result["influxdb"].append(influx_size(stack, county_firms(n), end, args.days))
            if not args.no_clickhouse:
                server = clickhouse_server(Path(tmp) / "clickhouse").start()
                try:
                    pid = server.process.pid if server.process else None
                    url = f"http://127.0.0.1:{server.port}"
                    for n in sizes:
                        progress(f"province: ClickHouse, {n} firms")
                        result["clickhouse"].append(
                            clickhouse_size(stack, url, pid, county_firms(n), end, args.days)
                        )
                finally:
                    server.stop()
        finally:
            stack.stop()
    result["load_after"] = load_average()
    figures = ("readings_per_core_second", "bytes_per_reading")
    result["exponents"] = {
        "InfluxDB": {
            **{f: exponent(sizes, [r[f] for r in result["influxdb"]]) for f in figures},
            "KPI p95 (province)": exponent(
                sizes, [r.get("kpi_province", {}).get("p95_ms") for r in result["influxdb"]]
            ),
        },
    }
    if result["clickhouse"]:
        result["exponents"]["ClickHouse"] = {
            **{f: exponent(sizes, [r[f] for r in result["clickhouse"]]) for f in figures},
            "KPI p95 (province)": exponent(
                sizes, [r.get("kpi_province", {}).get("p95_ms") for r in result["clickhouse"]]
            ),
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
