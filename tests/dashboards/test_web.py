"""The built-in dashboard in headless Chromium against `python -m api` on a filled InfluxDB.

Screenshots of every page go to `test-artifacts/screenshots/` (git-ignored).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, Route, sync_playwright

from api.app import create_app
from api.settings import ApiSettings
from ingest.points import reading_lines
from ingest.schema import Reading
from scripts.devstack import free_port
from tests.conftest import ROOT, Process, wait_http, wait_until
from tests.dashboards.conftest import CountyDb

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
ADMIN_KEY = "dash-test-admin-key"
VIEWPORT = {"width": 1366, "height": 900}
PAGE_TIMEOUT_MS = 20_000
GAS_RGB = (47, 126, 216)  # charts.js COLORS.gas
VOC_RGB = (122, 79, 208)  # charts.js COLORS.voc


def _api_paths() -> set[str]:
    """Routes of this branch's app, read from its OpenAPI schema without starting it."""
    settings = ApiSettings(admin_key=None, database_url="sqlite:///:memory:")
    return set(create_app(settings).openapi()["paths"])


PATHS = _api_paths()
HAS_ALERT_ACTIONS = any(re.fullmatch(r"/api/v1/alerts/\{[^}]+\}/ack", p) for p in PATHS)
HAS_PLANT_DATA = any(re.fullmatch(r"/api/v1/plants/\{[^}]+\}/(usage|voc)", p) for p in PATHS)
HAS_HISTORY = "/api/v1/kpi/gas-share/history" in PATHS


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} missing: install Debian's chromium (make deps)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        chromium.close()


class Api:
    def __init__(self, base: str, process: Process) -> None:
        self.base = base
        self.process = process
        self.headers = {"Authorization": f"Bearer {ADMIN_KEY}"}

    def get(self, path: str, **params: Any) -> Any:
        resp = httpx.get(f"{self.base}{path}", params=params, headers=self.headers, timeout=30)
        assert resp.status_code == 200, resp.text + self.process.log()
        return resp.json()


