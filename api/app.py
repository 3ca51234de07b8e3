"""The FastAPI application factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from api.alerts.repo import AlertRepo
from api.alerts.runtime import build_runtime
from api.auth import KeyRing, Principal
from api.db import connect
from api.routes import alerts as alert_routes
from api.routes import health, kpi, web
from api.routes import voc as voc_routes
from api.settings import ApiSettings
from ingest.errors import StoreRejected, StoreUnavailable
from ingest.registry import load_registry
from ingest.store import InfluxStore

log = logging.getLogger(__name__)


def create_app(settings: ApiSettings) -> FastAPI:
    """Build the app for `settings`; the registry is loaded now so a bad file fails fast."""
    registry = load_registry(settings.registry)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = None
        if settings.alert_engine_enabled:
            runtime = build_runtime(settings, registry, app.state.db)
            runtime.start()
        yield
        if runtime is not None:
            runtime.stop()
        app.state.store.close()

    app = FastAPI(
        title="plantwatch",
        version="0.1.0",
        lifespan=lifespan,
        description="Coal-to-gas KPI and VOC compliance for Songyang county.",
    )
    password = settings.influx_password.get_secret_value() if settings.influx_password else None
    app.state.settings = settings
    app.state.registry = registry
    app.state.store = InfluxStore(
        settings.influx_url,
        settings.influx_db,
        settings.influx_username,
        password,
        settings.influx_timeout_seconds,
    )
    app.state.db = connect(settings.database_url)
    app.state.alert_repo = AlertRepo(app.state.db)
    app.state.keyring = KeyRing()
    if settings.admin_key is not None:
        app.state.keyring.add(settings.admin_key.get_secret_value(), Principal("admin", "admin"))

    @app.exception_handler(StoreUnavailable)
    async def store_unavailable(request: Request, exc: StoreUnavailable) -> JSONResponse:
        return JSONResponse({"detail": f"time-series store unavailable: {exc}"}, status_code=503)

    @app.exception_handler(StoreRejected)
    async def store_rejected(request: Request, exc: StoreRejected) -> JSONResponse:
        log.error("store rejected a query", extra={"error": str(exc), "path": request.url.path})
        return JSONResponse({"detail": "the time-series store rejected the query"}, status_code=502)

    app.include_router(health.router)
    app.include_router(kpi.router)
    app.include_router(voc_routes.router)
    app.include_router(alert_routes.router)
    app.include_router(web.router)
    return app
