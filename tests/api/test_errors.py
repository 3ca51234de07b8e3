"""Failures answer JSON with a clear status: store down 503, bugs 500 without a traceback."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ApiSettings
from tests.api.support import ADMIN
from tests.builders import FUEL_METERS, registry_toml

TOML = registry_toml({"ss-a": ("stainless_steel", FUEL_METERS)})


def test_influxdb_down_is_503(make_offline_settings: Callable[..., ApiSettings]) -> None:
    settings = make_offline_settings(TOML)
    with TestClient(create_app(settings)) as client:
        for path in ("/api/v1/kpi/gas-share", "/api/v1/plants", "/api/v1/usage"):
            resp = client.get(path, headers=ADMIN)
            assert resp.status_code == 503, path
            assert resp.json()["detail"].startswith("time-series store unavailable")


def test_unexpected_error_is_json_500(make_offline_settings: Callable[..., ApiSettings]) -> None:
    app = create_app(make_offline_settings(TOML))

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret internals")

    with TestClient(app, raise_server_exceptions=False) as client:
        resp = client.get("/boom")
    assert resp.status_code == 500
    assert resp.json() == {"detail": "internal error; see the service log"}
