"""Webhook deliveries: signed with HMAC-SHA256 so the receiver can check them (docs/alerts.md).

Headers of every POST:
    X-Plantwatch-Event-Id:  the event id (deliveries are at least once: dedupe on it)
    X-Plantwatch-Timestamp: unix seconds when this attempt was signed
    X-Plantwatch-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + raw body)>
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from urllib.parse import urlsplit, urlunsplit

SIGNATURE_HEADER = "X-Plantwatch-Signature"
TIMESTAMP_HEADER = "X-Plantwatch-Timestamp"
EVENT_ID_HEADER = "X-Plantwatch-Event-Id"
SIGNATURE_PREFIX = "sha256="
DEFAULT_TOLERANCE_SECONDS = 300


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value for `body` sent at `timestamp` (unix seconds)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return SIGNATURE_PREFIX + digest.hexdigest()


def verify(
    secret: str,
    timestamp: str,
    body: bytes,
    signature: str,
    now_seconds: float,
    tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS,
) -> bool:
    """True when `signature` matches and `timestamp` is within the tolerance (against replays)."""
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    if abs(now_seconds - ts) > tolerance_seconds:
        return False
    return hmac.compare_digest(sign(secret, ts, body), signature)


def redact_url(url: str) -> str:
    """`url` fit for a log: user info, query and fragment (where tokens ride) replaced by `***`."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<unparsable webhook URL>"
    netloc = ("***@" if parts.username or parts.password else "") + host + port
    return urlunsplit(
        (
            parts.scheme,
            netloc,
            parts.path,
            "***" if parts.query else "",
            "***" if parts.fragment else "",
        )
    )


class RedactingFilter(logging.Filter):
    """Rewrite log records that would show `url` so they show `shown` instead."""

    def __init__(self, url: str, shown: str) -> None:
        super().__init__()
        self.url, self.shown = url, shown

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.url in message:
            record.msg, record.args = message.replace(self.url, self.shown), None
        return True
