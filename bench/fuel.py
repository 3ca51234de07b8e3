"""(g) Fuel figures: consistency through a late backfill, and KPI growth with the county.

Consistency: a simulated local month of 15-minute registers with faults (resets,
implausible jumps, gaps, a silence over 24 h, jittered times, `bench.fuel_faults`) for
every firm, written at the collector's write edge (`ingest.kernel.dirty.write_readings`), then
`python -m api` (rollups every `PLANTWATCH_ROLLUP_INTERVAL_SECONDS`) is asked over HTTP,
for every firm and day: the KPI's m³/kg (one-day window), the sum of daily usage, the sum
of hourly usage, and the month (the KPI over the month and `FuelCore.months`, what the
history endpoint computes). All must agree with the pure rule over the raw arrays. Then
one plant uploads 3 days late; the time from that write to the API's corrected answer
is the rollup lag. Growth: the 30-day KPI (in-process `FuelCore.kpi`) at 60, 600 and
3,000 firms over 60 days of hourly registers, rolled up, with the growth exponent.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import numpy as np

from api.fuel.rollup import fuel_job
from api.fuel.rules import StepRules, interval_sums
from api.fuel.service import FuelCore
from api.settings import KpiDefinition
from bench.fuel_faults import DAY_MS, Register, faulty_register
from bench.stack import (
    Stack,
    clickhouse_env,
    clickhouse_store,
    progress,
    stop_process,
    wait_http_ok,
)
from bench.stats import percentiles_ms
from bench.workload import county_firms, registry_toml
from ingest.kernel.clickhouse import ClickHouseStore
from ingest.kernel.dirty import write_readings
from ingest.kernel.registry import load_registry
from ingest.kernel.store import InfluxStore
from scripts.devstack import free_port

TZ = ZoneInfo("Asia/Shanghai")
RULES = StepRules({"gas": 20_000.0, "coal": 50_000.0}, timedelta(hours=24))
DECIMALS = 3  # registers carry 3 decimals: m³ to the litre, kg to the gram
LATE_FROM_DAY = 12
LATE_DAYS = 3
ROLLUP_INTERVAL_SECONDS = 60.0
LAG_TIMEOUT_SECONDS = 600.0
GROWTH_DAYS = 60
GROWTH_REPEAT = 10


def to_ms(ts: datetime) -> int:
    return int(ts.timestamp() * 1000)


def last_month(now: datetime) -> tuple[datetime, datetime]:
    """The last complete local calendar month before `now`, as UTC instants."""
    local = now.astimezone(TZ)
    end = datetime(local.year, local.month, 1, tzinfo=TZ)
    prev = end - timedelta(days=1)
    start = datetime(prev.year, prev.month, 1, tzinfo=TZ)
    return start.astimezone(UTC), end.astimezone(UTC)


def reference(
    registers: list[Register], start: datetime, end: datetime
) -> dict[tuple[str, str], float]:
    """(plant, kind) -> consumption over [start, end) by the pure rule."""
    return {
        (r.plant, r.kind): interval_sums(
            r.ts_ms, r.values, to_ms(start), to_ms(end), RULES.max_per_hour[r.kind], DAY_MS
        ).consumption
        for r in registers
    }


def consistency(
    stack: Stack, workdir: Path, firms_count: int, clickhouse_url: str | None = None
) -> dict[str, Any]:
    """Run on the stack's InfluxDB, or on the ClickHouse server at `clickhouse_url` (the
    readings written, rolled up and read there: `PLANTWATCH_STORE=clickhouse`)."""
    database = "bench_fuel_consistency"

    def store() -> InfluxStore | ClickHouseStore:
        if clickhouse_url is not None:
            return clickhouse_store(clickhouse_url, database)
        return InfluxStore(stack.influx_url, database, timeout_seconds=120.0)

    firms = county_firms(firms_count)
    registry_path = workdir / "fuel-registry.toml"
    registry_path.write_text(registry_toml(firms), encoding="utf-8")
    month_start, month_end = last_month(datetime.now(UTC))
    days = round((month_end - month_start) / timedelta(days=1))
    data_start = month_start - timedelta(days=2)
    rng = np.random.default_rng(2026)
    late_plant = firms[len(firms) // 2].plant
    registers = []
    for firm in firms:
        late = LATE_FROM_DAY + 2 if firm.plant == late_plant else None
        for kind, factor in (("gas", 1.2143), ("coal", 0.7143)):
            share = firm.gas_fraction if kind == "gas" else 1 - firm.gas_fraction
            rate = max(1.0, firm.load_kgce_per_hour * share / factor)
            registers.append(
                faulty_register(
                    rng,
                    kind,
                    firm.plant,
                    to_ms(data_start),
                    days + 3,
                    rate,
                    late_from_day=late,
                    late_days=LATE_DAYS,
                )
            )
    progress(f"fuel: writing {firms_count} firms x {days + 3} days of faulty registers")
    with store() as db:
        db.create_database()
        for r in registers:
            write_readings(db, r.lines(~r.late))
    key = secrets.token_urlsafe(24)
    port = free_port()
    env = stack.env(
        database,
        registry_path,
        PLANTWATCH_API_PORT=str(port),
        PLANTWATCH_ADMIN_KEY=key,
        PLANTWATCH_ROLLUP_INTERVAL_SECONDS=str(ROLLUP_INTERVAL_SECONDS),
        PLANTWATCH_ALERT_ENGINE_ENABLED="false",
        # The first pass catches up the whole month in one go; a loaded machine needs time.
        PLANTWATCH_INFLUX_TIMEOUT_SECONDS="300",
        **(clickhouse_env(clickhouse_url, database) if clickhouse_url is not None else {}),
    )
    proc = stack.spawn(["-m", "api"], env, "api-fuel")
    base = f"http://127.0.0.1:{port}"
    out: dict[str, Any] = {
        "engine": "clickhouse" if clickhouse_url is not None else "influxdb",
        "firms": firms_count,
        "month": month_start.astimezone(TZ).strftime("%Y-%m"),
        "rollup_interval_s": ROLLUP_INTERVAL_SECONDS,
        "late_plant": late_plant,
    }
    try:
        if not wait_http_ok(f"{base}/healthz", 60):
            return {**out, "error": "API did not start: " + stack.log_tail("api-fuel")}
        with httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=120
        ) as http:
            progress("fuel: waiting for the API's first rollup pass to catch up")
            t0 = time.monotonic()
            _wait_rolled(http, month_end)
            out["first_catch_up_s"] = round(time.monotonic() - t0, 1)
            on_time = [
                Register(
                    r.kind, r.plant, r.meter, r.ts_ms[~r.late], r.values[~r.late], r.late[~r.late]
                )
                for r in registers
            ]
            out["before_backfill"] = _compare(
                http, store, registry_path, on_time, month_start, month_end, days
            )
            progress(f"fuel: {late_plant} uploads {LATE_DAYS} days late")
            late_start = month_start + timedelta(days=LATE_FROM_DAY)
            want = reference(registers, late_start, late_start + timedelta(days=LATE_DAYS))
            with store() as db:
                for r in registers:
                    if r.late.any():
                        write_readings(db, r.lines(r.late))
            arrived = time.monotonic()
            lag = _wait_corrected(http, late_plant, late_start, want)
            out["rollup_lag_s"] = None if lag is None else round(lag - arrived, 1)
            if lag is None:  # never corrected: what the API said meanwhile
                out["api_log_tail"] = stack.log_tail("api-fuel", 40)
            out["after_backfill"] = _compare(
                http, store, registry_path, registers, month_start, month_end, days
            )
    finally:
        stop_process(proc)
    return out


def _wait_rolled(http: httpx.Client, month_end: datetime) -> None:
    """Until the first rollup pass has caught up (daily rollups answer the month)."""
    deadline = time.monotonic() + LAG_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        resp = http.get(
            "/api/v1/kpi/gas-share", params={"at": month_end.isoformat(), "window_days": 7}
        )
        if resp.status_code == 200 and any(
            s["source"] == "daily" for s in resp.json().get("sources", [])
        ):
            return
        time.sleep(1.0)


def _usage_sum(
    http: httpx.Client, plant: str, start: datetime, end: datetime, every: str
) -> tuple[float, float]:
    resp = http.get(
        f"/api/v1/plants/{plant}/usage",
        params={"start": start.isoformat(), "end": end.isoformat(), "every": every},
    )
    resp.raise_for_status()
    rows = resp.json()["intervals"]
    return sum(r["gas_m3"] for r in rows), sum(r["coal_kg"] for r in rows)


def _wait_corrected(
    http: httpx.Client, plant: str, start: datetime, want: dict[tuple[str, str], float]
) -> float | None:
    """When daily usage of the late days first equals the pure rule's figures (monotonic time)."""
    deadline = time.monotonic() + LAG_TIMEOUT_SECONDS
    end = start + timedelta(days=LATE_DAYS)
    while time.monotonic() < deadline:
        gas, coal = _usage_sum(http, plant, start, end, "1d")
        if round(gas, DECIMALS) == round(want[(plant, "gas")], DECIMALS) and round(
            coal, DECIMALS
        ) == round(want[(plant, "coal")], DECIMALS):
            return time.monotonic()
        time.sleep(0.5)
    return None


