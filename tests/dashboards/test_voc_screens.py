"""A leather plant's VOC page in headless Chromium, shot in Chinese and English.

The stack is the simulator's own sl-001-like stack (`simulators.plans.stack_plan`), sending a
real-time reading every minute since the start of the local month (what `make run`'s backfill
sends), with one injected three-hour DMF exceedance two days ago; the real VOC rollup job
rolls it up and `python -m api` serves the page. The page must show the exceedance hours,
the month's emission and capture rate, and the overview the valid-hour share; the
screenshots go to `test-artifacts/screenshots/voc/`; a reviewed copy of them is kept in
`test-artifacts/voc/` (the issue's closing evidence).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from playwright.sync_api import Browser

from api.voc.rollup import voc_job
from ingest.kernel.points import reading_lines
from ingest.kernel.registry import Plant, load_registry
from ingest.kernel.schema import Reading
from ingest.kernel.store import InfluxStore
from scripts.devstack import Server, free_port
from simulators.calendar import date_of_day, day_start_s, local_day
from simulators.plans import stack_plan
from simulators.voc import season_temp_c, voc_block
from tests.builders import MeterSpec, RegistryBuilder
from tests.dashboards.support import today_voc, wait_ready
from tests.support import ROOT, Process, http_get, wait_http

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

# Regenerated on every run (git-ignored); a reviewed copy is kept in test-artifacts/voc/.
SHOTS = ROOT / "test-artifacts" / "screenshots" / "voc"
KEY = "voc-screens-admin-key"
SEED = 2026
MINUTE_S = 60
ZONE = ZoneInfo("Asia/Shanghai")
TOML = (
    RegistryBuilder()
    .plant(
        "sl-001",
        "synthetic_leather",
        [MeterSpec("stack-1", "voc", {"hj212_mn": "33112400SL001STACK000001"})],
        name="松阳县华宇合成革有限公司",
    )
    .toml()
)


def month_of_minutes(plant: Plant, now: datetime) -> Iterator[Reading]:
    """Minute readings of the plant's stack from local month start (or 8 days back) to now."""
    plan = stack_plan(plant, "stack-1", SEED)
    now_s = int(now.timestamp()) // MINUTE_S * MINUTE_S
    today = int(local_day(now_s))
    local_now = now.astimezone(ZONE)
    first_day = min(today - (local_now.day - 1), today - 8)
    # DMF at ~1.6x its limit for three whole hours two days ago, from 10:00 local.
    exceed_from = day_start_s(today - 2) + 10 * 3600
    limit = plan.limits_mgm3["dmf_mgm3"]
    rng = np.random.default_rng(SEED)
    for day in range(first_day, today + 1):
        start = day_start_s(day)
        times = np.arange(start, min(start + 86_400, now_s), MINUTE_S, dtype=np.int64)
        if not times.size:
            continue
        season = season_temp_c(date_of_day(day).timetuple().tm_yday)
        block = voc_block(plan, times, season, rng)
        inside = (times >= exceed_from) & (times < exceed_from + 3 * 3600)
        for i, t in enumerate(times):
            values = {k: float(v[i]) for k, v in block.values.items()}
            flags = {k: str(f[i]) for k, f in block.flags.items()}
            if inside[i]:
                values["dmf_mgm3"] = round(limit * rng.uniform(1.5, 1.7), 3)
                flags = dict.fromkeys(flags, "N")
            yield Reading(
                datetime.fromtimestamp(int(t), UTC),
                MappingProxyType(values),
                MappingProxyType(flags),
            )


def test_a_leather_plants_voc_page_in_both_languages(
    influxd: Server,
    spawn: Callable[..., Process],
    tmp_path: Path,
    browser: Browser,
) -> None:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    url = f"http://127.0.0.1:{influxd.port}"
    database = f"vocshots_{uuid.uuid4().hex[:8]}"
    registry_path = tmp_path / "registry.toml"
    registry_path.write_text(TOML, encoding="utf-8")
    reg = load_registry(registry_path)
    (sl,) = reg.plants
    (stack,) = sl.meters_of("voc")
    with InfluxStore(url, database, timeout_seconds=300) as store:
        store.create_database()
        batch: list[str] = []
        for reading in month_of_minutes(sl, now):
            batch += reading_lines(sl, stack, [reading])
            if len(batch) >= 20_000:
                store.write_lines(batch)
                batch = []
        store.write_lines(batch)
        voc_job(store, reg, clock=lambda: now, pause_seconds=0).run_pass()
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
            "PLANTWATCH_ALERT_ENGINE_ENABLED": "false",
            "PLANTWATCH_INFLUX_TIMEOUT_SECONDS": "120",
        },
        "api",
    )
    base = f"http://127.0.0.1:{port}"
    assert wait_http(f"{base}/healthz").status_code == 200, api.log()

    def api_get(path: str, **params: str) -> object:
        resp = http_get(
            f"{base}{path}", params=params, headers={"Authorization": f"Bearer {KEY}"}, timeout=60
        )
        assert resp.status_code == 200, resp.text + api.log()
        return resp.json()

    SHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(
        viewport={"width": 1440, "height": 900}, locale="zh-CN", timezone_id="Asia/Shanghai"
    )
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        tab.goto(f"{base}/dashboard/#/plant/sl-001")
        tab.get_by_test_id("key-input").fill(KEY)
        tab.get_by_test_id("key-save").click()
        for lang in ("zh", "en"):
            if lang == "en":
                tab.get_by_test_id("lang-toggle").click()
                tab.wait_for_function("document.documentElement.lang === 'en'")
                wait_ready(tab, "#/overview")  # the overview drawn again in English
                tab.goto(f"{base}/dashboard/#/plant/sl-001")
            wait_ready(tab, "#/plant/sl-001")
            exceeding = tab.locator(".voc-item.has-exceed")
            assert exceeding.count() >= 1, tab.locator("#voc-charts").inner_text()
            dmf = exceeding.filter(has_text="DMF")
            assert dmf.count() == 1 and re.search(r": [3-9]\b", dmf.inner_text()), dmf.inner_text()
            month = tab.get_by_test_id("voc-month")
            month.locator("[data-testid=county-emission]").first.wait_for()
            emitted = month.locator("[data-testid=county-emission]").first.inner_text()
            assert float(emitted.replace(",", "")) > 0
            assert "%" in month.inner_text()  # the capture rates
            tab.screenshot(path=str(SHOTS / f"plant-sl-001-{lang}.png"), full_page=True)
            _, before = today_voc(api_get, reg)
            tab.goto(f"{base}/dashboard/#/overview")
            wait_ready(tab, "#/overview")
            card = tab.get_by_test_id("voc-summary")
            shown = card.get_by_test_id("voc-valid-rate").get_attribute("data-rate")
            # The API's own valid share of today's ended hours (None from local midnight to
            # 01:00, when the page says "–" rather than 0 %): the seeded plan's invalid hours
            # weigh differently at each hour of the day, so no fixed floor holds (a run at
            # 08:4x local read 37.5 %, against a floor of 50 %). Read before and after the
            # page: an hour may end in between.
            _, after = today_voc(api_get, reg)
            got = float(shown) if shown else None
            assert got in (pytest.approx(before), pytest.approx(after)), card.inner_text()
            card.screenshot(path=str(SHOTS / f"overview-voc-{lang}.png"))
    finally:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"
