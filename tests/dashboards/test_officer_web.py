"""What an officer sees each morning, in headless Chromium, in Chinese and English.

Against `python -m api` on the county's InfluxDB (topped up with a fresh reading per meter,
so the county is "live"), with the alert engine off so the alerts are the test's own.
Every page is shot at 1440×900, 1366×768 and 390×844 into `test-artifacts/screenshots/`
(`officer-<page>-<lang>-<w>x<h>.png`), and at each size nothing may stick out sideways.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Route

from api.alerts.model import AlertKey, Condition
from ingest.kernel.registry import parse_registry
from ingest.kernel.store import InfluxStore, encode_point
from ingest.metrics import STATS_MEASUREMENT
from tests.builders import RegistryBuilder, register_lines
from tests.dashboards import web_samples
from tests.dashboards.support import (
    ADMIN_KEY,
    GAS_RGB,
    SIZES,
    VOC_RGB,
    Officer,
    painted_pixels,
    raise_alerts,
    start_api,
    today_voc,
    visit,
)
from tests.dashboards.support import OFFICER_PAGE_TIMEOUT_MS as PAGE_TIMEOUT_MS
from tests.support import ROOT, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
COAL_RGB = (90, 90, 90)  # charts.js COLORS.coal
LABELS = {
    "zh": {"loading": "数据仍在加载", "through": "数据截至", "export": "导出 CSV"},
    "en": {"loading": "Data still loading", "through": "Data through", "export": "Export CSV"},
}


@pytest.fixture
def tab(browser: Browser) -> Iterator[Callable[[str], Page]]:
    """A new signed-in tab in `lang`, failing the test on any JavaScript error."""
    contexts = []
    errors: list[str] = []

    def open_tab(lang: str) -> Page:
        context = browser.new_context(
            viewport={"width": 1440, "height": 900},
            locale="zh-CN" if lang == "zh" else "en-GB",
            timezone_id="Asia/Shanghai",
            accept_downloads=True,
        )
        context.set_default_timeout(PAGE_TIMEOUT_MS)
        # The key as the dialog stores it, and the language as the toggle stores it.
        context.add_init_script(
            f"for (const s of [localStorage, sessionStorage]) s.setItem('plantwatch.apiKey', "
            f"{json.dumps(ADMIN_KEY)}); localStorage.setItem('plantwatch.lang', '{lang}');"
        )
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        return page

    yield open_tab
    for context in contexts:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def visit_again(page: Page, route: str) -> None:
    page.evaluate("document.querySelector('#page').dataset.ready = 'false'")
    page.evaluate(f"location.hash = '#/{route}'")
    page.wait_for_selector(
        f"body[data-ready='true'][data-route='#/{route}'] #page[data-ready='true']"
    )


def shoot(page: Page, name: str) -> None:
    """Screenshots at the three sizes; at each, the page must not scroll sideways."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for width, height in SIZES:
        page.set_viewport_size({"width": width, "height": height})
        # from the top (a sticky bar stays put), without a passing toast over the content
        page.evaluate("window.scrollTo(0, 0); document.querySelector('#toast').hidden = true")
        # two animation frames: the resize observers have redrawn the charts
        page.evaluate(
            "() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))"
        )
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 1, f"{name} at {width}x{height} scrolls sideways by {overflow}px"
        page.screenshot(
            path=str(SCREENSHOTS / f"officer-{name}-{width}x{height}.png"), full_page=True
        )
    page.set_viewport_size({"width": 1440, "height": 900})


def download(page: Page, button: Any) -> str:
    with page.expect_download() as info:
        button.click()
    path = info.value.path()
    assert path is not None
    return Path(path).read_text(encoding="utf-8")


# --- 1. alerts in the reader's language, firm names, local time, units ------------------


