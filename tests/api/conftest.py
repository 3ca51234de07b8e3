"""Fixtures for API tests: a small registry, settings on a private InfluxDB, a test client."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import create_app
from api.settings import ApiSettings
from ingest.kernel.store import InfluxStore
from scripts.devstack import free_port
from tests.api.support import ADMIN_KEY
from tests.support import wait_until


def _settings_factory(
    tmp_path: Path, database_url: str, influx_url: str, influx_db: str
) -> Callable[..., ApiSettings]:
    def _make(toml: str, **overrides: object) -> ApiSettings:
        registry = tmp_path / "registry.toml"
        registry.write_text(toml, encoding="utf-8")
        values: dict[str, object] = {
            "registry": registry,
            "influx_url": influx_url,
            "influx_db": influx_db,
            "admin_key": SecretStr(ADMIN_KEY),
            "database_url": database_url,
            "rollup_enabled": False,
            "reports_job_enabled": False,
            # Nothing listens here: the publisher retries quietly in the background.
            "mqtt_port": free_port(),
        }
        values.update(overrides)
        return ApiSettings(**values)  # type: ignore[arg-type]

    return _make


@pytest.fixture
def make_settings(
    tmp_path: Path, store: InfluxStore, database_url: str
) -> Callable[..., ApiSettings]:
    """Settings for an app on the test's fresh database and a registry written from `toml`."""
    return _settings_factory(tmp_path, database_url, store.url, store.database)


@pytest.fixture
def make_offline_settings(tmp_path: Path, database_url: str) -> Callable[..., ApiSettings]:
    """Settings whose InfluxDB and broker are not there: for what the API does before it reads
    any data (errors, roles, headers, body limits), so those tests run in the fast lane."""
    return _settings_factory(tmp_path, database_url, f"http://127.0.0.1:{free_port()}", "none")


def _clients(settings: Callable[..., ApiSettings]) -> Iterator[Callable[..., TestClient]]:
    clients: list[TestClient] = []

    def _make(toml: str, **overrides: object) -> TestClient:
        client = TestClient(create_app(settings(toml, **overrides)))
        client.__enter__()
        clients.append(client)
        return client

    yield _make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def make_client(make_settings: Callable[..., ApiSettings]) -> Iterator[Callable[..., TestClient]]:
    yield from _clients(make_settings)


@pytest.fixture
def make_offline_client(
    make_offline_settings: Callable[..., ApiSettings],
) -> Iterator[Callable[..., TestClient]]:
    """`make_client` without InfluxDB (see `make_offline_settings`)."""
    yield from _clients(make_offline_settings)


def _servers(settings: Callable[..., ApiSettings]) -> Iterator[Callable[..., str]]:
    servers: list[tuple[uvicorn.Server, threading.Thread]] = []

    def _make(
        toml: str, uvicorn_options: dict[str, object] | None = None, **overrides: object
    ) -> str:
        port = free_port()
        app = create_app(settings(toml, **overrides))
        options = dict(uvicorn_options or {})
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **options)  # type: ignore[arg-type]
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        servers.append((server, thread))
        assert wait_until(lambda: server.started, timeout=30), "uvicorn did not start"
        scheme = "https" if "ssl_certfile" in options else "http"
        return f"{scheme}://127.0.0.1:{port}"

    yield _make
    for server, thread in servers:
        server.should_exit = True
        thread.join(30)


@pytest.fixture
def make_server(make_settings: Callable[..., ApiSettings]) -> Iterator[Callable[..., str]]:
    """The app under a real uvicorn in this process (on a free port); returns its base URL.

    For what a TestClient cannot show: bytes on the wire, long streams, TLS (pass
    `ssl_certfile`/`ssl_keyfile` through `uvicorn_options`).
    """
    yield from _servers(make_settings)


@pytest.fixture
def make_offline_server(
    make_offline_settings: Callable[..., ApiSettings],
) -> Iterator[Callable[..., str]]:
    """`make_server` without InfluxDB (see `make_offline_settings`)."""
    yield from _servers(make_offline_settings)
