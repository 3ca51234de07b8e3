"""What the dashboard tests share that is not a fixture: the browser's settings, the API as
a test reads it, waits on the page's own readiness signal, the county's description."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any

from playwright.sync_api import Page

from api.alerts.lifecycle import Plan, Raise
from api.alerts.model import Condition
from api.alerts.repo import AlertRepo
from api.latest import latest_readings
from ingest.kernel.points import reading_lines
from ingest.kernel.registry import Registry
from ingest.kernel.schema import Reading
from ingest.kernel.store import InfluxStore
from scripts.devstack import free_port
from tests.dashboards.county_data import CountyFacts
from tests.support import ROOT, Process, http_get, wait_http

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
# Steps on a ready page (a click, a dialog) get the default; loading a page waits on the
# page's own readiness signal with a deadline generous enough for a loaded 2-core machine.
PAGE_TIMEOUT_MS = 20_000
READY_TIMEOUT_MS = 240_000
API_TIMEOUT_SECONDS = 120
GAS_RGB = (47, 126, 216)  # charts.js COLORS.gas
VOC_RGB = (122, 79, 208)  # charts.js COLORS.voc
SIZES = ((1440, 900), (1366, 768), (390, 844))
OFFICER_PAGE_TIMEOUT_MS = 90_000  # the overview asks for a year of history and a month of VOC


@dataclass(frozen=True)
class CountyDb:
    url: str
    database: str
    store: InfluxStore
    registry: Registry
    facts: CountyFacts


class Api:
    def __init__(self, base: str, process: Process) -> None:
        self.base = base
        self.process = process
        self.headers = {"Authorization": f"Bearer {ADMIN_KEY}"}

    def get(self, path: str, **params: Any) -> Any:
        # The page reads with the same key: past the key's slots for expensive reads the API
        # answers 429 with Retry-After, and a client waits and asks again (as the page does).
        for _ in range(30):
            resp = http_get(
                f"{self.base}{path}",
                params=params,
                headers=self.headers,
                timeout=API_TIMEOUT_SECONDS,
            )
            if resp.status_code != 429:
                break
            time.sleep(float(resp.headers.get("Retry-After", "1")))
        assert resp.status_code == 200, resp.text + self.process.log()
        return resp.json()


def screenshot(tab: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def wait_ready(tab: Page, hash_route: str | None = None) -> None:
    """Wait until every panel of the page (at `hash_route`, if given) has drawn or reported.

    The page sets `body[data-ready]` to "false" while it loads and "true" once every panel
    has drawn, or said it is empty or failed (dashboards/web/dom.js `track`); `data-route` is
    set with it, so a wait after a navigation cannot match the page before it.
    """
    route = f"[data-route='{hash_route}']" if hash_route else ""
    tab.wait_for_selector(f"body[data-ready='true']{route}", timeout=READY_TIMEOUT_MS)


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


@dataclass
class Officer:
    base: str
    process: Process
    repo: AlertRepo
    registry: Registry

    def get(self, path: str, **params: Any) -> Any:
        resp = http_get(
            f"{self.base}{path}",
            params=params,
            headers={"Authorization": f"Bearer {ADMIN_KEY}"},
            timeout=60,
        )
        assert resp.status_code == 200, resp.text + self.process.log()
        return resp.json()

    def live_plant(self, sector: str) -> str:
        """A plant of `sector` whose every meter reports (the county leaves some firms unmetered;
        line power meters have their own tests and no data in this county)."""
        for p in self.get("/api/v1/plants")["plants"]:
            meters = [m for m in p["meters"] if m.get("line") is None]
            if p["sector"] == sector and meters and all(m["reporting"] for m in meters):
                return str(p["id"])
        raise AssertionError(f"no live {sector} plant")

    def name(self, plant: str) -> str:
        found = self.registry.plant(plant)
        assert found is not None
        return found.name


def start_api(url: str, database: str, registry: Path | None, folder: Path) -> tuple[str, Process]:
    port = free_port()
    env = {
        "PLANTWATCH_INFLUX_URL": url,
        "PLANTWATCH_INFLUX_DB": database,
        "PLANTWATCH_API_PORT": str(port),
        "PLANTWATCH_ADMIN_KEY": ADMIN_KEY,
        "PLANTWATCH_DATABASE_URL": f"sqlite:///{folder / 'api.db'}",
        "PLANTWATCH_MQTT_PORT": str(free_port()),
        "PLANTWATCH_ALERT_ENGINE_ENABLED": "false",
        "PLANTWATCH_ROLLUP_ENABLED": "false",
        "PLANTWATCH_ALERT_STREAM_POLL_SECONDS": "0.3",
        "PLANTWATCH_SPOOL_DIR": str(folder / "spool"),
        "PLANTWATCH_CREDENTIALS_FILE": str(folder / "credentials.json"),
        "PLANTWATCH_LOG_LEVEL": "WARNING",
    }
    if registry is not None:
        env["PLANTWATCH_REGISTRY"] = str(registry)
    full = {k: v for k, v in os.environ.items() if not k.startswith("PLANTWATCH_")} | env
    process = Process(["-m", "api"], full, folder / "api.log").start()
    base = f"http://127.0.0.1:{port}"
    assert wait_http(f"{base}/healthz").status_code == 200, process.log()
    return base, process


def top_up(
    store: InfluxStore, registry: Registry, now: datetime, minute_only: tuple[str, str] | None
) -> None:
    """One fresh reading per meter a minute ago, continuing its registers: the county is live.
    The stack whose logger sends only CN 2051 minutes gets a minute, never a real-time reading
    (test_grafana.py checks it has none, and may run after this on the same county)."""
    latest = latest_readings(store, now - timedelta(minutes=2))
    lines = []
    for plant in registry.plants:
        for meter in plant.meters:
            found = latest.get((plant.id, meter.id))
            if found is None:
                continue
            values = {
                k: v + (1.0 if k in ("volume_m3", "mass_kg", "energy_kwh") else 0.0)
                for k, v in found.values.items()
            }
            reading = Reading(now - timedelta(minutes=1), MappingProxyType(values))
            measurement = "voc_minute" if (plant.id, meter.id) == minute_only else None
            lines += reading_lines(plant, meter, [reading], measurement)
    store.write_lines(lines)


def raise_alerts(repo: AlertRepo, conditions: list[Condition]) -> None:
    """Alerts as the engine raises them (actor `engine`), through the same repository."""
    now = datetime.now(UTC)
    assert repo.try_lease("test-engine", now, 600)
    repo.apply(Plan(tuple(Raise(c) for c in conditions)), now, "test-engine", 600)


def visit(page: Page, base: str, route: str) -> None:
    """Open a page and wait until it says it is ready (never a fixed sleep)."""
    page.goto(f"{base}/dashboard/#/{route}")
    page.wait_for_selector("body[data-ready='true'] #page[data-ready='true']")


def today_voc(get: Callable[..., Any], registry: Registry) -> tuple[int, float | None]:
    """Stacks with an hour above a limit today (local day) and the valid share of today's
    running hours, as the API answers them: what the overview's VOC card must show.

    `get(path, **params)` is a caller's authenticated GET returning the JSON answer. The
    share is the API's own, never a fixed figure: a stack's seeded plan has invalid hours
    (maintenance, calibration) whose weight depends on the hour a test runs at.
    """
    now = datetime.now(UTC)
    midnight = (now + timedelta(hours=8)).replace(hour=0, minute=0, second=0, microsecond=0)
    start = (midnight - timedelta(hours=8)).isoformat()
    over, valid, ended = set(), 0, 0
    for plant in registry.by_sector("synthetic_leather"):
        doc = get(f"/api/v1/plants/{plant.id}/voc", start=start, end=now.isoformat())
        for stack in doc["stacks"]:
            for p in stack["pollutants"]:
                c = p["counts"]
                valid += c["valid"]
                ended += c["running"]
                if c["exceeding"]:
                    over.add((plant.id, stack["meter"]))
    return len(over), (valid / ended if ended else None)
