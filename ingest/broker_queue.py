"""The broker's queue limits and the alarm raised before it drops anything (pure).

Mosquitto bounds each client's queue (`max_queued_messages`, `max_queued_bytes`, set by
scripts/devstack.py from the constants here) and silently drops QoS 1 messages past them.
It publishes, every `sys_interval`, how many messages and bytes its store holds in all
(`$SYS/broker/store/messages/count` and `.../bytes`); no client's queue can hold more than
that, so a store under ALARM_FRACTION of a per-client limit means no queue is near it. The
collectors watch these two topics and raise the alarm (an ERROR log line, and the
`broker_queue_alarm` gauge) from ALARM_FRACTION on: early, never late.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_QUEUED_MESSAGES = 2_000_000
MAX_QUEUED_BYTES = 1024 * 1024 * 1024
ALARM_FRACTION = 0.5
STORE_COUNT_TOPIC = "$SYS/broker/store/messages/count"
STORE_BYTES_TOPIC = "$SYS/broker/store/messages/bytes"
SYS_FILTERS = (STORE_COUNT_TOPIC, STORE_BYTES_TOPIC)


@dataclass(frozen=True, slots=True)
class QueueState:
    """What the broker said it holds (None: not heard yet)."""

    messages: int | None = None
    size_bytes: int | None = None

    def heard(self, topic: str, payload: bytes) -> QueueState:
        """This state after one `$SYS` message (unknown topics and bad numbers change nothing)."""
        try:
            value = int(payload.decode("ascii").strip())
        except (UnicodeDecodeError, ValueError):
            return self
        if topic == STORE_COUNT_TOPIC:
            return QueueState(value, self.size_bytes)
        if topic == STORE_BYTES_TOPIC:
            return QueueState(self.messages, value)
        return self


def queue_alarm(
    state: QueueState,
    max_messages: int = MAX_QUEUED_MESSAGES,
    max_bytes: int = MAX_QUEUED_BYTES,
    fraction: float = ALARM_FRACTION,
) -> str | None:
    """Why the broker's queues are near their limits, or None while they are not."""
    reasons = []
    if state.messages is not None and state.messages >= fraction * max_messages:
        reasons.append(f"{state.messages} messages held (a client may queue {max_messages})")
    if state.size_bytes is not None and state.size_bytes >= fraction * max_bytes:
        reasons.append(f"{state.size_bytes} bytes held (a client may queue {max_bytes})")
    if not reasons:
        return None
    return (
        "broker queue near its limit, past which it drops readings: "
        + "; ".join(reasons)
        + ". Start or speed up the collectors before it is reached."
    )
