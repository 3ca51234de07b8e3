"""The wire schema of JSON readings (SPEC section 4): parse and build, no I/O.

`parse_payload` turns bytes into `Reading`s or raises `InvalidPayload` with a reason a plant
operator can act on when the message's structure or a time cannot be read; a value that is
not a number (or carries an unknown flag) is kept in the reading's `invalid` with its reason. The simulators build payloads with `encode_readings`, so both sides
share one definition.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

import orjson

from ingest.kernel.errors import InvalidPayload

FLAGS = {
    "N": "normal",
    "F": "stopped",
    "M": "maintenance",
    "S": "manual",
    "D": "fault",
    "C": "calibrating",
    "T": "over range",
    "B": "comm fault",
}
VALID_FLAG = "N"
MAX_READINGS_PER_MESSAGE = 10_000
MAX_PAYLOAD_BYTES = 4_000_000
# The shipped broker's `max_packet_size` (scripts/devstack.py): a bigger MQTT packet is
# refused and its sender disconnected.
MAX_PACKET_BYTES = 256 * 1024
# A QoS 1 PUBLISH around its payload: type byte, remaining length (up to 4 bytes),
# topic length (2), packet id (2); then the topic itself.
PUBLISH_OVERHEAD_BYTES = 1 + 4 + 2 + 2
# Epoch milliseconds must fall in a sane range; a seconds value sent by mistake would be 1970.
MIN_EPOCH_MS = 946_684_800_000  # 2000-01-01
MAX_EPOCH_MS = 4_102_444_800_000  # 2100-01-01
# A value name becomes an InfluxDB field key (`<name>_invalid` when it is not kept).
VALUE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
READING_KEYS = frozenset({"ts", "values", "flags"})
# Value names already matched by VALUE_NAME (bounded: a plant cannot grow it without end).
MAX_VALUE_NAMES_REMEMBERED = 4096
_VALUE_NAMES_SEEN: set[str] = set()
_NO_FLAGS: dict[str, str] = {}
_NUMBER = (int, float)
_LONG_DIGITS = re.compile(rb"[0-9]{19}")
_ORJSON_MAX_OPENERS = 500
_finite = math.isfinite


@dataclass(frozen=True, slots=True)
class Reading:
    """One timestamped set of values from one meter; `ts` is timezone-aware UTC."""

    ts: datetime
    values: Mapping[str, float]
    flags: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    # value name -> why it was not kept (per-value validation); stored as `<name>_invalid`
    invalid: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def flag(self, name: str) -> str:
        return self.flags.get(name, VALID_FLAG)

    @property
    def ts_ms(self) -> int:
        return to_epoch_ms(self.ts)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_epoch_ms(ts: datetime) -> int:
    """Exact integer epoch milliseconds of an aware datetime."""
    delta = ts - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def parse_timestamp(raw: Any) -> datetime:
    """RFC 3339 with an offset, or integer epoch milliseconds, to aware UTC."""
    if isinstance(raw, bool):
        raise InvalidPayload(f"ts must be RFC 3339 text or epoch milliseconds, got {raw!r}")
    if isinstance(raw, int):
        if not MIN_EPOCH_MS <= raw <= MAX_EPOCH_MS:
            raise InvalidPayload(
                f"ts {raw} is out of range for epoch milliseconds (2000..2100); "
                "epoch seconds are not accepted"
            )
        return _EPOCH + timedelta(milliseconds=raw)
    if isinstance(raw, str):
        try:
            ts = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError as exc:
            raise InvalidPayload(f"ts {raw!r} is not an RFC 3339 timestamp") from exc
        if ts.tzinfo is None or "T" not in raw.upper():
            raise InvalidPayload(f"ts {raw!r} has no UTC offset; RFC 3339 needs one")
        if not 2000 <= ts.year < 2100:
            raise InvalidPayload(f"ts {raw!r} is outside 2000..2099")
        return ts.astimezone(UTC)
    raise InvalidPayload(
        f"ts must be RFC 3339 text or epoch milliseconds, got {type(raw).__name__}"
    )


def parse_payload(payload: bytes | str) -> list[Reading]:
    """Parse one JSON readings message (a batch or a bare reading)."""
    return parse_message(payload)[0]


def parse_message(payload: bytes | str) -> tuple[list[Reading], object]:
    """The readings of one JSON message and its top-level `source` (None when absent).

    `source` is how the service's own delivery paths (HTTP push, coal records) say so;
    `ingest.kernel.record.declared_source` decides what it is worth.
    """
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise InvalidPayload(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    try:
        doc = _loads(payload)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidPayload(f"payload is not valid UTF-8 JSON: {exc}") from exc
    except RecursionError:
        raise InvalidPayload("payload JSON is nested too deeply") from None
    if not isinstance(doc, dict):
        raise InvalidPayload("payload must be a JSON object with 'readings' or 'ts' and 'values'")
    if "readings" in doc:
        raw_readings = doc["readings"]
        if not isinstance(raw_readings, list) or not raw_readings:
            raise InvalidPayload("'readings' must be a non-empty array")
        if len(raw_readings) > MAX_READINGS_PER_MESSAGE:
            raise InvalidPayload(
                f"{len(raw_readings)} readings in one message; at most {MAX_READINGS_PER_MESSAGE}"
            )
        source = doc.get("source")
        return [_parse_reading(r, f"readings[{i}]") for i, r in enumerate(raw_readings)], source
    if "ts" in doc or "values" in doc:
        return [_parse_reading(doc, "reading")], None
    raise InvalidPayload("payload must have 'readings' or a bare reading with 'ts' and 'values'")


def _loads(payload: bytes | str) -> Any:
    """`json.loads(payload)`, by orjson (a compiled decoder, ~6x faster) where both read alike.

    orjson reads a document json reads the same way, except: integers beyond 64 bits (it
    gives floats: a run of 19 digits sends the payload to json), nesting json refuses as too
    deep (under `_ORJSON_MAX_OPENERS` brackets cannot nest that deep), and what orjson refuses
    (NaN, 1e400, lone surrogates, UTF-16, a BOM): json reads those and words every refusal,
    as before.
    """
    if (
        type(payload) is bytes
        and payload.count(b"{") + payload.count(b"[") < _ORJSON_MAX_OPENERS
        and _LONG_DIGITS.search(payload) is None
    ):
        try:
            return orjson.loads(payload)
        except orjson.JSONDecodeError:
            pass
    return json.loads(payload)


def with_source(payload: bytes, source: str) -> bytes:
    """A valid JSON readings message re-encoded as a batch that names its delivery path."""
    doc = json.loads(payload)
    readings = doc.get("readings", [doc])
    return json.dumps({"source": source, "readings": readings}, separators=(",", ":")).encode()


def _is_value_name(name: object) -> bool:
    # A county sends a handful of value names millions of times: each is matched once.
    if name in _VALUE_NAMES_SEEN:
        return True
    if not isinstance(name, str) or not VALUE_NAME.fullmatch(name):
        return False
    if len(_VALUE_NAMES_SEEN) < MAX_VALUE_NAMES_REMEMBERED:
        _VALUE_NAMES_SEEN.add(name)
    return True


def _parse_reading(raw: Any, where: str) -> Reading:
    if not isinstance(raw, dict):
        raise InvalidPayload(f"{where}: must be an object")
    if not raw.keys() <= READING_KEYS:
        raise InvalidPayload(f"{where}: unknown keys {sorted(set(raw) - READING_KEYS)}")
    if "ts" not in raw:
        raise InvalidPayload(f"{where}: 'ts' is missing")
    try:
        ts = parse_timestamp(raw["ts"])
    except InvalidPayload as exc:
        raise InvalidPayload(f"{where}: {exc}") from None
    values = raw.get("values")
    if not isinstance(values, dict) or not values:
        raise InvalidPayload(f"{where}: 'values' must be a non-empty object")
    flags = raw.get("flags", _NO_FLAGS)
    if not isinstance(flags, dict):
        raise InvalidPayload(f"{where}: 'flags' must be an object")
    for name in values if flags is _NO_FLAGS else (*values, *flags):
        if name not in _VALUE_NAMES_SEEN and not _is_value_name(name):
            raise InvalidPayload(
                f"{where}: {name!r} is not a value name (a letter, then letters, digits or _; "
                "at most 64)"
            )
    # Per value (SPEC section 4): a value that is not a number, or carries an unknown flag,
    # becomes an invalid value with its reason; the reading's other values are kept.
    clean: dict[str, float] = {}
    invalid: dict[str, str] = {}
    for name, value in values.items():
        if type(value) is float and _finite(value):
            clean[name] = value  # the common case, decided as the general checks below would
        elif isinstance(value, bool) or not isinstance(value, _NUMBER):
            invalid[name] = f"{name}={_shown(value)} is not a number"
        elif not _finite(value):
            invalid[name] = f"{name}={value} is not finite"
        else:
            clean[name] = float(value)
    kept_flags: dict[str, str] = {}
    for name, flag in flags.items():
        if name not in values:
            invalid[name] = f"flag {_shown(flag)} for {name!r}, which has no value"
        elif not isinstance(flag, str) or flag not in FLAGS:
            reason = f"flag {_shown(flag)} for {name!r} is not an HJ 212 flag ({''.join(FLAGS)})"
            invalid.setdefault(name, reason)
            clean.pop(name, None)
        elif name in clean:
            kept_flags[name] = flag
    return Reading(
        ts, MappingProxyType(clean), MappingProxyType(kept_flags), MappingProxyType(invalid)
    )


def _shown(value: Any) -> str:
    """A value as the plant sent it, short enough for a reason."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def encode_readings(readings: Iterable[Reading]) -> bytes:
    """Encode readings as the SPEC's JSON batch (timestamps as epoch milliseconds)."""
    out = []
    for r in readings:
        item: dict[str, Any] = {"ts": r.ts_ms, "values": dict(r.values)}
        flags = {k: v for k, v in r.flags.items() if v != VALID_FLAG}
        if flags:
            item["flags"] = flags
        out.append(item)
    return json.dumps({"readings": out}, separators=(",", ":")).encode()


def publish_payload_limit(topic: str, max_packet_bytes: int = MAX_PACKET_BYTES) -> int:
    """The largest payload a QoS 1 PUBLISH on `topic` may carry under a broker's packet limit."""
    return max_packet_bytes - PUBLISH_OVERHEAD_BYTES - len(topic.encode("utf-8"))
