"""What Grafana's InfluxDB (InfluxQL) datasource does to a query before sending it.

A small, pure re-implementation for the tests: relative time ranges, `$__interval`,
`$timeFilter` and template variables, formatted the way Grafana formats them for InfluxQL
(a multi-value or "All" selection becomes an escaped regex alternation `(a|b)`; a custom
"All" value is used as it is; a single value is inserted raw).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

VARIABLE_REF = re.compile(r"\$\{(\w+)(?::(\w+))?\}|\[\[(\w+)\]\]|\$(\w+)")
BUILTINS = frozenset(
    {"timeFilter", "__interval", "interval", "__interval_ms", "__from", "__to", "__timeFilter"}
)
# Alias patterns (`alias` of a target) name series, they are not query variables.
ALIAS_ONLY = re.compile(r"^(tag_\w+|col|m|measurement)$")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800, "y": 31_536_000}
RELATIVE = re.compile(r"^now(?:-(\d+)([smhdwy]))?$")
# Grafana rounds the computed interval to one of these (rangeutil's nice intervals).
NICE_INTERVALS_S = (
    1,
    5,
    10,
    15,
    30,
    60,
    300,
    600,
    900,
    1800,
    3600,
    10_800,
    21_600,
    43_200,
    86_400,
    604_800,
    2_592_000,
)
MAX_DATA_POINTS = 1000
REGEX_SPECIAL = re.compile(r"([\\^$*+?.()|\[\]{}/])")


def parse_relative(expr: str, now: datetime) -> datetime:
    """`now`, `now-6h`, `now-30d`, `now-1y` (the forms the dashboards use)."""
    match = RELATIVE.match(expr)
    if match is None:
        raise ValueError(f"unsupported relative time {expr!r}")
    amount, unit = match.groups()
    return now - timedelta(seconds=int(amount) * UNITS[unit]) if amount else now


def parse_duration_s(text: str) -> int:
    """`30s`, `1m`, `1h`, `1d`, `1w` to seconds."""
    match = re.fullmatch(r"(\d+)([smhdwy])", text)
    if match is None:
        raise ValueError(f"unsupported interval {text!r}")
    return int(match.group(1)) * UNITS[match.group(2)]


def format_duration(seconds: int) -> str:
    for unit in ("w", "d", "h", "m"):
        if seconds % UNITS[unit] == 0:
            return f"{seconds // UNITS[unit]}{unit}"
    return f"{seconds}s"


def auto_interval(start: datetime, end: datetime, min_interval: str = "") -> str:
    """`$__interval`: range / max data points rounded up to a nice step, at least `min_interval`."""
    raw = (end - start).total_seconds() / MAX_DATA_POINTS
    nice = next((n for n in NICE_INTERVALS_S if n >= raw), NICE_INTERVALS_S[-1])
    if min_interval:
        nice = max(nice, parse_duration_s(min_interval))
    return format_duration(nice)


def escape_regex(value: str) -> str:
    return REGEX_SPECIAL.sub(r"\\\1", value)


@dataclass(frozen=True)
class Selection:
    """A variable's current value as Grafana holds it."""

    values: tuple[str, ...]  # the chosen values (all options when `is_all`)
    multi_or_all: bool  # the variable allows several values or All
    is_all: bool = False
    all_value: str | None = None  # custom "All" value, used verbatim

    def format(self) -> str:
        if self.is_all and self.all_value is not None:
            return self.all_value
        if not self.multi_or_all:
            return self.values[0]
        escaped = [escape_regex(v) for v in self.values]
        return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


def references(text: str) -> set[str]:
    """Variable names referenced in a query (`$x`, `${x}`, `${x:fmt}`, `[[x]]`)."""
    return {_name(m) for m in VARIABLE_REF.finditer(text)}


def _name(match: re.Match[str]) -> str:
    name, fmt, brackets, plain = match.groups()
    if fmt not in (None, "regex"):
        # Only Grafana's default InfluxQL formatting is emulated here.
        raise ValueError(f"variable format :{fmt} in {match.group(0)!r} is not supported")
    return name or brackets or plain


def interpolate(
    query: str,
    selections: Mapping[str, Selection],
    constants: Mapping[str, str],
    start: datetime,
    end: datetime,
    interval: str,
) -> str:
    """The query as Grafana sends it to InfluxDB."""
    start_ms, end_ms = int(start.timestamp() * 1000), int(end.timestamp() * 1000)
    builtins = {
        "timeFilter": f"time >= {start_ms}ms and time <= {end_ms}ms",
        "__timeFilter": f"time >= {start_ms}ms and time <= {end_ms}ms",
        "__interval": interval,
        "interval": interval,
        "__interval_ms": str(parse_duration_s(interval) * 1000),
        "__from": str(start_ms),
        "__to": str(end_ms),
    }

    def replace(match: re.Match[str]) -> str:
        name = _name(match)
        if name in builtins:
            return builtins[name]
        if name in constants:
            return constants[name]
        if name in selections:
            return selections[name].format()
        raise KeyError(f"undefined variable ${name} in {query!r}")

    return VARIABLE_REF.sub(replace, query)


def panels_of(board: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Every panel, including those nested in collapsed rows."""
    for item in board.get("panels", []):
        yield item
        yield from item.get("panels", [])


def queries_of(board: Mapping[str, Any]) -> Iterator[tuple[str, str, str]]:
    """(where, query, min interval) of every panel target and annotation query."""
    for item in panels_of(board):
        for tgt in item.get("targets", []):
            where = f"panel {item['id']} {item['title']!r} target {tgt['refId']}"
            yield where, tgt.get("query", ""), item.get("interval", "")
    for ann in board.get("annotations", {}).get("list", []):
        if not ann.get("builtIn"):
            yield f"annotation {ann['name']!r}", ann.get("query", ""), ""


def has_data(series: Iterable[Any]) -> bool:
    """At least one series with at least one non-null value besides time."""
    return any(any(v is not None for v in row[1:]) for s in series for row in s.values)