def test_alerts_read_in_the_officers_language(officer: Officer, tab: Callable[[str], Page]) -> None:
    ss = officer.registry.by_sector("stainless_steel")[3]
    sl = officer.registry.by_sector("synthetic_leather")[2]
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    raise_alerts(
        officer.repo,
        [
            Condition(
                AlertKey("coal_after_conversion", ss.id),
                62.0,
                50.0,
                "log line",
                unit="kg",
                details={"window_hours": 6.0},
            ),
            Condition(
                AlertKey("voc_hourly_exceedance", sl.id, "stack-1", "dmf_mgm3"),
                62.456,
                50.0,
                "log line",
                unit="mg/m³",
                since=hour,
                details={
                    "hour_start": hour.isoformat(),
                    "hour_end": (hour + timedelta(hours=1)).isoformat(),
                },
            ),
            Condition(
                AlertKey("voc_spike", sl.id, "stack-1", "toluene_mgm3"),
                75.0,
                60.0,
                "log line",
                unit="mg/m³",
                since=hour,
                details={"factor": 2.0, "limit_mgm3": 30.0},
            ),
        ],
    )
    local_hour = f"{(hour + timedelta(hours=8)):%H}:00"
    for lang, title, measure, words, spike in (
        (
            "zh",
            "改气后又用煤",
            "测值 62 kg / 限值 50 kg",
            "用煤 62 kg",
            "冲击阈值（2 倍限值） 60 mg/m³ · 限值 30 mg/m³",
        ),
        (
            "en",
            "Coal burnt after conversion",
            "Value 62 kg / Limit 50 kg",
            "burnt 62 kg",
            "Spike threshold (2 × limit) 60 mg/m³ · Limit 30 mg/m³",
        ),
    ):
        page = tab(lang)
        visit(page, officer.base, "alerts")
        coal = page.locator(".alert", has_text=title)
        coal.wait_for()
        text = coal.inner_text()
        assert officer.name(ss.id) in text and words in text, text
        assert measure in coal.get_by_test_id("measure").inner_text()
        voc = page.locator(".alert", has_text="DMF")
        assert "62.46 mg/m³" in voc.inner_text() and local_hour in voc.inner_text()
        # the spike's 60 is its threshold, 2 × the limit of 30: the chip says which is which
        chip = page.locator(".alert", has_text="75").get_by_test_id("measure").inner_text()
        assert spike in chip, chip
        body = page.locator("#page").inner_text()
        assert ss.id not in body and "UTC" not in body and "log line" not in body
        if lang == "zh":
            assert not re.search(r"\b(silent|above|limit|burnt)\b", body), body
        csv = download(page, page.get_by_test_id("export"))
        assert csv.startswith("\ufeffid,status,kind,title,firm,") and title in csv
        shoot(page, f"alerts-{lang}")


# --- 2. a person's own action is never announced as new ---------------------------------

TOASTS = """() => {
  window.__toasts = [];
  const el = document.querySelector('#toast');
  new MutationObserver(() => { if (!el.hidden) window.__toasts.push(el.textContent); })
    .observe(el, { childList: true, characterData: true, subtree: true, attributes: true });
}"""


def test_own_acknowledgement_is_not_announced_as_new(
    officer: Officer, tab: Callable[[str], Page]
) -> None:
    plants = officer.registry.by_sector("synthetic_leather")
    raise_alerts(
        officer.repo,
        [
            Condition(
                AlertKey("meter_offline", plants[4].id, "stack-1"), 42.0, 15.0, "x", unit="min"
            )
        ],
    )
    page = tab("zh")
    visit(page, officer.base, "alerts")
    page.wait_for_selector("#live[data-state='on']")
    card = page.locator(".alert", has_text=officer.name(plants[4].id))
    card.wait_for()
    page.evaluate(TOASTS)
    card.locator("[data-action=ack]").click()
    card.get_by_test_id("comment").fill("已电话联系企业")
    card.get_by_test_id("submit").click()
    # News from the engine after the acknowledgement: the stream delivers events in order,
    # so once its toast shows, the acknowledgement's event has been handled too.
    raise_alerts(
        officer.repo,
        [
            Condition(
                AlertKey("meter_offline", plants[5].id, "stack-1"), 40.0, 15.0, "x", unit="min"
            )
        ],
    )
    assert wait_until(
        lambda: any("新告警" in t for t in page.evaluate("window.__toasts")), timeout=30
    ), page.evaluate("window.__toasts")
    toasts = page.evaluate("window.__toasts")
    assert [t for t in toasts if "新告警" in t] == [
        f"新告警：仪表离线 · {officer.name(plants[5].id)}"
    ]
    assert "已确认告警" in toasts


