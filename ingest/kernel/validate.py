"""Per-meter-kind validation of readings (SPEC section 4): names, units, ranges, clocks.

Validation is per value (`screen_values`): a value out of its range or unknown to the meter
kind becomes an invalid value with its reason, the other values are kept. HJ 212 packets
and JSON messages alike are refused whole only when their time cannot be trusted
(`check_clock`). A JSON reading without its meter's register is dropped with a reason
(`screen_readings`), and a message with nothing usable left is refused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING

from ingest.kernel.catalogue import REGISTER_BY_KIND, VALUE_RANGES, Range
from ingest.kernel.errors import InvalidPayload
from ingest.kernel.schema import Reading

if TYPE_CHECKING:
    from ingest.kernel.registry import Meter


REQUIRED_VALUES: dict[str, tuple[str, ...]] = {
    "gas": (REGISTER_BY_KIND["gas"],),
    "coal": (REGISTER_BY_KIND["coal"],),
    # a power meter may send its register, its power, or both (SPEC section 13)
    "electricity": (),
    "voc": (),
}
# HJ 212 -Cou totals of an averaging period: emitted kg of a pollutant, m³ of flue gas.
TOTAL_RANGES = {"_kg": Range(0, 1e7), "flow_volume_m3": Range(0, 1e10)}
STAT_SUFFIXES = ("_min", "_max")


# How many problems a refusal's reason names before "and N more".
MAX_REASONS_NAMED = 5


@dataclass(frozen=True, slots=True)
class Problem:
    """Something of a JSON message not kept: a value stored as invalid, or a dropped reading."""

    index: int  # the reading's position in the message
    ts: datetime
    value: str | None  # the value stored as invalid; None when the whole reading was dropped
    reason: str


@dataclass(frozen=True, slots=True)
class Screened:
    readings: tuple[Reading, ...]  # kept, each with its invalid values
    problems: tuple[Problem, ...]


def range_for(kind: str, name: str, stats: bool = True) -> Range | None:
    """The plausible range of a value name of a meter kind.

    With `stats`, the HJ 212 averaged-data fields too (`_min`, `_max`, `-Cou` totals);
    JSON readings carry only the plain value names.
    """
    allowed = VALUE_RANGES[kind]
    if name in allowed:
        return allowed[name]
    if kind != "voc" or not stats:
        return None
    for suffix in STAT_SUFFIXES:
        if name.endswith(suffix) and name.removesuffix(suffix) in allowed:
            return allowed[name.removesuffix(suffix)]
    if name == "flow_volume_m3":
        return TOTAL_RANGES[name]
    if name.endswith("_kg") and name.removesuffix("_kg") + "_mgm3" in allowed:
        return TOTAL_RANGES["_kg"]
    return None


def screen_values(kind: str, reading: Reading, stats: bool = True) -> Reading:
    """Move every value outside its plausible range (or unknown) to `invalid`, with its reason."""
    allowed = VALUE_RANGES[kind]
    for name, value in reading.values.items():
        bounds = allowed.get(name)
        if bounds is None or not bounds.low <= value <= bounds.high:
            break
    else:
        return reading  # the common case: every value plainly known and in range
    values = dict(reading.values)
    invalid = dict(reading.invalid)
    for name, value in reading.values.items():
        bounds = range_for(kind, name, stats)
        if bounds is None:
            expected = ", ".join(sorted(VALUE_RANGES[kind]))
            invalid[name] = f"{name!r} is not a value of a {kind} meter (expected {expected})"
        elif not bounds.low <= value <= bounds.high:
            invalid[name] = (
                f"{name}={value:g} is outside the plausible range [{bounds.low:g}, {bounds.high:g}]"
            )
        else:
            continue
        del values[name]
    if len(values) == len(reading.values):
        return reading
    flags = {k: v for k, v in reading.flags.items() if k in values}
    return Reading(
        reading.ts, MappingProxyType(values), MappingProxyType(flags), MappingProxyType(invalid)
    )


def _has_all(values: Mapping[str, float], names: tuple[str, ...]) -> bool:
    # A loop, not all() over a generator: this runs for every reading.
    for name in names:  # noqa: SIM110
        if name not in values:
            return False
    return True


def check_clock(times: Sequence[datetime], now: datetime, future_tolerance: timedelta) -> None:
    """Raise `InvalidPayload` for the first time stamped beyond `now + future_tolerance`."""
    latest = now + future_tolerance
    for index, ts in enumerate(times):
        if ts > latest:
            where = f"readings[{index}]" if len(times) > 1 else "reading"
            raise InvalidPayload(
                f"{where}: ts {ts.isoformat()} is {(ts - now).total_seconds():.0f}s "
                f"in the future (tolerance {future_tolerance.total_seconds():.0f}s); check the clock"
            )


def screen_readings(
    meter: Meter, readings: Sequence[Reading], now: datetime, future_tolerance: timedelta
) -> Screened:
    """Judge a JSON message's readings value by value; raise `InvalidPayload` if none is usable.

    The message is refused whole for a time beyond the tolerance (the sender's clock is
    wrong, so none of its times can be trusted) or when no reading keeps a valid value.
    A reading without a valid required register is dropped: a fuel point without its
    register counts nothing.
    """
    latest = now + future_tolerance
    for r in readings:
        if r.ts > latest:
            check_clock([r.ts for r in readings], now, future_tolerance)
    kind = meter.kind
    required = REQUIRED_VALUES[kind]
    kept: list[Reading] = []
    problems: list[Problem] = []
    for index, raw in enumerate(readings):
        reading = screen_values(kind, raw, stats=False)
        if not reading.invalid and _has_all(reading.values, required):
            kept.append(reading)  # nothing to tell the plant
            continue
        where = f"readings[{index}]" if len(readings) > 1 else "reading"
        missing = [name for name in required if name not in reading.values]
        if missing:
            why = [reading.invalid[name] for name in missing if name in reading.invalid]
            why += [reason for name, reason in reading.invalid.items() if name not in missing]
            reason = f"{where}: dropped, a {meter.kind} meter must send {', '.join(missing)}"
            problems.append(Problem(index, reading.ts, None, "; ".join([reason, *why])))
            continue
        kept.append(reading)
        problems.extend(
            Problem(index, reading.ts, name, f"{where}: {why}")
            for name, why in reading.invalid.items()
        )
    for r in kept:
        if r.values:
            return Screened(tuple(kept), tuple(problems))
    named = [p.reason for p in problems[:MAX_REASONS_NAMED]]  # no reading keeps a valid value
    if len(problems) > MAX_REASONS_NAMED:
        named.append(f"and {len(problems) - MAX_REASONS_NAMED} more")
    raise InvalidPayload("no valid value in the message: " + "; ".join(named))
