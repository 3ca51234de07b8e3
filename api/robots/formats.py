"""DingTalk and WeCom group-robot wire formats (pure).

DingTalk custom robot with signing: `sign` = urlencode(base64(HMAC-SHA256(key=secret,
msg=f"{timestamp_ms}\\n{secret}"))), sent as query parameters `timestamp` and `sign` next
to `access_token`; the timestamp must be within an hour of DingTalk's clock. WeCom group
robot: the webhook URL carries the robot's `key`. Both take JSON `{"msgtype": "markdown",
...}` and answer HTTP 200 with `{"errcode": 0, "errmsg": "ok"}`; a non-zero errcode is a
failure even under 200.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import urllib.parse
from typing import Any

DINGTALK = "dingtalk"
WECOM = "wecom"
ROBOT_KINDS = (DINGTALK, WECOM)
# Answers that mean "too fast, come back later" (DingTalk 130101, WeCom 45009) or a busy
# server (-1): retried; any other non-zero errcode (bad token, bad signature) is not.
RETRY_ERRCODES = frozenset({-1, 130101, 45009})
WECOM_MAX_MARKDOWN_BYTES = 4096


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """The `sign` parameter, already URL-encoded, as DingTalk documents it."""
    to_sign = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode(), to_sign, hashlib.sha256).digest()
    return urllib.parse.quote_plus(base64.b64encode(digest))


def dingtalk_url(webhook: str, secret: str | None, timestamp_ms: int) -> str:
    """The webhook (with its access_token) plus `timestamp` and `sign` when a secret is set."""
    if not secret:
        return webhook
    joiner = "&" if "?" in webhook else "?"
    return f"{webhook}{joiner}timestamp={timestamp_ms}&sign={dingtalk_sign(secret, timestamp_ms)}"


def wecom_url(webhook: str, key: str | None) -> str:
    """The webhook with its `key` (already in the URL, or given apart)."""
    if not key:
        return webhook
    joiner = "&" if "?" in webhook else "?"
    return f"{webhook}{joiner}key={urllib.parse.quote(key, safe='')}"


# A robot's URL carries its credentials: DingTalk's access_token and sign, WeCom's key.
SECRET_PARAMS = re.compile(r"(?i)\b(access_token|key|sign)=[^&\s\"'<>]+")
REDACTED = "***"


def redact(text: str) -> str:
    """`text` with every robot credential in a URL query replaced by ***."""
    return SECRET_PARAMS.sub(lambda m: f"{m.group(1)}={REDACTED}", text)


class RedactingFilter(logging.Filter):
    """Redacts robot credentials from a logger's records (httpx logs each request's URL)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def redact_logger(name: str) -> None:
    """Install `RedactingFilter` on logger `name` once."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, RedactingFilter) for f in logger.filters):
        logger.addFilter(RedactingFilter())


def truncate_utf8(text: str, max_bytes: int) -> str:
    data = text.encode()
    if len(data) <= max_bytes:
        return text
    return data[: max_bytes - 3].decode(errors="ignore") + "…"


def payload(kind: str, title: str, markdown: str) -> dict[str, Any]:
    """The JSON body of a markdown message for robot `kind`."""
    if kind == DINGTALK:
        return {"msgtype": "markdown", "markdown": {"title": title, "text": markdown}}
    return {
        "msgtype": "markdown",
        "markdown": {"content": truncate_utf8(markdown, WECOM_MAX_MARKDOWN_BYTES)},
    }


def read_answer(status: int, body: Any) -> tuple[bool, bool, str]:
    """(delivered, worth retrying, reason) from a robot's HTTP status and JSON answer."""
    if status >= 500 or status in (408, 429):
        return False, True, f"HTTP {status}"
    if status >= 400:
        return False, False, f"HTTP {status}"
    if not isinstance(body, dict) or "errcode" not in body:
        return False, True, "answer without errcode"
    code = body.get("errcode")
    if code == 0:
        return True, False, "ok"
    return False, code in RETRY_ERRCODES, f"errcode {code}: {body.get('errmsg', '')}"
