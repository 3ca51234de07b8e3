"""Points as data, and line protocol only at the write edge.

A `Point` (measurement, tags, fields, time in ms) is what the pipeline hands the collector,
the collector the record keeper, and the keeper the store: readings, events, dead letters,
revisions and rollup dirty marks alike. It becomes line protocol once, where it is written
(`encode`, through the store's one encoder) or spooled; `parse_line` reads back a line that
was written so (a spooled batch being replayed), never a line on its way in.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from ingest.kernel.store import encode_point

FieldValue = float | int | str | bool
SeriesKey = tuple[str, str, str]  # measurement, plant, meter
PointKey = tuple[SeriesKey, int]  # series, device time (ms)


@dataclass(frozen=True, slots=True)
class Point:
    """One point: its identity is measurement, tags and time; `fields` are what it holds."""

    measurement: str
    tags: Mapping[str, str]
    fields: Mapping[str, FieldValue]
    ts_ms: int

    @property
    def series(self) -> SeriesKey:
        return (self.measurement, self.tags.get("plant", ""), self.tags.get("meter", ""))

    @property
    def key(self) -> PointKey:
        return (self.series, self.ts_ms)


def encode(point: Point) -> str:
    """The point as one line of line protocol (millisecond precision)."""
    return encode_point(point.measurement, point.tags, point.fields, point.ts_ms)


# A field: key, then a string in double quotes (with \" and \\ escaped) or a bare value.
_FIELD = re.compile(r'([^=,\\"]+)=("(?:[^"\\]|\\.)*"|[^,"]*)(?:,|$)')
_STRING_ESCAPE = re.compile(r'\\(["\\])')


def _split_unescaped(text: str, sep: str) -> list[str]:
    out, current, i = [], [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            current.append(text[i + 1])
            i += 2
            continue
        if ch == sep:
            out.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    out.append("".join(current))
    return out


def _value(raw: str) -> FieldValue | None:
    if raw.startswith('"'):
        return _STRING_ESCAPE.sub(r"\1", raw[1:-1]) if "\\" in raw else raw[1:-1]
    if raw in ("t", "T", "true", "True", "TRUE"):
        return True
    if raw in ("f", "F", "false", "False", "FALSE"):
        return False
    try:
        return int(raw[:-1]) if raw[-1:] in ("i", "u") else float(raw)
    except ValueError:
        return None


def _fields(text: str) -> dict[str, FieldValue] | None:
    out: dict[str, FieldValue] = {}
    position = 0
    for match in _FIELD.finditer(text):
        if match.start() != position:
            return None
        value = _value(match.group(2))
        if value is None:
            return None
        out[match.group(1)] = value
        position = match.end()
    return out if out and position == len(text) else None


def parse_line(line: str) -> Point | None:
    """A line of line protocol as data, or None if it is not one plantwatch could have written."""
    escaped = "\\" in line
    head_end = _unescaped_space(line, 0) if escaped else line.find(" ")
    ts_start = line.rfind(" ")
    if head_end is None or head_end < 0 or ts_start <= head_end:
        return None
    ts_text = line[ts_start + 1 :]
    if not ts_text.isdigit():
        return None
    head = line[:head_end]
    parts = _split_unescaped(head, ",") if "\\" in head else head.split(",")
    tags = {}
    for part in parts[1:]:
        key, sep, value = part.partition("=")
        if not sep:
            return None
        tags[key] = value
    fields = _fields(line[head_end + 1 : ts_start])
    if fields is None:
        return None
    return Point(parts[0], tags, fields, int(ts_text))


def _unescaped_space(line: str, start: int) -> int | None:
    i = start
    while i < len(line):
        if line[i] == "\\":
            i += 2
            continue
        if line[i] == " ":
            return i
        i += 1
    return None
