"""The FastAPI application factory."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine

from api import errors
from api.alerts.repo import AlertRepo
from api.alerts.runtime import build_runtime
from api.auth import KeyRing, Principal
from api.db import connect
from api.fuel.points import KpiPoints
from api.fuel.rollup import FuelRollup
from api.fuel.service import FuelCore, step_rules
from api.keys import KeyStore
from api.limits import RateLimiter, ReadLimiter, body_limits, expensive_read
from api.middleware import install as install_middleware
from api.push import ReadingPublisher
from api.readmodel.cache import RollupCache
from api.readmodel.job import Domain, ReadModelJob
from api.records import outbox
from api.records.repo import RecordRepo
from api.reports.job import ReportJob
from api.routes import alerts as alert_routes
from api.routes import audit as audit_routes
from api.routes import (
    docs,
    health,
    keys,
    kpi,
    lines,
    mine,
    plants,
    readings,
    records,
    reports,
    revisions,
    usage,
    web,
)
from api.routes import hj212 as hj212_routes
from api.routes import marks as mark_routes
from api.routes import tasks as task_routes
from api.routes import voc as voc_routes
from api.schemas import error_responses
from api.settings import ApiSettings
from api.voc.rollup import VocRollup
from ingest.kernel.engines import StoreEngine, open_store
from ingest.kernel.errors import StoreError
from ingest.kernel.pipeline import IngestRules
from ingest.kernel.registry import Registry, load_registry
from ingest.kernel.store import InfluxStore, Store
from ingest.kernel.store_schema import ensure_store_schema

log = logging.getLogger(__name__)


def _check_store_schema(store: StoreEngine) -> None:
    """Refuse to serve data of a shape this release cannot read (StoreSchemaError).

    On ClickHouse the tables' DDL is the schema: they are made if missing (idempotent, as
    the collector does at its start); there is no older shape to upgrade yet."""
    try:
        if isinstance(store, InfluxStore):
            ensure_store_schema(store)
        else:
            store.create_database()
    except StoreError as exc:  # the store away: /readyz says so; the next start checks
        log.warning("store schema not checked", extra={"error": str(exc)})


def create_app(settings: ApiSettings) -> FastAPI:
    """Build the app for `settings`; the registry is loaded now so a bad file fails fast."""
    registry = load_registry(settings.registry)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(_check_store_schema, app.state.store)
        runtime = None
        if settings.alert_engine_enabled:
            runtime = build_runtime(settings, registry, app.state.db)
            runtime.start()
        stop = threading.Event()
        rollup_threads = []
        if settings.rollup_enabled:
            rollup_threads = [
                threading.Thread(target=target, args=args, name=name, daemon=True)
                for target, args, name in (
                    (_run_rollups, (settings, registry, app.state.db, stop), "rollup"),
                )
            ]
            for thread in rollup_threads:
                thread.start()
        outbox_thread = threading.Thread(
            target=_run_record_outbox, args=(app, stop), name="record-outbox", daemon=True
        )
        outbox_thread.start()
        report_thread = None
        if settings.reports_job_enabled:
            report_thread = threading.Thread(
                target=_run_reports,
                args=(settings, registry, app.state.db, stop),
                name="reports",
                daemon=True,
            )
            report_thread.start()
        yield
        stop.set()
        if runtime is not None:
            runtime.stop()
        for thread in rollup_threads:
            thread.join(ROLLUP_STOP_SECONDS)
        if report_thread is not None:
            report_thread.join(ROLLUP_STOP_SECONDS)
        outbox_thread.join(ROLLUP_STOP_SECONDS)
        app.state.publisher.stop()
        app.state.store.close()

    app = FastAPI(
        title="plantwatch",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # api/routes/docs.py serves /docs from local assets
        redoc_url=None,
        description="Coal-to-gas KPI and VOC compliance for Songyang county.",
    )
    app.state.settings = settings
    app.state.registry = registry
    app.state.store = open_store(settings)
    # Rolled-up answers, kept until a rollup pass changes their hours (api/readmodel/cache.py).
    app.state.rollup_cache = RollupCache()
    app.state.db = connect(settings.database_url)
    app.state.keys = KeyStore(app.state.db)
    app.state.ingest_rules = IngestRules.from_settings(settings, registry)
    app.state.publisher = ReadingPublisher(settings)
    app.state.alert_repo = AlertRepo(app.state.db)
    app.state.keyring = KeyRing()
    app.state.read_limiter = ReadLimiter(settings.api_max_concurrent_reads)
    app.state.report_limiter = ReadLimiter(settings.api_max_concurrent_reports)
    app.state.report_rate = RateLimiter(settings.api_reports_per_key_per_hour, 3600.0)
    app.state.stream_limiter = ReadLimiter(settings.api_max_streams_per_key)
    install_middleware(app, request_body_limits(settings))
    if settings.admin_key is not None:
        app.state.keyring.add(settings.admin_key.get_secret_value(), Principal("admin", "admin"))

    errors.install(app)
    app.include_router(health.router)
    app.include_router(kpi.router, **EXPENSIVE)
    app.include_router(plants.router)
    app.include_router(usage.router, **EXPENSIVE)
    app.include_router(readings.router)
    app.include_router(keys.router)
    app.include_router(voc_routes.router, **EXPENSIVE)
    app.include_router(lines.router, **EXPENSIVE)
    app.include_router(alert_routes.router)
    app.include_router(reports.router)
    app.include_router(records.router)
    app.include_router(revisions.router)
    app.include_router(hj212_routes.router)
    app.include_router(web.router)
    app.include_router(docs.router)
    app.include_router(audit_routes.router)
    app.include_router(mark_routes.router)
    app.include_router(task_routes.router)
    app.include_router(mine.router)
    return app


ROLLUP_STOP_SECONDS = 10.0
# Routers whose reads are expensive (InfluxDB scans): one of the key's read slots each.
EXPENSIVE: dict[str, Any] = {
    "dependencies": [Depends(expensive_read)],
    "responses": error_responses(429),
}
PUSH_PATH = r"/api/v1/plants/[^/]+/meters/[^/]+/readings"


def _run_record_outbox(app: FastAPI, stop: threading.Event) -> None:
    """Publish coal deliveries kept while the broker was away (api/records/outbox.py)."""
    repo = RecordRepo(app.state.db)
    while not stop.wait(outbox.RETRY_SECONDS):
        try:
            if repo.pending_publications():
                outbox.drain(repo, app.state.ingest_rules, app.state.publisher, datetime.now(UTC))
        except Exception:
            log.exception("record outbox drain failed; retrying")


def request_body_limits(settings: ApiSettings) -> Callable[[str], int]:
    """Bytes a request body may have: HTTP push up to the broker's packet, everything else small."""
    return body_limits(settings.api_max_body_bytes, [(PUSH_PATH, settings.mqtt_max_packet_bytes)])


