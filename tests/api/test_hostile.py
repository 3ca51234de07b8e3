"""Hostile and malformed query parameters get a clear 4xx, and nothing reaches InfluxQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from ingest.kernel.store import InfluxStore
from tests.api.support import ADMIN
from tests.builders import FUEL_METERS, register_lines, registry_toml

pytestmark = pytest.mark.integration

TOML = registry_toml({"ss-a": ("stainless_steel", FUEL_METERS)})
INJECT = 'x\' OR 1=1; DROP DATABASE "db" --'
GOOD = {"start": "2026-03-01T00:00:00+08:00", "end": "2026-03-02T00:00:00+08:00"}

CASES: list[tuple[str, dict[str, str], int, str]] = [
    ("/api/v1/kpi/gas-share", {"at": "2026-03-01T00:00:00Z' OR time > 0 --"}, 422, "at"),
    ("/api/v1/kpi/gas-share", {"at": "2026-03-01T00:00:00"}, 422, "needs a UTC offset"),
    ("/api/v1/kpi/gas-share", {"at": "1970-01-01T00:00:00Z"}, 422, "2000..2099"),
    ("/api/v1/kpi/gas-share", {"at": "yesterday"}, 422, "at"),
    ("/api/v1/kpi/gas-share", {"window_days": "0"}, 422, "window_days"),
    ("/api/v1/kpi/gas-share", {"window_days": "1e9"}, 422, "window_days"),
    ("/api/v1/kpi/gas-share", {"window_days": "nan"}, 422, "window_days"),
    ("/api/v1/kpi/gas-share", {"format": "xml"}, 422, "format"),
    (
        "/api/v1/kpi/gas-share",
        {"at": "2000-01-05T00:00:00Z", "window_days": "30"},
        422,
        "window start",
    ),
    ("/api/v1/kpi/gas-share/history", {"year": "1999"}, 422, "year"),
    ("/api/v1/kpi/gas-share/history", {"year": "2026; DROP"}, 422, "year"),
    ("/api/v1/plants/ss-a/usage", {**GOOD, "every": "1h) fill(0); DROP DATABASE x"}, 422, "every"),
    ("/api/v1/plants/ss-a/usage", {**GOOD, "every": "0m"}, 422, "'every'"),
    (
        "/api/v1/plants/ss-a/usage",
        {**GOOD, "every": "1m", "end": "2026-12-01T00:00:00+08:00"},
        422,
        "at most 5000",
    ),
    (
        "/api/v1/plants/ss-a/usage",
        {"start": "2001-01-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"},
        422,
        "exceeds",
    ),
    (
        "/api/v1/plants/ss-a/usage",
        {"start": GOOD["end"], "end": GOOD["start"]},
        422,
        "must be after",
    ),
    (
        "/api/v1/plants/ss-a/usage",
        {"start": "2026-03-01", "end": GOOD["end"]},
        422,
        "needs a UTC offset",
    ),
    ("/api/v1/plants/ss-a/usage", {"start": "2026-13-45T00:00:00Z"}, 422, "start"),
    ("/api/v1/plants/ss-a/usage", {"start": "99999-01-01T00:00:00Z"}, 422, "start"),
    (f"/api/v1/plants/{INJECT}/usage", GOOD, 404, "not in the registry"),
    ("/api/v1/plants/ss-a%27%20OR%20%27%27%3D%27", GOOD, 404, "not in the registry"),
    ("/api/v1/usage", {**GOOD, "sector": "stainless_steel' OR 1=1"}, 422, "sector"),
    ("/api/v1/usage", {**GOOD, "every": "-1d"}, 422, "'every'"),
    ("/api/v1/usage", {**GOOD, "every": "9" * 10 + "d"}, 422, "'every'"),
    ("/api/v1/usage", {**GOOD, "every": "x" * 100}, 422, "every"),
]


@pytest.mark.parametrize(("path", "params", "status", "mentions"), CASES)
def test_hostile_params_get_4xx(
    path: str,
    params: dict[str, str],
    status: int,
    mentions: str,
    make_client: Callable[..., TestClient],
) -> None:
    resp = make_client(TOML).get(path, params=params, headers=ADMIN)
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == "application/json"
    assert mentions in resp.text


def test_nothing_was_injected(store: InfluxStore, make_client: Callable[..., TestClient]) -> None:
    start = datetime(2026, 3, 1, tzinfo=UTC)
    store.write_lines(register_lines("gas", "ss-a", "gas-1", start, timedelta(hours=1), [1.0, 2.0]))
    client = make_client(TOML)
    for path, params, _, _ in CASES:
        client.get(path, params=params, headers=ADMIN)
    (series,) = store.query('SELECT count("volume_m3") FROM "gas"')
    assert series.values[0][1] == 2
