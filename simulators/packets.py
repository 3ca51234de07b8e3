"""Readings to wire messages: JSON batches (SPEC section 4) and HJ 212-2017 packets. Pure.

HJ 212 data loggers send CN 2011 real-time packets at their real-time interval, a CN 2051
packet with each minute's averages and a CN 2061 packet every hour; packets are built with
the project's own `ingest.kernel.hj212.encode_packet` so the CRC is the standard's Appendix A.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from zoneinfo import ZoneInfo

import numpy as np

from ingest.kernel import hj212
from ingest.kernel.schema import Reading, encode_readings

# plantwatch value name -> (HJ 212 code, multiplier from plantwatch's unit to HJ 212's)
Codes = Mapping[str, tuple[str, float]]
NATIONAL_CODES: Codes = {
    name: (code, 1.0 / factor) for code, (name, factor) in hj212.code_map().items()
}
MINUTE_PACKET_SECONDS = 60  # CN 2051 minute data, one packet per minute
HOUR_PACKET_SECONDS = 3600
VALID_SHARE_FOR_N = 0.75  # an average is flagged N when most of its readings were


def readings_of(
    times_s: np.ndarray, values: Mapping[str, np.ndarray], flags: Mapping[str, np.ndarray]
) -> list[Reading]:
    """Column arrays to `Reading`s (flags N are left out, as on the wire)."""
    names = list(values)
    columns = [values[n].tolist() for n in names]
    flag_columns = {n: flags[n].tolist() for n in names if n in flags}
    out = []
    for i, ts in enumerate(times_s.tolist()):
        ts_ms = round(ts * 1000)
        row_flags = {n: col[i] for n, col in flag_columns.items() if col[i] != "N"}
        out.append(
            Reading(
                datetime.fromtimestamp(ts_ms // 1000, UTC).replace(
                    microsecond=(ts_ms % 1000) * 1000
                ),
                MappingProxyType({n: col[i] for n, col in zip(names, columns, strict=True)}),
                MappingProxyType(row_flags),
            )
        )
    return out


def json_payload(readings: list[Reading]) -> bytes:
    """The SPEC's JSON batch."""
    return encode_readings(readings)


def _local(ts_s: float, timezone: str) -> datetime:
    return datetime.fromtimestamp(ts_s, ZoneInfo(timezone))


def _qn(ts_s: float, timezone: str) -> str:
    local = _local(ts_s, timezone)
    return local.strftime("%Y%m%d%H%M%S") + f"{local.microsecond // 1000:03d}"


def realtime_packet(
    mn: str,
    reading: Reading,
    timezone: str,
    codes: Codes = NATIONAL_CODES,
    header_flag: str = "4",
) -> bytes:
    """A CN 2011 packet (`-Rtd` and `-Flag` per value) for one reading."""
    ts = reading.ts.timestamp()
    items = {}
    for name, value in reading.values.items():
        if name not in codes:
            continue  # a value this logger has no code for is not sent
        code, factor = codes[name]
        items[code] = {"Rtd": _number(value * factor), "Flag": reading.flag(name)}
    return hj212.encode_packet(
        qn=_qn(ts, timezone), cn=hj212.CN_REALTIME, mn=mn, flag=header_flag,
        data_time=_local(ts, timezone).strftime("%Y%m%d%H%M%S"), items=items,
    )  # fmt: skip


def average_packet(
    mn: str,
    cn: str,
    period_start_s: float,
    readings: list[Reading],
    timezone: str,
    codes: Codes = NATIONAL_CODES,
    header_flag: str = "4",
) -> bytes | None:
    """A CN 2051/2061 packet (`-Avg`, `-Min`, `-Max`, `-Flag`) over `readings`, or None if empty."""
    if not readings:
        return None
    items = {}
    for name in readings[0].values:
        if name not in codes:
            continue
        code, factor = codes[name]
        flags = [r.flag(name) for r in readings if name in r.values]
        valid = [
            r.values[name] * factor for r in readings if name in r.values and r.flag(name) == "N"
        ]
        values = valid or [r.values[name] * factor for r in readings if name in r.values]
        if flags.count("N") >= VALID_SHARE_FOR_N * len(flags):
            flag = "N"
        else:
            flag = Counter(f for f in flags if f != "N").most_common(1)[0][0]
        items[code] = {
            "Avg": _number(float(np.mean(values))),
            "Min": _number(min(values)),
            "Max": _number(max(values)),
            "Flag": flag,
        }
    return hj212.encode_packet(
        qn=_qn(period_start_s, timezone), cn=cn, mn=mn, flag=header_flag,
        data_time=_local(period_start_s, timezone).strftime("%Y%m%d%H%M%S"), items=items,
    )  # fmt: skip


def _number(value: float) -> str:
    return f"{value:.4f}".rstrip("0").rstrip(".") if value else "0"


MALFORMED_VARIANTS = ("truncated", "not_a_number", "no_ts", "epoch_seconds", "bad_crc")


def malformed(payload: bytes, variant: int) -> bytes:
    """A corrupted copy of a payload, as broken devices and gateways send them."""
    kind = MALFORMED_VARIANTS[variant % len(MALFORMED_VARIANTS)]
    if payload.startswith(b"##"):
        if kind in ("truncated", "no_ts"):
            return payload[: len(payload) // 2]
        # flip the CRC: the packet stays well formed but fails verification
        crc = payload[-6:-2]
        return payload[:-6] + (b"0000" if crc != b"0000" else b"FFFF") + payload[-2:]
    if kind == "truncated":
        return payload[: max(1, len(payload) // 2)]
    if kind == "not_a_number":
        return payload.replace(b'"values":{', b'"values":{"bogus":"n/a",', 1)
    if kind == "no_ts":
        return payload.replace(b'"ts":', b'"time":', 1)
    # epoch seconds where milliseconds belong: refused as out of range
    return re.sub(rb'"ts":(\d+)\d{3}', rb'"ts":\1', payload, count=1)
