"""The dashboard tests' fixtures: a county's worth of data in a real InfluxDB, written once per
session; Chromium; `python -m api` on the county, per test (`api`) or per module (`officer`)."""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import subprocess
import uuid
import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from api.alerts.repo import AlertRepo
from api.db import connect
from ingest.kernel.registry import Registry, load_registry
from ingest.kernel.store import InfluxStore
from ingest.settings import demo_registry_path
from scripts.devstack import Server, free_port
from tests.dashboards.county_data import CountyFacts, fill_county
from tests.dashboards.support import (
    ADMIN_KEY,
    API_TIMEOUT_SECONDS,
    CHROMIUM,
    CHROMIUM_ARGS,
    PAGE_TIMEOUT_MS,
    VIEWPORT,
    Api,
    CountyDb,
    Officer,
    start_api,
    top_up,
)
from tests.support import Process, wait_http


@pytest.fixture(scope="session")
def county_db(
    influxd: Server, influxd_rpc: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CountyDb]:
    """The demo county: a year of simulated fuel history, VOC, alerts and ingest health."""
    url = f"http://127.0.0.1:{influxd.port}"
    registry = load_registry(demo_registry_path())
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if run is None:
        database = f"dash_{uuid.uuid4().hex[:10]}"
        with InfluxStore(url, database) as store:
            store.create_database()
            facts = fill_county(store, registry, datetime.now(UTC))
            yield CountyDb(url, database, store, registry, facts)
        return
    # Each xdist worker is a session with its own InfluxDB. Building the county is ~45 s of
    # CPU (a year of registers, rolled up by the real job); the first worker to need it builds
    # it and backs it up, the other restores that copy (about a second), waiting on the lock
    # while it is built rather than building a second one beside it.
    shared = tmp_path_factory.getbasetemp().parent / f"county-{run}"
    shared.mkdir(exist_ok=True)
    with (shared / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        database, facts = restored_county(shared, influxd_rpc) or built_county(
            shared, url, influxd_rpc, registry
        )
        fcntl.flock(lock, fcntl.LOCK_UN)
    with InfluxStore(url, database) as store:
        yield CountyDb(url, database, store, registry, facts)


def built_county(shared: Path, url: str, rpc: str, registry: Registry) -> tuple[str, CountyFacts]:
    """Build the county in this worker's InfluxDB and leave a copy in `shared`."""
    database = f"dash_{uuid.uuid4().hex[:10]}"
    with InfluxStore(url, database) as store:
        store.create_database()
        facts = fill_county(store, registry, datetime.now(UTC))
    backup = ["influxd", "backup", "-portable", "-host", rpc, "-db", database]
    subprocess.run([*backup, str(shared / "backup")], check=True, capture_output=True)
    copy = {"database": database, "facts": dataclasses.asdict(facts)}
    (shared / "county.json").write_text(json.dumps(copy, default=str), encoding="utf-8")
    return database, facts


def restored_county(shared: Path, rpc: str) -> tuple[str, CountyFacts] | None:
    """The county another worker built, restored into this worker's InfluxDB (None if none)."""
    if not (shared / "county.json").exists():
        return None
    copy = json.loads((shared / "county.json").read_text(encoding="utf-8"))
    database = copy["database"]
    restore = ["influxd", "restore", "-portable", "-host", rpc, "-db", database]
    done = subprocess.run([*restore, str(shared / "backup")], capture_output=True)
    if done.returncode != 0:  # never a reason to fail: this worker builds its own
        warnings.warn(f"county copy not restored, building it: {done.stderr!r}", stacklevel=1)
        return None
    facts = copy["facts"]
    return database, CountyFacts(
        now=datetime.fromisoformat(facts["now"]),
        points=facts["points"],
        exceedance=tuple(facts["exceedance"]) if facts["exceedance"] else None,
        minute_only=tuple(facts["minute_only"]) if facts["minute_only"] else None,
    )


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


@pytest.fixture
def make_api(
    county_db: CountyDb, spawn: Callable[..., Process], tmp_path: Path
) -> Callable[..., Api]:
    """Starts `python -m api` on the filled database as a user would, with extra settings."""

    def _start(**settings: str) -> Api:
        port = free_port()
        env = {
            "PLANTWATCH_INFLUX_URL": county_db.url,
            "PLANTWATCH_INFLUX_DB": county_db.database,
            "PLANTWATCH_API_PORT": str(port),
            "PLANTWATCH_ADMIN_KEY": ADMIN_KEY,
            "PLANTWATCH_DATABASE_URL": f"sqlite:///{tmp_path / 'api.db'}",
            "PLANTWATCH_MQTT_PORT": str(free_port()),  # no broker: the page must not need one
            # A loaded 2-core machine makes InfluxDB slow, not absent: no 503 after 10 s.
            "PLANTWATCH_INFLUX_TIMEOUT_SECONDS": str(API_TIMEOUT_SECONDS),
        } | settings
        process = spawn(["api"], env, "api")
        base = f"http://127.0.0.1:{port}"
        assert wait_http(f"{base}/healthz").status_code == 200, process.log()
        return Api(base, process)

    return _start


@pytest.fixture
def api(make_api: Callable[..., Api]) -> Api:
    """`python -m api` on the filled database, as a user would start it."""
    return make_api()


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


@pytest.fixture(scope="module")
def officer(county_db: CountyDb, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Officer]:
    now = datetime.now(UTC).replace(microsecond=0)
    top_up(county_db.store, county_db.registry, now, county_db.facts.minute_only)
    folder = tmp_path_factory.mktemp("officer")
    base, process = start_api(county_db.url, county_db.database, None, folder)
    repo = AlertRepo(connect(f"sqlite:///{folder / 'api.db'}"))
    yield Officer(base, process, repo, county_db.registry)
    process.stop()
