"""HJ 212-2017 and 2025 packets: encode, decode and map to readings (SPEC 4, 12). Pure, no I/O.

A packet is `##` + 4-digit decimal length of the data segment + data segment + 4 hex
digits of CRC + CRLF. The CRC is the standard's Appendix A algorithm, which differs from
CRC-16/MODBUS in how each byte enters the register: `crc = (crc >> 8) ^ byte`.

Only the frame (length, CRC, syntax), the CN/MN and the time can make a packet untrustworthy;
everything else is read per value (docs/protocol.md): an empty or unparseable value, or an
unknown flag, becomes an invalid value with its reason and the packet's other values are kept.
Loggers in the field are loose: QN may be missing, DataTime may carry milliseconds.

HJ 212-2025 keeps the frame and says which version a packet speaks in its Flag (`version`):
a 2025 packet's MN must be the logger's 24-character network code (0-9, A-F), `RF=1` marks
a back-filled packet (`Packet.backfill`), `PNUM`/`PNO` a split one. Its SM4 encryption is
`hj212_sm4.py`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from zoneinfo import ZoneInfo

from ingest.kernel.errors import Hj212Error
from ingest.kernel.schema import FLAGS, Reading, to_epoch_ms

HEADER = b"##"
TRAILER = b"\r\n"
MAX_DATA_LENGTH = 1024  # the standard caps the data segment at 1024 characters
CN_REALTIME = "2011"
CN_MINUTE = "2051"
CN_HOUR = "2061"
CN_DAY = "2031"
KNOWN_CN = {CN_REALTIME: "Rtd", CN_MINUTE: "Avg", CN_HOUR: "Avg", CN_DAY: "Avg"}
MEASUREMENT_BY_CN = {
    CN_REALTIME: "voc",
    CN_MINUTE: "voc_minute",
    CN_HOUR: "voc_hour",
    CN_DAY: "voc_day",
}
# Status and event uploads: kept as `hj212_event` points, never refused.
EVENT_CNS = {
    "1011": "logger clock",
    "1061": "real-time interval",
    "1063": "minute interval",
    "2021": "facility run status",
    "2041": "facility run time",
    "2081": "logger restart",
    "3020": "parameters and status",
    # HJ 212-2025 additions: kept as sent until plantwatch reads them (docs/protocol.md)
    "2013": "VOC analyser raw data (ST 27)",
    "9015": "heartbeat",
}
EVENT_MEASUREMENT = "hj212_event"
MAX_EVENT_CP_CHARS = 1000
# Flag (6.3.3) is `V5..V0 D A`: version bits, D = split packet (PNUM/PNO), A = answer.
VERSION_2017 = 1  # Flag 4..7
VERSION_2025 = 2  # Flag 8..11
FLAG_ANSWER_BIT = 1
FLAG_SPLIT_BIT = 2
MN_2025 = re.compile(r"\A[0-9A-F]{24}\Z")
FLOW_CODE = "a00000"
FLOW_NAME = "flow_m3h"
# Unit of the flow code sent by a stack's logger -> factor to plantwatch's m³/h.
FLOW_UNIT_FACTORS = {"m3/s": 3600.0, "m3/h": 1.0}
DEFAULT_FLOW_UNIT = "m3/s"

# (plantwatch value name, multiplier from the HJ 212 unit to plantwatch's unit)
CODE_MAP: dict[str, tuple[str, float]] = {
    "a24088": ("nmhc_mgm3", 1.0),
    "a24087": ("thc_mgm3", 1.0),
    "a25002": ("benzene_mgm3", 1.0),
    "a25003": ("toluene_mgm3", 1.0),
    "a25005": ("xylene_mgm3", 1.0),
    FLOW_CODE: (FLOW_NAME, 3600.0),  # HJ 212 sends flue-gas flow in m³/s (per-stack option)
    "a01012": ("temp_c", 1.0),
    "a01013": ("pressure_kpa", 1.0),
    "a01014": ("humidity_pct", 1.0),
    "a19001": ("o2_pct", 1.0),
}


def _crc_step(value: int) -> int:
    for _ in range(8):
        lsb = value & 1
        value >>= 1
        if lsb:
            value ^= 0xA001
    return value


# Appendix A's register after `crc = (crc >> 8) ^ byte` fits in 8 bits, so its eight
# shift/xor rounds are a lookup: the same CRC, about 10x faster (the TCP gateway checks
# every packet it frames).
_CRC_TABLE = tuple(_crc_step(i) for i in range(256))


def crc16(data: bytes) -> int:
    """HJ 212-2017 Appendix A CRC of the data segment."""
    crc = 0xFFFF
    for byte in data:
        crc = _CRC_TABLE[(crc >> 8) ^ byte]
    return crc


@dataclass(frozen=True, slots=True)
class Packet:
    """A decoded packet: header fields and the CP's `code-Kind=value` items."""

    qn: str
    st: str
    cn: str
    mn: str
    data_time: str | None
    # code -> {"Rtd": "12.3", "Flag": "N", ...}
    items: Mapping[str, Mapping[str, str]] = field(default_factory=lambda: MappingProxyType({}))
    header: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    cp: str = ""  # the CP section as sent, kept for status and event packets

    @property
    def flag(self) -> int | None:
        """The Flag as a number (None when missing or not a number)."""
        text = self.header.get("Flag", "")
        return int(text) if text.isdigit() and len(text) <= 3 else None

    @property
    def version(self) -> int:
        """VERSION_2025 for Flag 8..11, else VERSION_2017 (also for a missing or odd Flag)."""
        flag = self.flag
        return VERSION_2025 if flag is not None and flag >> 2 == VERSION_2025 else VERSION_2017

    @property
    def backfill(self) -> bool:
        """RF=1: a back-filled (补传) packet of HJ 212-2025."""
        return self.header.get("RF") == "1"

    @property
    def split(self) -> tuple[int, int] | None:
        """(PNUM, PNO) of a split packet (D bit set and both numbers present), else None."""
        flag = self.flag
        pnum, pno = self.header.get("PNUM", ""), self.header.get("PNO", "")
        if flag is None or not flag & FLAG_SPLIT_BIT or not (pnum.isdigit() and pno.isdigit()):
            return None
        return int(pnum), int(pno)


