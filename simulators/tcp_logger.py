"""Simulated HJ 212 data loggers over TCP, as they behave in the field (SPEC section 11).

Each logger keeps one connection to the gateway, sends its packets with Flag=5 (answer,
please) and its registry PW, resends a packet until its CN 9014 comes back (or, given
`give_up_seconds`, until it is that old: field loggers retry a few times, then keep the
packet only in their history for the platform to ask for), reconnects after a drop, keeps what it sent in a buffer to answer history requests (CN 2051/2061
with BeginTime/EndTime: 9011, the packets, 9012), reports its clock (CN 1011) with the
drift it was given and lets the platform set it (CN 1012). `TcpLoggers` runs many of
them on one asyncio loop in a thread and is a simulator sink (`--voc-transport tcp`).

A stack whose registry MN is a 24-hex network code gets an HJ 212-2025 logger
(`registry_profiles`): Flag=9, its data commands SM4-encrypted when the registry holds its
key, history answers marked RF=1; one of them (the last by MN) also holds its packets and
sends them in batches as back-fill (RF=1), as a logger on a flaky link does.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from ingest.gateway import protocol
from ingest.gateway.framing import Frame, Framer
from ingest.kernel import hj212, hj212_sm4
from ingest.kernel.errors import Hj212Error
from ingest.kernel.registry import Registry

log = logging.getLogger(__name__)

RESEND_SECONDS = 10.0  # HJ 212 loggers default to a few seconds; 10 s is gentle
RECONNECT_MIN_SECONDS = 0.5
RECONNECT_MAX_SECONDS = 15.0
BUFFER_PACKETS = 20_000  # a logger's history buffer (about two weeks of minute data)
# A back-filling logger sends what it held in batches this big: about 8 minutes of minute
# and real-time data, under the 15-minute offline allowance of a VOC meter.
BACKFILL_BATCH_PACKETS = 10


@dataclass(frozen=True, slots=True)
class LoggerProfile:
    """What a simulated logger speaks: HJ 212 version, SM4 key, whether it back-fills."""

    version: int = hj212.VERSION_2017
    key: bytes | None = field(default=None, repr=False)
    backfill: bool = False
    backfill_batch: int = BACKFILL_BATCH_PACKETS


def relabel(raw: bytes, *, qn: str, pw: str, flag: str = protocol.FLAG_2017_ANSWER) -> bytes:
    """The same packet with this logger's QN, PW and Flag (length and CRC recomputed)."""
    return protocol.with_header(raw, QN=qn, PW=pw, Flag=flag)


@dataclass
class Latencies:
    """Packet sent (first time) -> its 9014 received, in seconds."""

    seconds: list[float] = field(default_factory=list)
    answered: int = 0
    resent: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, value: float) -> None:
        with self._lock:
            self.seconds.append(value)
            self.answered += 1