@pytest.fixture
def api(county_db: CountyDb, spawn: Callable[..., Process], tmp_path: Path) -> Api:
    """`python -m api` on the filled database, as a user would start it."""
    port = free_port()
    env = {
        "PLANTWATCH_INFLUX_URL": county_db.url,
        "PLANTWATCH_INFLUX_DB": county_db.database,
        "PLANTWATCH_API_PORT": str(port),
        "PLANTWATCH_ADMIN_KEY": ADMIN_KEY,
        "PLANTWATCH_DATABASE_URL": f"sqlite:///{tmp_path / 'api.db'}",
        "PLANTWATCH_MQTT_PORT": str(free_port()),  # no broker: the page must not need one
    }
    process = spawn(["api"], env, "api")
    base = f"http://127.0.0.1:{port}"
    assert wait_http(f"{base}/healthz").status_code == 200, process.log()
    return Api(base, process)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=VIEWPORT, locale="zh-CN", timezone_id="Asia/Shanghai")
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    yield tab
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def screenshot(tab: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def sign_in(tab: Page, api: Api, hash_route: str = "#/overview") -> None:
    """Open the dashboard and enter the key in its dialog, as an officer would the first time."""
    tab.goto(f"{api.base}/dashboard/{hash_route}")
    tab.get_by_test_id("key-dialog").wait_for(state="visible")
    tab.get_by_test_id("key-input").fill(ADMIN_KEY)
    tab.get_by_test_id("key-save").click()
    tab.wait_for_selector("#page[data-ready='true']")


def painted_pixels(tab: Page, selector: str, rgb: tuple[int, int, int]) -> list[int]:
    """Per canvas under `selector`: how many pixels are (close to) the colour `rgb`."""
    return tab.eval_on_selector_all(
        f"{selector} canvas",
        """(canvases, rgb) => canvases.map((c) => {
            const data = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
            let n = 0;
            for (let i = 0; i < data.length; i += 4) {
              if (data[i + 3] > 200 && Math.abs(data[i] - rgb[0]) < 24 &&
                  Math.abs(data[i + 1] - rgb[1]) < 24 && Math.abs(data[i + 2] - rgb[2]) < 24) n++;
            }
            return n;
        })""",
        list(rgb),
    )


def test_the_api_serves_the_dashboard(api: Api) -> None:
    resp = httpx.get(f"{api.base}/", follow_redirects=False)
    assert resp.status_code in (302, 307) and resp.headers["location"] == "/dashboard/"
    index = httpx.get(f"{api.base}/dashboard/")
    assert index.status_code == 200 and "<dialog" in index.text
    for asset in re.findall(r'(?:src|href)="((?:vendor/)?[\w.-]+\.(?:js|css))"', index.text):
        assert httpx.get(f"{api.base}/dashboard/{asset}").status_code == 200, asset
    licence = httpx.get(f"{api.base}/dashboard/vendor/LICENSE")
    assert licence.status_code == 200 and "MIT License" in licence.text
    assert httpx.get(f"{api.base}/dashboard/nope.js").status_code == 404


def test_overview_shows_the_kpi_the_api_returns(api: Api, page: Page) -> None:
    sign_in(page, api)
    share = page.get_by_test_id("share")
    share.wait_for()
    kpi = api.get("/api/v1/kpi/gas-share")
    assert kpi["share"] is not None
    assert float(share.get_attribute("data-share") or "nan") == pytest.approx(
        kpi["share"], abs=1e-12
    )
    assert share.inner_text() == f"{kpi['share'] * 100:.1f}%"
    for status, count in kpi["counts"].items():
        tile = page.get_by_test_id(f"count-{status}")
        assert tile.locator(".tile-value").inner_text() == str(count)
    goal_state = page.get_by_test_id("goal-state").inner_text()
    if kpi["meets_goal"]:
        assert "已达到" in goal_state
    else:
        assert str(kpi["firms_needed"]) in goal_state
    rows = page.locator("[data-testid=firms] tbody tr")
    assert rows.count() == len(kpi["rows"])
    assert page.locator("#page").get_by_text(kpi["rows"][0]["name"]).count() == 1
    history = page.get_by_test_id("history-chart")
    if HAS_HISTORY:
        history.locator("canvas").first.wait_for()
    else:
        assert "尚未提供" in history.inner_text()
    screenshot(page, "overview")

    # The key is kept: a reload goes straight to the figures, in Chinese by default.
    page.reload()
    page.get_by_test_id("share").wait_for()
    assert not page.get_by_test_id("key-dialog").is_visible()
    assert page.locator(".hero-label").inner_text() == "天然气企业占比"

    page.get_by_test_id("lang-toggle").click()
    page.wait_for_selector("#page[data-ready='true']")
    assert page.locator(".hero-label").inner_text() == "Gas share of firms"
    assert page.locator("nav a[data-page=alerts]").inner_text().startswith("Alerts")
    assert page.get_by_test_id("share").inner_text() == f"{kpi['share'] * 100:.1f}%"
    screenshot(page, "overview-en")


def test_a_wrong_key_is_refused_and_asked_again(api: Api, page: Page) -> None:
    page.goto(f"{api.base}/dashboard/")
    page.get_by_test_id("key-input").fill("not-a-key")
    page.get_by_test_id("key-save").click()
    page.wait_for_selector("#key-error:not([hidden])")
    assert "密钥无效" in page.locator("#key-error").inner_text()


# --- the plant page ----------------------------------------------------------------------


def _check_plant_charts(page: Page, api: Api, plants: dict[str, str]) -> None:
    ss, sl = plants["stainless_steel"], plants["synthetic_leather"]
    page.goto(f"{api.base}/dashboard/#/plant/{ss}")
    page.wait_for_selector("#page[data-ready='true']")
    usage = page.get_by_test_id("usage-chart")
    usage.locator("canvas").first.wait_for()
    assert int(usage.get_attribute("data-points") or 0) > 0
    assert max(painted_pixels(page, "[data-testid=usage-chart]", GAS_RGB)) > 200
    screenshot(page, f"plant-{ss}")

    page.goto(f"{api.base}/dashboard/#/plant/{sl}")
    page.wait_for_selector("#page[data-ready='true']")
    page.locator("[data-testid=voc-chart] canvas").first.wait_for()
    charts = page.locator("[data-testid=voc-chart]")
    assert charts.count() >= 5  # NMHC, DMF, benzene, toluene, xylene
    for i in range(charts.count()):
        assert int(charts.nth(i).get_attribute("data-points") or 0) > 0
    assert min(painted_pixels(page, "[data-testid=voc-chart]", VOC_RGB)) > 50
    screenshot(page, f"plant-{sl}")


@pytest.mark.skipif(
    not HAS_PLANT_DATA, reason="needs /api/v1/plants/{plant}/usage and /voc (API branch)"
)
def test_plant_page_draws_its_charts(api: Api, page: Page, county_db: CountyDb) -> None:
    sign_in(page, api, "#/plants")
    plants = {
        sector: county_db.registry.by_sector(sector)[0].id
        for sector in ("stainless_steel", "synthetic_leather")
    }
    assert page.locator(".plant-link").count() == len(county_db.registry.plants)
    screenshot(page, "plants-registry")
    _check_plant_charts(page, api, plants)
    # The DMF exceedance of the fixture is marked on its chart.
    assert page.locator(".voc-item.has-exceed").count() >= 1
    # This month's emission of the firm and the county, and the data capture rate.
    month = page.get_by_test_id("voc-month")
    month.locator("[data-testid=county-emission]").first.wait_for()
    county = month.locator("[data-testid=county-emission]").first.inner_text()
    assert county not in ("", "–") and float(county.replace(",", "")) > 0
    screenshot(page, "plant-voc-month")


def _sample_usage(now: datetime) -> dict[str, Any]:
    """A literal 24-hour usage answer (one plausible shape of the API's response)."""
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=24)
    return {
        "plant": "ss-001",
        "every": "1h",
        "intervals": [
            {
                "start": (start + timedelta(hours=h)).isoformat(),
                "gas_m3": 400.0 + 10 * h,
                "coal_kg": 50.0,
                "gas_kgce": (400.0 + 10 * h) * 1.2143,
                "coal_kgce": 50.0 * 0.7143,
                "co2_kg": 1000.0,
            }
            for h in range(24)
        ],
    }


