"""Webhook deliveries: signed with HMAC-SHA256 so the receiver can check them (docs/alerts.md).

Headers of every POST:
    X-Plantwatch-Event-Id:  the event id (deliveries are at least once: dedupe on it)
    X-Plantwatch-Timestamp: unix seconds when this attempt was signed
    X-Plantwatch-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + raw body)>
"""

from __future__ import annotations

import hashlib
import hmac

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
