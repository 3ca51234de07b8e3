"""HJ 212 system-interaction packets the gateway sends and reads. Pure, no I/O.

Built with the codec's own `hj212.frame`, so length and CRC follow Appendix A.

Flag (6.3.3) is a bit field `V5..V0 D A`: A (bit 0) asks for an answer, D (bit 1) marks
a split packet; version bits 000001 mean HJ 212-2017 (Flag 4, or 5 to ask an answer),
000010 HJ 212-2025 (Flag 8 or 9). Every answer and command goes out in the version of
the logger it goes to: a 2025 logger's Flag=9 packet is answered with Flag=8. A command
whose CP the standard encrypts (CN 2xxx, 1014, 3020) is encrypted with the stack's key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from ingest.kernel import hj212, hj212_sm4

ST_SYSTEM = "91"  # system interaction
ST_AIR_SOURCE = "31"
CN_ANSWER_REQUEST = "9011"  # the logger accepts (or refuses) a command: QnRtn
CN_ANSWER_RESULT = "9012"  # the logger's result of a command: ExeRtn
CN_NOTICE_ANSWER = "9013"
CN_DATA_ANSWER = "9014"
CN_GET_TIME = "1011"  # platform asks the logger's clock; the logger uploads it as CN 1011
CN_SET_TIME = "1012"  # platform sets the logger's clock
CN_TIME_CALIBRATION_REQUEST = "1013"  # the logger asks to be set
CN_HEARTBEAT = "9015"  # not in the 2017 table, but sent by many loggers in the field
CN_GET_MINUTE = hj212.CN_MINUTE
CN_GET_HOUR = hj212.CN_HOUR
FLAG_ANSWER = hj212.FLAG_ANSWER_BIT
FLAG_2017_NO_ANSWER = "4"
FLAG_2017_ANSWER = "5"
QN_RETURN_READY = "1"
EXE_RETURN_SUCCESS = "1"
EXE_RETURN_NO_DATA = "100"
COMMAND_ANSWERS = (CN_ANSWER_REQUEST, CN_ANSWER_RESULT, CN_NOTICE_ANSWER, CN_DATA_ANSWER)
TIME_FORMAT = "%Y%m%d%H%M%S"
HEADER_BYTES = 6  # "##" + 4 decimal digits of length
MAX_FRAMED_LENGTH = 9999  # what 4 decimal digits can say


def wants_answer(packet: hj212.Packet) -> bool:
    """True when the packet's Flag has its A bit set (a missing or odd Flag asks nothing)."""
    flag = packet.header.get("Flag", "")
    return flag.isdigit() and int(flag) & FLAG_ANSWER == FLAG_ANSWER


def flag_of(version: int, answer: bool = False) -> str:
    """The Flag of a packet to a logger speaking `version` (no split packets are sent)."""
    return str(version << 2 | (FLAG_ANSWER if answer else 0))


def data_answer(packet: hj212.Packet) -> bytes:
    """CN 9014: the platform got the data packet with this QN (in the logger's version)."""
    return _control(packet.qn, CN_DATA_ANSWER, packet, "", flag_of(packet.version))


def _control(qn: str, cn: str, to: hj212.Packet, cp: str, flag: str) -> bytes:
    pw = to.header.get("PW", "")
    return hj212.frame(f"QN={qn};ST={ST_SYSTEM};CN={cn};PW={pw};MN={to.mn};Flag={flag};CP=&&{cp}&&")


def with_header(raw: bytes, **fields: str) -> bytes:
    """The same packet with some header fields replaced (QN, PW, Flag...), re-framed."""
    packet = hj212.decode_packet(raw)  # verifies what it rewrites
    cp = raw.rstrip(b"\r\n")[6:-4].decode("ascii").split("CP=&&", 1)[1]
    header = dict(packet.header)
    header.update(fields)
    order = ["QN", "ST", "CN", "PW", "MN", "Flag"]
    keys = [k for k in order if k in header] + [k for k in header if k not in order]
    return hj212.frame(";".join(f"{k}={header[k]}" for k in keys) + ";CP=&&" + cp)


