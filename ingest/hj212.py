"""HJ 212-2017 packets: encode, decode and map to readings (SPEC section 4). Pure, no I/O.

A packet is `##` + 4-digit decimal length of the data segment + data segment + 4 hex
digits of CRC + CRLF. The CRC is the standard's Appendix A algorithm, which differs from
CRC-16/MODBUS in how each byte enters the register: `crc = (crc >> 8) ^ byte`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from zoneinfo import ZoneInfo

from ingest.errors import Hj212Error
from ingest.schema import FLAGS, Reading

HEADER = b"##"
TRAILER = b"\r\n"
MAX_DATA_LENGTH = 1024  # the standard caps the data segment at 1024 characters
DEFAULT_DMF_CODE = "a99051"  # DMF has no national code; configurable per deployment
CN_REALTIME = "2011"
CN_MINUTE = "2051"
CN_HOUR = "2061"
KNOWN_CN = {CN_REALTIME: "Rtd", CN_MINUTE: "Avg", CN_HOUR: "Avg"}
MEASUREMENT_BY_CN = {CN_REALTIME: "voc", CN_MINUTE: "voc_minute", CN_HOUR: "voc_hour"}

# (plantwatch value name, multiplier from the HJ 212 unit to plantwatch's unit)
CODE_MAP: dict[str, tuple[str, float]] = {
    "a24088": ("nmhc_mgm3", 1.0),
    "a24087": ("thc_mgm3", 1.0),
    "a25002": ("benzene_mgm3", 1.0),
    "a25003": ("toluene_mgm3", 1.0),
    "a25005": ("xylene_mgm3", 1.0),
    "a00000": ("flow_m3h", 3600.0),  # HJ 212 sends flue-gas flow in m³/s
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


def frame(data_segment: str) -> bytes:
    """Wrap a data segment into a full packet with its length and CRC."""
    data = data_segment.encode("ascii")
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
        text = segment.decode("ascii")
    except UnicodeDecodeError:
        raise Hj212Error("data segment is not ASCII") from None
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
    for key in ("QN", "CN", "MN"):
        if key not in header:
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
                continue  # other CP fields (e.g. RtdInterval) carry no data
            items.setdefault(code, {})[kind] = value
    return Packet(
        qn=header["QN"],
        st=header.get("ST", ""),
        cn=header["CN"],
        mn=header["MN"],
        data_time=data_time,
        items=MappingProxyType({k: MappingProxyType(v) for k, v in items.items()}),
        header=MappingProxyType(header),
    )


def parse_data_time(text: str, timezone: str) -> datetime:
    """`YYYYMMDDhhmmss` in the plant's local time to an aware datetime."""
    try:
        local = datetime.strptime(text, "%Y%m%d%H%M%S")
    except ValueError:
        raise Hj212Error(f"DataTime {text!r} is not YYYYMMDDhhmmss") from None
    # The same years JSON readings accept; InfluxDB would refuse most others much later.
    if not 2000 <= local.year < 2100:
        raise Hj212Error(f"DataTime {text!r} is outside 2000..2099")
    return local.replace(tzinfo=ZoneInfo(timezone))


def to_readings(packet: Packet, timezone: str, dmf_code: str = DEFAULT_DMF_CODE) -> list[Reading]:
    """Map a 2011/2051/2061 packet to one reading in plantwatch's value names and units."""
    kind = KNOWN_CN.get(packet.cn)
    if kind is None:
        raise Hj212Error(f"CN {packet.cn} is not a data upload (expected 2011, 2051 or 2061)")
    if packet.data_time is None:
        raise Hj212Error("CP has no DataTime")
    ts = parse_data_time(packet.data_time, timezone)
    codes = dict(CODE_MAP)
    codes[dmf_code] = ("dmf_mgm3", 1.0)
    values: dict[str, float] = {}
    flags: dict[str, str] = {}
    for code, fields in packet.items.items():
        mapped = codes.get(code)
        if mapped is None or kind not in fields:
            continue  # codes plantwatch does not track are ignored, not refused
        name, factor = mapped
        try:
            values[name] = float(fields[kind]) * factor
        except ValueError:
            raise Hj212Error(f"{code}-{kind}={fields[kind]!r} is not a number") from None
        flag = fields.get("Flag", "N")
        if flag not in FLAGS:
            raise Hj212Error(f"{code}-Flag={flag!r} is not an HJ 212 flag")
        flags[name] = flag
    if not values:
        raise Hj212Error(f"packet CN {packet.cn} carries no value plantwatch knows")
    return [Reading(ts, MappingProxyType(values), MappingProxyType(flags))]
