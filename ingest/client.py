"""The only module that touches paho-mqtt: connect, subscribe, publish, acknowledge.

paho's callbacks run on its network thread; this wrapper hands each inbound message to
one callback as a frozen `Inbound` and carries the connection generation, so a message
received before a reconnect is never acknowledged on the new connection (its message id
means nothing there; the broker redelivers it instead).
"""

from __future__ import annotations

import logging
import struct
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from ingest.kernel.errors import PlantwatchError

log = logging.getLogger(__name__)

KEEPALIVE_SECONDS = 30
RECONNECT_MIN_SECONDS = 1
RECONNECT_MAX_SECONDS = 15
CONNECT_TIMEOUT_SECONDS = 20.0
# `stop` waits this long for paho to send what it holds; `make run` stops each group in 8 s.
STOP_SECONDS = 2.0
MAX_EARLY_ACKS = 10_000  # acks of publishes nobody waits for must not pile up
READ_CHUNK_BYTES = 65_536
# Packets read from the buffer per pass of paho's loop, before it sends (acks) and pings.
MAX_BUFFERED_PACKETS_PER_READ = 1000
# A PUBACK: fixed header (type, remaining length 2), then the packet id.
_PUBACK = struct.Struct("!BBH")
FILTERS_PER_PACKET = 200  # topic filters per SUBSCRIBE/UNSUBSCRIBE packet


class MqttError(PlantwatchError):
    """The broker could not be reached or refused us."""


class MqttQueueFull(MqttError):
    """The client's bounded outgoing queue is full; the message was not queued."""


@dataclass(frozen=True, slots=True)
class Inbound:
    topic: str
    payload: bytes
    qos: int
    mid: int
    generation: int
    retain: bool = False


# topic, payload, qos, packet id, retain: a PUBLISH as `_ReadBuffered.take_publishes` reads it
Deliver = Callable[[str, bytes, int, int, bool], None]


