"""A revoked key loses its open alert stream (SSE), within the re-check period."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest

from tests.api.support import ADMIN
from tests.builders import FUEL_METERS, registry_toml
from tests.support import http_delete, http_get, http_post

pytestmark = pytest.mark.integration

TOML = registry_toml({"ss-a": ("stainless_steel", FUEL_METERS)})
DEADLINE_SECONDS = 30.0


def test_a_revoked_key_loses_its_stream(make_server: Callable[..., str]) -> None:
    base = make_server(
        TOML,
        alert_engine_enabled=False,
        stream_key_check_seconds=0.2,
        alert_stream_poll_seconds=0.1,
    )
    created = http_post(
        f"{base}/api/v1/keys", json={"name": "wall", "role": "viewer"}, headers=ADMIN
    )
    viewer = created.json()
    events: list[str] = []
    closed_after: float | None = None
    with httpx.Client(timeout=httpx.Timeout(10, read=DEADLINE_SECONDS)) as client:
        headers = {"Authorization": f"Bearer {viewer['key']}"}
        with client.stream("GET", f"{base}/api/v1/alerts/stream", headers=headers) as resp:
            assert resp.status_code == 200
            revoked_at = None
            for line in resp.iter_lines():
                if line.startswith("event:"):
                    events.append(line.split(":", 1)[1].strip())
                if events == ["ready"] and revoked_at is None:
                    gone = http_delete(f"{base}/api/v1/keys/{viewer['id']}", headers=ADMIN)
                    assert gone.status_code == 200
                    revoked_at = time.monotonic()
                if revoked_at is not None and time.monotonic() - revoked_at > DEADLINE_SECONDS:
                    break
            else:
                assert revoked_at is not None
                closed_after = time.monotonic() - revoked_at
    assert events[-1] == "revoked", events
    assert closed_after is not None and closed_after < DEADLINE_SECONDS
    # and the key opens no new stream
    again = http_get(f"{base}/api/v1/alerts/stream", headers=headers, timeout=10)
    assert again.status_code == 401
