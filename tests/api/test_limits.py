"""Limits before work (issue 14): body bytes before auth and parsing, the key before the body,
per-key expensive-read slots (429 + Retry-After), and the raw span a usage request may scan.

The byte limits are checked against a real uvicorn over a raw socket, because what matters
is what the server reads off the wire before it answers.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from api.ranges import RangeError, Segment, check_raw_span
from tests.api.support import ADMIN, ADMIN_KEY
from tests.builders import FUEL_METERS, registry_toml

TOML = registry_toml({"ss-a": ("stainless_steel", FUEL_METERS)})
SIXTY_MB = 60 * 1024 * 1024
CHUNK = 16 * 1024
ANSWER_SECONDS = 20.0


@pytest.fixture
def served(make_offline_server: Callable[..., str]) -> int:
    """The port of the app under a real uvicorn (no InfluxDB: nothing here reads data)."""
    return int(make_offline_server(TOML, alert_engine_enabled=False).rsplit(":", 1)[1])


def _head(path: str, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _answer(port: int, head: bytes, body: bytes = b"") -> str:
    """Send `head` and `body` (a part of what the head announced), then read the status line.

    The rest of the body is never sent: a server that waits for it before answering
    times out here instead.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=ANSWER_SECONDS) as sock:
        sock.sendall(head + body)
        answer = sock.recv(4096).decode("latin-1")
    return answer.split("\r\n", 1)[0]


def _chunks(total: int) -> bytes:
    """`total` bytes of JSON-ish padding in HTTP/1.1 chunked framing (without the last chunk)."""
    return b"".join(
        f"{CHUNK:x}\r\n".encode() + b" " * CHUNK + b"\r\n" for _ in range(total // CHUNK)
    )


def test_a_declared_60_mb_body_is_refused_before_it_is_sent(served: int) -> None:
    head = _head("/api/v1/keys", {"Content-Length": str(SIXTY_MB)})
    assert " 413 " in _answer(served, head)


def test_an_unauthenticated_streamed_body_is_refused_unread(served: int) -> None:
    head = _head("/api/v1/keys", {"Transfer-Encoding": "chunked"})
    assert " 401 " in _answer(served, head)


def test_an_authenticated_streamed_body_stops_at_the_limit(served: int) -> None:
    head = _head(
        "/api/v1/keys", {"Transfer-Encoding": "chunked", "Authorization": f"Bearer {ADMIN_KEY}"}
    )
    # 1 MiB of a body that never ends: the server must stop at 64 KiB and answer.
    assert " 413 " in _answer(served, head, _chunks(1024 * 1024))


def test_push_allows_a_payload_sized_body_other_routes_do_not(
    make_offline_client: Callable[..., TestClient],
) -> None:
    client = make_offline_client(TOML, alert_engine_enabled=False)
    body = b'{"readings": [], "pad": "' + b"x" * 200_000 + b'"}'
    push = client.post("/api/v1/plants/ss-a/meters/gas-1/readings", content=body, headers=ADMIN)
    assert push.status_code == 422, push.text  # read and refused by the ingest rules, not 413
    keys = client.post("/api/v1/keys", content=body, headers=ADMIN)
    assert keys.status_code == 413, keys.text
    assert keys.json()["detail"] == "request body exceeds 65536 bytes"


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/api/v1/keys", {}),
        ("/api/v1/keys", {"Authorization": "Bearer wrong-key"}),
        ("/api/v1/alerts/1/ack", {}),
        ("/api/v1/plants/ss-a/meters/gas-1/readings", {"Authorization": "Basic abc"}),
    ],
)
def test_broken_json_without_a_valid_key_is_401_not_422(
    make_offline_client: Callable[..., TestClient], path: str, headers: dict[str, str]
) -> None:
    client = make_offline_client(TOML, alert_engine_enabled=False)
    resp = client.post(
        path, content=b'{"name": ', headers=headers | {"Content-Type": "application/json"}
    )
    assert resp.status_code == 401, resp.text
    assert resp.headers["www-authenticate"] == "Bearer"


def test_a_key_with_its_expensive_reads_in_flight_gets_429(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(TOML, alert_engine_enabled=False, api_max_concurrent_reads=1)
    limiter = client.app.state.read_limiter  # type: ignore[attr-defined]
    viewer = client.post("/api/v1/keys", json={"name": "v", "role": "viewer"}, headers=ADMIN).json()
    as_viewer = {"Authorization": f"Bearer {viewer['key']}"}
    # The admin's one slot is taken (a read still running): its next expensive read waits.
    assert limiter.try_acquire("admin")
    for path in ("/api/v1/kpi/gas-share", "/api/v1/plants/ss-a/usage", "/api/v1/plants/ss-a/voc"):
        resp = client.get(path, headers=ADMIN)
        assert resp.status_code == 429, (path, resp.text)
        assert resp.headers["retry-after"] == "1"
        # Another key is not held back, and cheap reads of the same key are not limited.
        assert client.get(path, headers=as_viewer).status_code == 200, path
    assert client.get("/api/v1/plants", headers=ADMIN).status_code == 200
    limiter.release("admin")
    assert client.get("/api/v1/kpi/gas-share", headers=ADMIN).status_code == 200
    assert limiter.running("admin") == 0  # every slot given back


def test_a_usage_request_may_not_scan_years_of_raw_data(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(TOML, alert_engine_enabled=False)
    end = datetime(2026, 3, 1, tzinfo=UTC)
    ten_years = {"start": (end - timedelta(days=3650)).isoformat(), "end": end.isoformat()}
    for every in ("1441m", "1d"):  # 1441m: never whole hours; 1d: nothing rolled up yet
        resp = client.get(
            "/api/v1/plants/ss-a/usage", params=ten_years | {"every": every}, headers=ADMIN
        )
        assert resp.status_code == 422, resp.text
        assert "raw readings" in resp.json()["detail"]
    month = {"start": (end - timedelta(days=30)).isoformat(), "end": end.isoformat()}
    resp = client.get("/api/v1/plants/ss-a/usage", params=month | {"every": "90m"}, headers=ADMIN)
    assert resp.status_code == 200, resp.text


T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("plan", "refused"),
    [
        ([Segment("raw", T0, T0 + timedelta(days=31))], False),
        ([Segment("raw", T0, T0 + timedelta(days=31, seconds=1))], True),
        (
            [
                Segment("raw", T0, T0 + timedelta(days=20)),
                Segment("hourly", T0 + timedelta(days=20), T0 + timedelta(days=400)),
                Segment("raw", T0 + timedelta(days=400), T0 + timedelta(days=412)),
            ],
            True,
        ),
        ([Segment("daily", T0, T0 + timedelta(days=3000))], False),
    ],
)
def test_check_raw_span_counts_only_raw_stretches(plan: list[Segment], refused: bool) -> None:
    if refused:
        with pytest.raises(RangeError, match="raw readings"):
            check_raw_span(plan, timedelta(days=31))
    else:
        check_raw_span(plan, timedelta(days=31))
