"""One barrier serves every message whose PUBACK came in before it was sent (a group commit).

Mosquitto reads one packet per connection per loop pass and saves after each pass: a barrier
per message doubled the gateway's packets. The rule, with paho's side played by the test:
a message is confirmed only by a barrier sent after its own PUBACK.
"""

from __future__ import annotations

from collections.abc import Callable

from ingest.client import MqttClient


class Barriers:
    """Stands in for paho under `_publish_acked`: records barriers, the test acks them."""

    def __init__(self, client: MqttClient) -> None:
        self.sent: list[Callable[[], None]] = []
        self.refuse = False
        client._publish_acked = self.publish  # type: ignore[method-assign]

    def publish(self, topic: str, payload: bytes, on_acked: Callable[[], None]) -> int | None:
        assert topic == "root/sync/gw" and payload == b""
        if self.refuse:
            return None
        self.sent.append(on_acked)
        return len(self.sent)


def client() -> MqttClient:
    return MqttClient("gw", "127.0.0.1", 1, sync_topic="root/sync/gw")


def test_puback_during_a_barrier_waits_for_the_next_one() -> None:
    mqtt = client()
    barriers = Barriers(mqtt)
    confirmed: list[str] = []
    mqtt._join_barrier(lambda: confirmed.append("a"))  # a's PUBACK: barrier 1 goes
    mqtt._join_barrier(lambda: confirmed.append("b"))  # during barrier 1: not covered by it
    mqtt._join_barrier(lambda: confirmed.append("c"))
    assert len(barriers.sent) == 1 and confirmed == []
    barriers.sent[0]()  # barrier 1 stored
    assert confirmed == ["a"]
    assert len(barriers.sent) == 2  # one barrier for b and c together
    barriers.sent[1]()
    assert confirmed == ["a", "b", "c"]
    assert len(barriers.sent) == 2  # nothing waiting: no barrier
    mqtt._join_barrier(lambda: confirmed.append("d"))
    assert len(barriers.sent) == 3
    barriers.sent[2]()
    assert confirmed == ["a", "b", "c", "d"]


def test_a_barrier_paho_refuses_is_sent_with_the_next_puback() -> None:
    mqtt = client()
    barriers = Barriers(mqtt)
    confirmed: list[str] = []
    barriers.refuse = True
    mqtt._join_barrier(lambda: confirmed.append("a"))
    assert barriers.sent == [] and confirmed == []  # a is not confirmed without a barrier
    barriers.refuse = False
    mqtt._join_barrier(lambda: confirmed.append("b"))
    assert len(barriers.sent) == 1
    barriers.sent[0]()
    assert confirmed == ["a", "b"]


def test_a_failing_callback_does_not_stop_the_others() -> None:
    mqtt = client()
    barriers = Barriers(mqtt)
    confirmed: list[str] = []

    def boom() -> None:
        raise RuntimeError("boom")

    mqtt._join_barrier(boom)
    mqtt._join_barrier(lambda: confirmed.append("b"))
    barriers.sent[0]()
    barriers.sent[1]()
    assert confirmed == ["b"]
