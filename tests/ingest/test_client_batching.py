"""The collector's fast path through paho: buffered reads, one PUBACK write per batch, the inbox.

`ack_many` must acknowledge exactly what `ack` would (the broker never sends those messages
again), skip messages of an earlier connection, and `_ReadBuffered` must hand paho the same
bytes its three small reads per packet got from the socket.
"""

from __future__ import annotations

import struct
import threading
import uuid

from hypothesis import given
from hypothesis import strategies as st
from paho.mqtt import _packet
from paho.mqtt.client import MQTTv311

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


def _publish_packet(topic: bytes, payload: bytes, qos: int, mid: int, retain: bool) -> bytes:
    """A PUBLISH as a broker sends it (MQTT 3.1.1)."""
    body = struct.pack("!H", len(topic)) + topic + (struct.pack("!H", mid) if qos else b"")
    body += payload
    length, encoded = len(body), bytearray()
    while True:
        byte, length = length % 128, length // 128
        encoded.append(byte | (0x80 if length else 0))
        if not length:
            break
    return bytes([0x30 | (qos << 1) | int(retain)]) + bytes(encoded) + body


def _paho_reads(packet: bytes) -> tuple[str, bytes, int, int, bool]:
    """What paho itself decodes from a PUBLISH packet (the oracle)."""
    length, i, shift = 0, 1, 0
    while True:
        length |= (packet[i] & 0x7F) << shift
        shift += 7
        i += 1
        if packet[i - 1] < 0x80:
            break
    got = _packet.decode_publish(packet[0], bytearray(packet[i : i + length]), MQTTv311)
    return got.topic.decode(), bytes(got.payload), got.qos, got.mid, got.retain


publishes = st.tuples(
    st.text(min_size=1, max_size=40).map(str.encode),
    st.binary(max_size=400),
    st.integers(0, 1),
    st.integers(1, 65535),
    st.booleans(),
)


@given(st.lists(publishes, min_size=1, max_size=8), st.integers(0, 2000))
def test_buffered_publishes_read_as_paho_reads_them(
    packets: list[tuple[bytes, bytes, int, int, bool]], cut: int
) -> None:
    raw = [_publish_packet(*p) for p in packets]
    stream = b"".join(raw) + b"\x40\x02\x00\x07"  # then a PUBACK: paho's to read
    cut = min(cut, len(stream))
    sock = _ReadBuffered(ChunkSocket([stream[:cut] or stream, stream[cut:]]))
    sock._data, sock._pos = sock.recv(READ_CHUNK_BYTES), 0  # one chunk in the buffer
    taken: list[tuple[str, bytes, int, int, bool]] = []
    count = sock.take_publishes(lambda *fields: taken.append(fields))
    whole = [p for p, end in zip(raw, _ends(raw), strict=True) if end <= len(sock._data)]
    assert count == len(taken) == len(whole)  # every complete packet, none cut short
    assert taken == [_paho_reads(p) for p in whole]
    rest = sock._data[sock._pos :]
    assert rest == sock._data[sum(map(len, whole)) :]  # the rest left to paho, untouched


def _ends(raw: list[bytes]) -> list[int]:
    ends, total = [], 0
    for packet in raw:
        total += len(packet)
        ends.append(total)
    return ends


def test_buffered_publishes_stop_at_what_paho_must_judge() -> None:
    qos2 = _publish_packet(b"t", b"x", 2, 5, False)
    bad_topic = _publish_packet(b"\xff\xfe", b"x", 1, 6, False)
    empty_topic = _publish_packet(b"", b"x", 1, 7, False)
    taken: list[tuple[str, bytes, int, int, bool]] = []
    for odd in (qos2, bad_topic, empty_topic, b"\x40\x02\x00\x07"):
        first = _publish_packet(b"a/b", b"{}", 1, 4, False)
        sock = _ReadBuffered(ChunkSocket([first + odd]))
        sock._data, sock._pos = sock.recv(READ_CHUNK_BYTES), 0
        taken.clear()
        assert sock.take_publishes(lambda *fields: taken.append(fields)) == 1
        assert taken == [("a/b", b"{}", 1, 4, False)]
        assert sock._data[sock._pos :] == odd


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


def test_a_backlog_arrives_whole_and_in_order_through_the_buffered_reads(
    mosquitto: Server,
) -> None:
    """A persistent session's backlog comes in a burst: most of it read from the buffer."""
    topic = f"plantwatch/test/{uuid.uuid4().hex[:8]}"
    client_id = f"burst-{uuid.uuid4().hex[:6]}"
    first, _, _, _ = _receiver(client_id, mosquitto.port, topic)
    first.start()
    assert first.wait_subscribed(WAIT_SECONDS)
    first.stop()  # the session stays; the broker queues for it
    publisher = MqttClient(f"pub-{uuid.uuid4().hex[:6]}", "127.0.0.1", mosquitto.port)
    publisher.start()
    sent = [f"reading {n} ".encode() * (1 + n % 40) for n in range(500)]
    for payload in sent:
        publisher.publish(topic, payload)
    assert publisher.wait_published(len(sent), WAIT_SECONDS)
    publisher.stop()
    again, received, enough, wanted = _receiver(client_id, mosquitto.port, topic)
    wanted[0] = len(sent)
    again.start()
    assert enough.wait(WAIT_SECONDS)
    assert [m.payload for m in received] == sent
    assert {(m.topic, m.qos, m.generation) for m in received} == {(topic, 1, 1)}
    assert len({m.mid for m in received}) == len(sent)
    assert again._client.publishes_taken > len(sent) // 2
    assert again.ack_many(received) == len(sent)
    again.stop()
