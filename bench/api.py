"""(f) API latency: gas-share KPI and one-year usage over a year of generated history.

History for the generated county (stainless-steel firms, gas and coal registers every
15 minutes) is written straight to the private InfluxDB as line protocol, with a matching
registry file. Endpoints that this build of the API does not serve are reported as not
available instead of failing the run.
"""

from __future__ import annotations

import asyncio
import secrets
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bench.stack import ROOT, Stack, cpu_seconds, progress, stop_process, wait_http_ok
from bench.stats import percentiles_ms
from bench.workload import Firm, history_lines
from ingest.kernel.store import InfluxStore
from scripts.devstack import free_port

HISTORY_BATCH_POINTS = 20_000
REQUEST_TIMEOUT_SECONDS = 120.0
STEP_MINUTES = 15
IDLE_WAIT_SECONDS = 120.0
# A process is idle when it used less than this share of a core over `IDLE_SAMPLE_SECONDS`.
IDLE_CPU_SHARE = 0.1
IDLE_SAMPLE_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class Endpoint:
    name: str
    path: str
    # Parameter sets tried in order until one answers 200 (APIs differ in their `every`).
    params: tuple[dict[str, str], ...]
    # An officer's "now" moves: request i asks at `at` minus i hours, so no two requests are
    # alike and none is answered from a cached earlier answer (issue 21). Endpoints with a
    # moving `at` continue where the previous one stopped (`first_hour`): a 365-day window at
    # an hour the 30-day one asked would find that hour's edges read already.
    moving_at: bool = False


def request_params(endpoint: Endpoint, params: dict[str, str], index: int) -> dict[str, str]:
    """The parameters of the endpoint's `index`-th request (`at` moved back `index` hours)."""
    if not endpoint.moving_at:
        return params
    at = datetime.fromisoformat(params["at"]) - timedelta(hours=index)
    return {**params, "at": at.isoformat()}


def write_history(
    stack: Stack, database: str, firms: list[Firm], end: datetime, days: float
) -> dict[str, Any]:
    """A year (or `days`) of 15-minute registers for every firm, written as line protocol."""
    steps = int(days * 24 * 60 / STEP_MINUTES)
    start_ms = int((end - timedelta(minutes=STEP_MINUTES * steps)).timestamp() * 1000)
    progress(
        f"api: writing {len(firms)} firms x {days:g} days of history ({2 * steps * len(firms):,} points)"
    )
    rng = np.random.default_rng(7)
    written = 0
    started = time.monotonic()
    with InfluxStore(stack.influx_url, database, timeout_seconds=120.0) as store:
        store.create_database()
        for firm in firms:
            lines = history_lines(firm, start_ms, steps, STEP_MINUTES, rng)
            for offset in range(0, len(lines), HISTORY_BATCH_POINTS):
                store.write_lines(lines[offset : offset + HISTORY_BATCH_POINTS])
            written += len(lines)
    elapsed = time.monotonic() - started
    progress(f"api: history written in {elapsed:.1f}s")
    return {"firms": len(firms), "days": days, "points": written, "seconds": round(elapsed, 1)}


ROLLUP_TIMEOUT_SECONDS = 900.0


def _catch_up_rollups(stack: Stack, database: str, registry: Path, **extra: str) -> dict[str, Any]:
    """Roll the written history up once (`python -m api rollup`), as an operator would after
    a backfill, so the endpoints answer from rollups as they do in steady state."""
    progress("api: rolling the history up (python -m api rollup) ...")
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "api", "rollup"],
        env=stack.env(database, registry, PLANTWATCH_INFLUX_TIMEOUT_SECONDS="600", **extra),
        cwd=ROOT,
        capture_output=True,
        timeout=ROLLUP_TIMEOUT_SECONDS,
        check=False,
    )
    elapsed = time.monotonic() - started
    progress(f"api: rollup catch-up took {elapsed:.1f}s (exit {done.returncode})")
    result: dict[str, Any] = {"seconds": round(elapsed, 1), "exit_code": done.returncode}
    if done.returncode != 0:  # why, kept with the figures (the 3,000-firm ClickHouse run)
        result["error"] = done.stderr.decode(errors="replace")[-2000:]
        progress(f"api: rollup failed: {result['error'][-300:]}")
    return result


