"""The broker queue alarm, before Mosquitto drops anything (literal tables, no broker)."""

from __future__ import annotations

import pytest

from ingest.broker_queue import (
    MAX_QUEUED_BYTES,
    MAX_QUEUED_MESSAGES,
    STORE_BYTES_TOPIC,
    STORE_COUNT_TOPIC,
    QueueState,
    queue_alarm,
)


@pytest.mark.parametrize(
    ("heard", "state"),
    [
        ([], QueueState()),
        ([(STORE_COUNT_TOPIC, b"12")], QueueState(12, None)),
        ([(STORE_COUNT_TOPIC, b"12"), (STORE_BYTES_TOPIC, b"3400\n")], QueueState(12, 3400)),
        ([(STORE_COUNT_TOPIC, b"12"), (STORE_COUNT_TOPIC, b"oops")], QueueState(12, None)),
        ([("$SYS/broker/uptime", b"5 seconds")], QueueState()),
    ],
)
def test_heard(heard: list[tuple[str, bytes]], state: QueueState) -> None:
    got = QueueState()
    for topic, payload in heard:
        got = got.heard(topic, payload)
    assert got == state


@pytest.mark.parametrize(
    ("state", "alarm"),
    [
        (QueueState(), None),
        (QueueState(MAX_QUEUED_MESSAGES // 2 - 1, MAX_QUEUED_BYTES // 2 - 1), None),
        (QueueState(MAX_QUEUED_MESSAGES // 2, 0), "1000000 messages held"),
        (QueueState(0, MAX_QUEUED_BYTES // 2), "536870912 bytes held"),
        (QueueState(MAX_QUEUED_MESSAGES, None), "2000000 messages held"),
    ],
)
def test_queue_alarm_rings_at_half_a_clients_limit(state: QueueState, alarm: str | None) -> None:
    got = queue_alarm(state)
    if alarm is None:
        assert got is None
    else:
        assert got is not None and alarm in got and "drops readings" in got