def _sample_voc(now: datetime) -> dict[str, Any]:
    """A literal VOC answer nested by stack and pollutant; hour 5 of DMF is above its limit."""
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=12)
    limits = {
        "nmhc_mgm3": 200.0,
        "dmf_mgm3": 50.0,
        "benzene_mgm3": 2.0,
        "toluene_mgm3": 30.0,
        "xylene_mgm3": 40.0,
    }
    pollutants = {}
    for field, limit in limits.items():
        hours = []
        for h in range(12):
            mean = limit * (1.4 if field == "dmf_mgm3" and h == 5 else 0.3 + 0.02 * h)
            valid = h != 8  # one hour with too few valid minutes
            hours.append(
                {
                    "hour": (start + timedelta(hours=h)).isoformat(),
                    "mean_mgm3": mean if valid else None,
                    "valid_minutes": 60 if valid else 30,
                    "valid": valid,
                }
            )
        pollutants[field] = {"limit_mgm3": limit, "hours": hours}
    return {"plant": "sl-001", "stacks": [{"meter": "stack-1", "pollutants": pollutants}]}


def test_plant_page_renders_sample_responses(api: Api, page: Page, county_db: CountyDb) -> None:
    """The page's reading and drawing of usage and VOC, fed literal responses.

    Runs whether or not the plant routes exist in this branch: the two data calls are
    answered by the browser with the literal tables above, everything else by the real API.
    """
    now = datetime.now(UTC)

    def answer(body: dict[str, Any]) -> Callable[[Route], None]:
        return lambda route: route.fulfill(
            status=200, content_type="application/json", body=json.dumps(body)
        )

    page.route(re.compile(r".*/api/v1/plants/[^/]+/usage\?.*"), answer(_sample_usage(now)))
    page.route(re.compile(r".*/api/v1/plants/[^/]+/voc\?.*"), answer(_sample_voc(now)))
    sign_in(page, api, "#/plants")
    assert page.locator(".plant-link").count() >= len(
        county_db.registry.by_sector("stainless_steel")
    )
    screenshot(page, "plants")
    page.locator(".plant-link[href='#/plant/ss-001']").click()
    page.wait_for_selector("#page[data-ready='true'] [data-testid=plant-name]")
    usage = page.get_by_test_id("usage-chart")
    usage.locator("canvas").first.wait_for()
    assert usage.get_attribute("data-points") == "24"
    assert max(painted_pixels(page, "[data-testid=usage-chart]", GAS_RGB)) > 500
    total_m3 = sum(400 + 10 * h for h in range(24))
    assert f"{total_m3:,}" in page.locator("#usage-total").inner_text()
    screenshot(page, "plant-sample-usage")

    page.goto(f"{api.base}/dashboard/#/plant/sl-001")
    page.wait_for_selector("#page[data-ready='true']")
    charts = page.locator("[data-testid=voc-chart]")
    charts.locator("canvas").first.wait_for()
    assert charts.count() == 5
    assert [charts.nth(i).get_attribute("data-points") for i in range(5)] == ["12"] * 5
    exceeding = page.locator(".voc-item.has-exceed")
    assert exceeding.count() == 1
    assert "DMF" in exceeding.inner_text() and "超标小时: 1" in exceeding.inner_text()
    assert page.locator(".voc-item").first.get_by_text("数据不足小时: 1").count() == 1
    assert min(painted_pixels(page, "[data-testid=voc-chart]", VOC_RGB)) > 50
    screenshot(page, "plant-sample-voc")


