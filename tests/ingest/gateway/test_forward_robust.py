"""Forwarding never stops for good (issue 22, security review): odd packets, a hostile
upstream, a full disk and a full queue. In-process: a Forwarder and an asyncio upstream."""

from __future__ import annotations

import asyncio
import errno
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from pathlib import Path

import pytest

from ingest.gateway import protocol
from ingest.gateway.checks import DataPacket
from ingest.gateway.forward import Forwarder, QueueFull, upstream_wire
from ingest.gateway.framing import Frame, Framer
from ingest.gateway.stats import Tally
from ingest.kernel import hj212, hj212_sm4
from tests.ingest.gateway.helpers import MN, PW, until

CHINESE_3020 = (
    f"QN=20260301080000001;ST=31;CN=3020;PW={PW};MN={MN};Flag=4;"
    "CP=&&DataTime=20260301080000;i11001-Info=//设备日志：采样泵故障，已更换//&&"
)


def framed(segment: str) -> bytes:
    """A packet framed over bytes, with no 1,024 cap (the gateway accepts up to 4,096)."""
    data = segment.encode()
    return b"##%04d" % len(data) + data + b"%04X\r\n" % hj212.crc16(data)


def minute(qn: str, values: int = 1) -> bytes:
    items = ";".join(f"a{24000 + i}-Avg=1.{i},a{24000 + i}-Flag=N" for i in range(values))
    return framed(
        f"QN={qn};ST=31;CN=2051;PW={PW};MN={MN};Flag=4;CP=&&DataTime=20260301080000;{items}&&"
    )


def data(raw: bytes, plain: bytes = b"") -> DataPacket:
    packet = hj212.decode_packet(plain or raw)
    return DataPacket(None, None, packet, raw, "t", plain)  # type: ignore[arg-type]


class Upstream:
    """An upstream platform: records frames, answers 9014 unless told otherwise."""

    def __init__(self, before: bytes = b"", refuse_qn: str = "", key: bytes | None = None) -> None:
        self.frames: list[bytes] = []
        self.key = key  # its own SM4 key: an encrypted frame is opened with it (CRC checked)
        self.plain: list[bytes] = []  # the frames as plaintext
        self.before = before  # sent once on each connection, before any answer
        self.refuse_qn = refuse_qn  # never answered (a platform refusing one packet)
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> Upstream:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        framer = Framer(9999)
        writer.write(self.before)
        while data := await reader.read(65536):
            for event in framer.feed(data):
                if isinstance(event, Frame):
                    self.frames.append(event.raw)
                    plain = event.raw
                    if event.encrypted:  # refused (raises) unless its key opens it
                        plain = hj212_sm4.open_packet(event.raw, [self.key] if self.key else [])[0]
                    self.plain.append(plain)
                    packet = hj212.decode_packet(plain)
                    if packet.qn != self.refuse_qn:
                        writer.write(protocol.data_answer(packet))
        writer.close()

    def qns(self) -> list[str]:
        return [hj212.decode_packet(raw).qn for raw in self.plain]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()


def run(
    tmp_path: Path,
    upstream: Upstream,
    scenario: Callable[[Forwarder], Awaitable[None]],
    answer_timeout_s: float = 5.0,
    max_queue_bytes: int = 1 << 20,
    version: int | None = None,
    sm4_key: bytes | None = None,
) -> Forwarder:
    async def main() -> Forwarder:
        await upstream.start()
        forwarder = Forwarder(
            "127.0.0.1", upstream.port, tmp_path / "fwd", answer_timeout_s, Tally(),
            max_queue_bytes, version, sm4_key,
        )  # fmt: skip
        await forwarder.start()
        try:
            await scenario(forwarder)
        finally:
            await forwarder.stop()
            await upstream.stop()
        return forwarder

    return asyncio.run(main())


async def queued(forwarder: Forwarder, raw: bytes) -> None:
    await asyncio.wrap_future(forwarder.enqueue(data(raw)))


def test_long_and_utf8_packets_go_up_as_the_logger_sent_them(tmp_path: Path) -> None:
    """Failed before the fix: re-framing refused > 1,024 bytes and non-ASCII, the sender
    task died and nothing after reached the upstream."""
    long_one, chinese, after = minute("1", values=60), framed(CHINESE_3020), minute("3")
    assert len(long_one) > 1024 + 12
    upstream = Upstream()

    async def scenario(forwarder: Forwarder) -> None:
        for raw in (long_one, chinese, after):
            await queued(forwarder, raw)
        await until(lambda: len(upstream.frames) == 3)
        await until(lambda: forwarder.queue.pending_bytes() == 0)

    forwarder = run(tmp_path, upstream, scenario)
    for sent, got in zip((long_one, chinese, after), upstream.frames, strict=True):
        # the same bytes but Flag=5 (answer, please): length unchanged, CRC recomputed
        assert got[6:-4] == sent[6:-6].replace(b"Flag=4", b"Flag=5")
    assert "采样泵故障" in hj212.decode_packet(upstream.frames[1]).cp
    assert forwarder.tally.get("forwarded") == 3


