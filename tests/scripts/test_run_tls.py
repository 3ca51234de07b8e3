"""`make run TLS=1` serves the API over HTTPS with a certificate from its local CA."""

from __future__ import annotations

from pathlib import Path

from scripts.devstack import TlsListener
from scripts.run import ApiAccess, RunTls, api_access
from scripts.tls import KeyPair

TLS = Path("/var/tls")
CERTS = RunTls(
    TlsListener(8883, TLS / "mosquitto.crt", TLS / "mosquitto.key", TLS / "ca.crt", "0.0.0.0"),
    KeyPair(TLS / "api.crt", TLS / "api.key"),
    TLS / "ca.crt",
)


def test_without_tls_the_api_is_plain_http() -> None:
    assert api_access(8000, None) == ApiAccess("http://127.0.0.1:8000", {}, None)


def test_with_tls_the_api_gets_its_certificate_and_is_reached_over_https() -> None:
    assert api_access(28001, CERTS) == ApiAccess(
        "https://127.0.0.1:28001",
        {
            "PLANTWATCH_API_TLS_CERTFILE": "/var/tls/api.crt",
            "PLANTWATCH_API_TLS_KEYFILE": "/var/tls/api.key",
        },
        TLS / "ca.crt",
    )
