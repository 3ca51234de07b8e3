"""Limits applied before any work: request body bytes, and concurrent expensive reads per key.

`BodyLimitMiddleware` is plain ASGI: it refuses a declared `Content-Length` over the limit
before anything reads the body (and before authentication), and counts the bytes of a
streamed body as they arrive, stopping at the limit instead of buffering the rest.
`ReadLimiter` caps how many expensive reads (KPI, usage, VOC, their CSV exports) one key
runs at once; the next one gets 429 with `Retry-After`. The same kind of cap holds monthly
reports (one at a time per key, and `RateLimiter`: so many an hour) and alert streams (so
many open at once per key), so a stolen viewer key cannot load the API.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status

from api.auth import Principal
from api.deps import get_principal
from api.errors import PayloadTooLarge, TooManyRequests

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[Message], Any]
ASGIApp = Callable[[Scope, Receive, Send], Any]

RETRY_AFTER_SECONDS = 1


class BodyTooLarge(HTTPException):
    """The request body passed its limit. An HTTPException so that FastAPI's body parsing lets
    it through; `BodyLimitMiddleware` answers it in the shape of `api.errors.PayloadTooLarge`."""

    def __init__(self, limit_bytes: int) -> None:
        super().__init__(
            status.HTTP_413_CONTENT_TOO_LARGE, f"request body exceeds {limit_bytes} bytes"
        )

    def body(self) -> dict[str, Any]:
        return {"detail": self.detail, "code": PayloadTooLarge.code}


def body_limits(default_bytes: int, overrides: list[tuple[str, int]]) -> Callable[[str], int]:
    """A path -> byte limit function: the first override whose regex fully matches, else default."""
    compiled = [(re.compile(pattern), limit) for pattern, limit in overrides]

    def limit_for(path: str) -> int:
        for pattern, limit in compiled:
            if pattern.fullmatch(path):
                return limit
        return default_bytes

    return limit_for


async def send_json(send: Send, status_code: int, body: dict[str, Any], **headers: str) -> None:
    """Answer a whole JSON response from plain ASGI code."""
    payload = json.dumps(body).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    raw += [(k.lower().replace("_", "-").encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status_code, "headers": raw})
    await send({"type": "http.response.body", "body": payload})


class BodyLimitMiddleware:
    """413 for a body over `limit_for(path)` bytes, declared or streamed, before it is kept."""

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        too_large = BodyTooLarge(limit)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await send_json(send, 413, too_large.body(), connection="close")
            return
        seen = 0
        exceeded = started = False

        async def counting_receive() -> Message:
            nonlocal seen, exceeded
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    exceeded = True
                    raise too_large
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if exceeded:
                # Whatever the app made of the exception, the answer is our 413.
                if message["type"] == "http.response.start" and not started:
                    started = True
                    await send_json(send, 413, too_large.body(), connection="close")
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if started:
                raise
            started = True
            await send_json(send, 413, too_large.body(), connection="close")


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class ReadLimiter:
    """At most `per_key` expensive reads in flight for one key (principal name)."""

    def __init__(self, per_key: int) -> None:
        self.per_key = per_key
        self._lock = threading.Lock()
        self._running: Counter[str] = Counter()

    def try_acquire(self, key: str) -> bool:
        with self._lock:
            if self._running[key] >= self.per_key:
                return False
            self._running[key] += 1
            return True

    def release(self, key: str) -> None:
        with self._lock:
            self._running[key] -= 1
            if self._running[key] <= 0:
                del self._running[key]

    def running(self, key: str) -> int:
        with self._lock:
            return self._running[key]


def expensive_read(
    request: Request, principal: Annotated[Principal, Depends(get_principal)]
) -> Iterator[None]:
    """Hold one of the key's expensive-read slots for the request, or answer 429."""
    limiter: ReadLimiter = request.app.state.read_limiter
    if not limiter.try_acquire(principal.name):
        raise TooManyRequests(
            f"this key already runs {limiter.per_key} expensive reads; retry when one finishes",
            RETRY_AFTER_SECONDS,
        )
    try:
        yield
    finally:
        limiter.release(principal.name)


class RateLimiter:
    """At most `per_window` requests per key in any trailing `window_seconds`."""

    def __init__(
        self, per_window: int, window_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.per_window = per_window
        self.window_seconds = window_seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._seen: dict[str, deque[float]] = {}

    def try_take(self, key: str) -> float | None:
        """None if `key` may go now (and counts it), else the seconds until it may."""
        now = self.clock()
        with self._lock:
            times = self._seen.setdefault(key, deque())
            while times and times[0] <= now - self.window_seconds:
                times.popleft()
            if len(times) >= self.per_window:
                return times[0] + self.window_seconds - now
            times.append(now)
            return None


def report_slot(
    request: Request, principal: Annotated[Principal, Depends(get_principal)]
) -> Iterator[None]:
    """One of the key's report slots (one at a time, so many an hour), or 429."""
    state = request.app.state
    wait = state.report_rate.try_take(principal.name)
    if wait is not None:
        raise TooManyRequests(
            f"this key has had {state.report_rate.per_window} reports in the last hour; "
            f"retry in {wait:.0f} s",
            max(1, int(wait) + 1),
        )
    limiter: ReadLimiter = state.report_limiter
    if not limiter.try_acquire(principal.name):
        raise TooManyRequests(
            f"this key already makes {limiter.per_key} report(s); retry when it is done",
            RETRY_AFTER_SECONDS,
        )
    try:
        yield
    finally:
        limiter.release(principal.name)


def open_stream(request: Request, principal: Principal) -> Callable[[], None]:
    """Take one of the key's stream slots (or 429); returns what releases it."""
    limiter: ReadLimiter = request.app.state.stream_limiter
    if not limiter.try_acquire(principal.name):
        raise TooManyRequests(
            f"this key already has {limiter.per_key} alert streams open; close one first",
            RETRY_AFTER_SECONDS,
        )
    released = threading.Event()

    def release() -> None:
        if not released.is_set():
            released.set()
            limiter.release(principal.name)

    return release