def endpoints(end: datetime, days: float) -> list[Endpoint]:
    year_start = (end - timedelta(days=min(days, 365))).isoformat()
    usage = [
        {"start": year_start, "end": end.isoformat(), "every": every}
        for every in ("30d", "1mo", "month", "P1M", "1d")
    ]
    usage.append({"start": year_start, "end": end.isoformat()})
    return [
        Endpoint(
            "gas-share KPI (30-day window, at moves 1 h per request)",
            "/api/v1/kpi/gas-share",
            ({"at": end.isoformat()},),
            moving_at=True,
        ),
        Endpoint(
            "gas-share KPI (365-day window, at moves 1 h per request)",
            "/api/v1/kpi/gas-share",
            ({"at": end.isoformat(), "window_days": "365"},),
            moving_at=True,
        ),
        Endpoint(
            "gas-share KPI (30-day window, one at: cache hits)",
            "/api/v1/kpi/gas-share",
            ({"at": end.isoformat()},),
        ),
        Endpoint(
            "gas-share history (monthly, year)",
            "/api/v1/kpi/gas-share/history",
            ({"year": str(end.year)},),
        ),
        Endpoint("usage, one year, one firm", "/api/v1/plants/ss-001/usage", tuple(usage)),
        Endpoint(
            "usage, one year, stainless-steel sector, daily",
            "/api/v1/usage",
            (
                {
                    "sector": "stainless_steel",
                    "start": year_start,
                    "end": end.isoformat(),
                    "every": "1d",
                },
            ),
        ),
    ]


def run(
    stack: Stack,
    registry: Path,
    firms: list[Firm],
    days: float,
    requests: int,
    concurrency: int,
    concurrent_requests: int,
    max_seconds_per_phase: float,
) -> dict[str, Any]:
    """Sequential and concurrent p50/p99 per endpoint against `python -m api`."""
    database = "bench_api"
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    end -= timedelta(minutes=end.minute % STEP_MINUTES)
    history = write_history(stack, database, firms, end, days)
    rollup = _catch_up_rollups(stack, database, registry)
    key = secrets.token_urlsafe(24)
    port = free_port()
    proc = stack.spawn(
        ["-m", "api"],
        stack.env(database, registry, PLANTWATCH_API_PORT=str(port), PLANTWATCH_ADMIN_KEY=key),
        "api",
    )
    base = f"http://127.0.0.1:{port}"
    results: dict[str, Any] = {
        "history": history,
        "rollup": rollup,
        "concurrency": concurrency,
        "endpoints": {},
    }
    try:
        if not wait_http_ok(f"{base}/healthz", 60):
            return {**results, "error": "API did not start: " + stack.log_tail("api")}
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=base, headers=headers, timeout=REQUEST_TIMEOUT_SECONDS) as http:
            # N clients are N officers: each its own key (a key has a few expensive-read
            # slots, api/limits.py; one key shared by 8 clients would measure the limiter).
            client_keys = [
                http.post("/api/v1/keys", json={"name": f"bench-{i}", "role": "officer"})
                .raise_for_status()
                .json()["key"]
                for i in range(concurrency)
            ]
            hours_asked = 0  # by the endpoints with a moving `at` so far
            # The API's start-up work (its first rollup pass, the alert engine's first
            # evaluation) and InfluxDB's compaction of the history are not the endpoints'.
            busy = [proc.pid] + ([stack.influxd.process.pid] if stack.influxd.process else [])
            results["settle_seconds"] = _wait_processes_idle(busy)
            for endpoint in endpoints(end, days):
                _wait_influx_idle(stack.influx_url)
                figures = _bench_endpoint(
                    http,
                    client_keys,
                    endpoint,
                    requests,
                    concurrency,
                    concurrent_requests,
                    max_seconds_per_phase,
                    hours_asked,
                )
                hours_asked += figures.pop("hours_asked", 0)
                results["endpoints"][endpoint.name] = figures
    finally:
        stop_process(proc)
    return results


