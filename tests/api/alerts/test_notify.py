"""Notification channels against real servers: MQTT (Mosquitto), InfluxDB, a webhook receiver."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from api.alerts import webhook
from api.alerts.lifecycle import Plan, Raise
from api.alerts.model import AlertKey, Condition
from api.alerts.notify import Dispatcher, InfluxChannel, MqttChannel, WebhookChannel
from api.alerts.repo import AlertRepo
from api.db import connect
from ingest.client import Inbound, MqttClient
from ingest.kernel.store import InfluxStore
from ingest.kernel.topics import Topics
from scripts.devstack import Server, free_port
from tests.api.alerts.support import SECRET, Receiver
from tests.support import wait_until

pytestmark = pytest.mark.integration

T = datetime(2026, 3, 2, 10, 7, tzinfo=UTC)
CONDITIONS = [
    Condition(AlertKey("meter_offline", "sl-002", "stack-1"), 17.0, 15.0, "stack-1 silent"),
    Condition(AlertKey("meter_offline", "sl-002", "stack-2"), 17.0, 15.0, "stack-2 silent"),
    Condition(AlertKey("voc_spike", "sl-001", "stack-1", "dmf_mgm3"), 50.0, 40.0, "spike"),
    Condition(AlertKey("gas_share_off_track", "_county"), 0.2, 0.5, "off track"),
]


@pytest.fixture
def repo(database_url: str) -> AlertRepo:
    """Four alerts raised in one evaluation (same millisecond), one of them acknowledged."""
    repo = AlertRepo(connect(database_url))
    repo.cursor("mqtt"), repo.cursor("influx"), repo.cursor("webhook")  # channels exist before
    assert repo.try_lease("engine", T, 60)
    repo.apply(Plan(tuple(Raise(c) for c in CONDITIONS)), T, "engine", 60)
    spike = next(a for a in repo.find() if a.key.kind == "voc_spike")
    repo.acknowledge(spike.id, "alice", "on it", T + timedelta(seconds=5))
    return repo


def test_influx_alert_events(repo: AlertRepo, store: InfluxStore) -> None:
    dispatcher = Dispatcher(repo, InfluxChannel(store), lambda: True)
    assert dispatcher.drain() == 5
    assert dispatcher.drain() == 0  # the cursor moved: nothing is delivered twice
    series = store.query(
        'SELECT "id", "event", "meter", "pollutant", "message", "value", "limit" FROM "alert_event" '
        'GROUP BY "plant", "kind", "state"'
    )
    points = {
        (s.tags["plant"], s.tags["kind"], s.tags["state"], row["meter"], row["event"]): row
        for s in series
        for row in s.rows()
    }
    assert set(points) == {
        ("sl-002", "meter_offline", "open", "stack-1", "raised"),
        ("sl-002", "meter_offline", "open", "stack-2", "raised"),
        ("sl-001", "voc_spike", "open", "stack-1", "raised"),
        ("sl-001", "voc_spike", "acknowledged", "stack-1", "acknowledged"),
        ("_county", "gas_share_off_track", "open", "", "raised"),
    }
    offline = [p for k, p in points.items() if k[1] == "meter_offline"]
    # same tags, same millisecond: the second point is bumped by 1 ms instead of overwriting
    assert sorted(p["time"] for p in offline) == [T.timestamp() * 1000, T.timestamp() * 1000 + 1]
    spike = points[("sl-001", "voc_spike", "open", "stack-1", "raised")]
    assert (spike["pollutant"], spike["value"], spike["limit"]) == ("dmf_mgm3", 50.0, 40.0)


def test_mqtt_alert_events(repo: AlertRepo, mosquitto: Server) -> None:
    received: list[Inbound] = []
    subscriber = MqttClient(
        f"test-sub-{uuid.uuid4().hex[:6]}",
        "127.0.0.1",
        mosquitto.port,
        on_message=received.append,
        subscriptions=[("plantwatch/alerts/#", 1)],
    )
    publisher = MqttClient(f"test-pub-{uuid.uuid4().hex[:6]}", "127.0.0.1", mosquitto.port)
    subscriber.start()
    publisher.start()
    try:
        assert subscriber.wait_subscribed(10), "no SUBACK from the broker"
        dispatcher = Dispatcher(repo, MqttChannel(publisher, Topics()), lambda: True)
        assert dispatcher.drain() == 5
        assert wait_until(lambda: len(received) == 5, 10), received
    finally:
        subscriber.stop()
        publisher.stop()
    messages = [(m.topic, json.loads(m.payload)) for m in received]
    assert [t for t, _ in messages] == [
        "plantwatch/alerts/sl-002",
        "plantwatch/alerts/sl-002",
        "plantwatch/alerts/sl-001",
        "plantwatch/alerts/_county",
        "plantwatch/alerts/sl-001",
    ]
    assert all(m.qos == 1 for m in received)
    last = messages[-1][1]
    assert (last["event"], last["actor"], last["comment"]) == ("acknowledged", "alice", "on it")
    assert last["alert"]["status"] == "acknowledged"
    assert [m["event_id"] for _, m in messages] == sorted(m["event_id"] for _, m in messages)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rx = Receiver(fail_first=2)
    yield rx
    rx.close()


def test_webhook_signed_and_retried(repo: AlertRepo, receiver: Receiver) -> None:
    channel = WebhookChannel(receiver.url, SECRET, timeout_seconds=5, max_attempts=5)
    dispatcher = Dispatcher(repo, channel, lambda: True, backoff_seconds=0.01)
    try:
        assert dispatcher.drain() == 5
    finally:
        channel.close()
    assert all(ok for _, _, ok in receiver.requests)
    # the first event failed twice (500) and was retried with the same body
    ids = [int(h["X-Plantwatch-Event-Id"]) for h, _, _ in receiver.requests]
    assert ids[:3] == [ids[0]] * 3 and len(ids) == 7
    assert sorted(set(ids)) == ids[2:]
    bodies = [json.loads(b) for _, b, _ in receiver.requests[2:]]
    assert [b["event"] for b in bodies] == ["raised"] * 4 + ["acknowledged"]
    assert dispatcher.delivered == 5 and dispatcher.given_up == 0


def test_webhook_gives_up_after_max_attempts(repo: AlertRepo) -> None:
    rx = Receiver(fail_first=100)
    channel = WebhookChannel(rx.url, SECRET, timeout_seconds=5, max_attempts=2)
    try:
        dispatcher = Dispatcher(repo, channel, lambda: True, backoff_seconds=0.01)
        assert dispatcher.drain() == 5  # handled: each given up after 2 attempts
        assert dispatcher.given_up == 5 and len(rx.requests) == 10
    finally:
        channel.close()
        rx.close()


@pytest.mark.parametrize(
    ("tamper", "valid"),
    [
        (lambda ts, body, sig: (ts, body, sig), True),
        (lambda ts, body, sig: (ts, body + b" ", sig), False),
        (lambda ts, body, sig: (str(int(ts) + 1), body, sig), False),
        (lambda ts, body, sig: (ts, body, sig.replace("sha256=", "sha1=")), False),
        (lambda ts, body, sig: ("soon", body, sig), False),
    ],
)
def test_verify_signature(tamper, valid: bool) -> None:  # type: ignore[no-untyped-def]
    body = b'{"event":"raised"}'
    now = 1_772_400_000
    signature = webhook.sign(SECRET, now, body)
    ts, body2, sig2 = tamper(str(now), body, signature)
    assert webhook.verify(SECRET, ts, body2, sig2, now_seconds=now + 10) is valid


def test_verify_rejects_stale_timestamp() -> None:
    body = b"{}"
    signature = webhook.sign(SECRET, 1000, body)
    assert webhook.verify(SECRET, "1000", body, signature, now_seconds=1000 + 299)
    assert not webhook.verify(SECRET, "1000", body, signature, now_seconds=1000 + 301)


def test_not_leader_delivers_nothing(repo: AlertRepo, receiver: Receiver) -> None:
    channel = WebhookChannel(receiver.url, SECRET, timeout_seconds=5, max_attempts=5)
    try:
        assert Dispatcher(repo, channel, lambda: False).drain() == 0
    finally:
        channel.close()
    assert receiver.requests == []


@pytest.mark.parametrize("reachable", [True, False])
def test_webhook_tokens_never_reach_the_log(
    repo: AlertRepo, caplog: pytest.LogCaptureFixture, reachable: bool
) -> None:
    token = "tok-" + uuid.uuid4().hex
    rx = Receiver(fail_first=100)
    host = rx.url.removeprefix("http://").split("/")[0] if reachable else f"127.0.0.1:{free_port()}"
    url = f"http://hookuser:{token}-pw@{host}/hook?token={token}&x=1"
    channel = WebhookChannel(url, SECRET, timeout_seconds=5, max_attempts=2)
    caplog.set_level(logging.DEBUG)
    try:
        dispatcher = Dispatcher(repo, channel, lambda: True, backoff_seconds=0.01)
        assert dispatcher.drain() == 5 and dispatcher.given_up == 5
    finally:
        channel.close()
        rx.close()
    assert len(rx.requests) == (10 if reachable else 0)
    assert caplog.records, "the failures were logged"
    for record in caplog.records:
        assert token not in str(vars(record)) and token not in record.getMessage(), record
    assert any("/hook?***" in str(vars(r)) for r in caplog.records)
