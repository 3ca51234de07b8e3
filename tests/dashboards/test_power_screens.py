"""A leather firm whose RTO is off while its line produces: the line view and the alert, zh and en.

The line's production draws ~80 % of its rating for the last 26 hours; its RTO is switched
off for seven hours last night and again for the last two hours. `python -m api` with its
alert engine serves the page: the plant page must mark the out-of-sync quarter hours, the
overview list the line, and the alerts page carry `treatment_not_running` in both
languages. Screenshots go to `test-artifacts/screenshots/power/` (git-ignored); a reviewed copy
is kept in `test-artifacts/power/`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import Browser

from scripts.devstack import Server, free_port
from tests.builders import MeterSpec, RegistryBuilder
from tests.dashboards.support import wait_ready
from tests.support import ROOT, Process, wait_http

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

SHOTS = ROOT / "test-artifacts" / "screenshots" / "power"
KEY = "power-screens-admin-key"
TOML = (
    RegistryBuilder()
    .plant(
        "sl-003",
        "synthetic_leather",
        [
            MeterSpec("prod-1", "electricity", {"facility": "production", "line": "line-1", "rated_kw": 300.0}),
            MeterSpec("rto-1", "electricity", {"facility": "treatment", "line": "line-1", "rated_kw": 45.0}),
        ],
        name="松阳县信达合成革有限公司",
    )
    .toml()
)  # fmt: skip


def power_lines(now: datetime) -> list[str]:
    """Minute power of the line's two meters for the last 26 hours."""
    rng = np.random.default_rng(3)
    end_s = int(now.timestamp()) // 60 * 60
    times = np.arange(end_s - 26 * 3600, end_s, 60)
    prod = 300 * np.clip(0.8 + 0.05 * rng.standard_normal(times.size), 0.5, 1.0)
    rto = 45 * np.clip(0.85 + 0.04 * rng.standard_normal(times.size), 0.6, 1.0)
    off = ((times >= end_s - 20 * 3600) & (times < end_s - 13 * 3600)) | (times >= end_s - 2 * 3600)
    rto = np.where(off, 45 * 0.06, rto)
    out = []
    for t, p, r in zip(times.tolist(), prod.tolist(), rto.tolist(), strict=True):
        out.append(
            f'electricity,meter=prod-1,plant=sl-003 power_kw={p:.2f},power_kw_flag="N" {t}000'
        )
        out.append(
            f'electricity,meter=rto-1,plant=sl-003 power_kw={r:.2f},power_kw_flag="N" {t}000'
        )
    return out


def test_line_view_and_alert_in_both_languages(
    influxd: Server,
    spawn: Callable[..., Process],
    tmp_path: Path,
    browser: Browser,
) -> None:
    from ingest.kernel.store import InfluxStore

    now = datetime.now(UTC)
    url = f"http://127.0.0.1:{influxd.port}"
    database = f"powershots_{uuid.uuid4().hex[:8]}"
    registry_path = tmp_path / "registry.toml"
    registry_path.write_text(TOML, encoding="utf-8")
    with InfluxStore(url, database) as store:
        store.create_database()
        store.write_lines(power_lines(now))
    port = free_port()
    api = spawn(
        ["api"],
        {
            "PLANTWATCH_INFLUX_URL": url,
            "PLANTWATCH_INFLUX_DB": database,
            "PLANTWATCH_REGISTRY": str(registry_path),
            "PLANTWATCH_API_PORT": str(port),
            "PLANTWATCH_ADMIN_KEY": KEY,
            "PLANTWATCH_MQTT_PORT": str(free_port()),
            "PLANTWATCH_DATABASE_URL": f"sqlite:///{tmp_path / 'api.db'}",
            "PLANTWATCH_ALERT_INTERVAL_SECONDS": "1",
            "PLANTWATCH_ROLLUP_ENABLED": "false",
        },
        "api",
    )
    base = f"http://127.0.0.1:{port}"
    assert wait_http(f"{base}/healthz").status_code == 200, api.log()
    SHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(
        viewport={"width": 1440, "height": 900}, locale="zh-CN", timezone_id="Asia/Shanghai"
    )
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        tab.goto(f"{base}/dashboard/#/plant/sl-003")
        tab.get_by_test_id("key-input").fill(KEY)
        tab.get_by_test_id("key-save").click()
        for lang in ("zh", "en"):
            if lang == "en":
                tab.get_by_test_id("lang-toggle").click()
                tab.wait_for_function("document.documentElement.lang === 'en'")
                wait_ready(tab, "#/overview")
            tab.goto(f"{base}/dashboard/#/plant/sl-003")
            wait_ready(tab, "#/plant/sl-003")
            if lang == "zh":
                tab.locator("[data-range='24h']").click()  # the range stays for the session
                tab.wait_for_selector("[data-range='24h'].active")
                wait_ready(tab, "#/plant/sl-003")
            chart = tab.get_by_test_id("power-chart")
            chart.wait_for()
            assert chart.count() == 1
            # 7 h last night and the last 2 h (its quarter hours that have ended)
            assert int(chart.get_attribute("data-out-of-sync") or 0) >= 34
            tab.locator("#power-card").screenshot(path=str(SHOTS / f"line-view-{lang}.png"))
            tab.goto(f"{base}/dashboard/#/alerts")
            wait_ready(tab, "#/alerts")
            title = (
                "生产时治污设施未运行" if lang == "zh" else "Treatment not running while producing"
            )
            alert = tab.locator("article.alert", has_text=title)
            alert.first.wait_for(timeout=120_000)
            text = alert.first.get_by_test_id("alert-text").inner_text()
            assert ("生产线 line-1" if lang == "zh" else "line line-1") in text, text
            alert.first.screenshot(path=str(SHOTS / f"alert-{lang}.png"))
            tab.goto(f"{base}/dashboard/#/overview")
            wait_ready(tab, "#/overview")
            today = tab.get_by_test_id("lines-today")
            today.locator("tr[data-plant='sl-003']").wait_for(timeout=60_000)
            today.screenshot(path=str(SHOTS / f"overview-lines-{lang}.png"))
    finally:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"