class SimLogger:
    """One logger: an outbox of unanswered packets and a buffer of sent ones."""

    def __init__(
        self,
        host: str,
        port: int,
        mn: str,
        pw: str,
        timezone: str = "Asia/Shanghai",
        *,
        resend_seconds: float = RESEND_SECONDS,
        clock_offset_seconds: float = 0.0,
        latencies: Latencies | None = None,
        give_up_seconds: float | None = None,
        profile: LoggerProfile | None = None,
    ) -> None:
        self.host, self.port, self.mn, self.pw, self.timezone = host, port, mn, pw, timezone
        self.profile = profile or LoggerProfile()
        self.held: list[bytes] = []  # a back-filling logger's packets not yet sent
        self.resend_seconds = resend_seconds
        self.give_up_seconds = give_up_seconds
        self.clock_offset_seconds = clock_offset_seconds
        self.latencies = latencies or Latencies()
        # qn -> [raw, first sent, last sent] (monotonic seconds)
        self.unanswered: OrderedDict[str, list] = OrderedDict()
        self.buffer: OrderedDict[tuple[str, str], bytes] = OrderedDict()  # (cn, DataTime) -> raw
        self.commands: list[hj212.Packet] = []  # what the platform asked, for tests
        self.connected = asyncio.Event()
        self._writer: asyncio.StreamWriter | None = None
        self._seq = itertools.count()
        self._wake = asyncio.Event()
        self._stopping = False

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.clock_offset_seconds)

    def next_qn(self) -> str:
        return protocol.qn_at(self.now(), self.timezone)[:-3] + f"{next(self._seq) % 1000:03d}"

    def submit(self, raw: bytes, remember: bool = True) -> str:
        """Queue a packet (relabelled as this logger's); returns its QN."""
        qn = self.next_qn()
        while qn in self.unanswered:
            qn = self.next_qn()
        if self.profile.backfill:
            self.held.append(raw)
            if len(self.held) >= self.profile.backfill_batch:
                held, self.held = self.held, []
                for one in held:
                    self._submit(one, remember, backfill=True)
            return qn
        return self._submit(raw, remember, qn=qn)

    def _submit(
        self, raw: bytes, remember: bool, *, qn: str | None = None, backfill: bool = False
    ) -> str:
        if qn is None:
            qn = self.next_qn()
            while qn in self.unanswered:
                qn = self.next_qn()
        packet = self._label(raw, qn, backfill)
        if remember:
            decoded = hj212.decode_packet(packet)
            self.buffer[(decoded.cn, decoded.data_time or "")] = packet
            while len(self.buffer) > BUFFER_PACKETS:
                self.buffer.popitem(last=False)
        wire = self._seal(packet)
        now = time.monotonic()
        self.unanswered[qn] = [wire, now, now]
        self._send(wire)
        return qn

    def _label(self, raw: bytes, qn: str, backfill: bool = False) -> bytes:
        """This logger's QN, PW and Flag (its version, answer please), RF=1 for back-fill."""
        flag = protocol.flag_of(self.profile.version, answer=True)
        extra = {"RF": "1"} if backfill and self.profile.version == hj212.VERSION_2025 else {}
        return protocol.with_header(raw, QN=qn, PW=self.pw, Flag=flag, **extra)

    def _seal(self, packet: bytes) -> bytes:
        """Encrypted with the logger's key when the standard encrypts this command."""
        key = self.profile.key
        if key is None or not hj212_sm4.cn_is_encrypted(hj212_sm4.header_field(packet, "CN")):
            return packet
        return hj212_sm4.encrypt_packet(packet, key)

    def send_prepared(self, qn: str, packet: bytes) -> None:
        """Send a packet already carrying this logger's QN, PW and Flag (benchmarks)."""
        now = time.monotonic()
        self.unanswered[qn] = [packet, now, now]
        self._send(packet)

    def send_raw(self, raw: bytes) -> None:
        """Send bytes as they are, expecting no answer (a broken packet)."""
        self._send(raw)

    def remember(self, raw: bytes) -> None:
        """Keep a packet in the buffer without sending it (recorded during an outage)."""
        decoded = hj212.decode_packet(raw)
        self.buffer[(decoded.cn, decoded.data_time or "")] = raw

    def _send(self, raw: bytes) -> None:
        if self._writer is not None and not self._writer.is_closing():
            self._writer.write(raw)

    async def run(self) -> None:
        delay = RECONNECT_MIN_SECONDS
        while not self._stopping:
            try:
                reader, writer = await asyncio.open_connection(self.host, self.port)
            except OSError:
                self._give_up()
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX_SECONDS)
                continue
            delay = RECONNECT_MIN_SECONDS
            self._writer = writer
            self.connected.set()
            self._give_up()
            for entry in list(self.unanswered.values()):
                writer.write(entry[0])  # what was unanswered goes again, in order
                self.latencies.resent += 1
            resender = asyncio.create_task(self._resend_loop())
            try:
                await self._read(reader)
            except (ConnectionError, OSError):
                pass
            finally:
                resender.cancel()
                self.connected.clear()
                self._writer = None
                writer.close()

    def stop(self) -> None:
        self._stopping = True
        if self._writer is not None:
            self._writer.close()

    def _give_up(self) -> None:
        """Drop from the outbox what is older than `give_up_seconds` (it stays in the buffer)."""
        if self.give_up_seconds is None:
            return
        oldest_kept = time.monotonic() - self.give_up_seconds
        for qn, entry in list(self.unanswered.items()):
            if entry[1] < oldest_kept:
                del self.unanswered[qn]

    async def _resend_loop(self) -> None:
        while True:
            await asyncio.sleep(self.resend_seconds / 2)
            self._give_up()
            now = time.monotonic()
            for entry in list(self.unanswered.values()):
                if now - entry[2] >= self.resend_seconds:
                    entry[2] = now
                    self.latencies.resent += 1
                    self._send(entry[0])

    async def _read(self, reader: asyncio.StreamReader) -> None:
        framer = Framer()
        while True:
            data = await reader.read(65536)
            if not data:
                return
            for event in framer.feed(data):
                if isinstance(event, Frame):
                    raw = event.raw
                    if event.encrypted and self.profile.key is not None:
                        raw, _ = hj212_sm4.open_packet(raw, [self.profile.key], self.mn)
                    self._on_packet(hj212.decode_packet(raw), raw)

    def _on_packet(self, packet: hj212.Packet, raw: bytes) -> None:
        if packet.cn == protocol.CN_DATA_ANSWER:
            sent = self.unanswered.pop(packet.qn, None)
            if sent is not None:
                self.latencies.add(time.monotonic() - sent[1])
            return
        self.commands.append(packet)
        for reply in self._answer(packet, protocol.cp_fields(raw)):
            self._send(reply)

    def _answer(self, packet: hj212.Packet, cp: Mapping[str, str]) -> list[bytes]:
        flag = protocol.flag_of(self.profile.version)

        def control(cn: str, body: str) -> bytes:
            return hj212.frame(
                f"QN={packet.qn};ST={protocol.ST_SYSTEM};CN={cn};PW={self.pw};MN={self.mn};"
                f"Flag={flag};CP=&&{body}&&"
            )

        ready = control(protocol.CN_ANSWER_REQUEST, "QnRtn=1")
        if packet.cn == protocol.CN_GET_TIME:
            clock = protocol.local_text(self.now(), self.timezone)
            upload = hj212.frame(
                f"QN={packet.qn};ST=31;CN=1011;PW={self.pw};MN={self.mn};Flag={flag};"
                f"CP=&&SystemTime={clock}&&"
            )
            return [ready, upload, control(protocol.CN_ANSWER_RESULT, "ExeRtn=1")]
        if packet.cn == protocol.CN_SET_TIME and "SystemTime" in cp:
            wanted = hj212.parse_data_time(cp["SystemTime"], self.timezone)
            self.clock_offset_seconds = (wanted - datetime.now(UTC)).total_seconds()
            return [ready, control(protocol.CN_ANSWER_RESULT, "ExeRtn=1")]
        if packet.cn in (protocol.CN_GET_MINUTE, protocol.CN_GET_HOUR) and "BeginTime" in cp:
            begin, end = cp["BeginTime"], cp.get("EndTime", cp["BeginTime"])
            found = [
                raw
                for (cn, data_time), raw in sorted(self.buffer.items())
                if cn == packet.cn and begin <= data_time <= end
            ]
            out = [ready]
            for raw in found:
                qn = self.next_qn()
                relabelled = self._seal(self._label(raw, qn, backfill=True))
                now = time.monotonic()
                self.unanswered[qn] = [relabelled, now, now]
                out.append(relabelled)
            result = protocol.EXE_RETURN_SUCCESS if found else protocol.EXE_RETURN_NO_DATA
            return [*out, control(protocol.CN_ANSWER_RESULT, f"ExeRtn={result}")]
        return [control(protocol.CN_ANSWER_REQUEST, "QnRtn=2")]  # refused: not supported


