"""What an officer sees of a revision and of late-filled hours (SPEC section 14), in Chromium.

A stack's last twelve hours are stored through the record keeper as a collector stores
them: one exceeding hour filled in long after it ended (late-filled), and one exceeding hour
that the plant then resent with clean values over HTTP push (30 revisions, pending). The
plant page must mark the late-filled hour, list the revisions beside their records, and
let the officer accept one. Screenshots go to `test-artifacts/screenshots/record/`; a
reviewed couple is kept in `test-artifacts/record/`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import MappingProxyType

import pytest
from playwright.sync_api import Browser, Page

from ingest.keeper import RecordKeeper
from ingest.kernel.points import reading_lines
from ingest.kernel.schema import Reading, to_epoch_ms
from ingest.kernel.store import InfluxStore
from tests.api.conftest import make_server, make_settings  # fixtures
from tests.api.support import ADMIN
from tests.builders import MeterSpec, RegistryBuilder
from tests.dashboards.support import PAGE_TIMEOUT_MS, READY_TIMEOUT_MS
from tests.support import ROOT, http_post

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

__all__ = ["make_server", "make_settings"]  # fixtures of tests/api used here

SHOTS = ROOT / "test-artifacts" / "screenshots" / "record"
BUILDER = RegistryBuilder().plant(
    "sl-001",
    "synthetic_leather",
    [MeterSpec("stack-1", "voc", {"limits": {"nmhc_mgm3": 50.0}})],
)
PLANT = BUILDER.registry().plant("sl-001")
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)


def hour_lines(start: datetime, nmhc: float, arrived: datetime, source: str) -> list[str]:
    assert PLANT is not None
    readings = [
        Reading(start + k * MINUTE, MappingProxyType({"nmhc_mgm3": nmhc, "flow_m3h": 9000.0}))
        for k in range(60)
    ]
    return reading_lines(PLANT, PLANT.meters[0], readings, None, to_epoch_ms(arrived), source)


def open_plant(browser: Browser, base: str, key: str, lang: str) -> Page:
    context = browser.new_context(
        viewport={"width": 1366, "height": 900}, locale="zh-CN", timezone_id="Asia/Shanghai"
    )
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    page = context.new_page()
    page.add_init_script(f"localStorage.setItem('plantwatch.lang', '{lang}')")
    page.goto(f"{base}/dashboard/#/plant/sl-001")
    page.get_by_test_id("key-dialog").wait_for(state="visible")
    page.get_by_test_id("key-input").fill(key)
    page.get_by_test_id("key-save").click()
    wait_ready(page)
    page.locator("[data-range='24h']").click()  # the last day, hour by hour
    wait_ready(page)
    return page


def wait_ready(page: Page) -> None:
    page.wait_for_selector(
        "body[data-ready='true'][data-route='#/plant/sl-001']", timeout=READY_TIMEOUT_MS
    )


def shoot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0); document.querySelector('#toast').hidden = true")
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_officer_sees_late_filled_hours_and_accepts_a_revision(
    store: InfluxStore, make_server: Callable[..., str], browser: Browser
) -> None:
    now = datetime.now(UTC)
    top = now.replace(minute=0, second=0, microsecond=0)
    keeper = RecordKeeper(store)
    late_hour, forged_hour = top - 6 * HOUR, top - 3 * HOUR
    for h in range(12, 0, -1):
        start = top - h * HOUR
        if start == late_hour:  # dark during an exceedance, filled in clean 5 h later
            keeper.write_lines(hour_lines(start, 20.0, start + 6 * HOUR, "mqtt"))
        else:
            nmhc = 80.0 if start == forged_hour else 30.0 + h
            keeper.write_lines(hour_lines(start, nmhc, start + HOUR + MINUTE, "mqtt"))
    forged = hour_lines(forged_hour, 10.0, now, "http")[:30]
    keeper.write_lines(forged)
    assert keeper.counters.revisions == 30  # nmhc changed; the same flow is a duplicate

    base = make_server(BUILDER.toml(), alert_engine_enabled=False)
    officer = http_post(
        f"{base}/api/v1/keys", json={"name": "officer-zhang", "role": "officer"}, headers=ADMIN
    ).json()["key"]

    page = open_plant(browser, base, officer, "zh")
    late = page.get_by_test_id("late-filled")
    assert late.count() >= 1 and "补传小时: 1" in late.first.inner_text()
    assert page.get_by_test_id("voc-chart").first.get_attribute("data-late") == "1"
    rows = page.locator("[data-testid=revisions] tbody tr")
    assert rows.count() == 30
    assert page.locator("[data-testid=revisions] tbody tr[data-status=pending]").count() == 30
    assert "待审核 30 条" in page.get_by_test_id("revisions-note").inner_text()
    shoot(page, "plant-revisions-zh")
    page.get_by_test_id("accept-revision").first.click()
    page.locator("[data-testid=revisions] tr[data-status=accepted]").wait_for()
    assert "已认可" in page.locator("tr[data-status=accepted]").inner_text()
    shoot(page, "plant-revision-accepted-zh")
    page.context.close()

    page = open_plant(browser, base, officer, "en")
    assert "Late-filled hours: 1" in page.get_by_test_id("late-filled").first.inner_text()
    assert "29 of 30 await review" in page.get_by_test_id("revisions-note").inner_text()
    shoot(page, "plant-revisions-en")
    page.context.close()