# --- 3. a truthful start: loading is said, figures carry their freshness -----------------


def test_the_page_says_data_is_still_loading(
    store: InfluxStore, tab: Callable[[str], Page], tmp_path: Path
) -> None:
    builder = RegistryBuilder()
    for i in range(1, 7):
        builder.plant(f"ss-{i:03d}", name=f"松阳测试{i}号不锈钢有限公司")
    registry_file = tmp_path / "registry.toml"
    registry_file.write_text(builder.toml(), encoding="utf-8")
    now = datetime.now(UTC).replace(microsecond=0)
    # A backfill half-way: readings up to three hours ago, and the collector busy writing.
    lines = []
    for i in range(1, 7):
        for kind, meter in (("gas", "gas-1"), ("coal", "coal-1")):
            lines += register_lines(
                kind,
                f"ss-{i:03d}",
                meter,
                now - timedelta(hours=9),
                timedelta(minutes=15),
                [100.0 + 5 * k for k in range(25)],
            )
    lines += [
        encode_point(
            STATS_MEASUREMENT,
            {"collector": "c1"},
            {"points_written": 1000.0 * k},
            now - timedelta(seconds=10 * (3 - k)),
        )
        for k in range(4)
    ]
    store.write_lines(lines)
    base, process = start_api(store.url, store.database, registry_file, tmp_path)
    try:
        registry = parse_registry(tomllib.loads(builder.toml()))
        assert len(registry.plants) == 6
        for lang in ("zh", "en"):
            page = tab(lang)
            visit(page, base, "overview")
            banner = page.get_by_test_id("freshness")
            assert banner.get_attribute("data-state") == "loading"
            assert LABELS[lang]["loading"] in banner.inner_text()
            local = now - timedelta(hours=3) + timedelta(hours=8)
            stamp = f"{local.month}月{local.day}日" if lang == "zh" else f"{local.day} {local:%b}"
            assert stamp in banner.inner_text()
            # every firm unknown for now: no 0 % share, and the page says what unknown means
            assert page.get_by_test_id("share").inner_text() == "–"
            assert page.get_by_test_id("unknown-why").is_visible()
            shoot(page, f"loading-{lang}")
            # a meter behind during the catch-up is catching up, not a red "offline"
            visit_again(page, "plant/ss-001")
            rows = page.locator("[data-testid=meters] tbody tr")
            assert [rows.nth(i).get_attribute("data-state") for i in range(2)] == ["catchup"] * 2
            word = "补传中" if lang == "zh" else "Catching up"
            assert rows.nth(0).locator(".chip.meter-catchup").inner_text() == word
            shoot(page, f"loading-plant-{lang}")
    finally:
        process.stop()


# --- 4. the VOC picture, meter state and latest values, explanations, exports ------------


