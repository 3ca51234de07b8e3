"""`python -m scripts.hj2025_screens`: a 2025 leather plant's page, its data sent as HJ 212-2025.

sl-018 of the demo county (松阳县远大超纤合成革有限公司: its logger has a 24-hex MN and an
SM4 key in the registry) sends the simulator's own minute data (`simulators.plans.stack_plan`,
seed 2026) for the last `--hours` hours as CN 2051 packets, Flag=9, their CP SM4-encrypted
with its key (CRC and length over the plaintext), through the real gateway
(`python -m ingest hj212-gateway`) -> Mosquitto -> collector -> InfluxDB; the packets older
than the last hour go as back-fill (RF=1), the newest as live data, and its hourly packets
(CN 2061) plain-text-headed but encrypted too. Every packet must be answered (CN 9014, Flag=8).
The VOC rollup runs once, `python -m api` serves the page, and headless Chromium shoots it in
Chinese and English into `test-artifacts/hj2025/`.

Private servers on ports from `--port-base` (default 23400, five ports), data in a temporary
folder; everything is stopped at the end.
"""

from __future__ import annotations

import argparse
import functools
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from playwright.sync_api import sync_playwright

from api.voc.queries import MINUTE_MEASUREMENT
from api.voc.rollup import VocRollup
from bench.stack import Stack, wait_http_ok
from ingest.gateway import protocol
from ingest.kernel import hj212
from ingest.kernel.registry import load_registry
from ingest.kernel.store import InfluxStore
from scripts.devstack import influxd_server, mosquitto_server, port_open
from simulators.calendar import date_of_day
from simulators.packets import NATIONAL_CODES, average_packet, readings_of
from simulators.plans import stack_plan
from simulators.tcp_logger import TcpLoggers, registry_profiles, registry_stacks
from simulators.voc import season_temp_c, voc_block

ROOT = Path(__file__).resolve().parents[1]
REGISTRY = ROOT / "ingest" / "data" / "songyang-demo.toml"
SHOTS = ROOT / "test-artifacts" / "hj2025"
PLANT = "sl-018"
SEED = 2026
TIMEZONE = "Asia/Shanghai"
KEY = "hj2025-screens-admin-key"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]


def plant_registry(path: Path) -> Path:
    """The demo registry's county and sl-018 alone (its logger, key and meters as shipped)."""
    text = REGISTRY.read_text(encoding="utf-8")
    county = text[: text.index("[[plants]]")]
    start = text.index(f'[[plants]]\nid = "{PLANT}"')
    end = text.find("\n[[plants]]", start + 1)
    path.write_text(county + text[start : end if end >= 0 else len(text)] + "\n", "utf-8")
    return path


def packets(hours: int, now: datetime) -> list[tuple[bytes, bool]]:
    """(plaintext CN 2051/2061 packet with Flag=9, back-filled?) for the last `hours` hours."""
    registry = load_registry(REGISTRY)
    plant = registry.plant(PLANT)
    assert plant is not None
    plan = stack_plan(plant, "stack-1", SEED)
    assert plan.hj212_mn is not None
    end_s = int(now.timestamp()) // 3600 * 3600 + int(now.timestamp()) % 3600 // 60 * 60
    times = np.arange(end_s - hours * 3600, end_s, 60, dtype=np.int64)
    day = int(times[0]) // 86_400
    season = season_temp_c(date_of_day(day).timetuple().tm_yday)
    block = voc_block(plan, times, season, np.random.default_rng(SEED))
    readings = readings_of(times.astype(np.float64), block.values, block.flags)
    codes = plan.hj212_codes or NATIONAL_CODES
    flag = protocol.flag_of(hj212.VERSION_2025)
    live_from = end_s - 3600
    out: list[tuple[bytes, bool]] = []
    for reading in readings:
        start = reading.ts.timestamp()
        raw = average_packet(
            plan.hj212_mn, hj212.CN_MINUTE, start, [reading], TIMEZONE, codes, flag
        )
        if raw is not None:
            out.append((raw, start < live_from))
    for hour_start in range(int(times[0]), end_s - 3599, 3600):
        window = [r for r in readings if hour_start <= r.ts.timestamp() < hour_start + 3600]
        raw = average_packet(
            plan.hj212_mn, hj212.CN_HOUR, hour_start, window, TIMEZONE, codes, flag
        )
        if raw is not None:
            out.append((raw, hour_start < live_from))
    return out


