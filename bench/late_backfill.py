"""Screenshots of the dashboard before and after a plant backfills 3 late days.

`python -m bench.late_backfill` starts private InfluxDB and Mosquitto, the collector
(`python -m ingest`) and the API (`python -m api`, rollups every few seconds), publishes a
month of 15-minute gas and coal registers for a few firms through MQTT (one firm's last
3 days missing, as after a logger outage), waits until the rollups answer, and takes
screenshots of the overview and of the late firm's plant page in headless Chromium. Then
the late firm's logger uploads the 3 days (one batch message per meter, through the
collector), the script polls the API until the late days' usage equals the uploaded
registers (the rollup re-rolled the hours the late readings marked) and the KPI row has
changed, and takes the same screenshots again. No fixed sleeps: every wait polls a
condition with a deadline.

The KPI window is 7 days here (`PLANTWATCH_KPI`), so 3 silent days (43 % of the window,
over the 20 % allowed) make the firm `unknown` before the upload; with the default 30
days they are 10 % and only its m³/kg and freshness change. PNGs go to
`test-artifacts/late-backfill/`, with `figures.json` (the API's figures before and after).
Needs the dev extras (`make venv`: Playwright) and /usr/bin/chromium.
"""

from __future__ import annotations

import argparse
import json
import secrets
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from playwright.sync_api import Page, ViewportSize, sync_playwright

from bench.mqtt import publish_all
from bench.stack import ROOT, Stack, progress, start_stack, stop_process, wait_http_ok
from bench.workload import county_firms, readings_topic, registry_toml
from ingest.kernel.schema import Reading, encode_readings
from scripts.devstack import free_port

OUT_DIR = ROOT / "test-artifacts" / "late-backfill"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
VIEWPORT: ViewportSize = {"width": 1440, "height": 900}
FIRMS = 6
DAYS = 30
LATE_DAYS = 3
STEP = timedelta(minutes=15)
KPI_WINDOW_DAYS = 7
ROLLUP_INTERVAL_SECONDS = 5.0
WAIT_SECONDS = 300.0
READY_TIMEOUT_MS = 240_000
REGISTERS = {"gas": ("gas-1", "volume_m3", 1.2143), "coal": ("coal-1", "mass_kg", 0.7143)}


def registers(now: datetime) -> dict[tuple[str, str], tuple[list[datetime], np.ndarray]]:
    """(plant, kind) -> reading times and cumulative values over the last `DAYS` days."""
    first = (now - timedelta(days=DAYS)).replace(minute=0, second=0, microsecond=0)
    times = [first + i * STEP for i in range(int((now - first) / STEP))]
    rng = np.random.default_rng(2026)
    out = {}
    hours = STEP / timedelta(hours=1)
    for firm in county_firms(FIRMS):
        load = firm.load_kgce_per_hour * hours * rng.uniform(0.6, 1.2, len(times))
        for kind, (_, _, kgce) in REGISTERS.items():
            share = firm.gas_fraction if kind == "gas" else 1 - firm.gas_fraction
            out[(firm.plant, kind)] = (times, np.round(1000.0 + np.cumsum(load * share / kgce), 3))
    return out


def messages(
    regs: dict[tuple[str, str], tuple[list[datetime], np.ndarray]],
    keep: Callable[[str, datetime], bool],
) -> list[tuple[str, bytes]]:
    """One batch message per meter with the readings `keep(plant, ts)` selects."""
    out = []
    for (plant, kind), (times, values) in regs.items():
        meter, field, _ = REGISTERS[kind]
        batch = [
            Reading(ts, {field: float(v)})
            for ts, v in zip(times, values, strict=True)
            if keep(plant, ts)
        ]
        if batch:
            out.append((readings_topic(plant, meter), encode_readings(batch)))
    return out


def used(times: list[datetime], values: np.ndarray, start: datetime, end: datetime) -> float:
    """The register's steps whose later reading lies in [start, end) (no faults in this data)."""
    inside = [i for i, t in enumerate(times) if start <= t < end and i > 0]
    return float(sum(values[i] - values[i - 1] for i in inside))