def _compare(
    http: httpx.Client,
    store: Callable[[], InfluxStore | ClickHouseStore],
    registry_path: Path,
    registers: list[Register],
    month_start: datetime,
    month_end: datetime,
    days: int,
) -> dict[str, Any]:
    """Every firm and day: KPI, sum of daily, sum of hourly, the month; against the pure rule."""
    progress("fuel: comparing KPI, daily, hourly and monthly figures for every firm and day")
    plants = sorted({r.plant for r in registers})
    checks, mismatches, max_diff = 0, [], 0.0

    def check(what: str, plant: str, kind: str, got: float, want: float) -> None:
        nonlocal checks, max_diff
        checks += 1
        max_diff = max(max_diff, abs(got - want))
        if round(got, DECIMALS) != round(want, DECIMALS):
            mismatches.append(
                {"what": what, "plant": plant, "kind": kind, "got": got, "want": want}
            )

    timings: list[float] = []
    for day in range(days):
        start = month_start + timedelta(days=day)
        end = start + timedelta(days=1)
        want = reference(registers, start, end)
        t0 = time.monotonic()
        resp = http.get("/api/v1/kpi/gas-share", params={"at": end.isoformat(), "window_days": 1})
        timings.append(time.monotonic() - t0)
        resp.raise_for_status()
        for row in resp.json()["rows"]:
            check("kpi_day", row["plant"], "gas", row["gas_m3"], want[(row["plant"], "gas")])
            check("kpi_day", row["plant"], "coal", row["coal_kg"], want[(row["plant"], "coal")])
    month_want = reference(registers, month_start, month_end)
    window_days = (month_end - month_start) / timedelta(days=1)
    resp = http.get(
        "/api/v1/kpi/gas-share", params={"at": month_end.isoformat(), "window_days": window_days}
    )
    resp.raise_for_status()
    kpi_month = resp.json()
    for row in kpi_month["rows"]:
        check("kpi_month", row["plant"], "gas", row["gas_m3"], month_want[(row["plant"], "gas")])
        check("kpi_month", row["plant"], "coal", row["coal_kg"], month_want[(row["plant"], "coal")])
    for plant in plants:
        for every in ("1d", "1h"):
            gas, coal = _usage_sum(http, plant, month_start, month_end, every)
            check(f"usage_{every}", plant, "gas", gas, month_want[(plant, "gas")])
            check(f"usage_{every}", plant, "coal", coal, month_want[(plant, "coal")])
    # The month as the history endpoint computes it (FuelCore.months), and its counts over HTTP.
    registry = load_registry(registry_path)
    with store() as db:
        core = FuelCore(db, "Asia/Shanghai", RULES, KpiDefinition(), registry.gas_share_goal)
        months = core.months(registry.plants, month_start.astimezone(TZ).year, month_end)
    month_label = month_start.astimezone(TZ).strftime("%Y-%m")
    (month,) = [m for m in months if m.month == month_label]
    for row in month.kpi.rows:
        check("history_month", row.plant, "gas", row.gas_m3, month_want[(row.plant, "gas")])
        check("history_month", row.plant, "coal", row.coal_kg, month_want[(row.plant, "coal")])
    history = http.get(
        "/api/v1/kpi/gas-share/history", params={"year": month_start.astimezone(TZ).year}
    ).json()
    (hist_month,) = [m for m in history["months"] if m["month"] == month_label]
    return {
        "checks": checks,
        "mismatches_at_3_decimals": len(mismatches),
        "first_mismatches": mismatches[:5],
        "max_abs_difference": max_diff,
        "history_counts_equal_kpi_month": hist_month["counts"] == kpi_month["counts"],
        "history_counts": hist_month["counts"],
        "kpi_one_day": percentiles_ms(timings),
    }