def test_a_record_that_cannot_be_sent_is_quarantined_and_the_rest_go(tmp_path: Path) -> None:
    """Failed before the fix: the record stayed at the queue head, the sender died, the
    cursor stayed 0."""
    upstream = Upstream()

    async def scenario(forwarder: Forwarder) -> None:
        forwarder.queue.append([b"##0005hello1234", minute("2")], 0)  # no header to patch
        forwarder._more.set()
        await until(lambda: upstream.qns() == ["2"])
        await until(lambda: forwarder.queue.pending_bytes() == 0)

    forwarder = run(tmp_path, upstream, scenario)
    assert forwarder.queue.cursor == forwarder.queue.size > 0
    assert [r.packet for r in forwarder.quarantine.history()] == [b"##0005hello1234"]
    assert forwarder.tally.get("forward_quarantined") == 1


def test_a_hostile_upstream_odd_frame_does_not_stop_the_sender(tmp_path: Path) -> None:
    """Failed before the fix: one CRC-valid frame that is not HJ 212 killed the sender."""
    # Shaped like a packet (the framer hands it on), CRC-valid, but no HJ 212 inside.
    upstream = Upstream(before=framed("QN=1;CP=&&&&"))

    async def scenario(forwarder: Forwarder) -> None:
        for qn in ("1", "2"):
            await queued(forwarder, minute(qn))
        await until(lambda: forwarder.queue.pending_bytes() == 0)
        await queued(forwarder, minute("3"))
        await until(lambda: forwarder.queue.pending_bytes() == 0)

    forwarder = run(tmp_path, upstream, scenario)
    assert upstream.qns() == ["1", "2", "3"]
    assert forwarder.tally.get("forward_odd_answers") >= 1


def test_a_packet_the_upstream_never_answers_is_quarantined_not_resent_forever(
    tmp_path: Path,
) -> None:
    """Failed before the fix: the unanswered head was resent after every timeout, forever,
    and nothing behind it was ever committed."""
    upstream = Upstream(refuse_qn="1")

    async def scenario(forwarder: Forwarder) -> None:
        for qn in ("1", "2", "3"):
            await queued(forwarder, minute(qn))
        await until(lambda: forwarder.queue.pending_bytes() == 0)

    forwarder = run(tmp_path, upstream, scenario, answer_timeout_s=0.3)
    assert [hj212.decode_packet(r.packet).qn for r in forwarder.quarantine.history()] == ["1"]
    assert set(upstream.qns()) == {"1", "2", "3"}
    assert forwarder.tally.get("forwarded") == 2


def test_a_failed_append_remembers_nothing_so_the_resend_is_queued(tmp_path: Path) -> None:
    """Failed before the fix: the de-dup key was remembered before the append, so the
    logger's resend after a disk-full append was answered with nothing queued."""
    upstream = Upstream()
    raw = minute("1")

    async def scenario(forwarder: Forwarder) -> None:
        real_append = forwarder.queue.append

        def disk_full(packets: list[bytes], now_ms: int) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

        forwarder.queue.append = disk_full  # type: ignore[method-assign]
        with pytest.raises(OSError):
            await queued(forwarder, raw)
        forwarder.queue.append = real_append  # type: ignore[method-assign]
        resend = forwarder.enqueue(data(raw))
        assert forwarder.queue.size == 0  # nothing on disk yet: must not be answered yet
        await asyncio.wrap_future(resend)
        assert forwarder.queue.size > 0
        await until(lambda: upstream.qns() == ["1"])

    run(tmp_path, upstream, scenario)


