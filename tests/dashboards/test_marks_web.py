"""Marks and tasks on the page, in headless Chromium, zh and en, down to 390 px.

A plant marks 3 hours of maintenance on its stack, the officer accepts (a band on the VOC
chart, hours out of the exceedance count) and rejects a second mark; an alert becomes a
task, the inspector records an action, another task passes its deadline and escalates.
The plant key lands on its own page and sees nothing of another plant. Screens go to
`test-artifacts/screenshots/marks/`; a reviewed few are kept in `test-artifacts/marks/`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import Browser, Page
from sqlalchemy import update

from api.alerts.model import AlertKey, Condition
from api.tasks.repo import TaskRepo
from api.tasks.tables import tasks
from tests.dashboards.support import ADMIN_KEY, SIZES, Officer, raise_alerts, visit
from tests.dashboards.support import OFFICER_PAGE_TIMEOUT_MS as PAGE_TIMEOUT_MS
from tests.support import ROOT, http_request

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

SHOTS = ROOT / "test-artifacts" / "screenshots" / "marks"


def api(officer: Officer, method: str, path: str, key: str = ADMIN_KEY, **body: Any) -> Any:
    resp = http_request(
        method,
        f"{officer.base}/api/v1{path}",
        json=body or None,
        headers={"Authorization": f"Bearer {key}"},
        timeout=60,
    )
    assert resp.status_code in (200, 201), resp.text
    return resp.json()


def new_key(officer: Officer, name: str, role: str, plant: str | None = None) -> str:
    return str(api(officer, "POST", "/keys", name=name, role=role, plant=plant)["key"])


@pytest.fixture
def open_tab(browser: Browser) -> Iterator[Callable[[str, str], Page]]:
    contexts = []
    errors: list[str] = []

    def _open(lang: str, key: str) -> Page:
        context = browser.new_context(
            viewport={"width": 1440, "height": 900},
            locale="zh-CN" if lang == "zh" else "en-GB",
            timezone_id="Asia/Shanghai",
        )
        context.set_default_timeout(PAGE_TIMEOUT_MS)
        context.add_init_script(
            f"sessionStorage.setItem('plantwatch.apiKey', {json.dumps(key)}); "
            f"localStorage.setItem('plantwatch.lang', '{lang}');"
        )
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        return page

    yield _open
    for context in contexts:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def shoot(page: Page, name: str) -> None:
    """Full-page screenshots at every size; nothing may stick out sideways."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width, height in SIZES:
        page.set_viewport_size({"width": width, "height": height})
        page.evaluate("window.scrollTo(0, 0); document.querySelector('#toast').hidden = true")
        page.evaluate(
            "() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))"
        )
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 1, f"{name} at {width}x{height} scrolls sideways by {overflow}px"
        page.screenshot(path=str(SHOTS / f"{name}-{width}x{height}.png"), full_page=True)
    page.set_viewport_size({"width": 1440, "height": 900})


def voc_stack(officer: Officer, plant: str) -> tuple[str, datetime]:
    """A stack of `plant` and a whole hour 8 h ago with valid hours around it."""
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    doc = officer.get(
        f"/api/v1/plants/{plant}/voc",
        start=(end - timedelta(hours=24)).isoformat(),
        end=end.isoformat(),
    )
    stack = doc["stacks"][0]
    return str(stack["meter"]), end - timedelta(hours=8)


