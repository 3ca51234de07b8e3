"""Liveness and readiness."""

from __future__ import annotations

import socket

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import SettingsDep, StoreDep

router = APIRouter(tags=["health"])
BROKER_PROBE_TIMEOUT_SECONDS = 1.0


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(settings: SettingsDep, store: StoreDep) -> JSONResponse:
    """Ready when InfluxDB answers a ping and the MQTT broker accepts a TCP connection."""
    checks = {
        "influxdb": store.ping(),
        "mqtt": _broker_reachable(settings.mqtt_host, settings.mqtt_port),
    }
    ready = all(checks.values())
    return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)


def _broker_reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=BROKER_PROBE_TIMEOUT_SECONDS):
            return True
    except OSError:
        return False
