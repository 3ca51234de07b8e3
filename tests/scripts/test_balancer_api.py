"""`make cluster`'s API behind HAProxy (scripts/balancer.py): one API process is SIGKILLed
and every request through the balancer is still answered, none twice.

Real processes: HAProxy, two `python -m api` on one InfluxDB and one SQL database (SQLite
here: the engine's lease and the keys; `make cluster` uses PostgreSQL)."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from ingest.kernel.store import InfluxStore
from scripts.balancer import Backend, services_balancer
from scripts.devstack import free_port
from tests.support import Process, wait_http

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

ADMIN_KEY = "pw_balancer-test-admin-key"
REQUESTS = 40


def api(store: InfluxStore, folder: Path, port: int, name: str) -> Process:
    env = {
        "PLANTWATCH_INFLUX_URL": store.url,
        "PLANTWATCH_INFLUX_DB": store.database,
        "PLANTWATCH_API_PORT": str(port),
        "PLANTWATCH_ADMIN_KEY": ADMIN_KEY,
        "PLANTWATCH_DATABASE_URL": f"sqlite:///{folder / 'api.db'}",
        "PLANTWATCH_MQTT_PORT": str(free_port()),
        "PLANTWATCH_ROLLUP_ENABLED": "false",
        "PLANTWATCH_SPOOL_DIR": str(folder / "spool"),
        "PLANTWATCH_CREDENTIALS_FILE": str(folder / "credentials.json"),
        "PLANTWATCH_LOG_LEVEL": "WARNING",
    }
    full = {k: v for k, v in os.environ.items() if not k.startswith("PLANTWATCH_")} | env
    process = Process(["-m", "api"], full, folder / f"{name}.log").start()
    assert wait_http(f"http://127.0.0.1:{port}/healthz").status_code == 200, process.log()
    return process


def get(port: int, path: str) -> int:
    """One request on a connection of its own, as each of many browsers would."""
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    return httpx.get(f"http://127.0.0.1:{port}{path}", headers=headers, timeout=30).status_code


def test_an_api_process_killed_behind_the_balancer_leaves_every_request_answered(
    tmp_path: Path, store: InfluxStore
) -> None:
    backends = [Backend(port, port) for port in (free_port(), free_port())]
    # one after the other: the first makes the SQL tables
    processes = [api(store, tmp_path, b.port, f"api-{i}") for i, b in enumerate(backends, 1)]
    port = free_port()
    balancer = services_balancer(
        tmp_path / "haproxy", "127.0.0.1", free_port(), [], port, backends
    ).start()
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=30) as http:
            assert wait_http(f"http://127.0.0.1:{port}/healthz").status_code == 200
            before = [get(port, "/api/v1/plants") for _ in range(REQUESTS)]
            processes[0].kill()  # SIGKILL, with the balancer's idle connections to it open
            after = [get(port, "/api/v1/plants") for _ in range(REQUESTS)]
            made = http.post("/api/v1/keys", json={"name": "after", "role": "viewer"})
            keys = http.get("/api/v1/keys").json()
        assert before == [200] * REQUESTS
        assert after == [200] * REQUESTS, after
        assert made.status_code in (200, 201), made.text
        names = [k["name"] for k in (keys["keys"] if isinstance(keys, dict) else keys)]
        assert names.count("after") == 1  # a POST is never sent twice
    finally:
        balancer.stop()
        for process in processes:
            process.stop()
