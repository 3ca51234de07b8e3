"""ASGI middleware of the API: the key is checked before any body is read; every answer carries
the browser security headers.

Order (outermost first, see `install`): security headers, body limit (api.limits), key check.
So an oversized body is refused before its key is looked at, and an unknown key is refused
before its body is read or parsed (broken JSON without a key is 401, not 422).
"""

from __future__ import annotations

from collections.abc import Callable

from anyio import to_thread
from fastapi import FastAPI

from api.auth import Principal
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

    def __init__(self, app: ASGIApp, state: object) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PROTECTED_PREFIX):
            await self.app(scope, receive, send)
            return
        key = bearer_key(scope)
        principal: Principal | None = None
        if key is not None:
            principal = await to_thread.run_sync(resolve_key, self.state, key)
        if principal is None:
            detail = MISSING_KEY if key is None else UNKNOWN_KEY
            body = {"detail": detail, "code": NotAuthenticated.code}
            await send_json(send, 401, body, www_authenticate="Bearer")
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)


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
    app.add_middleware(BodyLimitMiddleware, limit_for=limit_for)
    app.add_middleware(SecurityHeadersMiddleware)
