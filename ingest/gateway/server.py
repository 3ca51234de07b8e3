"""The HJ 212 TCP gateway: loggers connect here; packets go on to MQTT (SPEC section 11).

One asyncio task per connection reads, frames (`framing.py`) and checks (`checks.py`) each
packet. A data packet is published at QoS 1 to its plant's `hj212` topic and, if its Flag
asks, answered with CN 9014 only from paho's PUBACK callback: an answer means the broker
holds the packet, and the collector stores it exactly once however often it is resent.
A refused packet gets no answer; it is counted, and a sample of refusals (`deadletters.py`)
becomes dead letters and messages on the plant's `rejected` topic. Wrong PWs (and, from
`auth_failure`, undecryptable packets) lock out their MN and address with back-off
(`lockout.py`); a locked MN or address is refused unanswered whatever it sends. Limits
close one connection with a count and a log line, never the others. Behind a balancer
(`hj212_proxy_from`), a connection's address is the logger's, from the PROXY header
(`proxyline.py`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from ingest.client import MqttClient
from ingest.gateway import protocol
from ingest.gateway.checks import (
    AUTH_FAILURE_CODES,
    LOCKED_OUT,
    ControlPacket,
    DataPacket,
    Refusal,
    check_frame,
)
from ingest.gateway.deadletters import LineWriter, RefusalSampler, redacted
from ingest.gateway.framing import Frame, Framer, Garbage, Oversize
from ingest.gateway.lockout import ADDRESS, MN, AuthGuard, Lock, Lockout, lock_event_line
from ingest.gateway.proxyline import ProxyHeaderError, Source, parse_header
from ingest.gateway.split import Joiner
from ingest.gateway.stats import RepeatLog, Tally
from ingest.kernel.pipeline import IngestRules, Refused
from ingest.kernel.store import Store
from ingest.kernel.topics import Topics
from ingest.settings import GatewaySettings

log = logging.getLogger(__name__)

READ_CHUNK_BYTES = 65536
# A read is framed this much at a time, so a connection past its bad-frame limit is closed
# after a few CRCs, not after every `##` candidate of a 64 KiB read (each costs up to 4 KiB).
FEED_SLICE_BYTES = 512
# Packets answered lately, kept so a resend that crossed its answer is answered again at once
# (the broker has it) instead of being published again: under a backlog, reads paused at
# the bound (`hj212_max_pending_per_connection`) find many such resends waiting.
ANSWERED_KEPT = 10_000
# A balancer sends its PROXY header as it connects: one that has not within this is refused.
PROXY_HEADER_SECONDS = 5.0


def utcnow() -> datetime:
    return datetime.now(UTC)


class Connection:
    """One logger's TCP connection: where answers and commands go."""

    def __init__(self, writer: asyncio.StreamWriter, max_buffer_bytes: int, tally: Tally) -> None:
        self.writer = writer
        peer = writer.get_extra_info("peername") or ("?", 0)
        self.address = str(peer[0])
        self.peer = f"{peer[0]}:{peer[1]}"
        self.mns: set[str] = set()
        self.bad_frames = 0  # CRC failures, garbage, undecodable packets on this connection
        self.pending = 0  # its publishes awaiting their PUBACK
        self.room = asyncio.Event()  # set while `pending` is under the bound: reading goes on
        self.room.set()
        self._max_buffer_bytes = max_buffer_bytes
        self._tally = tally

    def behind(self, source: Source) -> None:
        """The logger's own address, as the balancer at `address` names it."""
        self.peer = f"{source.address}:{source.port} via {self.address}"
        self.address = source.address

    @property
    def open(self) -> bool:
        return not self.writer.is_closing()

    def send(self, data: bytes) -> bool:
        """Queue bytes to the logger; a logger that never reads is closed, not waited for."""
        if not self.open:
            return False
        if self.writer.transport.get_write_buffer_size() > self._max_buffer_bytes:
            self._tally.add("closed_not_reading")
            log.warning("logger does not read its answers; closing", extra={"peer": self.peer})
            self.writer.close()
            return False
        self.writer.write(data)
        return True


class DataListener(Protocol):
    """Told about every packet the broker has acknowledged (commands, forwarding)."""

    def on_published(self, data: DataPacket, conn: Connection) -> None: ...


class ControlListener(Protocol):
    def on_control(self, control: ControlPacket, conn: Connection) -> None: ...


# Called on the PUBACK; the answer waits until every returned future is done (forwarding).
AnswerGate = Callable[[DataPacket, Connection], list[Future[None]]]