def for_upstream(raw: bytes, version: int | None = None) -> bytes:
    """The logger's own packet as sent upward: its bytes, with Flag's A bit set.

    Works on bytes, never re-encodes text: a packet over the standard's 1,024 characters
    (the gateway accepts up to `hj212_max_data_length`) or with UTF-8 text (a CN 3020 in
    Chinese) goes up as it came. `version` (an upstream configured for one HJ 212 version)
    also sets Flag's version bits; the other bits (D: split packet) stay. Length and CRC
    are recomputed only when Flag changes. Raises `Hj212Error` when the packet has no
    header to patch.
    """
    packet = raw.rstrip(b"\r\n")
    segment = packet[HEADER_BYTES:-4]
    head, sep, tail = segment.partition(b"CP=&&")
    if not packet.startswith(hj212.HEADER) or not sep:
        raise hj212.Hj212Error("queued packet has no header and CP to forward")
    fields = head.split(b";")
    for i, field in enumerate(fields):
        key, eq, value = field.partition(b"=")
        if key == b"Flag" and eq:
            flag = int(value) if value.isdigit() else int(FLAG_2017_ANSWER)
            wanted = flag | FLAG_ANSWER
            if version is not None:
                wanted = version << 2 | wanted & 0b11
            if value.isdigit() and wanted == flag:
                return packet + hj212.TRAILER  # nothing to change: sent untouched
            fields[i] = b"Flag=%d" % wanted
            break
    else:  # no Flag: ask for an answer (the 2017 way unless told), after MN as the standard
        flag_field = b"Flag=" + flag_of(version or hj212.VERSION_2017, answer=True).encode()
        fields.insert(len(fields) - 1 if fields and not fields[-1] else len(fields), flag_field)
    segment = b";".join(fields) + sep + tail
    if len(segment) > MAX_FRAMED_LENGTH:
        raise hj212.Hj212Error(f"data segment of {len(segment)} bytes does not fit 4 digits")
    crc = hj212.crc16(segment)
    return hj212.HEADER + b"%04d" % len(segment) + segment + b"%04X" % crc + hj212.TRAILER


def qn_at(when: datetime, timezone: str) -> str:
    """A request number: local time to the millisecond, as the standard writes it."""
    local = when.astimezone(ZoneInfo(timezone))
    return local.strftime(TIME_FORMAT) + f"{local.microsecond // 1000:03d}"


def local_text(when: datetime, timezone: str) -> str:
    return when.astimezone(ZoneInfo(timezone)).strftime(TIME_FORMAT)


@dataclass(frozen=True, slots=True)
class Command:
    """A request the platform sends to one logger."""

    qn: str
    cn: str
    mn: str
    pw: str
    cp: Mapping[str, str]
    st: str = ST_AIR_SOURCE
    version: int = hj212.VERSION_2017  # the version the logger last spoke

    def encode(self, key: bytes | None = None) -> bytes:
        """The command as sent; with the stack's SM4 key a data command's CP is encrypted."""
        cp = ";".join(f"{k}={v}" for k, v in self.cp.items())
        raw = hj212.frame(
            f"QN={self.qn};ST={self.st};CN={self.cn};PW={self.pw};MN={self.mn};"
            f"Flag={flag_of(self.version, answer=True)};CP=&&{cp}&&"
        )
        if key is not None and hj212_sm4.cn_is_encrypted(self.cn):
            return hj212_sm4.encrypt_packet(raw, key)
        return raw


def get_time(qn: str, mn: str, pw: str) -> Command:
    return Command(qn, CN_GET_TIME, mn, pw, {})


def set_time(qn: str, mn: str, pw: str, now: datetime, timezone: str) -> Command:
    return Command(qn, CN_SET_TIME, mn, pw, {"SystemTime": local_text(now, timezone)})


def get_history(
    qn: str, cn: str, mn: str, pw: str, begin: datetime, end: datetime, timezone: str
) -> Command:
    """CN 2051 (minute) or 2061 (hour) data between BeginTime and EndTime, local time."""
    return Command(
        qn,
        cn,
        mn,
        pw,
        {"BeginTime": local_text(begin, timezone), "EndTime": local_text(end, timezone)},
    )


def cp_fields(raw: bytes) -> dict[str, str]:
    """`key=value` pairs of a packet's CP (e.g. QnRtn, ExeRtn, SystemTime, BeginTime)."""
    text = raw.decode("ascii", "replace")
    start = text.find("CP=&&")
    end = text.rfind("&&")
    if start < 0 or end < start + 5:
        return {}
    out: dict[str, str] = {}
    for part in text[start + 5 : end].replace(",", ";").split(";"):
        key, sep, value = part.partition("=")
        if sep:
            out[key] = value
    return out
