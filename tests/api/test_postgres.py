"""The API and its alert engine on PostgreSQL: two `python -m api` processes on one database,
exactly one of them evaluating alerts (the lease), the other taking over when it dies."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from api.alerts.repo import AlertRepo
from api.alerts.tables import alert_lease
from api.db import connect
from ingest.kernel.store import InfluxStore
from scripts.devstack import free_port
from scripts.pgstack import PgCluster
from tests.builders import FUEL_METERS, registry_toml
from tests.support import Process, http_get, http_post, wait_http, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

ADMIN_KEY = "pg-admin-key"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
TOOK = "alert engine took the lease"


def _holder_pid(repo: AlertRepo) -> int | None:
    holder = repo.lease_holder(datetime.now(UTC))
    match = re.search(r"-(\d+)-[0-9a-f]{6}$", holder or "")
    return int(match.group(1)) if match else None


def _lease_expiry(repo: AlertRepo) -> int:
    with repo.engine.connect() as conn:
        return int(conn.execute(select(alert_lease.c.expires_at)).scalar_one())


def test_two_api_processes_share_one_database_and_one_evaluates(
    postgres: PgCluster,
    spawn: Callable[..., Process],
    store: InfluxStore,
    tmp_path: Path,
) -> None:
    url = postgres.new_database("api")
    registry = tmp_path / "registry.toml"
    registry.write_text(registry_toml({"ss-a": ("stainless_steel", FUEL_METERS)}), "utf-8")
    common = {
        "PLANTWATCH_REGISTRY": str(registry),
        "PLANTWATCH_DATABASE_URL": url,
        "PLANTWATCH_INFLUX_URL": store.url,
        "PLANTWATCH_INFLUX_DB": store.database,
        "PLANTWATCH_ADMIN_KEY": ADMIN_KEY,
        "PLANTWATCH_MQTT_PORT": str(free_port()),  # no broker needed
        "PLANTWATCH_ROLLUP_ENABLED": "false",
        "PLANTWATCH_ALERT_INTERVAL_SECONDS": "0.5",
        "PLANTWATCH_ALERT_LEASE_SECONDS": "4",
    }
    bases, procs = [], []
    for name in ("api-a", "api-b"):
        port = free_port()
        procs.append(spawn(["api"], common | {"PLANTWATCH_API_PORT": str(port)}, name))
        bases.append(f"http://127.0.0.1:{port}")
    for base, proc in zip(bases, procs, strict=True):
        assert wait_http(f"{base}/healthz").status_code == 200, proc.log()

    repo = AlertRepo(connect(url))
    pids = {p.proc.pid: p for p in procs if p.proc is not None}
    assert wait_until(lambda: _holder_pid(repo) in pids, timeout=60), [p.log() for p in procs]
    leader = pids[_holder_pid(repo)]  # type: ignore[index]
    follower = next(p for p in procs if p is not leader)
    # The leader renews its lease several times; the follower never takes it meanwhile.
    renewals, last = 0, _lease_expiry(repo)

    def renewed() -> bool:
        nonlocal renewals, last
        now = _lease_expiry(repo)
        renewals, last = renewals + (now > last), max(now, last)
        return renewals >= 3

    assert wait_until(renewed, timeout=60), leader.log()
    assert leader.log().count(TOOK) == 1 and TOOK not in follower.log()

    # Keys are shared: made through one process, accepted (and audited) by the other.
    a, b = bases if leader is procs[0] else bases[::-1]
    key = http_post(f"{a}/api/v1/keys", json={"name": "v", "role": "viewer"}, headers=ADMIN)
    assert key.status_code == 201, key.text
    viewer = {"Authorization": f"Bearer {key.json()['key']}"}
    assert http_get(f"{b}/api/v1/plants", headers=viewer, timeout=30).status_code == 200
    audit = http_get(f"{b}/api/v1/audit", params={"action": "key.created"}, headers=ADMIN)
    assert [e["target"] for e in audit.json()["entries"]] == [f"key:{key.json()['id']}"]

    leader.kill()  # no clean release: the follower waits for the lease to expire
    assert wait_until(lambda: _holder_pid(repo) == follower.proc.pid, timeout=60), follower.log()  # type: ignore[union-attr]
    assert follower.log().count(TOOK) == 1
    repo.engine.dispose()


def test_processes_starting_together_create_the_schema_once(postgres: PgCluster) -> None:
    # Without the schema lock, concurrent CREATE TABLEs collide (DuplicateTable, pg_type).
    url = postgres.new_database("race")
    errors: list[str] = []

    def start() -> None:
        try:
            connect(url).dispose()
        except Exception as exc:  # any failure is the finding
            errors.append(repr(exc))

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
