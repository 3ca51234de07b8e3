"""First write is the record (SPEC section 14): the pure rules, no I/O.

The first value stored for a (plant, meter, time, value name) is the record. A later
different value for the same key is a revision, kept apart in the `revisions` measurement
and never written over the record; an identical resend is a duplicate and writes nothing
(so a redelivered message stays exactly once). `ingest/keeper.py` is the I/O shell that
asks InfluxDB what is stored; everything here works on plain data.

    plan_writes(points, stored)        -> what to write: record lines, revisions, duplicates
    number_revisions(revisions, known) -> each revision's ordinal, or a duplicate of one kept
    RecentIndex                        -> what this process wrote lately, so most batches
                                          need no query at all

Every recorded point carries `_arrived_ms` (when the collector received it) and `_source`
(mqtt, http, hj212, gateway-backfill, records); `late_filled` says, in one place, when an
hour was filled long after the fact.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from ingest.schema import VALID_FLAG
from ingest.store import encode_point

REVISIONS_MEASUREMENT = "revisions"
# Readings whose values are records (meter kinds, and HJ 212 minute/hour/day averages).
RECORDED: frozenset[str] = frozenset(
    {"gas", "coal", "electricity", "voc", "voc_minute", "voc_hour", "voc_day"}
)
# Field keys starting with `_` can never be value names (a value name starts with a letter).
ARRIVED_FIELD = "_arrived_ms"
SOURCE_FIELD = "_source"
FLAG_SUFFIX = "_flag"
INVALID_SUFFIX = "_invalid"

MQTT, HTTP, HJ212, GATEWAY_BACKFILL, RECORDS = (
    "mqtt",
    "http",
    "hj212",
    "gateway-backfill",
    "records",
)
SOURCES = (MQTT, HTTP, HJ212, GATEWAY_BACKFILL, RECORDS)
# A delivery path other than a plant's own MQTT client says so in the JSON document's
# top-level `source` (HTTP push, coal records); anything else is `mqtt`.
DECLARED_SOURCES = frozenset({HTTP, RECORDS, GATEWAY_BACKFILL})

HOUR_MS = 3_600_000
# "Long after the fact": a reading that arrived more than this after its hour ended fills
# that hour late. The one definition: VOC answers, the page and the monthly report use it.
LATE_FILL_AFTER_MS = 2 * HOUR_MS

SeriesKey = tuple[str, str, str]  # measurement, plant, meter
PointKey = tuple[SeriesKey, int]  # series, device time (ms)
FieldValue = float | int | str | bool


@dataclass(frozen=True, slots=True)
class Sig:
    """What a value name holds at one time: the number (None if invalid), its flag, why invalid."""

    value: float | None
    flag: str
    invalid: str | None = None


@dataclass(frozen=True, slots=True)
class Point:
    """One parsed line of line protocol."""

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


@dataclass(frozen=True, slots=True)
class Revision:
    """A later different value for a recorded key; `record` is what the record holds."""

    series: SeriesKey
    ts_ms: int
    name: str
    revised: Sig
    record: Sig
    source: str
    arrived_ms: int


@dataclass(frozen=True, slots=True)
class Plan:
    """What one batch writes: record lines (new keys only), revisions, and duplicates dropped."""

    lines: list[str]
    revisions: list[Revision]
    duplicates: int
    written: dict[PointKey, dict[str, Sig]]  # the stored state of every point written


def late_filled(hour_start_ms: int, arrived_ms: int | None) -> bool:
    """Whether a reading of the hour starting at `hour_start_ms` arrived long after it ended."""
    return arrived_ms is not None and arrived_ms > hour_start_ms + HOUR_MS + LATE_FILL_AFTER_MS


def declared_source(doc_source: object) -> str:
    """The source a JSON document declares, `mqtt` unless it names another delivery path."""
    return doc_source if isinstance(doc_source, str) and doc_source in DECLARED_SOURCES else MQTT


# --- line protocol, as plantwatch writes it (ingest.store.encode_point) ---------------------

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


# --- the rule ---------------------------------------------------------------------------------


def signatures(fields: Mapping[str, object]) -> dict[str, Sig]:
    """Value name -> what it holds, from a point's fields (arrival and source are not values)."""
    names = set()
    for key in fields:
        if key.startswith("_"):
            continue
        if key.endswith(INVALID_SUFFIX):
            names.add(key[: -len(INVALID_SUFFIX)])
        elif not key.endswith(FLAG_SUFFIX):
            names.add(key)
    out = {}
    for name in names:
        value = fields.get(name)
        invalid = fields.get(name + INVALID_SUFFIX)
        flag = fields.get(name + FLAG_SUFFIX)
        out[name] = Sig(
            float(value)
            if isinstance(value, int | float) and not isinstance(value, bool)
            else None,
            flag if isinstance(flag, str) else VALID_FLAG,
            invalid if isinstance(invalid, str) else None,
        )
    return out


