"""The dashboard and /docs under their Content-Security-Policy, in headless Chromium.

The page must still work with no inline script or style allowed, /docs must load nothing
from another origin, and the key must live in sessionStorage only.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import ConsoleMessage, Page

from tests.dashboards.support import ADMIN_KEY, Api, screenshot


def _watch(tab: Page, base: str) -> tuple[list[str], list[str]]:
    """Console messages about blocked content, and requests to any other origin."""
    violations: list[str] = []
    foreign: list[str] = []
    own = urlsplit(base).netloc

    def on_console(message: ConsoleMessage) -> None:
        text = message.text
        if "Content Security Policy" in text or "Refused to" in text:
            violations.append(text)

    tab.on("console", on_console)
    tab.on(
        "request",
        lambda request: (
            foreign.append(request.url)
            if urlsplit(request.url).scheme in ("http", "https")
            and urlsplit(request.url).netloc != own
            else None
        ),
    )
    return violations, foreign


# Alone, this test also pays for filling the county (session fixture) on a busy machine.
@pytest.mark.timeout(600)
def test_dashboard_and_docs_work_under_the_csp(api: Api, page: Page) -> None:
    violations, foreign = _watch(page, api.base)
    page.goto(f"{api.base}/docs")
    page.locator(".swagger-ui .info .title").get_by_text("plantwatch").wait_for()
    page.locator(".opblock-summary-path").first.wait_for()
    screenshot(page, "docs")
    assert not violations, violations
    assert not foreign, foreign

    # Signed in as in test_web.sign_in, but waiting only for the KPI: the history behind
    # the page's ready flag is read from raw data until the first rollup, slow on a busy machine.
    page.goto(f"{api.base}/dashboard/#/overview")
    page.get_by_test_id("key-dialog").wait_for(state="visible")
    page.get_by_test_id("key-input").fill(ADMIN_KEY)
    page.get_by_test_id("key-save").click()
    page.get_by_test_id("share").wait_for(timeout=60_000)
    assert not violations, violations
    # Bars are sized through the CSSOM (inline style attributes are blocked).
    fill = page.locator(".bar-fill").first
    width = fill.evaluate("el => el.style.width")
    assert width.endswith("%"), width
    # `data-width` is a fraction (dom.applyWidths), the style a percentage.
    assert float(width[:-1]) == pytest.approx(
        100 * float(fill.get_attribute("data-width")), abs=1e-3
    )
    stored = page.evaluate(
        "() => [sessionStorage.getItem('plantwatch.apiKey'), "
        "localStorage.getItem('plantwatch.apiKey')]"
    )
    assert stored == [ADMIN_KEY, None]
    assert not violations, violations
    assert not foreign, foreign