class _ReadBuffered:
    """The broker connection's socket, read a chunk at a time.

    paho reads each packet with three `recv` calls (type, length, body) and a `select`
    before each packet: four system calls, each dropping the GIL, per reading. This serves
    paho's small reads from one large `recv`; `pending()` tells paho's loop that bytes are
    waiting (as an SSL socket's does), so it does not wait in `select` for them.
    """

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._data = b""
        self._pos = 0

    def recv(self, size: int) -> bytes:
        if self._pos >= len(self._data):
            data = self._sock.recv(max(size, READ_CHUNK_BYTES))
            if len(data) <= size:
                return data
            self._data, self._pos = data, 0
        chunk = self._data[self._pos : self._pos + size]
        self._pos += len(chunk)
        return chunk

    def pending(self) -> int:
        inner = getattr(self._sock, "pending", None)
        return len(self._data) - self._pos + (inner() if inner is not None else 0)

    def take_publishes(self, deliver: Deliver) -> int:
        """Hand `deliver` each complete QoS 0/1 PUBLISH at the head of the buffer, in order.

        paho decodes a PUBLISH with a dozen Python calls, an `MQTTMessage`, a topic matcher
        and two locks; this reads the same fields (MQTT 3.1.1: type and flags, remaining
        length, topic, packet id, payload) straight from the buffer. It stops, leaving the
        bytes to paho, at the first packet that is not one of these, is not all here yet,
        or is anything but plain (QoS 2, a topic that is not UTF-8, a malformed length), so
        paho still sees every other packet and every fault in the order it came.
        """
        data, pos, end = self._data, self._pos, len(self._data)
        taken = 0
        while pos + 4 <= end:
            header = data[pos]
            if header & 0xF0 != 0x30 or ((header >> 1) & 3) >= 2:
                break  # not a PUBLISH, or QoS 2 (or the reserved QoS 3): paho's
            length, shift, i = 0, 0, pos + 1
            while i < end and i - pos <= 4:
                byte = data[i]
                length |= (byte & 0x7F) << shift
                shift += 7
                i += 1
                if byte < 0x80:
                    break
            else:
                break  # the length is not all here, or longer than MQTT allows
            body_end = i + length
            if body_end > end:
                break  # the rest of the packet has not arrived
            topic_end = i + 2 + ((data[i] << 8) | data[i + 1]) if length >= 2 else end + 1
            qos = (header >> 1) & 3
            payload_start = topic_end + (2 if qos else 0)
            if topic_end == i + 2 or payload_start > body_end:
                break  # malformed (empty topic, lengths that do not fit): paho refuses it
            try:
                topic = data[i + 2 : topic_end].decode()
            except UnicodeDecodeError:
                break
            mid = (data[topic_end] << 8) | data[topic_end + 1] if qos else 0
            pos = body_end
            self._pos = pos
            taken += 1
            deliver(topic, data[payload_start:body_end], qos, mid, bool(header & 1))
        return taken

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class _PahoClient(paho.Client):
    """paho's client over a `_ReadBuffered` socket, reading every packet already received.

    With `deliver` set, the plain PUBLISH packets already buffered go straight to it
    (`_ReadBuffered.take_publishes`), under paho's callback lock as its `on_message` runs;
    paho reads every other packet itself.
    """

    deliver: Deliver | None = None
    publishes_taken = 0  # PUBLISH packets read by `take_publishes`, not by paho

    def _create_socket(self) -> Any:
        sock = super()._create_socket()
        return sock if self._transport == "websockets" else _ReadBuffered(sock)

    def loop_read(self, max_packets: int = 1) -> paho.MQTTErrorCode:
        rc = super().loop_read(max_packets)
        for _ in range(MAX_BUFFERED_PACKETS_PER_READ):
            sock: Any = self._sock
            if rc != paho.MQTT_ERR_SUCCESS or sock is None or not sock.pending():
                break
            if self._take_publishes(sock):
                continue
            rc = super().loop_read(1)
        return rc

    def _take_publishes(self, sock: Any) -> int:
        deliver = self.deliver
        if (
            deliver is None
            or self._in_packet["command"] != 0
            or not isinstance(sock, _ReadBuffered)
        ):
            return 0  # paho is in the middle of a packet, or nobody takes them
        with self._in_callback_mutex:
            taken = sock.take_publishes(deliver)
        if taken:
            self.publishes_taken += taken
            with self._msgtime_mutex:
                self._last_bytes_received = paho.time_func()
        return taken