def test_overview_shows_voc_freshness_and_exports(
    officer: Officer, tab: Callable[[str], Page]
) -> None:
    stacks_over, rate = today_voc(officer.get, officer.registry)
    now = datetime.now(UTC)
    for lang in ("zh", "en"):
        page = tab(lang)
        # The year's history is another test's subject (and the slowest answer): a sample.
        page.route(
            re.compile(r".*/api/v1/kpi/gas-share/history.*"),
            lambda route: route.fulfill(
                status=200,
                content_type="application/json",
                body=json.dumps(_history_answer(now.year)),
            ),
        )
        if lang == "en":
            # The real VOC figures are checked in Chinese; English needs its words only.
            page.route(
                re.compile(r".*/api/v1/plants/[^/]+/voc\?.*"),
                lambda route: route.fulfill(
                    status=200, content_type="application/json", body=json.dumps(_voc_answer(now))
                ),
            )
        visit(page, officer.base, "overview")
        page.wait_for_selector("[data-testid=voc-summary][data-state=done]")
        assert page.get_by_test_id("freshness").get_attribute("data-state") == "normal"
        assert LABELS[lang]["through"] in page.get_by_test_id("freshness").inner_text()
        exceeding = page.get_by_test_id("voc-exceeding")
        if lang == "zh":
            assert exceeding.get_attribute("data-count") == str(stacks_over)
            shown = page.get_by_test_id("voc-valid-rate").get_attribute("data-rate")
            assert (float(shown) if shown else None) == pytest.approx(rate)
            month = page.get_by_test_id("voc-month")
            assert float(month.get_attribute("data-kg") or 0) > 0
            assert "今日超标排口" in exceeding.inner_text()
        else:
            assert "Stacks exceeding today" in exceeding.inner_text()
        firms = page.get_by_test_id("firms")
        assert LABELS[lang]["through"] in firms.locator("thead").inner_text()
        # Each firm's "data through" is the KPI's own (its fuel meters), as the API says.
        through = officer.get("/api/v1/kpi/gas-share")["firm_data_through"]
        shown = {
            row.get_attribute("data-plant"): row.get_by_test_id("firm-through").get_attribute(
                "data-ms"
            )
            for row in firms.locator("tbody tr").all()
        }
        assert shown == {
            plant: str(int(datetime.fromisoformat(at).timestamp() * 1000)) if at else ""
            for plant, at in through.items()
        }
        body = page.locator("#page").inner_text()
        assert not re.search(r"\bss-\d{3}\b", body), "raw plant ids on the overview"
        csv = download(page, page.locator("[data-export^='/kpi/gas-share']"))
        assert csv.startswith("\ufeffplant,name,status,gas_fraction")
        shoot(page, f"overview-{lang}")


def test_plants_show_meter_state_latest_values_and_explanations(
    officer: Officer, tab: Callable[[str], Page]
) -> None:
    ss_id, sl_id = officer.live_plant("stainless_steel"), officer.live_plant("synthetic_leather")
    latest = officer.get(f"/api/v1/plants/{sl_id}/latest")
    dmf = latest["meters"][0]["latest"]["values"]["dmf_mgm3"]
    for lang in ("zh", "en"):
        page = tab(lang)
        visit(page, officer.base, "plants")
        card = page.locator(f".plant-link[data-plant='{ss_id}']")
        online = "2/2 在线" if lang == "zh" else "2/2 online"
        assert online in card.get_by_test_id("online").inner_text()
        plants_csv = download(page, page.get_by_test_id("export"))
        assert plants_csv.startswith("\ufeffplant,name,sector,meters,meters_reporting")
        shoot(page, f"plants-{lang}")

        visit_again(page, f"plant/{ss_id}")
        rows = page.locator("[data-testid=meters] tbody tr")
        assert rows.count() == 2
        assert [rows.nth(i).get_attribute("data-state") for i in range(2)] == ["online"] * 2
        assert "m³" in rows.nth(0).inner_text() and "kg" in rows.nth(1).inner_text()
        page.get_by_test_id("usage-chart").locator("canvas").first.wait_for()
        shoot(page, f"plant-steel-{lang}")

        visit_again(page, f"plant/{sl_id}")
        stack = page.locator("[data-testid=meters] tbody tr").first
        digits = 1 if dmf >= 10 else 2
        assert f"DMF {dmf:.{digits}f} mg/m³" in stack.inner_text()
        assert "45" in page.get_by_test_id("invalid-why").inner_text()
        latest_csv = download(page, page.locator("#meters-card [data-testid=export]"))
        assert "dmf_mgm3=" in latest_csv and "mg/m³" in latest_csv
        page.locator("[data-testid=voc-chart] canvas").first.wait_for()
        shoot(page, f"plant-leather-{lang}")


# --- 5. charts a person reads without squinting ------------------------------------------