def _bench_endpoint(
    http: httpx.Client,
    client_keys: list[str],
    endpoint: Endpoint,
    requests: int,
    concurrency: int,
    concurrent_requests: int,
    max_seconds: float,
    first_hour: int = 0,
) -> dict[str, Any]:
    params, status, detail = None, 0, ""
    for candidate in endpoint.params:
        resp = http.get(endpoint.path, params=candidate)  # also warms caches
        status, detail = resp.status_code, resp.text[:200]
        if status == 200:
            params = candidate
            break
        if status == 404:
            break
    if params is None:
        line = f"{'not available' if status == 404 else 'failed'} ({status}: {detail})"
        progress(f"api: {endpoint.name}: {line}")
        return {"path": endpoint.path, "available": False, "status": status, "detail": line}
    progress(f"api: {endpoint.name}: sequential")
    sequential: list[float] = []
    sequential_errors: Counter[str] = Counter()
    started = time.monotonic()
    while len(sequential) + sequential_errors.total() < requests and (
        time.monotonic() - started < max_seconds
    ):
        index = first_hour + len(sequential) + sequential_errors.total() + 1
        t0 = time.monotonic()
        outcome = _status(http.get, endpoint.path, request_params(endpoint, params, index))
        if outcome == 200:
            sequential.append(time.monotonic() - t0)
        else:
            sequential_errors[str(outcome)] += 1
    progress(f"api: {endpoint.name}: {concurrency} concurrent clients")
    asked = len(sequential) + sequential_errors.total()
    concurrent, errors, wall = asyncio.run(
        _concurrent(
            str(http.base_url),
            client_keys,
            endpoint,
            params,
            concurrency,
            concurrent_requests,
            max_seconds,
            first_hour + asked + 1,
        )
    )
    asked += len(concurrent) + errors.total()
    return {
        "path": endpoint.path,
        "params": params,
        "available": True,
        "sequential": {**percentiles_ms(sequential), "errors": dict(sequential_errors)},
        "concurrent": {
            **percentiles_ms(concurrent),
            "requests_per_s": round(len(concurrent) / wall, 2) if wall else None,
            "errors": dict(errors),
        },
        **({"hours_asked": asked + 1} if endpoint.moving_at else {}),
    }


async def _concurrent(
    base: str,
    client_keys: list[str],
    endpoint: Endpoint,
    params: dict[str, str],
    clients: int,
    total: int,
    max_seconds: float,
    requests_before: int,
) -> tuple[list[float], Counter[str], float]:
    """Latencies of successful answers, error counts by status, and the wall time
    (client i asks with key i; a moving `at` keeps moving past the sequential phase's)."""
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    issued = 0
    started = time.monotonic()

    async def client(key: str) -> None:
        nonlocal issued
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(
            base_url=base, headers=headers, timeout=REQUEST_TIMEOUT_SECONDS
        ) as http:
            while issued < total and time.monotonic() - started < max_seconds:
                issued += 1
                asked = request_params(endpoint, params, requests_before + issued)
                t0 = time.monotonic()
                try:
                    outcome: int | str = (await http.get(endpoint.path, params=asked)).status_code
                except httpx.HTTPError as exc:
                    outcome = type(exc).__name__
                if outcome == 200:
                    latencies.append(time.monotonic() - t0)
                else:
                    errors[str(outcome)] += 1

    await asyncio.gather(*(client(client_keys[i % len(client_keys)]) for i in range(clients)))
    return latencies, errors, time.monotonic() - started


def _wait_processes_idle(pids: list[int]) -> float:
    """Wait until `pids` together use under `IDLE_CPU_SHARE` of a core (at most
    `IDLE_WAIT_SECONDS`); returns the seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < IDLE_WAIT_SECONDS:
        before = [cpu_seconds(pid) or 0.0 for pid in pids]
        time.sleep(IDLE_SAMPLE_SECONDS)  # the sample itself, not a wait for an event
        used = sum((cpu_seconds(pid) or 0.0) - b for pid, b in zip(pids, before, strict=True))
        if used < IDLE_CPU_SHARE * IDLE_SAMPLE_SECONDS:
            break
    return round(time.monotonic() - started, 1)


def _wait_influx_idle(url: str) -> None:
    """Let queries the API gave up on finish, so one endpoint's load never spills into the next."""
    deadline = time.monotonic() + IDLE_WAIT_SECONDS
    while time.monotonic() < deadline:
        try:
            resp = httpx.post(f"{url}/query", data={"q": "SHOW QUERIES"}, timeout=10)
            series = resp.json()["results"][0].get("series", [])
            if sum(len(s.get("values", [])) for s in series) <= 1:  # only SHOW QUERIES itself
                return
        except (httpx.HTTPError, ValueError, KeyError, IndexError):
            pass
        time.sleep(0.5)


def _status(get: Any, path: str, params: dict[str, str]) -> int | str:
    """The answer's status code, or the transport error's name."""
    try:
        return int(get(path, params=params).status_code)
    except httpx.HTTPError as exc:
        return type(exc).__name__