def test_a_full_queue_leaves_packets_unanswered_and_raises_the_alarm_first(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Failed before the fix: the queue had no bound (and no alarm)."""
    upstream = Upstream()
    size = len(minute("1000", values=10))

    async def scenario(forwarder: Forwarder) -> None:
        await upstream.stop()  # the upstream is away: the queue fills
        futures: list[Future[None]] = [
            forwarder.enqueue(data(minute(f"{i}", values=10))) for i in range(1000, 1010)
        ]
        outcomes = await asyncio.gather(
            *(asyncio.wrap_future(f) for f in futures), return_exceptions=True
        )
        assert [isinstance(o, QueueFull) for o in outcomes] == [False] * 8 + [True] * 2
        assert forwarder.fill() >= 0.8

    caplog.set_level(logging.WARNING, "ingest.gateway.forward")
    forwarder = run(tmp_path, upstream, scenario, max_queue_bytes=8 * (size + 22) + 1)
    assert forwarder.tally.get("forward_queue_full") == 2
    assert any("nearly full" in r.message for r in caplog.records)


@pytest.mark.parametrize(
    ("header", "sent_header"),
    [
        ("Flag=4", "Flag=5"),  # 2017, no answer asked: the A bit is set
        ("Flag=5", "Flag=5"),  # asks already: the bytes go as they are
        ("Flag=8", "Flag=9"),  # 2025: its version bits stay
        ("Flag=10", "Flag=11"),  # 2025 split packet (D bit) too
        ("", "Flag=5"),  # no Flag at all: one asking for an answer, after MN
    ],
)
def test_for_upstream_sets_only_the_answer_bit(header: str, sent_header: str) -> None:
    sep = ";" if header else ""
    raw = framed(f"QN=1;ST=31;CN=3020;PW={PW};MN={MN}{sep}{header};CP=&&i11001-Info=//中文//&&")
    out = protocol.for_upstream(raw)
    packet = hj212.decode_packet(out)  # length and CRC check out
    assert f"MN={MN};{sent_header};CP=&&".encode() in out
    assert packet.cp == "i11001-Info=//中文//"
    if header == sent_header:
        assert out == raw


LOGGER_KEY, UPSTREAM_KEY = b"\x30" * 16, bytes.fromhex("0123456789ABCDEF0123456789ABCDEF")
MN_2025 = "010000A8900016F000169DC0"


def minute_2025(qn: str, flag: str = "8") -> bytes:
    return framed(
        f"QN={qn};ST=31;CN=2051;PW={PW};MN={MN_2025};Flag={flag};RF=1;"
        "CP=&&DataTime=20260301080000;a24088-Avg=12.5,a24088-Flag=N;a00000-Avg=5.2&&"
    )


@pytest.mark.parametrize(
    ("upstream_key", "version", "sent_flag"),
    [
        (UPSTREAM_KEY, hj212.VERSION_2025, "Flag=9"),  # a 2025 platform with its own key
        (None, hj212.VERSION_2017, "Flag=5"),  # a 2017 platform: plaintext, 2017's Flag
    ],
)
def test_each_upstream_gets_its_version_and_its_own_sm4_key_over_tcp(
    tmp_path: Path, upstream_key: bytes | None, version: int, sent_flag: str
) -> None:
    """An SM4 packet a 2025 logger sealed with its key reaches a real TCP upstream sealed
    with the upstream's key (which opens it and checks the plaintext's CRC and length),
    or as plaintext in 2017's Flag for a 2017 one; a heartbeat-size CP and the rest of the
    header (RF=1) go as they are."""
    plain = [minute_2025(f"{n}") for n in (1, 2)]
    sealed = [hj212_sm4.encrypt_packet(raw, LOGGER_KEY) for raw in plain]
    upstream = Upstream(key=upstream_key)

    async def scenario(forwarder: Forwarder) -> None:
        for raw, clear in zip(sealed, plain, strict=True):
            await asyncio.wrap_future(forwarder.enqueue(data(raw, clear)))
        await until(lambda: forwarder.queue.pending_bytes() == 0)

    forwarder = run(tmp_path, upstream, scenario, version=version, sm4_key=upstream_key)
    assert upstream.qns() == ["1", "2"] and forwarder.tally.get("forwarded") == 2
    for frame, clear, got in zip(upstream.frames, plain, upstream.plain, strict=True):
        assert hj212_sm4.is_encrypted(frame) is (upstream_key is not None)
        # the plaintext the upstream reads: the logger's, Flag in the upstream's version
        assert got[:6] == clear[:6]  # the plaintext's length field
        assert hj212.decode_packet(got).cp == hj212.decode_packet(clear).cp
        assert f";{sent_flag};RF=1;CP=&&".encode() in got
        if upstream_key is not None:  # sealed for the upstream: the logger's key fails
            with pytest.raises(hj212_sm4.UndecryptableError):
                hj212_sm4.open_packet(frame, [LOGGER_KEY])


@pytest.mark.parametrize(
    ("flag", "version", "sent"),
    [
        ("9", hj212.VERSION_2017, "5"),  # a 2025 logger's packet to a 2017 platform
        ("4", hj212.VERSION_2025, "9"),  # a 2017 logger's packet to a 2025 platform
        ("10", hj212.VERSION_2017, "7"),  # split-packet (D) bit kept
        ("9", None, "9"),  # no version configured: the logger's own
    ],
)
def test_upstream_wire_sets_the_upstreams_version(
    flag: str, version: int | None, sent: str
) -> None:
    out = upstream_wire(minute_2025("1", flag), version, None)
    assert hj212.decode_packet(out).header["Flag"] == sent


def test_upstream_wire_seals_only_the_commands_the_standard_encrypts() -> None:
    heartbeat = framed(f"QN=1;ST=91;CN=9015;PW={PW};MN={MN_2025};Flag=8;CP=&&&&")
    assert upstream_wire(heartbeat, hj212.VERSION_2025, UPSTREAM_KEY) == framed(
        f"QN=1;ST=91;CN=9015;PW={PW};MN={MN_2025};Flag=9;CP=&&&&"
    )
    sealed = upstream_wire(minute_2025("1"), hj212.VERSION_2025, UPSTREAM_KEY)
    assert hj212_sm4.open_packet(sealed, [UPSTREAM_KEY])[0] == upstream_wire(
        minute_2025("1"), hj212.VERSION_2025, None
    ).rstrip(b"\r\n")