def _usage_answer(now: datetime) -> dict[str, Any]:
    """24 hours: much gas, little coal (1/33 of it), and two hours with no reading at all."""
    doc = web_samples.usage_answer(now)
    for h, row in enumerate(doc["intervals"]):
        gap = h in (9, 10)
        row.update(
            gas_m3=0.0 if gap else 900.0 + 10 * h,
            coal_kg=0.0 if gap else 12.0,
            gas_readings=0 if gap else 4,
            coal_readings=0 if gap else 4,
        )
    return doc


def _voc_answer(now: datetime) -> dict[str, Any]:
    """12 hours: a lone valid hour (4) between insufficient ones (3, 5), and 8..11 insufficient."""
    doc = web_samples.voc_answer(now)
    insufficient = {3, 5, 8, 9, 10, 11}
    for p in doc["stacks"][0]["pollutants"]:
        for h, hour in enumerate(p["hours"]):
            if h in insufficient:
                hour.update(status="insufficient", mean_mgm3=None, exceeds=False)
        p["counts"].update(
            valid=12 - len(insufficient),
            insufficient=len(insufficient),
            exceeding=sum(1 for hour in p["hours"] if hour["exceeds"]),
        )
    return doc


def _history_answer(year: int) -> dict[str, Any]:
    """Ten months; the first three before monitoring began (no data)."""
    doc = web_samples.history_answer(year)
    for month in doc["months"][:3]:
        month.update(has_data=False, share=None, share_upper=None)
    return doc


def _tick_labels(page: Page, selector: str) -> list[str]:
    return page.eval_on_selector(
        selector, "el => (el._uplot.axes[0]._values || []).map(String).filter(Boolean)"
    )


def test_charts_are_readable(officer: Officer, tab: Callable[[str], Page]) -> None:
    now = datetime.now(UTC)

    def answer(body: dict[str, Any]) -> Callable[[Route], None]:
        return lambda route: route.fulfill(
            status=200, content_type="application/json", body=json.dumps(body)
        )

    ss = officer.registry.by_sector("stainless_steel")[1]
    sl = officer.registry.by_sector("synthetic_leather")[1]
    for lang in ("zh", "en"):
        page = tab(lang)
        page.route(re.compile(r".*/api/v1/plants/[^/]+/usage\?.*"), answer(_usage_answer(now)))
        page.route(re.compile(r".*/api/v1/plants/[^/]+/voc\?.*"), answer(_voc_answer(now)))
        page.route(
            re.compile(r".*/api/v1/kpi/gas-share/history.*"), answer(_history_answer(now.year))
        )
        visit(page, officer.base, f"plant/{ss.id}")
        usage = "[data-testid=usage-chart]"
        page.locator(f"{usage} canvas").first.wait_for()
        labels = _tick_labels(page, usage)
        assert labels and len(labels) == len(set(labels)), labels
        # both fuels visible although coal is 1/75 of gas: each has its own axis
        assert max(painted_pixels(page, usage, GAS_RGB)) > 500
        assert max(painted_pixels(page, usage, COAL_RGB)) > 500
        assert page.locator(usage).get_attribute("data-gaps") == "2"
        shoot(page, f"chart-usage-{lang}")

        visit_again(page, f"plant/{sl.id}")
        voc = "[data-testid=voc-chart]"
        page.locator(f"{voc} canvas").first.wait_for()
        assert page.locator(voc).first.get_attribute("data-gaps") == "6"
        assert max(painted_pixels(page, voc, VOC_RGB)) > 50  # the lone hour is a dot
        labels = _tick_labels(page, voc)
        assert labels and len(labels) == len(set(labels)), labels
        shoot(page, f"chart-voc-{lang}")

        visit_again(page, "overview")
        history = "[data-testid=history-chart]"
        page.locator(f"{history} canvas").first.wait_for()
        assert page.locator(history).get_attribute("data-gaps") == "3"
        labels = _tick_labels(page, history)
        assert labels and len(labels) == len(set(labels)), labels
        shoot(page, f"chart-history-{lang}")
