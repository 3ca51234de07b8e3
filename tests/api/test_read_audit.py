"""Reads audited (failed logins, exports, reports) and per-key limits on reports and alert
streams (issue 23). Each test failed before the fix: none of it was audited or limited."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from fastapi.testclient import TestClient

from api.limits import RateLimiter
from api.middleware import FailureThrottle
from tests.api.support import ADMIN
from tests.builders import FUEL_METERS, registry_toml
from tests.support import wait_until

TOML = registry_toml({"ss-a": ("stainless_steel", FUEL_METERS)})


def audit(client: TestClient, action: str) -> list[dict]:
    resp = client.get("/api/v1/audit", params={"action": action}, headers=ADMIN)
    assert resp.status_code == 200, resp.text
    return resp.json()["entries"]


def viewer(client: TestClient) -> tuple[str, dict[str, str]]:
    made = client.post("/api/v1/keys", json={"name": "wall", "role": "viewer"}, headers=ADMIN)
    return f"wall#{made.json()['id']}", {"Authorization": f"Bearer {made.json()['key']}"}


def test_failure_throttle_audits_one_per_interval_and_counts_the_rest() -> None:
    now = [0.0]
    throttle = FailureThrottle(10.0, clock=lambda: now[0])
    seen = []
    for t in (0.0, 1.0, 2.0, 10.5, 11.0, 30.0):
        now[0] = t
        seen.append(throttle.admit("10.0.0.1"))
    assert seen == [0, None, None, 2, None, 1]
    assert throttle.admit("10.0.0.2") == 0  # per client


def test_rate_limiter_allows_so_many_per_window() -> None:
    now = [0.0]
    limiter = RateLimiter(2, 60.0, clock=lambda: now[0])
    assert [limiter.try_take("k") for _ in range(2)] == [None, None]
    assert limiter.try_take("k") == 60.0
    assert limiter.try_take("other") is None
    now[0] = 60.0
    assert limiter.try_take("k") is None


@pytest.mark.integration
def test_failed_logins_and_exports_are_audited(make_client: Callable[..., TestClient]) -> None:
    client = make_client(TOML, alert_engine_enabled=False)
    for _ in range(3):
        assert (
            client.get("/api/v1/alerts", headers={"Authorization": "Bearer guess"}).status_code
            == 401
        )
    assert client.get("/api/v1/alerts").status_code == 401  # no key at all: not a login attempt
    (failed,) = audit(client, "auth.failed")
    assert (failed["actor"], failed["target"]) == ("anonymous", "path:/api/v1/alerts")
    assert (
        failed["detail"]["skipped_since_last"] == 0
        and len(failed["detail"]["key_hash_prefix"]) == 12
    )
    name, key = viewer(client)
    assert client.get("/api/v1/alerts", params={"format": "csv"}, headers=key).status_code == 200
    assert client.get("/api/v1/alerts", headers=key).status_code == 200  # JSON: not an export
    (read,) = audit(client, "export.read")
    assert (read["actor"], read["target"]) == (name, "path:/api/v1/alerts")
    assert read["detail"] == {"query": "format=csv", "content_type": "text/csv"}


@pytest.mark.integration
def test_reports_are_audited_and_limited_per_key(make_client: Callable[..., TestClient]) -> None:
    client = make_client(TOML, alert_engine_enabled=False, api_reports_per_key_per_hour=2)
    name, key = viewer(client)
    url = "/api/v1/reports/monthly"
    first = client.get(url, params={"month": "2025-03", "format": "xlsx"}, headers=key)
    assert first.status_code == 200, first.text
    assert client.get(url, params={"month": "2025-13"}, headers=key).status_code == 422
    third = client.get(url, params={"month": "2025-03"}, headers=key)
    assert third.status_code == 429 and "2 reports in the last hour" in third.json()["detail"]
    assert (
        client.get(url, params={"month": "2025-03", "format": "xlsx"}, headers=ADMIN).status_code
        == 200
    )
    assert [(e["actor"], e["detail"]["query"]) for e in audit(client, "report.read")] == [
        ("admin", "month=2025-03&format=xlsx"),
        (name, "month=2025-03&format=xlsx"),
    ]


@pytest.mark.integration
def test_a_key_may_hold_only_so_many_alert_streams(make_server: Callable[..., str]) -> None:
    base = make_server(
        TOML, alert_engine_enabled=False, api_max_streams_per_key=1, alert_stream_poll_seconds=0.1
    )
    url = f"{base}/api/v1/alerts/stream"
    with httpx.Client(timeout=10) as client:
        with client.stream("GET", url, headers=ADMIN) as first:
            assert first.status_code == 200
            lines = first.iter_lines()  # kept: a dropped iterator closes the stream
            assert next(lines).startswith("event: ready")
            second = client.get(url, headers=ADMIN)
            assert second.status_code == 429, second.text

        # The slot is given back once the server sees the first stream closed.
        def opens() -> bool:
            with client.stream("GET", url, headers=ADMIN) as again:
                return again.status_code == 200

        assert wait_until(opens, 10)
