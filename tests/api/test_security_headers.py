"""Browser security headers on every answer, and /docs served from the API's own assets."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from tests.api.support import ADMIN
from tests.builders import FUEL_METERS, registry_toml

TOML = registry_toml({"ss-a": ("stainless_steel", FUEL_METERS)})


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        ("/dashboard/", {}, 200),
        ("/dashboard/app.js", {}, 200),
        ("/docs", {}, 200),
        ("/api/v1/plants", ADMIN, 503),  # no InfluxDB here: error answers carry them too
        ("/api/v1/plants", {}, 401),
        ("/healthz", {}, 200),
    ],
)
def test_every_answer_carries_the_security_headers(
    make_offline_client: Callable[..., TestClient], path: str, headers: dict[str, str], status: int
) -> None:
    resp = make_offline_client(TOML, alert_engine_enabled=False).get(path, headers=headers)
    assert resp.status_code == status
    csp = resp.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert resp.headers["referrer-policy"] == "no-referrer"
    assert resp.headers["x-frame-options"] == "DENY"


def test_docs_load_only_from_the_api_itself(
    make_offline_client: Callable[..., TestClient],
) -> None:
    client = make_offline_client(TOML, alert_engine_enabled=False)
    page = client.get("/docs")
    assert page.status_code == 200
    assert "<script>" not in page.text  # no inline script: the CSP would block it
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert len(assets) >= 3
    for asset in assets:
        assert asset.startswith("/") and not asset.startswith("//"), asset
        resp = client.get(asset)
        assert resp.status_code == 200 and len(resp.content) > 100, asset
    init = client.get("/docs/init.js").text
    assert '"/openapi.json"' in init
    assert client.get("/openapi.json").status_code == 200
