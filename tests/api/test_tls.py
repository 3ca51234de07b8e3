"""The API over HTTPS: `python -m api` with a certificate from the local CA (scripts/tls.py),
a client that trusts only that CA."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from api.settings import ApiSettings
from ingest.kernel.store import InfluxStore
from scripts.devstack import free_port
from scripts.tls import KeyPair, make_ca, make_server_cert
from tests.builders import FUEL_METERS, registry_toml
from tests.support import Process, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

ADMIN_KEY = "tls-admin-key"


def _certs(folder: Path) -> tuple[KeyPair, KeyPair]:
    ca = make_ca(folder)
    return ca, make_server_cert(folder, ca, ["127.0.0.1", "localhost"], name="api")


def test_the_api_serves_https_with_the_configured_certificate(
    spawn: Callable[..., Process], store: InfluxStore, tmp_path: Path
) -> None:
    ca, server = _certs(tmp_path / "tls")
    registry = tmp_path / "registry.toml"
    registry.write_text(registry_toml({"ss-a": ("stainless_steel", FUEL_METERS)}), "utf-8")
    port = free_port()
    api = spawn(
        ["api"],
        {
            "PLANTWATCH_REGISTRY": str(registry),
            "PLANTWATCH_INFLUX_URL": store.url,
            "PLANTWATCH_INFLUX_DB": store.database,
            "PLANTWATCH_API_PORT": str(port),
            "PLANTWATCH_ADMIN_KEY": ADMIN_KEY,
            "PLANTWATCH_MQTT_PORT": str(free_port()),
            "PLANTWATCH_ROLLUP_ENABLED": "false",
            "PLANTWATCH_ALERT_ENGINE_ENABLED": "false",
            "PLANTWATCH_API_TLS_CERTFILE": str(server.cert),
            "PLANTWATCH_API_TLS_KEYFILE": str(server.key),
        },
        "api-tls",
    )
    base = f"https://127.0.0.1:{port}"
    trusting = ssl.create_default_context(cafile=str(ca.cert))

    def up() -> bool:
        try:
            return httpx.get(f"{base}/healthz", verify=trusting, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    assert wait_until(up, timeout=60), api.log()
    resp = httpx.get(
        f"{base}/api/v1/plants",
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
        verify=trusting,
        timeout=30,
    )
    assert resp.status_code == 200, resp.text
    assert resp.headers["strict-transport-security"].startswith("max-age=")
    # A client that does not trust the CA refuses the server; plain HTTP gets no answer.
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{base}/healthz", timeout=5)
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)


def test_half_a_tls_setup_is_refused(tmp_path: Path) -> None:
    _, server = _certs(tmp_path / "tls")
    with pytest.raises(ValidationError, match="set both"):
        ApiSettings(api_tls_certfile=server.cert)
    with pytest.raises(ValidationError, match="does not exist"):
        ApiSettings(api_tls_certfile=server.cert, api_tls_keyfile=tmp_path / "missing.key")