def frame(data_segment: str) -> bytes:
    """Wrap a data segment into a full packet with its length (in bytes) and CRC."""
    data = data_segment.encode("utf-8")
    if len(data) > MAX_DATA_LENGTH:
        raise Hj212Error(f"data segment of {len(data)} characters exceeds {MAX_DATA_LENGTH}")
    return HEADER + f"{len(data):04d}".encode() + data + f"{crc16(data):04X}".encode() + TRAILER


def encode_packet(
    *,
    qn: str,
    cn: str,
    mn: str,
    data_time: str,
    items: Mapping[str, Mapping[str, str]],
    st: str = "31",
    pw: str = "123456",
    flag: str = "4",
) -> bytes:
    """Build a data packet (ST 31 = gas emission source) from `code -> {kind: value}`."""
    groups = [
        ",".join(f"{code}-{kind}={value}" for kind, value in fields.items())
        for code, fields in items.items()
    ]
    cp = ";".join([f"DataTime={data_time}", *groups])
    return frame(f"QN={qn};ST={st};CN={cn};PW={pw};MN={mn};Flag={flag};CP=&&{cp}&&")


def decode_packet(raw: bytes | str) -> Packet:
    """Verify header, length and CRC, then split the packet into fields."""
    data = raw.encode("utf-8") if isinstance(raw, str) else bytes(raw)
    data = data.rstrip(b"\r\n") if data.endswith(b"\n") else data
    if not data.startswith(HEADER):
        raise Hj212Error("packet does not start with '##'")
    if len(data) < 2 + 4 + 4:
        raise Hj212Error(f"packet of {len(data)} bytes is too short")
    length_text = data[2:6]
    if not length_text.isdigit():
        raise Hj212Error(f"length field {length_text!r} is not 4 decimal digits")
    length = int(length_text)
    segment, crc_text = data[6:-4], data[-4:]
    if len(segment) != length:
        raise Hj212Error(
            f"length field says {length} but the data segment has {len(segment)} bytes"
        )
    try:
        sent_crc = int(crc_text, 16)
    except ValueError:
        raise Hj212Error(f"CRC field {crc_text!r} is not 4 hex digits") from None
    actual_crc = crc16(segment)
    if sent_crc != actual_crc:
        raise Hj212Error(f"CRC mismatch: packet says {sent_crc:04X}, data gives {actual_crc:04X}")
    try:
        # Data uploads are ASCII; log and parameter uploads (CN 3020 `i11001-Info=//...//`)
        # carry UTF-8 text in the field. The CRC and length are over bytes either way.
        text = segment.decode("utf-8")
    except UnicodeDecodeError:
        raise Hj212Error("data segment is neither ASCII nor UTF-8") from None
    return _split(text)