def test_marks_and_tasks_on_the_page(
    officer: Officer, open_tab: Callable[[str, str], Page]
) -> None:
    plant = officer.live_plant("synthetic_leather")
    other = next(p.id for p in officer.registry.by_sector("synthetic_leather") if p.id != plant)
    meter, first = voc_stack(officer, plant)
    plant_key = new_key(officer, f"{plant}-op", "plant", plant)
    officer_key = new_key(officer, "wang", "officer")
    inspector_key = new_key(officer, "zhang", "inspector")

    # the plant marks 3 hours of maintenance; the officer accepts; a second mark is rejected
    body = {"meter": meter, "reason": "2号线检修 / line 2 repairs", "evidence": ["repair-order-17"]}
    mark = api(officer, "POST", f"/plants/{plant}/marks", plant_key, kind="maintenance",
               start=first.isoformat(), end=(first + timedelta(hours=3)).isoformat(), **body)  # fmt: skip
    api(officer, "POST", f"/marks/{mark['id']}/accept", officer_key, comment="检修单已核实")
    second = api(officer, "POST", f"/plants/{plant}/marks", plant_key, kind="fault",
                 start=(first - timedelta(hours=4)).isoformat(),
                 end=(first - timedelta(hours=3)).isoformat(), **body)  # fmt: skip
    api(officer, "POST", f"/marks/{second['id']}/reject", officer_key, comment="无佐证")
    pending = api(officer, "POST", f"/plants/{plant}/marks", plant_key, kind="calibration",
                  start=(first + timedelta(hours=4)).isoformat(),
                  end=(first + timedelta(hours=5)).isoformat(), **body)  # fmt: skip

    # an exceedance alert becomes a task; the inspector acts; another task passes its deadline
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
    raise_alerts(
        officer.repo,
        [
            Condition(
                AlertKey("voc_hourly_exceedance", plant, meter, "dmf_mgm3"), 62.5, 50.0, "x",
                unit="mg/m³", since=hour,
                details={"hour_start": hour.isoformat(), "hour_end": (hour + timedelta(hours=1)).isoformat()},
            ),
            Condition(AlertKey("meter_offline", other, "stack-1"), 40.0, 15.0, "x", unit="min"),
        ],
    )  # fmt: skip
    alerts = {a["plant"]: a["id"] for a in officer.get("/api/v1/alerts")["alerts"]}
    soon = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    task = api(officer, "POST", "/tasks", officer_key, alerts=[alerts[plant]], assignee="zhang",
               deadline=soon, priority="high", note="现场核查活性炭更换记录")  # fmt: skip
    api(officer, "POST", f"/tasks/{task['id']}/actions", inspector_key,
        note="到场检查：2号线活性炭已更换，已拍照", evidence=["photo-0412.jpg"])  # fmt: skip
    late = api(officer, "POST", "/tasks", officer_key, alerts=[alerts[other]], assignee="li",
               deadline=soon, priority="urgent")  # fmt: skip
    db = officer.repo.engine
    with db.begin() as conn:  # its deadline passes
        past = int((datetime.now(UTC) - timedelta(hours=5)).timestamp() * 1000)
        conn.execute(update(tasks).where(tasks.c.id == late["id"]).values(deadline=past))
    assert [t.id for t in TaskRepo(db).escalate_overdue(datetime.now(UTC))] == [late["id"]]

    for lang in ("zh", "en"):
        # the officer: the band on the VOC chart, the marked hours, the task board
        page = open_tab(lang, officer_key)
        visit(page, officer.base, f"plant/{plant}")
        page.evaluate("document.querySelector('#page').dataset.ready = 'false'")
        page.locator("[data-range='24h']").click()  # the band is 3 of 24 hours wide
        page.wait_for_selector("body[data-ready='true'] [data-range='24h'].active")
        charts = page.get_by_test_id("voc-chart")
        assert max(int(c.get_attribute("data-marked") or 0) for c in charts.all()) == 3
        page.get_by_test_id("marked-hours").first.wait_for()
        shoot(page, f"band-{lang}")
        visit(page, officer.base, "tasks")
        board = page.get_by_test_id("task-board")
        assert page.get_by_test_id(f"task-{late['id']}").get_attribute("data-state") == "overdue"
        assert "photo-0412.jpg" in page.get_by_test_id(f"task-{task['id']}").inner_text()
        pending_card = page.get_by_test_id(f"mark-{pending['id']}")
        assert pending_card.is_visible() and "dmf" not in board.inner_text().lower()
        shoot(page, f"tasks-{lang}")

        # the inspector: its own task only
        page = open_tab(lang, inspector_key)
        visit(page, officer.base, "overview")
        assert page.evaluate("location.hash") == "#/tasks"
        cards = page.locator(".task")
        assert cards.count() == 1 and cards.first.get_attribute("data-id") == str(task["id"])
        shoot(page, f"inspector-{lang}")

        # the plant: its own page, its marks and their review, nothing of another plant
        page = open_tab(lang, plant_key)
        visit(page, officer.base, "overview")
        assert page.evaluate("location.hash") == "#/mine"
        text = page.locator("#page").inner_text()
        assert officer.name(plant) in text and officer.name(other) not in text
        assert "检修单已核实" in page.get_by_test_id("mine-marks").inner_text()
        assert page.locator(".task").count() == 1
        shoot(page, f"plant-{lang}")