def wait_for(what: str, check: Callable[[], Any], seconds: float = WAIT_SECONDS) -> Any:
    """Poll `check` until it returns something truthy; fail after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.5)
    raise RuntimeError(f"timed out waiting for {what}")


def shoot(page: Page, base: str, route: str, path: Path) -> None:
    """Open `route` afresh and screenshot it once every panel has drawn (`body[data-ready]`)."""
    page.goto(f"{base}/dashboard/?shot={time.monotonic_ns()}{route}")
    page.wait_for_selector(
        f"body[data-ready='true'][data-route='{route}']", timeout=READY_TIMEOUT_MS
    )
    page.screenshot(path=str(path), full_page=True)
    progress(f"late backfill: screenshot {path}")


def run(stack: Stack, out_dir: Path) -> dict[str, Any]:
    now = datetime.now(UTC)
    regs = registers(now)
    late_plant = county_firms(FIRMS)[0].plant  # a firm on gas: `unknown` while silent
    late_from = now - timedelta(days=LATE_DAYS)
    registry = stack.workdir / "registry.toml"
    registry.write_text(registry_toml(county_firms(FIRMS)), encoding="utf-8")
    database, key, port, cid = "late_backfill", secrets.token_urlsafe(24), free_port(), "shot-1"
    env = stack.env(database, registry)
    collector = stack.spawn(["-m", "ingest"], {**env, "PLANTWATCH_COLLECTOR_ID": cid}, cid)
    api = stack.spawn(
        ["-m", "api"],
        {
            **env,
            "PLANTWATCH_API_PORT": str(port),
            "PLANTWATCH_ADMIN_KEY": key,
            "PLANTWATCH_ROLLUP_INTERVAL_SECONDS": str(ROLLUP_INTERVAL_SECONDS),
            "PLANTWATCH_KPI": json.dumps({"window_days": KPI_WINDOW_DAYS}),
            "PLANTWATCH_INFLUX_TIMEOUT_SECONDS": "120",
        },
        "api",
    )
    base = f"http://127.0.0.1:{port}"
    try:
        if not stack.wait_subscribed([cid]):
            raise RuntimeError("collector did not subscribe: " + stack.log_tail(cid))
        if not wait_http_ok(f"{base}/healthz", 60):
            raise RuntimeError("API did not start: " + stack.log_tail("api"))
        http = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=120)
        late_start = late_from.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        want = {
            kind: used(*regs[(late_plant, kind)], late_start, late_start + timedelta(days=2))
            for kind in REGISTERS
        }

        def late_usage() -> dict[str, float]:
            resp = http.get(
                f"/api/v1/plants/{late_plant}/usage",
                params={
                    "start": late_start.isoformat(),
                    "end": (late_start + timedelta(days=2)).isoformat(),
                    "every": "1h",
                },
            )
            resp.raise_for_status()
            rows = resp.json()["intervals"]
            return {"gas": sum(r["gas_m3"] for r in rows), "coal": sum(r["coal_kg"] for r in rows)}

        def kpi_row() -> dict[str, Any]:
            doc = http.get("/api/v1/kpi/gas-share").raise_for_status().json()
            (row,) = [r for r in doc["rows"] if r["plant"] == late_plant]
            return {"counts": doc["counts"], "share": doc["share"], "row": row}

        progress(f"late backfill: publishing {DAYS} days of {FIRMS} firms, {late_plant} short")
        publish_all(stack.mqtt_port, messages(regs, lambda p, t: p != late_plant or t < late_from))

        def rolled_up() -> bool:
            """The KPI answers from the rollups and every on-time firm is judged."""
            doc = http.get("/api/v1/kpi/gas-share").raise_for_status().json()
            return any(s["source"] in ("daily", "hourly") for s in doc["sources"]) and all(
                r["status"] != "unknown" for r in doc["rows"] if r["plant"] != late_plant
            )

        wait_for("the first rollup pass", rolled_up)
        before = kpi_row()
        before["late_days_usage"] = late_usage()
        out_dir.mkdir(parents=True, exist_ok=True)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
            )
            context = browser.new_context(
                viewport=VIEWPORT, locale="zh-CN", timezone_id="Asia/Shanghai"
            )
            page = context.new_page()
            page.goto(f"{base}/dashboard/#/overview")
            page.get_by_test_id("key-dialog").wait_for(state="visible")
            page.get_by_test_id("key-input").fill(key)
            page.get_by_test_id("key-save").click()
            shoot(page, base, "#/overview", out_dir / "before-overview.png")
            shoot(page, base, f"#/plant/{late_plant}", out_dir / f"before-plant-{late_plant}.png")

            progress(f"late backfill: {late_plant} uploads its last {LATE_DAYS} days")
            publish_all(
                stack.mqtt_port, messages(regs, lambda p, t: p == late_plant and t >= late_from)
            )
            arrived = time.monotonic()
            wait_for(
                "the late days re-rolled",
                lambda: all(abs(v - want[k]) < 1e-3 for k, v in late_usage().items()),
            )
            lag = time.monotonic() - arrived
            after = wait_for(
                "the KPI row to change",
                lambda: (row := kpi_row())["row"] != before["row"] and row,
            )
            after["late_days_usage"] = late_usage()
            shoot(page, base, "#/overview", out_dir / "after-overview.png")
            shoot(page, base, f"#/plant/{late_plant}", out_dir / f"after-plant-{late_plant}.png")
            browser.close()
        figures = {
            "late_plant": late_plant,
            "kpi_window_days": KPI_WINDOW_DAYS,
            "late_days_usage_want": want,
            "upload_to_corrected_s": round(lag, 1),
            "rollup_interval_s": ROLLUP_INTERVAL_SECONDS,
            "before": before,
            "after": after,
        }
        (out_dir / "figures.json").write_text(json.dumps(figures, indent=2, default=str) + "\n")
        return figures
    finally:
        stop_process(api)
        stop_process(collector)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.late_backfill", description=__doc__)
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="where the PNGs go")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="plantwatch-late-") as tmp:
        stack = start_stack(Path(tmp))
        try:
            figures = run(stack, args.out)
        finally:
            stack.stop()
    before, after = figures["before"]["row"], figures["after"]["row"]
    print(f"{figures['late_plant']}: status {before['status']} -> {after['status']}")
    print(f"  gas m3 {before['gas_m3']:.3f} -> {after['gas_m3']:.3f}")
    print(f"  counts {figures['before']['counts']} -> {figures['after']['counts']}")
    print(f"  upload to corrected answer: {figures['upload_to_corrected_s']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