_MN = re.compile(rb"MN=([^;&]+)")


class Sink(Protocol):
    """Where the simulator's other messages (JSON readings) go: the MQTT publisher."""

    def publish(self, plant: str, topic: str, payload: bytes) -> None: ...


class TcpLoggers:
    """Many `SimLogger`s on one event loop in a thread; HJ 212 packets go over TCP."""

    def __init__(
        self,
        host: str,
        port: int,
        stacks: Mapping[str, str],
        timezone: str = "Asia/Shanghai",
        *,
        mqtt_sink: Sink | None = None,
        resend_seconds: float = RESEND_SECONDS,
        clock_offsets: Mapping[str, float] | None = None,
        give_up_seconds: float | None = None,
        profiles: Mapping[str, LoggerProfile] | None = None,
    ) -> None:
        self.latencies = Latencies()
        offsets = clock_offsets or {}
        kinds = profiles or {}
        self.loggers = {
            mn: SimLogger(
                host, port, mn, pw, timezone,
                resend_seconds=resend_seconds,
                clock_offset_seconds=offsets.get(mn, 0.0),
                latencies=self.latencies,
                give_up_seconds=give_up_seconds,
                profile=kinds.get(mn),
            )
            for mn, pw in stacks.items()
        }  # fmt: skip
        self.mqtt_sink = mqtt_sink
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="tcp-loggers", daemon=True)
        self._ready = threading.Event()

    def start(self) -> TcpLoggers:
        self._thread.start()
        self._ready.wait(10)
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        tasks = [self.loop.create_task(logger.run()) for logger in self.loggers.values()]
        self.loop.call_soon(self._ready.set)
        with contextlib.suppress(asyncio.CancelledError):
            self.loop.run_until_complete(asyncio.gather(*tasks))

    def call(self, fn: Callable[[], object]) -> None:
        """Run `fn` on the loggers' loop."""
        self.loop.call_soon_threadsafe(fn)

    def publish(self, plant: str, topic: str, payload: bytes) -> None:
        if topic.endswith("/hj212"):
            payload = self._plain(payload)
            try:
                mn = hj212.decode_packet(payload).mn
            except Hj212Error:
                # A malformed packet (an injected fault) goes over the wire as a broken logger
                # would send it: the gateway refuses it, nothing answers, nothing is resent.
                found = _MN.search(payload)
                broken = self.loggers.get(found.group(1).decode()) if found else None
                if broken is not None:
                    self.call(lambda: broken.send_raw(payload))
                    return
            else:
                logger = self.loggers.get(mn)
                if logger is not None:
                    self.call(lambda: logger.submit(payload))
                    return
        if self.mqtt_sink is not None:
            self.mqtt_sink.publish(plant, topic, payload)

    def _plain(self, payload: bytes) -> bytes:
        """The plaintext of a packet the engine encrypted (a logger seals it when sending)."""
        if not hj212_sm4.is_encrypted(payload):
            return payload
        logger = self.loggers.get(hj212_sm4.header_field(payload, "MN"))
        key = logger.profile.key if logger is not None else None
        try:
            return hj212_sm4.open_packet(payload, [key] if key else [])[0]
        except Hj212Error:
            return payload  # a broken packet goes over the wire as it is

    def unanswered(self) -> int:
        return sum(len(logger.unanswered) for logger in self.loggers.values())

    def stop(self) -> None:
        def stop_all() -> None:
            for logger in self.loggers.values():
                logger.stop()
            for task in asyncio.all_tasks(self.loop):
                task.cancel()

        if self._thread.is_alive():
            self.call(stop_all)
            self._thread.join(10)


def registry_stacks(registry: Registry) -> dict[str, str]:
    """MN -> PW of every stack with a data logger (PW 123456, the factory default, if unset)."""
    return {
        meter.hj212_mn: meter.hj212_pw or "123456"
        for plant in registry.plants
        for meter in plant.meters
        if meter.hj212_mn
    }


def registry_profiles(registry: Registry) -> dict[str, LoggerProfile]:
    """MN -> profile: a 24-hex MN is an HJ 212-2025 logger (encrypting when the registry has
    its key); the last of them by MN back-fills. Other MNs are 2017 loggers."""
    stacks = sorted(
        (
            (meter.hj212_mn, meter)
            for plant in registry.plants
            for meter in plant.meters
            if meter.hj212_mn and hj212.MN_2025.match(meter.hj212_mn)
        ),
        key=lambda pair: pair[0],
    )
    return {
        mn: LoggerProfile(
            hj212.VERSION_2025,
            meter.sm4_keys[0] if meter.sm4_keys else None,
            backfill=index == len(stacks) - 1,
        )
        for index, (mn, meter) in enumerate(stacks)
    }