def fill_growth(store: InfluxStore, n: int, end: datetime) -> tuple[float, float]:
    """Write `n` firms x `GROWTH_DAYS` of hourly registers ending before `end` into `store`
    and roll them up; returns (write seconds, rollup seconds)."""
    firms = county_firms(n)
    hours = GROWTH_DAYS * 24
    t_ms = to_ms(end - timedelta(days=GROWTH_DAYS)) + np.arange(hours, dtype=np.int64) * 3_600_000
    rng = np.random.default_rng(n)
    progress(f"fuel growth: writing {n} firms x {GROWTH_DAYS} days of hourly registers")
    t0 = time.monotonic()
    store.create_database()
    batch: list[str] = []
    for firm in firms:
        kgce = firm.load_kgce_per_hour * rng.uniform(0.6, 1.1, hours)
        for kind, field, value in (
            ("gas", "volume_m3", np.cumsum(kgce * firm.gas_fraction / 1.2143)),
            ("coal", "mass_kg", np.cumsum(kgce * (1 - firm.gas_fraction) / 0.7143)),
        ):
            batch += [
                f"{kind},meter={kind}-1,plant={firm.plant} {field}={v:.3f} {t}"
                for v, t in zip(value, t_ms, strict=True)
            ]
        if len(batch) >= 50_000:
            store.write_lines(batch)
            batch = []
    store.write_lines(batch)
    written = time.monotonic() - t0
    progress(f"fuel growth: {n} firms written in {written:.0f}s; rolling up")
    t0 = time.monotonic()
    fuel_job(store, KpiDefinition(), RULES, "Asia/Shanghai", chunk=timedelta(days=7)).run_pass()
    return written, time.monotonic() - t0


