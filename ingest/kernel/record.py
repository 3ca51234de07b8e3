"""First write is the record (SPEC section 14): the pure rules, no I/O.

The first value stored for a (plant, meter, time, value name) is the record. A later
different value for the same key is a revision, kept apart in the `revisions` measurement
and never written over the record; an identical resend is a duplicate and writes nothing
(so a redelivered message stays exactly once). `ingest/keeper.py` is the I/O shell that
asks InfluxDB what is stored; everything here works on plain data.

    plan_writes(points, stored)        -> what to write: record points, revisions, duplicates
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
from typing import Any, Literal

from ingest.kernel.lineproto import FieldValue, Point, PointKey, SeriesKey
from ingest.kernel.schema import VALID_FLAG

__all__ = ["FieldValue", "Point", "PointKey", "SeriesKey"]  # re-exported: the rule's vocabulary

REVISIONS_MEASUREMENT = "revisions"
# A revision point's acceptance fields (`acceptance_points`): who accepted it, when, and why.
ACCEPTED_BY, ACCEPTED_MS, ACCEPT_COMMENT = "accepted_by", "accepted_ms", "accept_comment"
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


@dataclass(frozen=True, slots=True)
class Sig:
    """What a value name holds at one time: the number (None if invalid), its flag, why invalid."""

    value: float | None
    flag: str
    invalid: str | None = None


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
    """What one batch writes: record points (new keys only), revisions, and duplicates dropped."""

    points: list[Point]
    revisions: list[Revision]
    duplicates: int
    written: dict[PointKey, dict[str, Sig]]  # the stored state of every point written


def is_recorded(point: Point) -> bool:
    """Whether `point` is a reading whose values are records (a meter's, with plant and meter)."""
    return (
        point.measurement in RECORDED
        and bool(point.tags.get("plant"))
        and bool(point.tags.get("meter"))
    )


def late_filled(hour_start_ms: int, arrived_ms: int | None) -> bool:
    """Whether a reading of the hour starting at `hour_start_ms` arrived long after it ended."""
    return arrived_ms is not None and arrived_ms > hour_start_ms + HOUR_MS + LATE_FILL_AFTER_MS


def declared_source(doc_source: object) -> str:
    """The source a JSON document declares, `mqtt` unless it names another delivery path."""
    return doc_source if isinstance(doc_source, str) and doc_source in DECLARED_SOURCES else MQTT


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


def plan_writes(points: Sequence[Point], stored: Mapping[PointKey, Mapping[str, Sig]]) -> Plan:
    """Decide each value of each point: record (new key), duplicate (same), or revision.

    `stored` holds what InfluxDB has for every
    point key that may exist (a key absent from it is new). Points are taken in order, so
    within a batch the first value of a key is the record too.
    """
    known: dict[PointKey, dict[str, Sig]] = {}
    out: list[Point] = []
    revisions: list[Revision] = []
    duplicates = 0
    for point in points:
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
                out.append(point)  # a new point is written exactly as it came
            else:
                fields: dict[str, FieldValue] = {}
                for name, sig in sorted(fresh.items()):
                    fields.update(sig_fields(name, sig))
                out.append(Point(point.measurement, point.tags, fields, point.ts_ms))
        known[key] = {**(have or {}), **fresh}
    written = {k: v for k, v in known.items() if k not in stored or v != stored[k]}
    return Plan(out, revisions, duplicates, written)


def _int(value: object) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


RevisionKey = tuple[SeriesKey, int, str]  # series, device time, value name
# What a keeper asks a store about: a series' times from first to last (None: to the end).
Run = tuple[SeriesKey, int, int | None]


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


def revision_point(number: int, rev: Revision) -> Point:
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
    return Point(REVISIONS_MEASUREMENT, {**tags, "n": str(number)}, fields, rev.ts_ms)


def acceptance_points(
    rid: RevisionId, revised: Sig, who: str, now_ms: int, comment: str | None = None
) -> list[Point]:
    """An officer's acceptance of revision `rid`, as written in one request: the reading point
    holding the revised value (the record from now on) and the revision's acceptance fields.

    InfluxDB overwrites the record point with it; ClickHouse (`accepted_keys`) writes it as
    the key's accepted row, which every reader prefers to the first write."""
    series = {"plant": rid.plant, "meter": rid.meter}
    fields: dict[str, FieldValue] = {ACCEPTED_BY: who, ACCEPTED_MS: now_ms}
    if comment:
        fields[ACCEPT_COMMENT] = comment
    tags = {**series, "measurement": rid.measurement, "name": rid.name, "n": str(rid.number)}
    return [
        Point(rid.measurement, series, sig_fields(rid.name, revised), rid.ts_ms),
        Point(REVISIONS_MEASUREMENT, tags, fields, rid.ts_ms),
    ]


def accepted_keys(points: Iterable[Point]) -> frozenset[RevisionKey]:
    """The keys whose value an officer accepted among `points` (`acceptance_points`): the
    reading points written with them hold the record from now on."""
    return frozenset(
        (
            (p.tags.get("measurement", ""), p.tags.get("plant", ""), p.tags.get("meter", "")),
            p.ts_ms,
            p.tags.get("name", ""),
        )
        for p in points
        if p.measurement == REVISIONS_MEASUREMENT and ACCEPTED_MS in p.fields
    )


def kept_of(series: SeriesKey, found: Iterable[Any]) -> dict[RevisionKey, list[tuple[int, Sig]]]:
    """The revisions kept for `series`, from the `Series` of a read of their `revisions`
    points' `value`, `flag` and `invalid` grouped by `name` and `n` (either engine)."""
    out: dict[RevisionKey, list[tuple[int, Sig]]] = {}
    for s in found:
        for row in s.rows():
            value = row.get("value")
            sig = Sig(
                float(value) if value is not None else None,
                row.get("flag") or VALID_FLAG,
                row.get("invalid"),
            )
            key = (series, int(row["time"]), s.tags.get("name", ""))
            out.setdefault(key, []).append((int(s.tags.get("n", "0")), sig))
    return out


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
# Fields that say how a value arrived, not what it is: a resend differs only in them.
_BOOKKEEPING = frozenset({ARRIVED_FIELD, SOURCE_FIELD})


@dataclass(frozen=True, slots=True)
class LineKey:
    """A reading point's key and a digest of its values (arrival and source left out)."""

    series: SeriesKey
    ts_ms: int
    values: int  # hash of the fields without arrival and source

    @property
    def key(self) -> PointKey:
        return (self.series, self.ts_ms)

    @classmethod
    def of(cls, point: Point) -> LineKey:
        values = sorted(
            (name, type(value).__name__, value)
            for name, value in point.fields.items()
            if name not in _BOOKKEEPING
        )
        return cls(point.series, point.ts_ms, hash(tuple(values)))


class RecentIndex:
    """What this process knows is stored for each series from its `horizon` on.

    Sound only while this process is the one writer of its series (static partitions of
    the plants; docs/decisions.md): then a key at or after the horizon that the index does
    not hold is new, and a point whose values digest (`LineKey.of`) is the one written is a
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
        """Points now stored: the values digest of the point written whole, else `STORED`."""
        touched = set()
        for (series, ts), values in written.items():
            horizon = self._horizon.get(series)
            if horizon is not None and ts >= horizon:
                self._entries[series][ts] = values
                touched.add(series)
        for series in touched:
            self._trim(series)

    def forget(self, series: Iterable[SeriesKey]) -> None:
        """Nothing is known of `series` any more: a write whose outcome is unknown (no answer,
        or a cluster's quorum not met) may have stored some of it, so the store is asked again."""
        for key in series:
            self._horizon.pop(key, None)
            self._entries.pop(key, None)

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