class MqttClient:
    """A paho client with manual acknowledgement and automatic reconnect."""

    def __init__(
        self,
        client_id: str,
        host: str,
        port: int,
        username: str | None = None,
        password: str | None = None,
        *,
        clean_session: bool = True,
        manual_ack: bool = False,
        on_message: Callable[[Inbound], None] | None = None,
        subscriptions: Sequence[tuple[str, int]] = (),
        unsubscriptions: Sequence[str] = (),
        will: tuple[str, bytes, int, bool] | None = None,
        max_inflight: int = 1000,
        max_queued: int = 0,
        reconnect_min_seconds: float = RECONNECT_MIN_SECONDS,
        tls_ca: Path | None = None,
        sync_topic: str | None = None,
    ) -> None:
        """`sync_topic`: where `barrier` publishes; with it, `publish_acked` calls back only
        once a barrier after the message is acknowledged too (the message is stored)."""
        self.host, self.port = host, port
        self.sync_topic = sync_topic
        self.generation = 0
        self._subscriptions = list(subscriptions)
        self._unsubscriptions = list(unsubscriptions)
        self._on_message = on_message
        self._connected = threading.Event()
        # Set once the broker has acknowledged (SUBACK) every subscription of this connection.
        self._subscribed = threading.Event()
        self._pending_subacks: set[int] = set()
        self._published = threading.Condition()
        self.published_count = 0  # QoS 1 publishes the broker has acknowledged
        # mid -> what to call on its PUBACK; acks that beat their registration wait in _early.
        self._on_acked: dict[int, Callable[[], None]] = {}
        self._early_acks: set[int] = set()
        self._registering = 0  # publish_acked calls between paho's publish and registration
        self._acks_lock = threading.Lock()
        # Messages whose PUBACK is in, waiting for the next barrier (`_join_barrier`).
        self._barrier_lock = threading.Lock()
        self._barrier_waiting: list[Callable[[], None]] = []
        self._barrier_in_flight = False
        self.refused_reason: str | None = None  # why the broker last refused to connect
        self._client = _PahoClient(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=clean_session,
            protocol=paho.MQTTv311,
            manual_ack=manual_ack,
        )
        if username:
            self._client.username_pw_set(username, password)
        if will is not None:
            self._client.will_set(*will)
        if tls_ca is not None:
            # Verifies the broker's certificate against this CA, and its host name.
            self._client.tls_set(ca_certs=str(tls_ca))
        self._client.max_inflight_messages_set(max_inflight)
        # 0: unbounded (the collector's own publishes); the API bounds its push connection.
        self._client.max_queued_messages_set(max_queued)
        self._client.reconnect_delay_set(reconnect_min_seconds, RECONNECT_MAX_SECONDS)  # type: ignore[arg-type]
        self._client.on_connect = self._handle_connect
        self._client.on_disconnect = self._handle_disconnect
        self._client.on_message = self._handle_message
        if on_message is not None:
            self._client.deliver = self._deliver
        self._client.on_publish = self._handle_publish
        self._client.on_subscribe = self._handle_subscribe

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def start(self, wait: bool = True) -> None:
        """Connect (retrying in the background) and start paho's network thread."""
        try:
            self._client.connect_async(self.host, self.port, KEEPALIVE_SECONDS)
        except (OSError, ValueError) as exc:
            raise MqttError(
                f"cannot connect to MQTT broker {self.host}:{self.port}: {exc}"
            ) from exc
        self._client.loop_start()
        if wait and not self._connected.wait(CONNECT_TIMEOUT_SECONDS):
            raise MqttError(
                f"no connection to MQTT broker {self.host}:{self.port} "
                f"after {CONNECT_TIMEOUT_SECONDS:.0f}s"
            )

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def wait_subscribed(self, timeout: float) -> bool:
        """True once the broker acknowledged every subscription (it queues for us from then)."""
        return self._subscribed.wait(timeout)

    def stop(self, timeout_seconds: float = STOP_SECONDS) -> None:
        """Disconnect and end paho's thread; what is unsent after `timeout_seconds` is dropped.

        paho writes its DISCONNECT after every packet queued before it, and `loop_stop` waits
        for that: behind a broker that reads nothing (stalled, or rewriting a large store)
        it never returned, and the process had to be killed. paho's thread is a daemon: the
        process ends without it. What was not acknowledged comes back as the protocol
        promises (a logger resends its packet, the broker redelivers to a session).
        """
        self._client.disconnect()
        stopper = threading.Thread(target=self._client.loop_stop, name="mqtt-stop", daemon=True)
        stopper.start()
        stopper.join(timeout_seconds)
        if stopper.is_alive():
            log.warning(
                "mqtt connection not closed in time; its unsent messages are dropped",
                extra={"broker": f"{self.host}:{self.port}", "seconds": timeout_seconds},
            )
        self._connected.clear()

    def publish(
        self, topic: str, payload: bytes, qos: int = 1, retain: bool = False
    ) -> paho.MQTTMessageInfo:
        """Queue a publish; `MqttQueueFull` if the client's bounded queue (`max_queued`) is full."""
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc == paho.MQTT_ERR_QUEUE_SIZE:
            raise MqttQueueFull(f"{self._client.max_queued_messages} messages already queued")
        return info

    def barrier(self, timeout: float) -> bool:
        """Wait until the broker has stored every message it acknowledged before this call.

        Mosquitto, with `autosave_on_changes`, saves its database after each loop pass that
        changed it, before it reads the next packet of a connection: a PUBACK comes before
        that save, but the PUBACK of an empty QoS 1 publish sent after it comes after. False
        if that PUBACK is not in within `timeout` (the barrier stays in flight for the
        waiters that share it).
        """
        if self.sync_topic is None:
            return True
        stored = threading.Event()
        self._join_barrier(stored.set)  # shared with other waiters (`_join_barrier`)
        return stored.wait(timeout)

    def publish_acked(self, topic: str, payload: bytes, on_acked: Callable[[], None]) -> int | None:
        """Publish at QoS 1; `on_acked` runs on paho's thread once the broker's PUBACK is in
        (and, with a `sync_topic`, the PUBACK of a barrier after it: the message is stored).
        """
        if self.sync_topic is None:
            return self._publish_acked(topic, payload, on_acked)
        return self._publish_acked(topic, payload, lambda: self._join_barrier(on_acked))

    def _join_barrier(self, on_stored: Callable[[], None]) -> None:
        """Wait for a barrier sent after this message's PUBACK; one barrier serves every
        message whose PUBACK came in before it was sent (a group commit).

        Mosquitto reads one packet per connection per loop pass and saves after each pass, so
        a barrier per message doubled the passes the gateway's connection needs per packet.
        """
        with self._barrier_lock:
            self._barrier_waiting.append(on_stored)
            if self._barrier_in_flight:
                return  # the barrier in flight was sent before this PUBACK: the next one
            self._barrier_in_flight = True
        self._send_barrier()

    def _send_barrier(self) -> None:
        assert self.sync_topic is not None
        with self._barrier_lock:
            batch, self._barrier_waiting = self._barrier_waiting, []

        def stored() -> None:
            with self._barrier_lock:
                more = bool(self._barrier_waiting)
                self._barrier_in_flight = more
            if more:
                self._send_barrier()
            for callback in batch:
                try:
                    callback()
                except Exception:
                    log.exception("stored callback failed")

        if self._publish_acked(self.sync_topic, b"", stored) is None:
            # paho refused to queue the barrier (its queue is full): these messages stay
            # unconfirmed until the next PUBACK sends a barrier for them all.
            with self._barrier_lock:
                self._barrier_waiting[:0] = batch
                self._barrier_in_flight = False

    def _publish_acked(
        self, topic: str, payload: bytes, on_acked: Callable[[], None]
    ) -> int | None:
        """Publish at QoS 1; `on_acked` runs on paho's thread once the broker's PUBACK is in.

        Returns the message id, or None if paho refused to queue it.
        paho runs its publish callback under its own lock, so ours is never held while
        calling paho: a PUBACK that beats the registration is parked and claimed here.
        """
        with self._acks_lock:
            self._registering += 1
        try:
            info = self._client.publish(topic, payload, qos=1)
            if info.rc not in (paho.MQTT_ERR_SUCCESS, paho.MQTT_ERR_NO_CONN):
                return None
            with self._acks_lock:
                acked = info.mid in self._early_acks
                if acked:
                    self._early_acks.discard(info.mid)
                else:
                    self._on_acked[info.mid] = on_acked
        finally:
            with self._acks_lock:
                self._registering -= 1
        if acked:
            on_acked()
        return info.mid

    def drop_unacked(self, mid: int) -> bool:
        """Give up on a publish: paho would resend it on every reconnect, forever.

        A message the broker refuses by dropping the connection (over its `max_packet_size`)
        never gets its PUBACK; left in paho's queue it comes back after each reconnect and
        takes the connection down for every other publisher. paho has no public call for one
        message, so this takes it out of paho's outgoing queue under paho's own lock; a late
        PUBACK for it is ignored by paho. Returns whether it was still queued.
        """
        client = self._client
        with client._out_message_mutex:
            message = client._out_messages.pop(mid, None)
            if message is None:
                return False
            if message.state in (paho.mqtt_ms_wait_for_puback, paho.mqtt_ms_publish):
                client._inflight_messages = max(0, client._inflight_messages - 1)
                if self.connected:
                    client._update_inflight()  # let a queued message take its slot
        return True

    def wait_published(self, count: int, timeout: float) -> bool:
        """Wait until the broker has acknowledged `count` publishes in total (resends included)."""
        deadline = time.monotonic() + timeout
        with self._published:
            while self.published_count < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._published.wait(left)
        return True

    def ack(self, message: Inbound) -> bool:
        """Acknowledge a QoS 1 message; skipped if it came on an earlier connection."""
        if message.qos == 0 or message.generation != self.generation:
            return False
        return self._client.ack(message.mid, message.qos) == paho.MQTT_ERR_SUCCESS

    def ack_many(self, messages: Sequence[Inbound]) -> int:
        """Acknowledge a batch of QoS 1 messages in one write; returns how many were acked.

        paho queues each PUBACK as its own packet: a syscall to wake its thread and a send per
        message (docs/decisions.md, the collector's speed). The same PUBACK bytes go
        out here as one queued packet (paho's writer sends any bytes it is given and clears
        its queue on reconnect, as it does for its own PUBACKs). Messages of an earlier
        connection are skipped, as `ack` skips them.
        """
        generation = self.generation
        mids = [m.mid for m in messages if m.qos == 1 and m.generation == generation]
        if not mids:
            return 0
        packet = b"".join(_PUBACK.pack(paho.PUBACK, 2, mid) for mid in mids)
        rc = self._client._packet_queue(paho.PUBACK, packet, 0, 0)
        return len(mids) if rc == paho.MQTT_ERR_SUCCESS else 0

    def _handle_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self.refused_reason = str(reason_code)
            log.warning("mqtt connect refused", extra={"reason": str(reason_code)})
            return
        self.refused_reason = None
        self.generation += 1
        self._subscribed.clear()
        self._pending_subacks.clear()
        # In slices, so a partition of many plants never makes a packet over the broker's limit.
        for i in range(0, len(self._subscriptions), FILTERS_PER_PACKET):
            _, mid = client.subscribe(self._subscriptions[i : i + FILTERS_PER_PACKET])
            self._pending_subacks.add(mid)
        if not self._pending_subacks:
            self._subscribed.set()
        if flags.session_present:
            # A resumed session may hold filters of an earlier configuration; subscribed
            # first, so nothing that is still ours goes unheard in between.
            for i in range(0, len(self._unsubscriptions), FILTERS_PER_PACKET):
                client.unsubscribe(self._unsubscriptions[i : i + FILTERS_PER_PACKET])
        self._connected.set()
        log.info(
            "mqtt connected",
            extra={"broker": f"{self.host}:{self.port}", "generation": self.generation},
        )

    def _handle_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        # Runs on paho's network thread, as `_handle_connect` does: no race on the set.
        if any(code.is_failure for code in reason_codes):
            log.warning(
                "mqtt subscription refused", extra={"reasons": [str(c) for c in reason_codes]}
            )
            return  # never acknowledged: wait_subscribed says so
        self._pending_subacks.discard(mid)
        if not self._pending_subacks:
            self._subscribed.set()

    def _handle_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self._connected.clear()
        self._subscribed.clear()
        log.info("mqtt disconnected", extra={"reason": str(reason_code)})

    def _handle_publish(self, client, userdata, mid, reason_code, properties) -> None:
        with self._published:
            self.published_count += 1
            self._published.notify_all()
        with self._acks_lock:
            callback = self._on_acked.pop(mid, None)
            if callback is None and self._registering and len(self._early_acks) < MAX_EARLY_ACKS:
                self._early_acks.add(mid)  # its publish_acked is between paho and registration
        if callback is not None:
            try:
                callback()
            except Exception:
                log.exception("publish-ack callback failed", extra={"mid": mid})

    def _handle_message(self, client, userdata, msg: paho.MQTTMessage) -> None:
        self._deliver(msg.topic, bytes(msg.payload), msg.qos, msg.mid, msg.retain)

    def _deliver(self, topic: str, payload: bytes, qos: int, mid: int, retain: bool) -> None:
        # paho's thread: a PUBLISH paho decoded, or one `_ReadBuffered.take_publishes` read.
        if self._on_message is None:
            return
        try:
            self._on_message(Inbound(topic, payload, qos, mid, self.generation, retain))
        except Exception:
            # A handler bug must never kill paho's network thread.
            log.exception("message handler failed", extra={"topic": topic})
