"""The benchmark harness's only paho module: a paced publisher and session clean-up."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

CONNECT_TIMEOUT_SECONDS = 10.0


def connect(client_id: str, port: int, clean_session: bool = True) -> paho.Client:
    """A connected MQTT 3.1.1 client with its network loop running."""
    client = paho.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=clean_session,
        protocol=paho.MQTTv311,
    )
    connected = threading.Event()
    client.on_connect = lambda *_args: connected.set()
    client.max_inflight_messages_set(1000)
    client.connect("127.0.0.1", port, 30)
    client.loop_start()
    if not connected.wait(CONNECT_TIMEOUT_SECONDS):
        client.loop_stop()
        raise RuntimeError(f"no MQTT connection to port {port}")
    return client


def clear_session(client_id: str, port: int) -> None:
    """Drop a persistent session (and what the broker queued for it) after a run."""
    client = connect(client_id, port, clean_session=True)
    client.disconnect()
    client.loop_stop()


def publish_paced(
    port: int,
    topic: str,
    make_payload: Callable[[int], bytes],
    rate_per_second: float,
    duration_seconds: float,
    stop: threading.Event,
) -> int:
    """Publish at QoS 1 at a steady rate for a while; returns how many were published."""
    client = connect(f"bench-paced-{time.monotonic_ns()}", port)
    interval = 1.0 / rate_per_second
    start = time.monotonic()
    sent = 0
    last: paho.MQTTMessageInfo | None = None
    try:
        while not stop.is_set() and time.monotonic() - start < duration_seconds:
            last = client.publish(topic, make_payload(sent), qos=1)
            sent += 1
            delay = start + sent * interval - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        if last is not None:
            # QoS 1 messages still in flight would be lost by an early disconnect.
            last.wait_for_publish(CONNECT_TIMEOUT_SECONDS)
    finally:
        client.disconnect()
        client.loop_stop()
    return sent


def publish_all(
    port: int, messages: list[tuple[str, bytes]], timeout_seconds: float = 60.0
) -> None:
    """Publish (topic, payload) messages at QoS 1 and wait until the broker acknowledged each."""
    client = connect(f"bench-batch-{time.monotonic_ns()}", port)
    try:
        infos = [client.publish(topic, payload, qos=1) for topic, payload in messages]
        for info in infos:
            info.wait_for_publish(timeout_seconds)
            if not info.is_published():
                raise RuntimeError(f"message {info.mid} not acknowledged by the broker")
    finally:
        client.disconnect()
        client.loop_stop()