# --- the officer's alert flow (needs the alerts branch) ---------------------------------


def _write_spike(county_db: CountyDb) -> None:
    """A fresh DMF reading above twice its limit: the alert engine raises `voc_spike`."""
    plant = county_db.registry.by_sector("synthetic_leather")[-1]
    meter = plant.meters_of("voc")[0]
    limit = dict(meter.limits_mgm3).get("dmf_mgm3", 50.0)
    now = datetime.now(UTC).replace(microsecond=0)
    readings = [
        Reading(now - timedelta(minutes=m), MappingProxyType({"dmf_mgm3": 2.5 * limit}))
        for m in range(3)
    ]
    county_db.store.write_lines(reading_lines(plant, meter, readings))


@pytest.mark.skipif(
    not HAS_ALERT_ACTIONS, reason="needs /api/v1/alerts and ack/resolve (alerts branch)"
)
def test_officer_acknowledges_and_resolves_an_alert(
    api: Api, page: Page, county_db: CountyDb
) -> None:
    _write_spike(county_db)

    def alerts(**params: str) -> list[dict[str, Any]]:
        doc = api.get("/api/v1/alerts", **params)
        return doc if isinstance(doc, list) else doc.get("alerts", doc.get("items", []))

    def open_alerts() -> list[dict[str, Any]]:
        return alerts(status="open")

    assert wait_until(lambda: bool(open_alerts()), timeout=90, interval=1.0), api.process.log()
    alert_id = str(open_alerts()[0]["id"])
    sign_in(page, api, "#/alerts")
    card = page.get_by_test_id(f"alert-{alert_id}")
    card.wait_for()
    assert card.get_attribute("data-state") == "open"
    screenshot(page, "alerts")

    comment = f"现场核查，已通知企业整改 {uuid.uuid4().hex[:6]}"
    card.get_by_test_id(f"ack-{alert_id}").click()
    card.get_by_test_id("comment").fill(comment)
    card.get_by_test_id("submit").click()
    page.wait_for_selector(f"[data-testid=alert-{alert_id}]", state="detached")
    (acked,) = [a for a in alerts() if str(a["id"]) == alert_id]
    assert (acked.get("state") or acked.get("status")) == "acknowledged"
    assert comment in json.dumps(acked, ensure_ascii=False)

    page.locator("[data-filter=acknowledged]").click()
    card = page.get_by_test_id(f"alert-{alert_id}")
    card.wait_for()
    assert comment in card.inner_text()
    screenshot(page, "alerts-acknowledged")
    card.get_by_test_id(f"resolve-{alert_id}").click()
    card.get_by_test_id("comment").fill("整改完成")
    card.get_by_test_id("submit").click()
    page.wait_for_selector(f"[data-testid=alert-{alert_id}]", state="detached")
    assert alert_id not in {str(a["id"]) for a in open_alerts()}