@dataclass
class _Pending:
    data: DataPacket
    conns: list[Connection]  # the first sender (its `pending` counts this), and resenders
    sent_monotonic: float
    mid: int | None = None
    timer: asyncio.TimerHandle | None = None
    done: bool = False


@dataclass
class Gateway:
    settings: GatewaySettings
    rules: IngestRules
    mqtt: MqttClient
    store: Store | None = None
    clock: Callable[[], datetime] = utcnow
    tally: Tally = field(default_factory=Tally)
    data_listeners: list[DataListener] = field(default_factory=list)
    control_listener: ControlListener | None = None
    answer_gates: list[AnswerGate] = field(default_factory=list)
    gauges: list[Callable[[], dict[str, float]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.topics = Topics(self.settings.topic_root)
        self.connections: set[Connection] = set()
        self.per_address: Counter[str] = Counter()
        self.by_mn: dict[str, Connection] = {}
        # MN -> the HJ 212 version its logger last spoke: commands go out in it
        self.version_of: dict[str, int] = {}
        self.pending = 0
        # packet bytes -> its publish awaiting the PUBACK: a logger's resend joins it
        # instead of being published again (no resend storm when the broker is slow)
        self._in_flight: dict[bytes, _Pending] = {}
        self._answered: OrderedDict[bytes, None] = OrderedDict()  # ANSWERED_KEPT at most
        self._server: asyncio.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._last_dead_letter_ms = 0
        s = self.settings
        lockouts = {
            scope: Lockout(
                scope, s.hj212_auth_max_failures, s.hj212_auth_window_seconds,
                s.hj212_auth_lock_seconds, s.hj212_auth_max_lock_seconds,
            )
            for scope in (MN, ADDRESS)
        }  # fmt: skip
        self.guard = AuthGuard(lockouts[MN], lockouts[ADDRESS])
        # Addresses whose connections keep being closed for bad frames: refused at accept.
        self.noisy = Lockout(ADDRESS)
        self.sampler = RefusalSampler(s.hj212_refusals_kept_per_minute)
        self.lines: LineWriter | None = None
        self.splits = Joiner(self._keys_of)
        self.timeouts = RepeatLog("PUBACKs late: their packets wait unanswered; resends join them")

    def _keys_of(self, mn: str) -> tuple[bytes, ...] | None:
        stack = self.rules.registry.stack_by_mn(mn)
        return None if stack is None else stack[1].sm4_keys

    async def start(self) -> int:
        """Listen; returns the bound port (useful with port 0)."""
        self._loop = asyncio.get_running_loop()
        if self.store is not None:
            self.lines = LineWriter(self.store, self.tally)
        self._server = await asyncio.start_server(
            self._serve_connection, self.settings.hj212_host, self.settings.hj212_port
        )
        port = int(self._server.sockets[0].getsockname()[1])
        log.warning(
            "hj212 gateway listening",
            extra={"host": self.settings.hj212_host, "port": port},
        )
        return port

    async def stop(self) -> None:
        self.timeouts.flush()
        if self._server is not None:
            self._server.close()
            for conn in list(self.connections):
                conn.writer.close()
            await self._server.wait_closed()
        if self.lines is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.lines.close)

    def metrics(self) -> dict[str, float]:
        values = self.tally.snapshot()
        values["connections_open"] = float(len(self.connections))
        values["pending_answers"] = float(self.pending)
        for gauge in self.gauges:
            values.update(gauge())
        return values

    def send_to(self, mn: str, data: bytes) -> bool:
        """Send bytes to the logger of this MN, if it is connected."""
        conn = self.by_mn.get(mn)
        return conn is not None and conn.send(data)

    # -- connections ---------------------------------------------------------------------

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        conn = Connection(writer, self.settings.hj212_write_buffer_bytes, self.tally)
        if conn.address in self.settings.hj212_proxy_from and not await self._proxy_header(
            reader, conn
        ):
            return
        if self.noisy.locked_for(conn.address, time.monotonic()) > 0:
            self.tally.add("closed_noisy_address")  # not logged: it may come many times a second
            conn.writer.close()
            return
        if len(self.connections) >= self.settings.hj212_max_connections:
            self._close_at_once(conn, "closed_too_many", "too many connections")
            return
        if self.per_address[conn.address] >= self.settings.hj212_max_connections_per_address:
            self._close_at_once(
                conn, "closed_too_many_per_address", "too many connections from this address"
            )
            return
        self.connections.add(conn)
        self.per_address[conn.address] += 1
        self.tally.add("connections_accepted")
        log.info("logger connected", extra={"peer": conn.peer})
        try:
            await self._read_loop(reader, conn)
        except (ConnectionError, OSError) as exc:
            log.info("logger connection lost", extra={"peer": conn.peer, "error": str(exc)})
        except asyncio.CancelledError:
            # Shutting down: end quietly (asyncio would log a cancelled handler as an error).
            pass
        finally:
            self.connections.discard(conn)
            self.per_address[conn.address] -= 1
            if self.per_address[conn.address] <= 0:
                del self.per_address[conn.address]
            for mn in conn.mns:
                if self.by_mn.get(mn) is conn:
                    del self.by_mn[mn]
            writer.close()
            log.info("logger disconnected", extra={"peer": conn.peer})

    async def _proxy_header(self, reader: asyncio.StreamReader, conn: Connection) -> bool:
        """Read the balancer's PROXY header; False (and closed) if it sent none that reads."""
        try:
            line = await asyncio.wait_for(reader.readuntil(b"\r\n"), PROXY_HEADER_SECONDS)
            source = parse_header(line)
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            why = "no PROXY header in time" if isinstance(exc, TimeoutError) else "no PROXY header"
            self._close_at_once(conn, "closed_bad_proxy_header", why)
            return False
        except (ProxyHeaderError, ConnectionError) as exc:
            self._close_at_once(conn, "closed_bad_proxy_header", str(exc))
            return False
        if source is not None:  # PROXY UNKNOWN: the balancer's own connection
            conn.behind(source)
        return True

    def _close_at_once(self, conn: Connection, counter: str, why: str) -> None:
        self.tally.add(counter)
        log.warning(f"connection refused: {why}", extra={"peer": conn.peer})
        conn.writer.close()

    async def _read_loop(self, reader: asyncio.StreamReader, conn: Connection) -> None:
        framer = Framer(self.settings.hj212_max_data_length)
        idle_s = self.settings.hj212_idle_timeout_seconds
        frame_s = self.settings.hj212_frame_timeout_seconds
        frame_started: float | None = None
        while conn.open:
            if not conn.room.is_set():
                if not await self._room(conn, idle_s):
                    return
                if frame_started is not None:
                    frame_started = time.monotonic()  # the wait was ours, not the sender's
            now = time.monotonic()
            timeout = idle_s if frame_started is None else max(0.0, frame_started + frame_s - now)
            try:
                data = await asyncio.wait_for(reader.read(READ_CHUNK_BYTES), min(idle_s, timeout))
            except TimeoutError:
                slow = frame_started is not None
                self.tally.add("closed_slow" if slow else "closed_idle")
                log.warning(
                    "closing a slow sender: packet incomplete"
                    if slow
                    else "closing an idle connection",
                    extra={"peer": conn.peer, "pending_bytes": framer.pending_bytes},
                )
                return
            if not data:
                return
            while data:
                if not conn.room.is_set():
                    if not await self._room(conn, idle_s):
                        return
                    if frame_started is not None:
                        frame_started = time.monotonic()  # the wait was ours, not the sender's
                framed = self._frame_all(conn, framer, data)
                if framed is None:
                    return
                data = data[framed:]
            if framer.pending_bytes == 0:
                frame_started = None
            elif frame_started is None:
                frame_started = time.monotonic()

    async def _room(self, conn: Connection, idle_s: float) -> bool:
        """Wait until the connection is under its bound of packets awaiting the broker;
        False (and counted) when that took the idle timeout: the connection must close.

        Not read meanwhile, a logger's backlog waits in TCP, not as publishes that come
        back too late to be answered.
        """
        self.tally.add("reads_paused")
        try:
            await asyncio.wait_for(conn.room.wait(), idle_s)
        except TimeoutError:
            # A broker this far behind (or a PUBACK lost): let the logger reconnect; its
            # resends join the publishes still in flight.
            self.tally.add("closed_stalled")
            log.warning(
                "closing: its packets waited for the broker the idle timeout",
                extra={"peer": conn.peer, "pending": conn.pending},
            )
            return False
        return True

    def _frame_all(self, conn: Connection, framer: Framer, data: bytes) -> int | None:
        """Frame and handle what a read returned, up to the connection's bound of packets
        awaiting the broker; returns the bytes framed, None when the connection must close."""
        for start in range(0, len(data), FEED_SLICE_BYTES):
            if not conn.room.is_set():
                return start
            seen = framer.bad_frames
            events = framer.feed(data[start : start + FEED_SLICE_BYTES])
            # Every candidate the framer rejected counts, not only the garbage runs it reports
            # (one run may hold many crafted `##dddd` headers).
            conn.bad_frames += framer.bad_frames - seen
            for event in events:
                if isinstance(event, Frame):
                    self.tally.add("packets")
                    self._on_frame(conn, event.raw)
                elif isinstance(event, Garbage):
                    self.tally.add("garbage_bytes", len(event.data))
                    conn.bad_frames += 1
                    log.info(
                        "garbage between packets",
                        extra={"peer": conn.peer, "bytes": len(event.data), "reason": event.reason},
                    )
                elif isinstance(event, Oversize):
                    self.tally.add("closed_oversize")
                    log.warning(
                        "closing: oversized packet announced",
                        extra={"peer": conn.peer, "length": event.length},
                    )
                    return None
                if conn.bad_frames > self.settings.hj212_max_bad_frames:
                    # A logger sends packets; a stream of bad ones is a scanner or an attack.
                    # Its address is noted: one that keeps doing it is not let in for a while.
                    self.tally.add("closed_bad_frames")
                    log.warning(
                        "closing: too many bad frames",
                        extra={"peer": conn.peer, "bad_frames": conn.bad_frames},
                    )
                    self.noisy.failure(conn.address, time.monotonic())
                    return None
        return len(data)

    # -- packets -------------------------------------------------------------------------

    def _on_frame(self, conn: Connection, raw: bytes) -> None:
        joined = self.splits.add(raw)  # split packets (PNUM/PNO) go on whole
        if joined is None:
            self.tally.add("split_parts_held")
            return
        raw = joined
        decision = check_frame(self.rules, raw, self.clock())
        mn = decision.mn if isinstance(decision, Refusal) else decision.packet.mn
        if mn:
            locked = self.guard.refusal(mn, conn.address, time.monotonic())
            if locked is not None:  # right PW or wrong, the answer is the same: none
                self.tally.add("refused_locked_out")
                self._refuse(conn, self._locked_refusal(decision, mn, locked), raw)
                return
        if isinstance(decision, Refusal):
            if decision.refused.code in AUTH_FAILURE_CODES:
                self.auth_failure(mn, conn.address, decision.refused.reason)
            elif not mn:
                conn.bad_frames += 1  # CRC-valid but not a packet
            self._refuse(conn, decision, raw)
            return
        self.guard.success(mn, conn.address)
        conn.mns.add(mn)
        self.by_mn[mn] = conn
        self.version_of[mn] = decision.packet.version
        if isinstance(decision, ControlPacket):
            if self.control_listener is not None:
                self.control_listener.on_control(decision, conn)
            return
        self._publish(conn, decision)

    def _locked_refusal(
        self, decision: DataPacket | ControlPacket | Refusal, mn: str, reason: str
    ) -> Refusal:
        if isinstance(decision, Refusal):
            plant, topic = decision.refused.plant, decision.topic
        else:
            plant, topic = decision.plant.id, self.topics.hj212(decision.plant.id)
        return Refusal(Refused(plant, LOCKED_OUT, reason), topic, mn)

    def auth_failure(self, mn: str, address: str, reason: str) -> None:
        """A wrong PW or an undecryptable packet for `mn` from `address`: count, maybe lock.

        The hook for every authentication check (the PW here, SM4 decryption in the
        codec's caller): a lock begun is logged, counted, written as an `hj212_event` for
        `logger_auth_failures` and, for an address, closes its connections that never
        sent a right PW (the guesser's; loggers behind the same NAT address stay).
        """
        self.tally.add("auth_failures")
        for lock in self.guard.failure(mn, address, time.monotonic()):
            self.tally.add("lockouts")
            log.warning(
                "authentication lockout",
                extra={"scope": lock.scope, "mn": mn, "address": address,
                       "failures": lock.failures, "lock_seconds": lock.seconds,
                       "locks": lock.locks, "reason": reason},
            )  # fmt: skip
            self._write_auth_event(mn, address, lock)
            if lock.scope == ADDRESS:
                for conn in [c for c in self.connections if c.address == address and not c.mns]:
                    self.tally.add("closed_locked_out")
                    conn.writer.close()

    def _write_auth_event(self, mn: str, address: str, lock: Lock) -> None:
        found = self.rules.registry.stack_by_mn(mn)
        if found is None or self.lines is None:
            return
        plant, meter = found
        self.lines.put(lock_event_line(plant.id, meter.id, mn, address, lock, self.clock()))

    def _publish(self, conn: Connection, data: DataPacket) -> None:
        if data.raw in self._answered:
            self.tally.add("resends_answered")
            self._answer(data, conn)
            return
        if not self.mqtt.connected:
            # Unanswered, the logger sends it again later; nothing piles up in memory.
            self.tally.add("deferred")
            return
        loop = self._loop
        assert loop is not None
        joined = self._in_flight.get(data.raw)
        if joined is not None:
            self.tally.add("resends_joined")
            if conn not in joined.conns:
                joined.conns.append(conn)
            return
        pending = _Pending(data, [conn], time.monotonic())
        self._in_flight[data.raw] = pending
        self.pending += 1
        conn.pending += 1
        if conn.pending >= self.settings.hj212_max_pending_per_connection:
            conn.room.clear()

        def acked() -> None:  # on paho's thread
            loop.call_soon_threadsafe(self._acked, pending)

        pending.mid = self.mqtt.publish_acked(data.topic, data.raw, acked)
        if pending.mid is None:
            self._finish(pending)
            self.tally.add("deferred")
            return
        pending.timer = loop.call_later(
            self.settings.hj212_answer_timeout_seconds, self._answer_timed_out, pending
        )

    def _finish(self, pending: _Pending) -> bool:
        if pending.done:
            return False
        pending.done = True
        self.pending -= 1
        first = pending.conns[0]
        first.pending -= 1
        if first.pending < self.settings.hj212_max_pending_per_connection:
            first.room.set()
        self._in_flight.pop(pending.data.raw, None)
        if pending.timer is not None:
            pending.timer.cancel()
        return True

    def _acked(self, pending: _Pending) -> None:
        if not self._finish(pending):
            return
        self.tally.add("published")
        data, conn = pending.data, pending.conns[-1]
        futures = [f for gate in self.answer_gates for f in gate(data, conn)]
        for each in pending.conns:
            if not futures:
                self._answer(data, each)
            else:
                self._answer_when_done(data, each, futures)
        for listener in self.data_listeners:
            try:
                listener.on_published(data, conn)
            except Exception:
                log.exception("data listener failed", extra={"mn": data.packet.mn})

    def _answer(self, data: DataPacket, conn: Connection) -> None:
        if protocol.wants_answer(data.packet) and conn.send(protocol.data_answer(data.packet)):
            self.tally.add("answers")
            self._answered[data.raw] = None
            self._answered.move_to_end(data.raw)
            if len(self._answered) > ANSWERED_KEPT:
                self._answered.popitem(last=False)

    def _answer_when_done(
        self, data: DataPacket, conn: Connection, futures: list[Future[None]]
    ) -> None:
        loop = self._loop
        assert loop is not None
        left = [len(futures)]
        failed = [False]

        def one_done(future: Future[None]) -> None:  # on the loop
            failed[0] = failed[0] or future.exception() is not None
            left[0] -= 1
            if left[0] == 0 and not failed[0]:
                self._answer(data, conn)

        for future in futures:
            future.add_done_callback(lambda f: loop.call_soon_threadsafe(one_done, f))

    def _answer_timed_out(self, pending: _Pending) -> None:
        """Counted once per publish; the publish stays in flight, and resends join it.

        paho keeps the message until its PUBACK (and sends it again after a reconnect), so
        the broker gets it late, not never. Publishing each resend again, as this did, put
        a copy per logger resend into the one connection the slow broker was draining:
        every copy came back too late, the queue grew and nothing was answered again
        (`make run` after its back-fill: 26,041 timeouts of 974 packets in 20 minutes).
        """
        if pending.done:
            return
        pending.timer = None
        self.tally.add("answer_timeouts")
        self.timeouts.note(pending.conns[0].peer, time.monotonic())

    def _refuse(self, conn: Connection, refusal: Refusal, raw: bytes) -> None:
        self.tally.add("refused")
        refused = refusal.refused
        # A registered MN is a source; anything else counts against its address (an
        # attacker inventing MNs must not get a fresh sample for each).
        source = refusal.mn if refused.plant else conn.address
        if not self.sampler.keep(source, refused.code, time.monotonic()):
            self.tally.add("refusals_not_kept")
            return
        now = self.clock()
        log.info(
            "packet refused",
            extra={
                "peer": conn.peer,
                "mn": refusal.mn,
                "code": refused.code,
                "reason": refused.reason,
            },
        )
        topic = refusal.topic or f"tcp://{conn.peer}"
        if refused.plant:
            self.mqtt.publish_acked(
                self.topics.rejected(refused.plant), refused.to_json(topic, now), _nothing
            )
        if self.lines is None:
            return
        now_ms = int(now.timestamp() * 1000)
        self._last_dead_letter_ms = max(now_ms, self._last_dead_letter_ms + 1)
        stamp = datetime.fromtimestamp(self._last_dead_letter_ms / 1000, UTC)
        self.lines.put(refused.dead_letter(topic, redacted(raw), stamp, self.tally.get("refused")))


def _nothing() -> None:
    """A PUBACK nobody needs to act on (refusal notices)."""