def sig_fields(name: str, sig: Sig) -> dict[str, FieldValue]:
    """The fields that store `sig` under `name` (the inverse of `signatures`)."""
    out: dict[str, FieldValue] = {}
    if sig.value is not None:
        out[name] = sig.value
        out[name + FLAG_SUFFIX] = sig.flag
    if sig.invalid is not None:
        out[name + INVALID_SUFFIX] = sig.invalid
    return out


def plan_writes(
    points: Sequence[tuple[Point, str]], stored: Mapping[PointKey, Mapping[str, Sig]]
) -> Plan:
    """Decide each value of each point: record (new key), duplicate (same), or revision.

    `points` pairs each point with its line; `stored` holds what InfluxDB has for every
    point key that may exist (a key absent from it is new). Points are taken in order, so
    within a batch the first value of a key is the record too.
    """
    known: dict[PointKey, dict[str, Sig]] = {}
    lines: list[str] = []
    revisions: list[Revision] = []
    duplicates = 0
    for point, line in points:
        key = point.key
        have = known.get(key)
        if have is None and key in stored:
            have = dict(stored[key])
        sigs = signatures(point.fields)
        fresh = {n: s for n, s in sigs.items() if have is None or n not in have}
        for name, sig in sigs.items():
            if name in fresh:
                continue
            assert have is not None
            if have[name] == sig:
                duplicates += 1
            else:
                revisions.append(
                    Revision(
                        point.series,
                        point.ts_ms,
                        name,
                        sig,
                        have[name],
                        str(point.fields.get(SOURCE_FIELD, MQTT)),
                        _int(point.fields.get(ARRIVED_FIELD)),
                    )
                )
        if fresh:
            if have is None:
                lines.append(line)  # a new point is written exactly as it came
            else:
                fields: dict[str, FieldValue] = {}
                for name, sig in sorted(fresh.items()):
                    fields.update(sig_fields(name, sig))
                lines.append(encode_point(point.measurement, point.tags, fields, point.ts_ms))
        known[key] = {**(have or {}), **fresh}
    written = {k: v for k, v in known.items() if k not in stored or v != stored[k]}
    return Plan(lines, revisions, duplicates, written)


def _int(value: object) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


RevisionKey = tuple[SeriesKey, int, str]  # series, device time, value name


def number_revisions(
    revisions: Iterable[Revision], kept: Mapping[RevisionKey, Sequence[tuple[int, Sig]]]
) -> tuple[list[tuple[int, Revision]], int]:
    """Ordinal (1, 2, ...) of each new revision per key; one already kept is a duplicate."""
    seen: dict[RevisionKey, list[tuple[int, Sig]]] = {k: list(v) for k, v in kept.items()}
    out: list[tuple[int, Revision]] = []
    duplicates = 0
    for rev in revisions:
        key = (rev.series, rev.ts_ms, rev.name)
        earlier = seen.setdefault(key, [])
        if any(sig == rev.revised for _, sig in earlier):
            duplicates += 1
            continue
        number = max((n for n, _ in earlier), default=0) + 1
        earlier.append((number, rev.revised))
        out.append((number, rev))
    return out, duplicates


def revision_line(number: int, rev: Revision) -> str:
    """The `revisions` point: tags say whose value, the time is the reading's; never a record."""
    measurement, plant, meter = rev.series
    fields: dict[str, FieldValue] = {
        ARRIVED_FIELD: rev.arrived_ms,
        SOURCE_FIELD: rev.source,
        "flag": rev.revised.flag,
        "record_flag": rev.record.flag,
    }
    if rev.revised.value is not None:
        fields["value"] = rev.revised.value
    if rev.revised.invalid is not None:
        fields["invalid"] = rev.revised.invalid
    if rev.record.value is not None:
        fields["record_value"] = rev.record.value
    if rev.record.invalid is not None:
        fields["record_invalid"] = rev.record.invalid
    tags = {"plant": plant, "meter": meter, "measurement": measurement, "name": rev.name}
    return encode_point(REVISIONS_MEASUREMENT, {**tags, "n": str(number)}, fields, rev.ts_ms)