def _sample_history(year: int) -> dict[str, Any]:
    """A literal history answer: ten months of share and a year-end projection."""
    shares = [0.25, 0.25, 0.3, 0.3, 0.35, 0.375, 0.4, 0.45, 0.45, 0.5]
    return {
        "year": year,
        "goal": 0.5,
        "months": [{"month": f"{year}-{m + 1:02d}", "share": s} for m, s in enumerate(shares)],
        "projection": {"share": 0.56, "share_low": 0.5, "share_high": 0.62},
        "on_track": True,
    }


def test_overview_draws_the_history_from_a_sample_response(api: Api, page: Page) -> None:
    """Monthly share and projection drawn from a literal answer (the history route may be absent)."""
    year = datetime.now(UTC).year
    body = json.dumps(_sample_history(year))
    page.route(
        re.compile(r".*/api/v1/kpi/gas-share/history.*"),
        lambda route: route.fulfill(status=200, content_type="application/json", body=body),
    )
    sign_in(page, api)
    chart = page.get_by_test_id("history-chart")
    chart.locator("canvas").first.wait_for()
    assert chart.get_attribute("data-points") == "11"  # ten months and the projection
    assert max(painted_pixels(page, "[data-testid=history-chart]", GAS_RGB)) > 200
    assert "56.0%" in page.locator("#page").inner_text()
    screenshot(page, "overview-sample-history")


def test_alert_page_sends_the_officers_comment(api: Api, page: Page) -> None:
    """The acknowledge flow of the page against literal alert answers, recording the POST."""
    alerts = [
        {
            "id": 41,
            "kind": "voc_hourly_exceedance",
            "plant": "sl-001",
            "meter": "stack-1",
            "pollutant": "dmf_mgm3",
            "state": "open",
            "message": "DMF hourly mean 72.4 mg/m³ above 50",
            "value": 72.4,
            "limit": 50.0,
            "opened_at": datetime.now(UTC).isoformat(),
        },
        {
            "id": 42,
            "kind": "meter_offline",
            "plant": "ss-008",
            "meter": "gas-1",
            "pollutant": "",
            "state": "open",
            "message": "no data for 75 min",
            "opened_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
        },
    ]
    posted: list[tuple[str, Any]] = []

    def list_alerts(route: Route) -> None:
        wanted = re.search(r"status=(\w+)", route.request.url)
        rows = [a for a in alerts if not wanted or a["state"] == wanted.group(1)]
        route.fulfill(status=200, content_type="application/json", body=json.dumps(rows))

    def act(route: Route) -> None:
        match = re.search(r"/alerts/(\d+)/(ack|resolve)$", route.request.url)
        assert match and route.request.method == "POST"
        posted.append((route.request.url.split("/api/v1")[1], route.request.post_data_json))
        for a in alerts:
            if str(a["id"]) == match.group(1):
                a["state"] = "acknowledged" if match.group(2) == "ack" else "resolved"
                a["comment"] = route.request.post_data_json["comment"]
        route.fulfill(status=200, content_type="application/json", body="{}")

    page.route(re.compile(r".*/api/v1/alerts(\?.*)?$"), list_alerts)
    page.route(re.compile(r".*/api/v1/alerts/\d+/(ack|resolve)$"), act)
    sign_in(page, api, "#/alerts")
    card = page.get_by_test_id("alert-41")
    card.wait_for()
    assert page.locator(".alert").count() == 2
    assert "DMF" in card.inner_text() and "72.40" in card.inner_text()
    assert page.locator("#alert-badge").inner_text() == "2"
    screenshot(page, "alerts-sample")

    card.get_by_test_id("ack-41").click()
    card.get_by_test_id("comment").fill("已电话通知企业，安排现场核查")
    card.get_by_test_id("submit").click()
    page.wait_for_selector("[data-testid=alert-41]", state="detached")
    assert posted == [("/alerts/41/ack", {"comment": "已电话通知企业，安排现场核查"})]
    page.locator("[data-filter=acknowledged]").click()
    page.get_by_test_id("alert-41").wait_for()
    assert "已电话通知企业" in page.get_by_test_id("alert-41").inner_text()
    screenshot(page, "alerts-sample-acknowledged")