def rollup_job(
    settings: ApiSettings,
    store: Store,
    registry: Registry | None = None,
    db: Engine | None = None,
) -> ReadModelJob:
    """The read-model job as configured by `settings`: fuel, and with `registry` VOC too.

    With `registry` the fuel pass also writes the daily `kpi_gas_share` / `kpi_firm_status`
    points Grafana reads (api/fuel/points.py), judged with the officers' records (`db`) as
    the KPI endpoint judges them."""
    domains: list[Domain] = [
        FuelRollup(
            store,
            settings.kpi,
            step_rules(settings),
            settings.timezone,
            chunk=timedelta(days=settings.rollup_chunk_days),
        )
    ]
    after_pass = {}
    if registry is not None:
        domains.append(VocRollup(store, registry))
        facts = RecordRepo(db).facts if db is not None else ()
        after_pass["fuel"] = KpiPoints(
            # its own cache of rolled-up answers: each pass asks about the same days again
            FuelCore.from_settings(settings, store, registry, facts, RollupCache()),
            registry.by_sector("stainless_steel"),
            timedelta(days=settings.kpi.window_days),
        )
    return ReadModelJob(
        store,
        domains,
        settings.timezone,
        mark_lag=timedelta(seconds=settings.rollup_mark_lag_seconds),
        after_pass=after_pass,
    )


def _run_rollups(
    settings: ApiSettings, registry: Registry, db: Engine, stop: threading.Event
) -> None:
    # Its own HTTP client: the rollup's long queries must not queue behind request traffic.
    with open_store(settings) as store:
        rollup_job(settings, store, registry, db).run_forever(
            stop, settings.rollup_interval_seconds
        )


def _run_reports(
    settings: ApiSettings, registry: Registry, db: Engine, stop: threading.Event
) -> None:
    # Its own HTTP client, like the rollups: a month's report must not hold up requests.
    with open_store(settings) as store:
        ReportJob(settings, registry, store, db).run_forever(stop)