def _split(text: str) -> Packet:
    if "CP=&&" not in text or not text.endswith("&&"):
        raise Hj212Error("data segment has no 'CP=&&...&&' section")
    head, cp = text.split("CP=&&", 1)
    cp = cp[:-2]
    header: dict[str, str] = {}
    for part in head.rstrip(";").split(";"):
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep:
            raise Hj212Error(f"header field {part!r} has no '='")
        header[key] = value
    # QN only pairs a reply with its request; loggers that leave it out are still read.
    for key in ("CN", "MN"):
        if not header.get(key):
            raise Hj212Error(f"header field {key} is missing")
    items: dict[str, dict[str, str]] = {}
    data_time = None
    for group in filter(None, cp.split(";")):
        for part in filter(None, group.split(",")):
            key, sep, value = part.partition("=")
            if not sep:
                raise Hj212Error(f"CP field {part!r} has no '='")
            if key == "DataTime":
                data_time = value
                continue
            code, dash, kind = key.partition("-")
            if not dash:
                continue  # other CP fields (e.g. RtdInterval, PolId) carry no data
            items.setdefault(code, {})[kind] = value
    return Packet(
        qn=header.get("QN", ""),
        st=header.get("ST", ""),
        cn=header["CN"],
        mn=header["MN"],
        data_time=data_time,
        items=MappingProxyType({k: MappingProxyType(v) for k, v in items.items()}),
        header=MappingProxyType(header),
        cp=cp,
    )


def check_logger_mn(packet: Packet) -> None:
    """A data logger's HJ 212-2025 packet must carry its 24-character network code as MN.

    Checked on what loggers send (gateway, MQTT), not in `decode_packet`: platforms
    answer in the field with Flag=9 and free-form MNs, and those answers are still read.
    """
    if packet.version == VERSION_2025 and not MN_2025.match(packet.mn):
        raise Hj212Error(
            f"HJ 212-2025 packet (Flag={packet.header.get('Flag')}) with MN {packet.mn!r}: a "
            "2025 logger's MN is its 24-character network code of 0-9 and A-F"
        )


def parse_data_time(text: str, timezone: str) -> datetime:
    """`YYYYMMDDhhmmss` (or with milliseconds, `...sszzz`) in the plant's local time, aware."""
    digits = text.strip()
    if not digits.isdigit() or len(digits) not in (14, 17):
        raise Hj212Error(f"DataTime {text!r} is not YYYYMMDDhhmmss (or YYYYMMDDhhmmsszzz)")
    try:
        local = datetime.strptime(digits[:14], "%Y%m%d%H%M%S")
    except ValueError:
        raise Hj212Error(f"DataTime {text!r} is not a valid date and time") from None
    # The same years JSON readings accept; InfluxDB would refuse most others much later.
    if not 2000 <= local.year < 2100:
        raise Hj212Error(f"DataTime {text!r} is outside 2000..2099")
    if len(digits) == 17:
        local = local.replace(microsecond=int(digits[14:]) * 1000)
    return local.replace(tzinfo=ZoneInfo(timezone))


def code_map(
    codes: Mapping[str, str] | None = None, flow_unit: str = DEFAULT_FLOW_UNIT
) -> dict[str, tuple[str, float]]:
    """A stack's codes: the national map, its flow unit, then its own vendor codes on top."""
    if flow_unit not in FLOW_UNIT_FACTORS:
        raise ValueError(f"flow unit {flow_unit!r} is not one of {', '.join(FLOW_UNIT_FACTORS)}")
    factor = FLOW_UNIT_FACTORS[flow_unit]
    out = dict(CODE_MAP)
    out[FLOW_CODE] = (FLOW_NAME, factor)
    for code, name in (codes or {}).items():
        out[code] = (name, factor if name == FLOW_NAME else 1.0)
    return out


