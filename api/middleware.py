"""ASGI middleware of the API: the key is checked before any body is read; every answer carries
the browser security headers.

Order (outermost first, see `install`): security headers, body limit (api.limits), read
audit, key check. So an oversized body is refused before its key is looked at, and an unknown
key is refused before its body is read or parsed (broken JSON without a key is 401, not 422).

Audited here (api.audit): a request with a key that is not live (`auth.failed`, at most once
per client address every FAILED_LOGIN_AUDIT_SECONDS, with the count of the ones in between,
so a flood cannot flood the log), and every export and report a key reads (`export.read`,
`report.read`: CSV, PDF or XLSX answered 200).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from anyio import to_thread
from fastapi import FastAPI

from api.audit import MAX_TARGET_CHARS, record_audit
from api.auth import Principal, hash_key
from api.deps import MISSING_KEY, UNKNOWN_KEY, resolve_key
from api.errors import NotAuthenticated
from api.limits import ASGIApp, BodyLimitMiddleware, Message, Receive, Scope, Send, send_json

PROTECTED_PREFIX = "/api/"
# The page and /docs load scripts, styles and images only from this origin: no inline
# script or style, no framing, no plugins. Swagger UI's icons are data: URIs.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
}
HSTS = "max-age=31536000"
FAILED_LOGIN_AUDIT_SECONDS = 10.0
MAX_THROTTLED_CLIENTS = 10_000
EXPORT_TYPES = (
    b"text/csv",
    b"application/pdf",
    b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
)
REPORTS_PREFIX = "/api/v1/reports/"
log = logging.getLogger(__name__)


class FailureThrottle:
    """Whether to audit a failed login from a client now, and how many were skipped since."""

    def __init__(
        self, interval_seconds: float = FAILED_LOGIN_AUDIT_SECONDS, clock=time.monotonic
    ) -> None:
        self.interval_seconds = interval_seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._last: dict[str, tuple[float, int]] = {}  # client -> (last audited, skipped since)

    def admit(self, client: str) -> int | None:
        """None: skip this one (counted); else the number skipped before it (audit now)."""
        now = self.clock()
        with self._lock:
            last, skipped = self._last.get(client, (float("-inf"), 0))
            if now - last < self.interval_seconds:
                self._last[client] = (last, skipped + 1)
                return None
            if len(self._last) >= MAX_THROTTLED_CLIENTS:
                self._last.clear()
            self._last[client] = (now, 0)
            return skipped


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def _audit_quietly(db: Any, *args: Any, **kwargs: Any) -> None:
    # Never turn an answer into a 500 because its audit record could not be written.
    try:
        record_audit(db, *args, **kwargs)
    except Exception:
        log.exception("could not write an audit record")


def bearer_key(scope: Scope) -> str | None:
    """The key of an `Authorization: Bearer <key>` header, if the request has one."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, key = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and key.strip():
                return key.strip()
    return None


class AuthFirstMiddleware:
    """401 for an `/api/` request without a live key, before routing reads its body."""

    def __init__(self, app: ASGIApp, state: Any) -> None:
        self.app = app
        self.state = state
        self.throttle = FailureThrottle()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PROTECTED_PREFIX):
            await self.app(scope, receive, send)
            return
        key = bearer_key(scope)
        principal: Principal | None = None
        if key is not None:
            principal = await to_thread.run_sync(resolve_key, self.state, key)
        if principal is None:
            if key is not None:
                await self._audit_failure(scope, key)
            detail = MISSING_KEY if key is None else UNKNOWN_KEY
            body = {"detail": detail, "code": NotAuthenticated.code}
            await send_json(send, 401, body, www_authenticate="Bearer")
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)

    async def _audit_failure(self, scope: Scope, key: str) -> None:
        client = _client(scope)
        skipped = self.throttle.admit(client)
        if skipped is None:
            return
        detail = {
            "client": client,
            "method": scope["method"],
            "key_hash_prefix": hash_key(key)[:12],  # tells repeated tries of one key apart
            "skipped_since_last": skipped,
        }
        target = f"path:{scope['path']}"[:MAX_TARGET_CHARS]
        await to_thread.run_sync(
            lambda: _audit_quietly(self.state.db, "anonymous", "auth.failed", target, detail)
        )


class ReadAuditMiddleware:
    """Audit each export (CSV) and report (PDF, XLSX) answered 200, with who read it."""

    def __init__(self, app: ASGIApp, state: Any) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PROTECTED_PREFIX):
            await self.app(scope, receive, send)
            return
        exported: list[str] = []

        async def watching(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 200:
                for name, value in message.get("headers", []):
                    if name.lower() == b"content-type" and value.startswith(EXPORT_TYPES):
                        exported.append(value.decode("latin-1").split(";")[0])
            await send(message)

        await self.app(scope, receive, watching)
        principal = scope.get("state", {}).get("principal")
        if exported and isinstance(principal, Principal):
            path = scope["path"]
            action = "report.read" if path.startswith(REPORTS_PREFIX) else "export.read"
            query = scope.get("query_string", b"").decode("latin-1")
            detail = {"query": query[:500], "content_type": exported[0]}
            target = f"path:{path}"[:MAX_TARGET_CHARS]
            await to_thread.run_sync(
                lambda: _audit_quietly(self.state.db, principal.name, action, target, detail)
            )


class SecurityHeadersMiddleware:
    """Add the browser security headers (and HSTS over https) to every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = dict(SECURITY_HEADERS)
        if scope.get("scheme") == "https":
            extra["strict-transport-security"] = HSTS

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                added = [
                    (k.encode(), v.encode()) for k, v in extra.items() if k.encode() not in present
                ]
                message = {**message, "headers": [*message.get("headers", []), *added]}
            await send(message)

        await self.app(scope, receive, with_headers)


def install(app: FastAPI, limit_for: Callable[[str], int]) -> None:
    """Wrap `app` in the middleware above, in the order the module docstring gives."""
    app.add_middleware(AuthFirstMiddleware, state=app.state)
    app.add_middleware(ReadAuditMiddleware, state=app.state)
    app.add_middleware(BodyLimitMiddleware, limit_for=limit_for)
    app.add_middleware(SecurityHeadersMiddleware)
