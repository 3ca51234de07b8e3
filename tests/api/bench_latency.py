"""Latency of the gas-share KPI, its history and one-year usage, with and without rollups.

Not a test (prints figures): `python -m tests.api.bench_latency [--firms 60] [--days 365]`.
Starts a private InfluxDB, writes a synthetic county (15-minute registers) with line
protocol, then times the API in-process before and after the rollup catch-up.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import create_app, rollup_job
from api.fuel.service import FuelCore
from api.settings import ApiSettings
from ingest.kernel.store import InfluxStore
from scripts.devstack import free_port, influxd_server
from tests.builders import RegistryBuilder

STEP = timedelta(minutes=15)
KEY = "bench-key"


def registry(firms: int) -> str:
    builder = RegistryBuilder(county="bench")
    for i in range(firms):
        builder.plant(f"ss-{i:03d}", name=f"松阳不锈钢{i:03d}")
    return builder.toml()


def write_county(store: InfluxStore, firms: int, start: datetime, steps: int) -> int:
    rng = np.random.default_rng(7)
    t_ms = (start.timestamp() * 1000 + np.arange(steps) * STEP.total_seconds() * 1000).astype(
        np.int64
    )
    written = 0
    for i in range(firms):
        load_kgce_h = rng.uniform(200, 2000)
        # A third on gas all year, a third converting during the year, a third on coal.
        switch = {0: 0, 1: int(rng.uniform(0.1, 0.9) * steps)}.get(i % 3, steps)
        gas_frac = np.where(np.arange(steps) >= switch, 0.97, 0.05)
        kgce = load_kgce_h * 0.25 * rng.uniform(0.6, 1.1, steps)
        gas = np.cumsum(kgce * gas_frac / 1.2143)
        coal = np.cumsum(kgce * (1 - gas_frac) / 0.7143)
        plant = f"ss-{i:03d}"
        lines = [
            f"gas,plant={plant},meter=gas-1 volume_m3={v:.3f} {t}"
            for v, t in zip(gas, t_ms, strict=True)
        ]
        lines += [
            f"coal,plant={plant},meter=coal-1 mass_kg={v:.3f} {t}"
            for v, t in zip(coal, t_ms, strict=True)
        ]
        for k in range(0, len(lines), 50_000):
            store.write_lines(lines[k : k + 50_000])
        written += len(lines)
    return written


def timed(fn, repeat: int = 5) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    samples, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples), result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--firms", type=int, default=60)
    parser.add_argument("--days", type=int, default=365)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = influxd_server(Path(tmp) / "influx").start()
        try:
            run(Path(tmp), server.port, args.firms, args.days)
        finally:
            server.stop()


def run(tmp: Path, port: int, firms: int, days: int) -> None:
    reg = tmp / "registry.toml"
    reg.write_text(registry(firms), encoding="utf-8")
    settings = ApiSettings(
        registry=reg,
        influx_url=f"http://127.0.0.1:{port}",
        influx_db="bench",
        admin_key=SecretStr(KEY),
        database_url=f"sqlite:///{tmp}/bench.db",
        rollup_enabled=False,
        mqtt_port=free_port(),
        influx_timeout_seconds=300,
    )
    store = InfluxStore(settings.influx_url, "bench", timeout_seconds=300)
    store.create_database()
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(days=days)
    t = time.perf_counter()
    points = write_county(store, firms, start, int(timedelta(days=days) / STEP))
    print(
        f"wrote {points:,} points ({firms} firms, {days} days, 15 min) in {time.perf_counter() - t:.1f}s"
    )

    client = TestClient(create_app(settings))
    headers = {"Authorization": f"Bearer {KEY}"}
    year = end.astimezone().year
    at = end.isoformat()
    usage = {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "every": "1d",
        "sector": "stainless_steel",
    }
    plant_usage = {k: v for k, v in usage.items() if k != "sector"}

    def get(path: str, params: dict) -> dict:  # type: ignore[type-arg]
        resp = client.get(path, params=params, headers=headers)
        assert resp.status_code == 200, resp.text
        return resp.json()

    county = client.app.state.registry  # type: ignore[attr-defined]
    plants = list(county.plants)
    core = FuelCore.from_settings(settings, store, county)

    def kpi_from_rollups() -> object:
        return core.kpi(plants, end, timedelta(days=30))

    figures: dict[str, float] = {}

    def record(name: str, seconds: float) -> None:
        figures[name] = seconds
        print(f"{name:<50} {seconds * 1000:>10.0f} ms", flush=True)

    history = {"year": year}
    record("KPI 30 d, raw (endpoint)", timed(lambda: get("/api/v1/kpi/gas-share", {"at": at}))[0])
    record("plants with live status", timed(lambda: get("/api/v1/plants", {}))[0])
    record("KPI 30 d via segments, no rollups", timed(kpi_from_rollups)[0])
    record(
        "history (12 months), no rollups",
        timed(lambda: get("/api/v1/kpi/gas-share/history", history), 1)[0],
    )
    record(
        "usage 1 year sector daily, no rollups", timed(lambda: get("/api/v1/usage", usage), 1)[0]
    )
    record(
        "usage 1 year one plant daily, no rollups",
        timed(lambda: get("/api/v1/plants/ss-001/usage", plant_usage), 1)[0],
    )

    t = time.perf_counter()
    rollup_job(settings, store).run_pass()
    record("rollup catch-up (whole history)", time.perf_counter() - t)
    t = time.perf_counter()
    rollup_job(settings, store).run_pass()
    record("rollup incremental pass", time.perf_counter() - t)

    record("KPI 30 d via segments, rollups", timed(kpi_from_rollups)[0])
    record(
        "history (12 months), rollups",
        timed(lambda: get("/api/v1/kpi/gas-share/history", history))[0],
    )
    record("usage 1 year sector daily, rollups", timed(lambda: get("/api/v1/usage", usage))[0])
    record(
        "usage 1 year one plant daily, rollups",
        timed(lambda: get("/api/v1/plants/ss-001/usage", plant_usage))[0],
    )


if __name__ == "__main__":
    main()
