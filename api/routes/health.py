"""Liveness, readiness, and the names of codes (any key may read them)."""

from __future__ import annotations

import socket

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.alerts.texts import labels
from api.deps import SettingsDep, StoreDep
from api.schemas import ERROR_RESPONSES, Health, Labels, LabelsAnswer, Readiness
from ingest.kernel.catalogue import LANGS

router = APIRouter(tags=["health"])
BROKER_PROBE_TIMEOUT_SECONDS = 1.0


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    """The process is up."""
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "not ready: which check failed"}},
)
def readyz(settings: SettingsDep, store: StoreDep) -> JSONResponse:
    """Ready when the store (InfluxDB, or ClickHouse: the check is named by the engine)
    answers a ping and the MQTT broker accepts a TCP connection."""
    checks = {
        settings.store: store.ping(),
        "mqtt": _broker_reachable(settings.mqtt_host, settings.mqtt_port),
    }
    ready = all(checks.values())
    answer = Readiness(ready=ready, checks=checks)
    return JSONResponse(answer.model_dump(), status_code=200 if ready else 503)


@router.get("/api/v1/labels", response_model=LabelsAnswer, responses=ERROR_RESPONSES)
def code_labels() -> LabelsAnswer:
    """What the alert kinds, meter kinds and pollutants are called, in Chinese and English.

    The one dictionary notifications, reports and the web page share (api/alerts/texts.py).
    """
    return LabelsAnswer(**{lang: Labels(**labels(lang)) for lang in LANGS})


def _broker_reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=BROKER_PROBE_TIMEOUT_SECONDS):
            return True
    except OSError:
        return False
