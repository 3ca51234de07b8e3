"""The collector's fast path through paho: buffered reads, one PUBACK write per batch, the inbox.

`ack_many` must acknowledge exactly what `ack` would (the broker never sends those messages
again), skip messages of an earlier connection, and `_ReadBuffered` must hand paho the same
bytes its three small reads per packet got from the socket.
"""

from __future__ import annotations

import threading
import uuid

from ingest.client import READ_CHUNK_BYTES, Inbound, MqttClient, _ReadBuffered
from ingest.collector import _Inbox
from scripts.devstack import Server

WAIT_SECONDS = 10.0


class ChunkSocket:
    """Stands in for a socket: each `recv` returns the next chunk (at most `size` bytes)."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.asked: list[int] = []

    def recv(self, size: int) -> bytes:
        self.asked.append(size)
        if not self.chunks:
            raise BlockingIOError
        chunk = self.chunks.pop(0)
        assert len(chunk) <= size
        return chunk

    def fileno(self) -> int:
        return 7


def test_buffered_reads_give_paho_the_bytes_in_order() -> None:
    raw = ChunkSocket([b"\x30\x05abcde\x30\x02xy", b"z"])
    sock = _ReadBuffered(raw)
    assert sock.pending() == 0
    assert sock.recv(1) == b"\x30"  # one socket read for the whole chunk
    assert raw.asked == [READ_CHUNK_BYTES]
    assert sock.pending() == 10
    assert [sock.recv(1), sock.recv(5), sock.recv(1), sock.recv(1)] == [
        b"\x05",
        b"abcde",
        b"\x30",
        b"\x02",
    ]
    assert sock.recv(2) == b"xy" and sock.pending() == 0
    assert sock.recv(1) == b"z"  # a chunk no bigger than the read goes straight through
    assert sock.fileno() == 7  # everything else is the socket's


def test_a_closed_connection_still_reads_as_closed() -> None:
    sock = _ReadBuffered(ChunkSocket([b""]))
    assert sock.recv(1) == b""


def test_inbox_hands_over_in_order_and_wakes_a_waiting_reader() -> None:
    inbox = _Inbox()
    assert inbox.get_nowait() is None
    assert inbox.get(0.0) is None
    first, second = (Inbound("t", b"", 1, mid, 1) for mid in (1, 2))
    inbox.put(first)
    inbox.put(second)
    assert inbox.get(0.0) is first and inbox.get_nowait() is second
    got: list[Inbound | None] = []
    reader = threading.Thread(target=lambda: got.append(inbox.get(WAIT_SECONDS)))
    reader.start()
    inbox.put(first)  # before or during the wait: either way it is taken
    reader.join(WAIT_SECONDS)
    assert got == [first]


def _receiver(
    client_id: str, port: int, topic: str
) -> tuple[MqttClient, list[Inbound], threading.Event, list[int]]:
    received: list[Inbound] = []
    wanted = [0]
    enough = threading.Event()

    def on_message(message: Inbound) -> None:
        received.append(message)
        if len(received) >= wanted[0]:
            enough.set()

    client = MqttClient(
        client_id,
        "127.0.0.1",
        port,
        clean_session=False,
        manual_ack=True,
        on_message=on_message,
        subscriptions=[(topic, 1)],
    )
    return client, received, enough, wanted


def test_ack_many_acknowledges_a_batch_and_skips_an_earlier_connection(
    mosquitto: Server,
) -> None:
    topic = f"plantwatch/test/{uuid.uuid4().hex[:8]}"
    client_id = f"acks-{uuid.uuid4().hex[:6]}"
    publisher = MqttClient(f"pub-{uuid.uuid4().hex[:6]}", "127.0.0.1", mosquitto.port)
    publisher.start()
    collector, received, enough, wanted = _receiver(client_id, mosquitto.port, topic)
    collector.start()
    assert collector.wait_subscribed(WAIT_SECONDS)
    wanted[0] = 300
    for n in range(300):
        publisher.publish(topic, str(n).encode()).wait_for_publish(WAIT_SECONDS)
    assert enough.wait(WAIT_SECONDS)
    old = Inbound(topic, b"", 1, received[0].mid, received[0].generation - 1)
    assert collector.ack_many([old]) == 0  # never acked on a connection it did not come on
    assert collector.ack_many(received) == 300
    # A PUBACK is in once a later exchange on the connection is: a QoS 1 publish's PUBACK.
    collector.publish(f"{topic}/sync", b"").wait_for_publish(WAIT_SECONDS)
    collector.stop()

    # The same session again: only what comes after the acknowledged batch is delivered.
    again, redelivered, marker, wanted_again = _receiver(client_id, mosquitto.port, topic)
    wanted_again[0] = 1
    again.start()
    assert again.wait_subscribed(WAIT_SECONDS)
    publisher.publish(topic, b"marker").wait_for_publish(WAIT_SECONDS)
    assert marker.wait(WAIT_SECONDS)
    assert [m.payload for m in redelivered] == [b"marker"]
    again.ack_many(redelivered)
    again.stop()
    publisher.stop()
