"""What the read model asks of a store, as data: the requests of `Store.read` (issue 21).

A request names measurements, fields, a time range, a tag filter and a grouping; it carries
no statement text. Each engine turns requests into its own statements (`influxql` for
InfluxDB 1.x), so a second engine is one module. Requests are frozen and hashable: the read
model's cache keeps answers under the request itself.

    Points     the rows of some fields (a series' range; a flag's readings)
    Summary    aggregates per group (and per time bucket): sums, counts, latest before a
               time (`last`), first at or after one (`first`)
    StepSums   the step rule's sums of a cumulative register (SPEC section 6), per bucket
    TagValues  the values a tag takes in a measurement (from the index, no data read)

Answers are lists of `Series` (times in epoch ms), one per group, in request order, the
same from every engine (tests/ingest/kernel/test_chsql.py holds ClickHouse to InfluxDB's answers).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

# tag -> the values it may have (any of them; every tag named must match), sorted by tag
Tags = tuple[tuple[str, tuple[str, ...]], ...]
Function = Literal["sum", "min", "max", "mean", "count", "spread", "first", "last"]
# A condition on a field's value: (field, operator, value); every one must hold.
Match = tuple[str, Literal["=", ">=", "<="], str | float]
StepMeasure = Literal["consumption", "implausible_steps", "resets", "hours"]


def tags(where: Mapping[str, Sequence[str]] | None = None, **one: str) -> Tags:
    """A tag filter as a request carries it: `tags({"plant": plants})`, `tags(plant="a")`."""
    merged: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in (where or {}).items()}
    merged.update((k, (v,)) for k, v in one.items())
    for tag, values in merged.items():
        if not values:
            raise ValueError(f"an empty list of {tag} values selects nothing")
    return tuple(sorted(merged.items()))


@dataclass(frozen=True, slots=True)
class Buckets:
    """Time buckets of `every`, shifted by `offset`; with `timezone`, days start at its
    local midnight. Only buckets holding data are answered."""

    every: timedelta
    offset: timedelta = timedelta(0)
    timezone: str | None = None


@dataclass(frozen=True, slots=True)
class Points:
    """The rows of `fields` (every field if empty) in [start, end) (None: unbounded), per
    group of `group_by` tags, that satisfy `match`; `newest` keeps that many per group,
    newest first."""

    measurement: str
    fields: tuple[str, ...]
    start: datetime | None
    end: datetime | None
    where: Tags = ()
    group_by: tuple[str, ...] = ()
    match: tuple[Match, ...] = ()
    newest: int | None = None


@dataclass(frozen=True, slots=True)
class Column:
    """One aggregate of a `Summary`, answered under `alias` (else the function's name)."""

    function: Function
    field: str
    alias: str | None = None


@dataclass(frozen=True, slots=True)
class Summary:
    """Aggregates of the measurements' rows in [start, end) (None: unbounded) that satisfy
    `match`, per measurement, group of `group_by` tags and, with `buckets`, time bucket
    (stamped at its start). `last` and `first` alone are stamped at the row they select."""

    measurements: tuple[str, ...]
    columns: tuple[Column, ...]
    start: datetime | None = None
    end: datetime | None = None
    where: Tags = ()
    group_by: tuple[str, ...] = ()
    buckets: Buckets | None = None
    match: tuple[Match, ...] = ()


@dataclass(frozen=True, slots=True)
class StepSums:
    """One of the step rule's sums of a cumulative register per bucket and group (SPEC
    section 6), computed by the engine so that only sums travel.

    A step is the difference between a series' reading and the one before it; it belongs to
    the bucket of its later reading. Steps over more than `max_gap` of silence count nowhere.
    `consumption` sums the non-negative steps no faster than `max_per_hour`;
    `implausible_steps` counts the faster ones; `resets` counts the drops; `hours` counts
    the clock hours with a reading in [start, end). Steps are read from `max_gap` before
    `start`: rows stamped before `start` belong to that lookback (the caller drops them),
    except `hours` of a `first_hour` request, stamped at the start of the hour holding
    `start` (a stretch starting inside an hour counts that hour)."""

    measure: StepMeasure
    measurement: str
    field: str
    start: datetime
    end: datetime
    buckets: Buckets
    max_per_hour: float
    max_gap: timedelta
    where: Tags = ()
    group_by: tuple[str, ...] = ()
    first_hour: bool = False


@dataclass(frozen=True, slots=True)
class TagValues:
    """The values of tag `key` among the measurement's series (rows: (key, value))."""

    measurement: str
    key: str


Read = Points | Summary | StepSums | TagValues

# tag -> the values it may have (any of them; every tag named must match)
TagFilter = Mapping[str, Sequence[str]]
Aggregate = Literal["sum", "min", "max", "count", "first", "last"]


class ReadShortcuts:
    """`read_range` and `aggregate`, one request each, for an engine that answers `read`."""

    def read(self, requests: Sequence[Read]) -> list[list[Series]]:
        raise NotImplementedError

    def read_range(
        self,
        measurement: str,
        fields: Sequence[str],
        start: datetime,
        end: datetime,
        where: TagFilter | None = None,
        group_by: Sequence[str] = (),
    ) -> list[Series]:
        """A series' points of `fields` in [start, end) (`Store.read_range`)."""
        request = Points(measurement, tuple(fields), start, end, tags(where), tuple(group_by))
        return self.read([request])[0]

    def aggregate(
        self,
        measurement: str,
        function: Aggregate,
        field: str,
        start: datetime | None = None,
        end: datetime | None = None,
        where: TagFilter | None = None,
        group_by: Sequence[str] = (),
    ) -> list[Series]:
        """One aggregate of `field` per group (`Store.aggregate`)."""
        columns = (Column(function, field),)
        request = Summary((measurement,), columns, start, end, tags(where), tuple(group_by))
        return self.read([request])[0]


@dataclass(frozen=True, slots=True)
class Series:
    """One series of an answer: its name, tags and rows as dicts."""

    name: str
    tags: Mapping[str, str]
    columns: tuple[str, ...]
    values: tuple[tuple[Any, ...], ...]

    def rows(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.values]