def growth_kpi(store: InfluxStore, registry_path: Path, repeat: int = GROWTH_REPEAT) -> list[float]:
    """Seconds of `repeat` 30-day KPIs of the county, after one to warm the cache."""
    core = FuelCore(store, "Asia/Shanghai", RULES, KpiDefinition(), 0.5)
    plants = load_registry(registry_path).by_sector("stainless_steel")
    core.kpi(plants, datetime.now(UTC), timedelta(days=30))  # warm
    samples = []
    for _ in range(repeat):
        t1 = time.monotonic()
        core.kpi(plants, datetime.now(UTC), timedelta(days=30))
        samples.append(time.monotonic() - t1)
    return samples


def growth(stack: Stack, workdir: Path, counts: tuple[int, ...]) -> dict[str, Any]:
    """The 30-day KPI at each county size over 60 days of hourly registers, rolled up."""
    out: dict[str, Any] = {"days": GROWTH_DAYS, "step": "1h", "sizes": {}}
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    for n in counts:
        registry_path = workdir / f"growth-{n}.toml"
        registry_path.write_text(registry_toml(county_firms(n)), encoding="utf-8")
        with InfluxStore(
            stack.influx_url, f"bench_fuel_growth_{n}", timeout_seconds=600.0
        ) as store:
            written, rolled = fill_growth(store, n, end)
            samples = growth_kpi(store, registry_path)
        out["sizes"][str(n)] = {
            "write_s": round(written, 1),
            "rollup_catch_up_s": round(rolled, 1),
            "kpi_30d": percentiles_ms(samples),
        }
        progress(
            f"fuel growth: {n} firms: KPI p50 {out['sizes'][str(n)]['kpi_30d'].get('p50_ms')} ms"
        )
    xs = [math.log(int(n)) for n in out["sizes"]]
    ys = [math.log(v["kpi_30d"]["p50_ms"]) for v in out["sizes"].values()]
    if len(xs) >= 2:
        out["exponent_p50"] = round(float(np.polyfit(xs, ys, 1)[0]), 2)
    return out