def total_name(name: str) -> str | None:
    """The field of a `-Cou` total: a pollutant's emitted kg, the flow's m³, else none."""
    if name == FLOW_NAME:
        return "flow_volume_m3"
    if name.endswith("_mgm3"):
        return name.removesuffix("_mgm3") + "_kg"
    return None


@dataclass(frozen=True, slots=True)
class Upload:
    """A data packet (CN 2011/2051/2061/2031) as one reading for `measurement`."""

    measurement: str
    reading: Reading


@dataclass(frozen=True, slots=True)
class Event:
    """A status or event packet (restart, run time, parameters, ...), kept as sent."""

    cn: str
    ts: datetime
    description: str
    cp: str

    @property
    def ts_ms(self) -> int:
        return to_epoch_ms(self.ts)


def interpret(
    packet: Packet, timezone: str, codes: Mapping[str, tuple[str, float]] | None = None
) -> Upload | Event:
    """Map a packet to a reading (data) or an event (status); only its time can refuse it."""
    if packet.data_time is None:
        raise Hj212Error(f"CN {packet.cn}: CP has no DataTime")
    ts = parse_data_time(packet.data_time, timezone)
    kind = KNOWN_CN.get(packet.cn)
    if kind is None:
        description = EVENT_CNS.get(packet.cn)
        if description is None:
            raise Hj212Error(
                f"CN {packet.cn} is neither a data upload (2011, 2051, 2061, 2031) nor a "
                f"status or event upload ({', '.join(sorted(EVENT_CNS))})"
            )
        return Event(packet.cn, ts, description, packet.cp[:MAX_EVENT_CP_CHARS])
    mapped_codes = code_map() if codes is None else codes
    # Averaged uploads carry -Avg, -Min, -Max and -Cou; real-time ones -Rtd.
    kinds = ("Rtd",) if kind == "Rtd" else ("Avg", "Min", "Max", "Cou")
    values: dict[str, float] = {}
    flags: dict[str, str] = {}
    invalid: dict[str, str] = {}
    for code, fields in packet.items.items():
        mapped = mapped_codes.get(code)
        if mapped is None:
            continue  # codes plantwatch does not track are ignored, not refused
        name, factor = mapped
        flag = fields.get("Flag", "N")
        flag_ok = flag in FLAGS
        for item_kind in kinds:
            if item_kind not in fields:
                continue
            target = _field_name(name, item_kind)
            if target is None:
                continue
            text = fields[item_kind]
            scale = 1.0 if item_kind == "Cou" else factor
            number = _number(text)
            if number is None:
                invalid[target] = f"{code}-{item_kind}={text!r} is not a number"
            elif not flag_ok:
                invalid[target] = f"{code}-Flag={flag!r} is not an HJ 212 flag"
            else:
                values[target] = number * scale
                flags[target] = flag
    if not values and not invalid:
        known = ", ".join(sorted(packet.items)) or "none"
        return Event(
            packet.cn,
            ts,
            f"data upload with no code this stack maps (codes: {known}); map vendor codes "
            "in the registry's `codes`",
            packet.cp[:MAX_EVENT_CP_CHARS],
        )
    reading = Reading(
        ts.astimezone(UTC),
        MappingProxyType(values),
        MappingProxyType(flags),
        MappingProxyType(invalid),
    )
    return Upload(MEASUREMENT_BY_CN[packet.cn], reading)


def _field_name(name: str, item_kind: str) -> str | None:
    if item_kind in ("Rtd", "Avg"):
        return name
    if item_kind == "Cou":
        return total_name(name)
    return f"{name}_{item_kind.lower()}"


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def to_readings(
    packet: Packet, timezone: str, codes: Mapping[str, tuple[str, float]] | None = None
) -> list[Reading]:
    """The reading of a data packet (2011/2051/2061/2031); raises for a status packet."""
    result = interpret(packet, timezone, codes)
    if isinstance(result, Event):
        raise Hj212Error(f"CN {packet.cn} carries no value plantwatch maps: {result.description}")
    return [result.reading]