def send(port: int, hours: int, now: datetime) -> int:
    """Send sl-018's packets through the gateway; returns how many were answered."""
    registry = load_registry(REGISTRY)
    meter = registry.plant(PLANT).meter("stack-1")  # type: ignore[union-attr]
    assert meter is not None and meter.hj212_mn is not None
    mn = meter.hj212_mn
    stacks = {mn: registry_stacks(registry)[mn]}
    profile = registry_profiles(registry)[mn]  # 2025 and its SM4 key
    assert profile.key is not None, "sl-018's logger should hold an SM4 key"
    loggers = TcpLoggers("127.0.0.1", port, stacks, TIMEZONE, profiles={mn: profile}).start()
    logger = loggers.loggers[mn]
    todo = packets(hours, now)
    try:
        deadline = time.monotonic() + 30
        while not logger.connected.is_set() and time.monotonic() < deadline:
            time.sleep(0.1)
        for raw, backfill in todo:
            labelled = protocol.with_header(raw, RF="1") if backfill else raw
            loggers.call(functools.partial(logger.submit, labelled))
        deadline = time.monotonic() + 300
        while (
            loggers.latencies.answered < len(todo) or loggers.unanswered()
        ) and time.monotonic() < deadline:
            time.sleep(0.2)
        return loggers.latencies.answered
    finally:
        loggers.stop()


def shoot(base: str) -> list[Path]:
    SHOTS.mkdir(parents=True, exist_ok=True)
    shots = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        context = browser.new_context(
            viewport={"width": 1440, "height": 900}, locale="zh-CN", timezone_id=TIMEZONE
        )
        tab = context.new_page()
        tab.goto(f"{base}/dashboard/#/plant/{PLANT}")
        tab.get_by_test_id("key-input").fill(KEY)
        tab.get_by_test_id("key-save").click()
        for lang in ("zh", "en"):
            if lang == "en":
                tab.get_by_test_id("lang-toggle").click()
                tab.wait_for_function("document.documentElement.lang === 'en'")
                tab.goto(f"{base}/dashboard/#/plant/{PLANT}")
                tab.reload()  # drawn afresh in English (the choice is kept)
            tab.wait_for_selector(
                f"body[data-ready='true'][data-route='#/plant/{PLANT}']", timeout=240_000
            )
            path = SHOTS / f"plant-{PLANT}-{lang}.png"
            tab.screenshot(path=str(path), full_page=True)
            shots.append(path)
        context.close()
        browser.close()
    return shots


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.hj2025_screens", description=__doc__)
    parser.add_argument("--hours", type=int, default=12, help="hours of minute data to send")
    parser.add_argument("--port-base", type=int, default=23400)
    args = parser.parse_args(argv)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    influx_port, mqtt_port, rpc_port, gateway_port, api_port = range(
        args.port_base, args.port_base + 5
    )
    with tempfile.TemporaryDirectory(prefix="plantwatch-hj2025-") as tmp:
        workdir = Path(tmp)
        influxd = influxd_server(workdir / "influxd", influx_port, rpc_port=rpc_port)
        mosquitto = mosquitto_server(workdir / "mosquitto", mqtt_port, durable_acks=False)
        influxd.start()
        mosquitto.start()
        stack = Stack(workdir, influxd, mosquitto)
        database = "hj2025"
        try:
            with InfluxStore(stack.influx_url, database) as store:
                store.create_database()
            registry = plant_registry(workdir / "registry.toml")
            env = stack.env(
                database, registry, PLANTWATCH_HJ212_PORT=str(gateway_port),
                PLANTWATCH_HJ212_COMMANDS_ENABLED="false", PLANTWATCH_SHARE_GROUP="",
                PLANTWATCH_API_PORT=str(api_port), PLANTWATCH_ADMIN_KEY=KEY,
                PLANTWATCH_ALERT_ENGINE_ENABLED="false", PLANTWATCH_COLLECTOR_ID="hj2025-shots",
            )  # fmt: skip
            stack.spawn(["-m", "ingest"], env, "collector")
            stack.spawn(["-m", "ingest", "hj212-gateway"], env, "gateway")
            deadline = time.monotonic() + 60
            while not port_open(gateway_port) and time.monotonic() < deadline:
                time.sleep(0.1)
            sent = len(packets(args.hours, now))
            answered = send(gateway_port, args.hours, now)
            print(f"{answered}/{sent} packets answered (CN 9014)", file=sys.stderr)
            with InfluxStore(stack.influx_url, database) as store:
                stored = 0
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline:
                    series = store.query(
                        f"SELECT count(nmhc_mgm3) FROM {MINUTE_MEASUREMENT} WHERE plant = '{PLANT}'"
                    )
                    stored = int(series[0].values[0][1]) if series and series[0].values else 0
                    if stored >= args.hours * 60:
                        break
                    time.sleep(0.5)
                print(f"{stored} minute points of {PLANT} in InfluxDB", file=sys.stderr)
                VocRollup(
                    store, load_registry(REGISTRY), clock=lambda: now, pause_seconds=0
                ).run_pass()
            stack.spawn(["-m", "api"], env, "api")
            base = f"http://127.0.0.1:{api_port}"
            if not wait_http_ok(f"{base}/healthz", 60):
                print(stack.log_tail("api"), file=sys.stderr)
                return 1
            for path in shoot(base):
                print(f"wrote {path.relative_to(ROOT)}", file=sys.stderr)
        finally:
            stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