@dataclass(frozen=True, slots=True)
class RevisionId:
    """A revision's address: its tags and time (`plant.meter.measurement.name.ts_ms.n`)."""

    plant: str
    meter: str
    measurement: str
    name: str
    ts_ms: int
    number: int

    def __str__(self) -> str:
        return ".".join(
            (self.plant, self.meter, self.measurement, self.name, str(self.ts_ms), str(self.number))
        )

    @classmethod
    def parse(cls, text: str) -> RevisionId | None:
        parts = text.split(".")
        if len(parts) != 6 or not parts[4].isdigit() or not parts[5].isdigit():
            return None
        if not all(re.fullmatch(r"[A-Za-z0-9_-]{1,64}", p) for p in parts[:4]):
            return None
        return cls(parts[0], parts[1], parts[2], parts[3], int(parts[4]), int(parts[5]))


# --- the recent index ---------------------------------------------------------------------

Verdict = Literal["new", "duplicate"]
# The index's mark for a point known to be stored whose values it does not hold.
STORED = -1
# How a collector's reading line starts: its arrival and source (fields are sorted, and a
# value name starts with a letter, so these come first unless a name starts upper-case).
_BOOKKEEPING_PREFIX = re.compile(r'_arrived_ms=\d+i,_source="[^"\\]*",')


@dataclass(frozen=True, slots=True)
class LineKey:
    """A reading line's point key and a digest of its values, read without parsing it."""

    series: SeriesKey
    ts_ms: int
    values: int  # hash of the field text without arrival and source

    @property
    def key(self) -> PointKey:
        return (self.series, self.ts_ms)


def line_key(line: str) -> LineKey | None:
    """The key of a plain line (no escapes, bookkeeping first or absent); None: parse it."""
    if "\\" in line:
        return None
    head_end, ts_start = line.find(" "), line.rfind(" ")
    if head_end < 0 or ts_start <= head_end or not line[ts_start + 1 :].isdigit():
        return None
    fields = line[head_end + 1 : ts_start]
    found = _BOOKKEEPING_PREFIX.match(fields)
    if found is not None:
        fields = fields[found.end() :]
    if ARRIVED_FIELD in fields or SOURCE_FIELD in fields:
        return None
    parts = line[:head_end].split(",")
    plant = meter = ""
    for part in parts[1:]:
        if part.startswith("plant="):
            plant = part[6:]
        elif part.startswith("meter="):
            meter = part[6:]
    return LineKey((parts[0], plant, meter), int(line[ts_start + 1 :]), hash(fields))


class RecentIndex:
    """What this process knows is stored for each series from its `horizon` on.

    Sound only while this process is the one writer of its series (static partitions of
    the plants; docs/decisions.md): then a key at or after the horizon that the index does
    not hold is new, and a line whose values digest (`line_key`) is the one written is a
    duplicate. Anything else (older than the horizon, another digest, a point known only as
    `STORED`) is asked of InfluxDB. Each series keeps at most `points_per_series` entries;
    the horizon moves up as old ones are dropped.
    """

    def __init__(self, points_per_series: int = 1024) -> None:
        self.points_per_series = points_per_series
        self._horizon: dict[SeriesKey, int] = {}
        self._entries: dict[SeriesKey, dict[int, int]] = {}

    def verdict(self, key: LineKey) -> Verdict | None:
        """`new`, `duplicate`, or None when only the store can tell."""
        horizon = self._horizon.get(key.series)
        if horizon is None or key.ts_ms < horizon:
            return None
        known = self._entries[key.series].get(key.ts_ms)
        if known is None:
            return "new"
        return "duplicate" if known == key.values and known != STORED else None

    def horizon(self, series: SeriesKey) -> int | None:
        return self._horizon.get(series)

    def learn(self, series: SeriesKey, since_ms: int, stored: Iterable[int]) -> None:
        """The store answered for every time >= `since_ms` of `series`: trust the index from there.

        `stored`: the times it holds points at.
        """
        horizon = self._horizon.get(series)
        entries = self._entries.setdefault(series, {})
        if horizon is not None and horizon <= since_ms:
            return
        for ts in stored:
            if ts >= since_ms:
                entries[ts] = STORED
        self._horizon[series] = since_ms
        self._trim(series)

    def remember(self, written: Mapping[PointKey, int]) -> None:
        """Points now stored: the values digest of the line written whole, else `STORED`."""
        touched = set()
        for (series, ts), values in written.items():
            horizon = self._horizon.get(series)
            if horizon is not None and ts >= horizon:
                self._entries[series][ts] = values
                touched.add(series)
        for series in touched:
            self._trim(series)

    def _trim(self, series: SeriesKey) -> None:
        entries = self._entries[series]
        excess = len(entries) - self.points_per_series
        if excess <= 0:
            return
        dropped = sorted(entries)[:excess]
        for ts in dropped:
            del entries[ts]
        # Everything before the oldest kept entry is no longer known here.
        self._horizon[series] = dropped[-1] + 1
