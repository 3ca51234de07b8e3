"""Store-and-forward of accepted packets to upstream HJ 212 platforms (city, province).

Each upstream (`PLANTWATCH_HJ212_FORWARD=host:port,host:port`) has its own fsynced file
queue (`fqueue.py`) under `PLANTWATCH_HJ212_FORWARD_DIR/<host>_<port>/`. A packet is
queued once the broker has acknowledged it and before its logger gets the 9014, so an
answered packet is never missing upstream. A sender keeps a connection to the upstream,
sends in order with the answer bit set in Flag, advances the queue's cursor over the
packets the upstream has answered (9014 with their MN and QN), and after a timeout or a
drop connects again and resends from the cursor: in order, resent until answered.
A logger's resend of an already queued packet (same MN, QN, CN, DataTime) is not queued
twice while it is remembered (the last `DEDUP_REMEMBERED` packets). That memory survives a
restart: it is rebuilt at start from the packets still on disk (`FileQueue.history`, at
least the last `fqueue.COMPACT_BYTES` of them), so a logger whose 9014 was lost in a crash
resends a packet the upstream gets only once. A key is remembered only once its packet
is fsynced: after a failed append (disk full) the logger's resend is queued, not answered.

Nothing one packet or one upstream does stops forwarding for good (docs/hj212-gateway.md):
the logger's own bytes go up (`protocol.for_upstream`: only Flag's answer bit is set, so a
packet over 1,024 bytes or with UTF-8 text goes as it came); a record that cannot be sent,
or that the upstream keeps leaving unanswered while it answers the ones after it, is moved
to `quarantine/` (kept, counted, logged) and the cursor passes it; an odd frame from the
upstream is counted and skipped; any other failure of a session is logged and retried.
The queue is bounded (`hj212_forward_max_queue_bytes`): near full it raises an alarm (log
and the `forward_queue_fill` gauge); full, packets are left unanswered for the logger to
keep and resend, never dropped after a 9014.

Each upstream gets packets in its own version and with its own SM4 key (SPEC section 12):
`host:port@2017` or `host:port@2025` sets Flag's version bits of every packet it gets
(no suffix: each in its logger's version), and `PLANTWATCH_HJ212_FORWARD_SM4_KEYS`
(`host:port=<32 hex>,...`, a secret) gives a 2025 upstream its key: the queue holds
plaintext, and the sender encrypts the CP of data commands, 1014 and 3020 with the
upstream's key as it sends them (CRC and length field stay the plaintext's).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import re
import threading
import time
from collections import OrderedDict, deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

from ingest.gateway import protocol
from ingest.gateway.checks import DataPacket
from ingest.gateway.fqueue import FileQueue, Record
from ingest.gateway.framing import Frame, Framer
from ingest.gateway.server import Connection, Gateway
from ingest.gateway.stats import Tally
from ingest.kernel import hj212, hj212_sm4
from ingest.kernel.errors import Hj212Error
from ingest.kernel.registry import SM4_KEY_PATTERN
from ingest.settings import GatewaySettings

log = logging.getLogger(__name__)

WINDOW_PACKETS = 64
RETRY_MIN_SECONDS = 0.5
RETRY_MAX_SECONDS = 10.0
DEDUP_REMEMBERED = 100_000
CONNECT_TIMEOUT_SECONDS = 5.0
QUEUE_ALARM_FRACTION = 0.8  # the queue this full raises the alarm (log + gauge)
QUEUE_ALARM_CLEAR_FRACTION = 0.7  # and it clears under this
# Sessions that timed out with the queue's head unanswered while later packets were
# answered: the upstream refuses that packet, so it is quarantined instead of blocking.
HEAD_REFUSED_SESSIONS = 2
# The header fields of a raw packet that make its key, without decoding the whole of it
# (thousands of packets are read at start); the first of each is the header's.
_KEY_FIELD = re.compile(rb"(?:^|[;&\d])(QN|CN|MN|DataTime)=([^;&\r\n]*)")


VERSIONS = {"2017": hj212.VERSION_2017, "2025": hj212.VERSION_2025}


@dataclass(frozen=True, slots=True)
class Target:
    """An upstream platform: where, which HJ 212 version it takes, its SM4 key if any."""

    host: str
    port: int
    version: int | None = None  # None: every packet in its logger's own version
    sm4_key: bytes | None = field(default=None, repr=False)  # a secret: never in repr/logs

    @property
    def name(self) -> str:
        return f"{self.host}:{self.port}"


def parse_targets(text: str, keys_text: str = "") -> list[Target]:
    """`host:port[@2017|@2025],...` and `host:port=<32 hex>,...` keys -> targets.

    A bad entry, a key for an upstream not listed or not taking 2025 is a configuration
    error (`ValueError`; the message names the upstream, never the key).
    """
    out = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        where, at, version_text = item.partition("@")
        host, sep, port = where.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"PLANTWATCH_HJ212_FORWARD entry {item!r} is not host:port")
        if at and version_text not in VERSIONS:
            raise ValueError(
                f"PLANTWATCH_HJ212_FORWARD entry {item!r}: the version after '@' is 2017 or 2025"
            )
        out.append(Target(host, int(port), VERSIONS[version_text] if at else None))
    keys: dict[str, bytes] = {}
    for item in filter(None, (part.strip() for part in keys_text.split(","))):
        name, eq, key = item.partition("=")
        name = name.strip()
        if not eq or not SM4_KEY_PATTERN.match(key.strip()):
            raise ValueError(
                f"PLANTWATCH_HJ212_FORWARD_SM4_KEYS entry for {name!r} is not "
                "host:port=<32 hex characters>"
            )
        keys[name] = bytes.fromhex(key.strip())
    by_name = {target.name: target for target in out}
    for name in keys:
        target = by_name.get(name)
        if target is None:
            raise ValueError(f"an SM4 key is given for {name!r}, not in PLANTWATCH_HJ212_FORWARD")
        if target.version != hj212.VERSION_2025:
            raise ValueError(
                f"an SM4 key is given for {name!r}: SM4 is HJ 212-2025's; list it as {name}@2025"
            )
    return [
        Target(t.host, t.port, t.version, keys.get(t.name)) if t.name in keys else t for t in out
    ]


def upstream_wire(raw: bytes, version: int | None, sm4_key: bytes | None) -> bytes:
    """A queued (plaintext) packet as an upstream gets it: Flag's answer bit set, Flag's
    version bits the upstream's when it has one, the CP of the commands HJ 212-2025
    encrypts sealed with the upstream's key when it has one. Raises `Hj212Error` when the
    packet has no header and CP to patch."""
    wire = protocol.for_upstream(raw, version)
    if sm4_key is not None and hj212_sm4.cn_is_encrypted(hj212_sm4.header_field(wire, "CN")):
        wire = hj212_sm4.encrypt_packet(wire, sm4_key)
    return wire


class QueueFull(OSError):
    """The forward queue holds `hj212_forward_max_queue_bytes`: the packet is not answered."""


Key = tuple[str, str, str, str]


def packet_key(packet: hj212.Packet) -> tuple[str, str, str, str]:
    return (packet.mn, packet.qn, packet.cn, packet.data_time or "")


def raw_key(raw: bytes) -> tuple[str, str, str, str]:
    """`packet_key` of a queued packet, read from its bytes."""
    fields: dict[bytes, bytes] = {}
    for match in _KEY_FIELD.finditer(raw):
        fields.setdefault(match[1], match[2])
    mn, qn, cn, data_time = (
        fields.get(name, b"").decode("ascii", "replace")
        for name in (b"MN", b"QN", b"CN", b"DataTime")
    )
    return (mn, qn, cn, data_time)


class Forwarder:
    """One upstream: a durable queue, a group-commit appender thread and a sender task."""

    def __init__(
        self,
        host: str,
        port: int,
        directory: Path,
        answer_timeout_s: float,
        tally: Tally,
        max_queue_bytes: int = 2 << 30,
        version: int | None = None,
        sm4_key: bytes | None = None,
    ) -> None:
        self.host, self.port = host, port
        self.name = f"{host}:{port}"
        self.version, self._sm4_key = version, sm4_key
        self.queue = FileQueue(directory)
        self.quarantine = FileQueue(directory / "quarantine")
        self.answer_timeout_s = answer_timeout_s
        self.tally = tally
        self.max_queue_bytes = max_queue_bytes
        self._alarmed = False
        self._incoming: queue.Queue[tuple[bytes, Key, Future[None]] | None] = queue.Queue()
        self._appender = threading.Thread(target=self._append_loop, name=f"fwd-{self.name}")
        # Both touched by the event loop (enqueue) and the appender thread (after fsync).
        self._keys_lock = threading.Lock()
        self._recent: OrderedDict[Key, None] = OrderedDict()  # on disk
        self._appending: dict[Key, Future[None]] = {}  # handed to the appender, not yet on disk
        self._appending_bytes = 0
        for record in self.queue.history():
            self._remember(raw_key(record.packet))
        self._head_strikes: dict[int, int] = {}  # record end offset -> refused sessions
        self._more = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- queueing (event loop -> appender thread) -----------------------------------------

    def enqueue(self, data: DataPacket) -> Future[None]:
        """Queue a packet durably; the future is done once it is fsynced."""
        key = packet_key(data.packet)
        # The queue holds plaintext: the sender patches Flag and seals it with each
        # upstream's own key as it sends it (`upstream_wire`).
        payload = data.plain or data.raw
        with self._keys_lock:
            if key in self._recent:
                done: Future[None] = Future()
                done.set_result(None)
                return done
            joined = self._appending.get(key)
            if joined is not None:  # a resend while the first is being written: same fate
                return joined
            future: Future[None] = Future()
            if self.fill(len(payload)) >= 1.0:
                self.tally.add("forward_queue_full")
                future.set_exception(QueueFull(f"forward queue to {self.name} is full"))
                return future
            self._appending[key] = future
            self._appending_bytes += len(payload)
        self._check_alarm()
        self._incoming.put((payload, key, future))
        return future

    def fill(self, extra_bytes: int = 0) -> float:
        """How full the queue is, 0..1 (what is on disk and what is being written)."""
        held = self.queue.pending_bytes() + self._appending_bytes + extra_bytes
        return held / self.max_queue_bytes if self.max_queue_bytes > 0 else 0.0

    def _check_alarm(self) -> None:
        fill = self.fill()
        if not self._alarmed and fill >= QUEUE_ALARM_FRACTION:
            self._alarmed = True
            log.error(
                "forward queue nearly full: packets will soon be left unanswered",
                extra={"upstream": self.name, "fill": round(fill, 3),
                       "max_bytes": self.max_queue_bytes},
            )  # fmt: skip
        elif self._alarmed and fill < QUEUE_ALARM_CLEAR_FRACTION:
            self._alarmed = False
            log.warning("forward queue below its alarm again", extra={"upstream": self.name})

    def _remember(self, key: Key) -> None:
        self._recent[key] = None
        while len(self._recent) > DEDUP_REMEMBERED:
            self._recent.popitem(last=False)

    def _append_loop(self) -> None:
        while True:
            item = self._incoming.get()
            if item is None:
                return
            batch = [item]
            while True:  # group commit: everything that queued up meanwhile, one fsync
                try:
                    more = self._incoming.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._incoming.put(None)
                    break
                batch.append(more)
            try:
                self.queue.append([raw for raw, _, _ in batch], int(time.time() * 1000))
            except OSError as exc:
                log.error("forward queue append failed", extra={"error": str(exc)})
                self._settle(batch, remember=False)
                for _, _, future in batch:
                    future.set_exception(exc)
                continue
            self._settle(batch, remember=True)  # on disk now: a resend is answered at once
            for _, _, future in batch:
                future.set_result(None)
            if self._loop is not None:
                self._loop.call_soon_threadsafe(self._more.set)

    def _settle(self, batch: list[tuple[bytes, Key, Future[None]]], remember: bool) -> None:
        with self._keys_lock:
            for raw, key, _ in batch:
                self._appending.pop(key, None)
                self._appending_bytes -= len(raw)
                if remember:
                    self._remember(key)

    # -- sending -------------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._appender.start()
        self._task = asyncio.create_task(self._send_loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._incoming.put(None)
        await asyncio.get_running_loop().run_in_executor(None, self._appender.join)
        self.queue.close()
        self.quarantine.close()

    def lag_seconds(self) -> float:
        oldest = self.queue.oldest_queued_ms()
        return 0.0 if oldest is None else max(0.0, time.time() - oldest / 1000)

    async def _send_loop(self) -> None:
        delay = RETRY_MIN_SECONDS
        while True:
            if self.queue.pending_bytes() == 0:
                self._more.clear()
                if self.queue.pending_bytes() == 0:
                    await self._more.wait()
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(self.host, self.port), CONNECT_TIMEOUT_SECONDS
                )
            except (OSError, TimeoutError) as exc:
                log.info("upstream unreachable", extra={"upstream": self.name, "error": str(exc)})
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_SECONDS)
                continue
            delay = RETRY_MIN_SECONDS
            log.info("upstream connected", extra={"upstream": self.name})
            try:
                await self._session(reader, writer)
            except (ConnectionError, OSError, TimeoutError) as exc:
                log.warning(
                    "upstream session ended", extra={"upstream": self.name, "error": str(exc)}
                )
            except Exception:
                # Whatever a session hits, the sender goes on: it never stops for good.
                self.tally.add("forward_session_errors")
                log.exception("upstream session failed", extra={"upstream": self.name})
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_SECONDS)
            finally:
                writer.close()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        inflight: deque[tuple[Record, tuple[str, str]]] = deque()
        answered: set[tuple[str, str]] = set()
        got_answer = asyncio.Event()
        read_offset = self.queue.cursor

        async def read_answers() -> None:
            framer = Framer()
            while True:
                data = await reader.read(65536)
                if not data:
                    raise ConnectionError("upstream closed the connection")
                for event in framer.feed(data):
                    if not isinstance(event, Frame):
                        continue
                    try:
                        packet = hj212.decode_packet(event.raw)
                    except Hj212Error as exc:  # CRC-valid but odd: counted, skipped
                        self.tally.add("forward_odd_answers")
                        log.warning(
                            "odd frame from the upstream skipped",
                            extra={"upstream": self.name, "error": str(exc)},
                        )
                        continue
                    if packet.cn == protocol.CN_DATA_ANSWER:
                        answered.add((packet.mn, packet.qn))
                        got_answer.set()

        answers = asyncio.create_task(read_answers())
        try:
            while True:
                while len(inflight) < WINDOW_PACKETS and read_offset < self.queue.size:
                    for record in self.queue.read(read_offset, WINDOW_PACKETS - len(inflight)):
                        mn, qn, _, _ = raw_key(record.packet)
                        try:
                            wire = upstream_wire(record.packet, self.version, self._sm4_key)
                        except Hj212Error as exc:
                            self._quarantine(record, str(exc))
                            # passes in its turn, like an answered one
                            inflight.append((record, _quarantined(record)))
                            answered.add(_quarantined(record))
                        else:
                            writer.write(wire)
                            inflight.append((record, (mn, qn)))
                        read_offset = record.end
                    await writer.drain()
                if not inflight:
                    self._more.clear()
                    waiter = asyncio.create_task(self._more.wait())
                    done, _ = await asyncio.wait(
                        {waiter, answers}, return_when=asyncio.FIRST_COMPLETED
                    )
                    waiter.cancel()
                    if answers in done:
                        answers.result()
                    continue
                if inflight[0][1] in answered:  # a quarantined head: nothing to wait for
                    self._commit_answered(inflight, answered)
                    continue
                got_answer.clear()
                waiter = asyncio.create_task(got_answer.wait())
                done, _ = await asyncio.wait(
                    {waiter, answers}, timeout=self.answer_timeout_s,
                    return_when=asyncio.FIRST_COMPLETED,
                )  # fmt: skip
                waiter.cancel()
                if answers in done:
                    answers.result()
                if not done:
                    if self._head_refused(inflight, answered):
                        continue
                    raise TimeoutError(f"no 9014 from {self.name} in {self.answer_timeout_s}s")
                self._commit_answered(inflight, answered)
        finally:
            answers.cancel()
            # answers read just before a drop, a timeout or a stop count too: a restart
            # must not send them again
            self._commit_answered(inflight, answered)

    def _head_refused(
        self, inflight: deque[tuple[Record, tuple[str, str]]], answered: set[tuple[str, str]]
    ) -> bool:
        """After a timeout: quarantine the head if the upstream keeps answering only later ones."""
        record = inflight[0][0]
        if not any(k in answered for _, k in list(inflight)[1:]):
            return False  # nothing answered: the upstream is slow or down, not refusing
        strikes = self._head_strikes.get(record.end, 0) + 1
        self._head_strikes = {record.end: strikes}
        if strikes < HEAD_REFUSED_SESSIONS:
            return False
        self._quarantine(record, "the upstream answered the packets after it, never this one")
        inflight[0] = (record, _quarantined(record))
        answered.add(inflight[0][1])
        self._commit_answered(inflight, answered)
        return True

    def _quarantine(self, record: Record, reason: str) -> None:
        """Keep a record the upstream cannot take apart (fsynced) so the queue moves on."""
        self.quarantine.append([record.packet], record.queued_ms)
        self.tally.add("forward_quarantined")
        mn, qn, cn, _ = raw_key(record.packet)
        log.error(
            "packet quarantined: not forwarded",
            extra={"upstream": self.name, "mn": mn, "qn": qn, "cn": cn, "reason": reason,
                   "bytes": len(record.packet)},
        )  # fmt: skip

    def _commit_answered(
        self, inflight: deque[tuple[Record, tuple[str, str]]], answered: set[tuple[str, str]]
    ) -> None:
        """Move the cursor (fsynced) over the packets the upstream has answered, in order."""
        committed = None
        while inflight and inflight[0][1] in answered:
            record, key = inflight.popleft()
            answered.discard(key)
            committed = record.end
            if key != _quarantined(record):
                self.tally.add("forwarded")
        if committed is not None:
            self.queue.commit(committed)


def _quarantined(record: Record) -> tuple[str, str]:
    """The in-flight key of a quarantined record: no MN, so no upstream answer matches it."""
    return ("", f"quarantined@{record.end}")


class ForwardGate:
    """Holds each answer until every upstream queue has the packet on disk."""

    def __init__(self, gateway: Gateway, forwarders: list[Forwarder]) -> None:
        self.gateway = gateway
        self.forwarders = forwarders

    def __call__(self, data: DataPacket, conn: Connection) -> list[Future[None]]:
        return [f.enqueue(data) for f in self.forwarders]

    async def start(self) -> None:
        for forwarder in self.forwarders:
            await forwarder.start()

    async def stop(self) -> None:
        for forwarder in self.forwarders:
            await forwarder.stop()

    def metrics(self) -> dict[str, float]:
        return {
            "forward_queue_bytes": float(sum(f.queue.pending_bytes() for f in self.forwarders)),
            "forward_lag_seconds": max((f.lag_seconds() for f in self.forwarders), default=0.0),
            "forward_queue_fill": max((f.fill() for f in self.forwarders), default=0.0),
        }


def attach_forwarders(gateway: Gateway, settings: GatewaySettings) -> list[ForwardGate]:
    """Wire the configured upstreams into the gateway's answer path."""
    keys = settings.hj212_forward_sm4_keys
    targets = parse_targets(settings.hj212_forward, keys.get_secret_value() if keys else "")
    forwarders = [
        Forwarder(
            t.host, t.port, settings.hj212_forward_dir / f"{t.host}_{t.port}",
            settings.hj212_forward_answer_timeout_seconds, gateway.tally,
            settings.hj212_forward_max_queue_bytes, t.version, t.sm4_key,
        )
        for t in targets
    ]  # fmt: skip
    gate = ForwardGate(gateway, forwarders)
    gateway.answer_gates.append(gate)
    gateway.gauges.append(gate.metrics)
    return [gate]
