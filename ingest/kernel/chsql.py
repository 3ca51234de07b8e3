"""ClickHouse SQL, the statement text of the ClickHouse engine's reads (`clickhouse.ClickHouseStore`).

The twin of `influxql`: `statement` turns a read request (`ingest.kernel.reads`) into one
SQL statement over the readings table, and `answer` shapes its rows into the `Series`
InfluxDB gives for the same request (name, tags, columns, rows; times in epoch ms; series in
InfluxDB's order), so the domains cannot tell the engines apart.

**Points as InfluxDB sees them.** A reading is stored as rows, one per value name
(`clickhouse.rows_of`); InfluxDB holds it as one point whose fields are the value name (a
valid value), `<name>_flag`, `<name>_invalid`, `_arrived_ms`, `_source` and `backfill`.
Each read first takes the record of every (series, name, time) (the first write:
`argMin(..., written)`, unless an officer accepted a revision: `RECORD_ORDER`), then pivots
the names a request asks for into those fields, one row per point (`_fields`). Every other
point (rollups, read-model state, KPI snapshots, dead letters, events, stats, and revisions:
`revisions` points, as on InfluxDB) and the dirty marks are answered by `chpoints` over
their tables (`ClickHouseStore.read` picks the module; docs/decisions.md).

**Only ClickHouse 18.16's SQL** (Debian's server): no window functions, no DateTime64 (times
are `Int64` ms), steps by `arrayDifference` over each series' readings sorted in an array,
buckets by integer arithmetic on ms (a time zone's offset read with `toString(DateTime, tz)`).

**Step sums** follow `influxql`'s statements, not `api.fuel.rules`: InfluxDB's steps cannot
see flags, so the caller adds the manual rule's corrections (`api.fuel.queries`) on both
engines alike. A step is the difference of a series' valid readings in [start - max_gap,
end) and its predecessor; steps over more than `max_gap` count nowhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import singledispatch
from typing import Any

from ingest.kernel.errors import StoreRejected
from ingest.kernel.reads import (
    Buckets,
    Column,
    Match,
    Points,
    Read,
    Series,
    StepSums,
    Summary,
    Tags,
    TagValues,
)
from ingest.kernel.record import RECORDED

MS = timedelta(milliseconds=1)
HOUR_MS = 3_600_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
READING_TAGS = ("meter", "plant")  # the tags of a reading (its series: plant and meter)
ARRIVED, SOURCE, BACKFILL = "_arrived_ms", "_source", "backfill"
SELECTORS = frozenset({"first", "last", "min", "max"})
# The source of a reading row an officer's acceptance wrote (`clickhouse.rows_of`): no plant
# sends it (`ingest.kernel.record.SOURCES`), and `ClickHouseStore.write_lines` gives it only
# to the reading written with its acceptance (`ingest.kernel.record.accepted_keys`).
ACCEPTED_SOURCE = "officer"
# The record of a (series, name, time) is the row least by this key: the latest accepted row
# if an officer accepted a revision (as an InfluxDB point overwritten by each acceptance),
# else the first write. `written` (ns, < 2^63) is signed here so both branches are Int64. No
# statement may name an aggregate `source` where this is used (the alias would be read).
RECORD_ORDER = f"if(source = '{ACCEPTED_SOURCE}', -toInt64(written), toInt64(written))"


def literal(value: object) -> str:
    """A ClickHouse literal for a str, int or float (strings quoted, `\\` and `'` escaped)."""
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float):
        return repr(value)
    raise TypeError(f"no literal for {type(value).__name__}")


def ms(ts: datetime) -> int:
    """An aware datetime as epoch ms."""
    return (ts - EPOCH) // MS


# ---- fields: what an InfluxDB field of a reading point is among the rows --------------------


@dataclass(frozen=True, slots=True)
class Field:
    """An InfluxDB field of a reading point: a value name's value, flag or reason it is
    invalid, or one of the point's own (`_arrived_ms`, `_source`, `backfill`)."""

    key: str
    name: str | None  # the value name; None for the point's own fields
    part: str  # value | flag | invalid | arrived | source | backfill

    @classmethod
    def of(cls, key: str) -> Field:
        if key == ARRIVED:
            return cls(key, None, "arrived")
        if key == SOURCE:
            return cls(key, None, "source")
        if key == BACKFILL:
            return cls(key, None, "backfill")
        for suffix, part in (("_flag", "flag"), ("_invalid", "invalid")):
            if key.endswith(suffix):
                return cls(key, key[: -len(suffix)], part)
        return cls(key, key, "value")

    def pivot(self) -> str:
        """The field's value at a point (NULL where the point has none), over records."""
        if self.part == "arrived":
            return "argMin(arrived_ms, w)"
        if self.part == "source":
            return "argMin(first_source, w)"
        if self.part == "backfill":
            return "nullIf(max(backfill), 0)"
        column = {"value": "value", "flag": "flag", "invalid": "invalid"}[self.part]
        valid = "invalid != ''" if self.part == "invalid" else "invalid = ''"
        held = f"name = {literal(self.name)} AND {valid}"
        # Spelled out: 18.16's anyIf over a Nullable gives the default, not NULL, for no row.
        return f"if(countIf({held}) > 0, anyIf({column}, {held}), NULL)"

    def cast(self, raw: Any) -> Any:
        """A value as InfluxDB's JSON gives it (ClickHouse quotes 64-bit integers)."""
        if raw is None:
            return None
        if self.part == "value":
            return float(raw)
        if self.part == "arrived":
            return int(raw)
        if self.part == "backfill":
            return True
        return str(raw)


def _tag_conditions(where: Tags) -> list[str]:
    out = []
    for tag, values in where:
        _check_tag(tag)
        if not values:
            raise ValueError(f"an empty list of {tag} values selects nothing")
        out.append(f"{tag} IN ({', '.join(literal(v) for v in values)})")
    return out


def _check_measurements(measurements: Sequence[str]) -> None:
    """Only readings are rows here: a read of any other measurement over them is refused
    rather than answered empty (an empty answer would read as "none")."""
    for m in measurements:
        if m not in RECORDED:
            raise StoreRejected(f"{m!r} is not stored in ClickHouse as readings")


def _check_tag(tag: str) -> None:
    if tag not in READING_TAGS:
        raise StoreRejected(f"readings have no tag {tag!r} on ClickHouse (only plant, meter)")


def _records(
    table: str,
    measurements: Sequence[str],
    start: datetime | None,
    end: datetime | None,
    where: Tags,
    names: Sequence[str] | None,
) -> str:
    """The record (`RECORD_ORDER`: the accepted revision, else the first write) of every
    (series, name, time) asked for; arrival, source and back-fill are the first write's."""
    _check_measurements(measurements)
    conditions = [f"measurement IN ({', '.join(literal(m) for m in measurements)})"]
    if names is not None:
        conditions.append(f"name IN ({', '.join(literal(n) for n in sorted(set(names)))})")
    if start is not None:
        conditions.append(f"ts_ms >= {ms(start)}")
    if end is not None:
        conditions.append(f"ts_ms < {ms(end)}")
    conditions += _tag_conditions(where)
    return (
        f"SELECT measurement, plant, meter, ts_ms, name, argMin(value, {RECORD_ORDER}) AS value, "
        f"argMin(flag, {RECORD_ORDER}) AS flag, argMin(invalid, {RECORD_ORDER}) AS invalid, "
        "argMin(arrived_ms, written) AS arrived_ms, argMin(source, written) AS first_source, "
        "max(backfill) AS backfill, min(written) AS w "
        f"FROM {table} WHERE {' AND '.join(conditions)} "
        "GROUP BY measurement, plant, meter, ts_ms, name"
    )


def _fields(
    table: str,
    measurements: Sequence[str],
    fields: Sequence[Field],
    start: datetime | None,
    end: datetime | None,
    where: Tags,
) -> str:
    """One row per point: measurement, plant, meter, ts_ms and the fields as f0, f1, ..."""
    names = None if any(f.name is None for f in fields) else [str(f.name) for f in fields]
    columns = ", ".join(f"{f.pivot()} AS f{i}" for i, f in enumerate(fields))
    return (
        f"SELECT measurement, plant, meter, ts_ms, {columns} "
        f"FROM ({_records(table, measurements, start, end, where, names)}) "
        "GROUP BY measurement, plant, meter, ts_ms"
    )


def _match(match: Sequence[Match], index: dict[str, int]) -> list[str]:
    out = []
    for key, operator, value in match:
        out.append(f"f{index[key]} {operator} {literal(value)}")
    return out


def bucket(buckets: Buckets, ts: str) -> str:
    """The start (ms) of the bucket holding `ts` (an ms expression), as InfluxDB stamps
    `GROUP BY time(every, offset) tz(...)` (its `Window`: the zone's offset at the time
    less the bucket offset, then corrected by the offset at the bucket's start when the
    two differ by less than a bucket: a day across a DST switch starts at local midnight)."""
    every = buckets.every // MS
    offset = (buckets.offset % buckets.every) // MS
    shifted = f"({ts} - {offset})"
    if buckets.timezone is None:
        return f"({shifted} - ((({shifted}) % {every}) + {every}) % {every} + {offset})"
    zone = _zone(buckets.timezone, shifted)
    start = f"({shifted} - ((({shifted} + {zone}) % {every}) + {every}) % {every})"
    change = f"({zone} - {_zone(buckets.timezone, start)})"
    return f"({start} + if(abs({change}) < {every}, {change}, 0) + {offset})"


def _zone(timezone: str, ts: str) -> str:
    """The zone's UTC offset (ms) at `ts` (an ms expression): its local clock read as UTC,
    less the time (18.16 has no `timezoneOffset`)."""
    seconds = f"intDiv({ts}, 1000)"
    local = f"toString(toDateTime({seconds}), {literal(timezone)})"
    return f"((toUnixTimestamp(toDateTime({local}, 'UTC')) - {seconds}) * 1000)"


# ---- statements -----------------------------------------------------------------------------


@singledispatch
def statement(request: Read, table: str) -> str:
    """The one SQL statement answering `request` over the readings `table`."""
    raise TypeError(f"no ClickHouse SQL for {type(request).__name__}")


@statement.register
def _points(request: Points, table: str) -> str:
    if not request.fields:
        return _every_field(request, table)
    selected = [Field.of(k) for k in request.fields]
    wanted = list(selected)
    index = {f.key: i for i, f in enumerate(wanted)}
    for key, _, _ in request.match:
        if key not in index:
            index[key] = len(wanted)
            wanted.append(Field.of(key))
    for tag in request.group_by:
        _check_tag(tag)
    rows = _fields(table, (request.measurement,), wanted, request.start, request.end, request.where)
    conditions = [
        "(" + " OR ".join(f"f{i} IS NOT NULL" for i in range(len(selected))) + ")",
        *_match(request.match, index),
    ]
    columns = ", ".join(f"f{i}" for i in range(len(selected)))
    return (
        f"SELECT {''.join(f'{t}, ' for t in request.group_by)}ts_ms, {columns} FROM ({rows}) "
        f"WHERE {' AND '.join(conditions)}{_order(request)}"
    )


def _order(request: Points) -> str:
    """Rows by group and time; with `newest`, the newest of each group first."""
    tags = "".join(f"{t}, " for t in request.group_by)
    if request.newest is None:
        return f" ORDER BY {tags}ts_ms"
    text = f" ORDER BY {tags}ts_ms DESC LIMIT {int(request.newest)}"
    return text + (f" BY {', '.join(request.group_by)}" if request.group_by else "")


# `SELECT *`: each point's every value name as arrays, and the field keys of the range (the
# columns: InfluxDB's are the keys of the shards the range touches, a superset).
_EVERY = (
    "groupArray(name) AS names, groupArray(value) AS vs, groupArray(flag) AS flags, "
    "groupArray(invalid) AS bad, argMin(arrived_ms, w) AS arrived, argMin(first_source, w) AS src, "
    "max(backfill) AS back"
)
_KEYS = (
    "arrayConcat(if(invalid = '', [name, concat(name, '_flag')], [concat(name, '_invalid')]), "
    "if(backfill = 1, ['backfill'], emptyArrayString()))"
)


def _every_field(request: Points, table: str) -> str:
    for tag in request.group_by:
        _check_tag(tag)
    records = _records(
        table, (request.measurement,), request.start, request.end, request.where, None
    )
    keys = f"(SELECT groupUniqArray(k) FROM (SELECT arrayJoin({_KEYS}) AS k FROM ({records})))"
    having = [
        f"{Field.of(key).pivot()} {operator} {literal(value)}"
        for key, operator, value in request.match
    ]
    return (
        f"SELECT {''.join(f'{t}, ' for t in request.group_by)}ts_ms, plant, meter, {_EVERY}, "
        f"{keys} AS ks FROM ({records}) GROUP BY measurement, plant, meter, ts_ms"
        + (f" HAVING {' AND '.join(having)}" if having else "")
        + _order(request)
    )


def _aggregate(column: Column, value: str) -> str:
    f = column.function
    if f == "mean":
        return f"avg({value})"
    if f == "spread":
        return f"max({value}) - min({value})"
    # Rows of several series at the same time: InfluxDB's first and last take the greater
    # value (its reducers), so do these (for numbers; text has no such order there).
    numeric = Field.of(column.field).part in {"value", "arrived"}
    if f == "first":
        return f"argMin({value}, (ts_ms, -{value}))" if numeric else f"argMin({value}, ts_ms)"
    if f == "last":
        return f"argMax({value}, (ts_ms, {value}))" if numeric else f"argMax({value}, ts_ms)"
    if f == "count":  # NULL, as in InfluxDB, where a row holds other columns' values only
        return f"if(count({value}) > 0, count({value}), NULL)"
    return f"{f}({value})"


def _selected_time(column: Column, value: str) -> str:
    """The time of the row a lone selector picks (ties: the earliest, as InfluxDB)."""
    present = f"isNotNull({value})"
    f = column.function
    if f == "first":
        return f"minIf(ts_ms, {present})"
    if f == "last":
        return f"maxIf(ts_ms, {present})"
    if f == "max":
        return f"argMaxIf(ts_ms, (ifNull({value}, 0), -ts_ms), {present})"
    return f"argMinIf(ts_ms, (ifNull({value}, 0), ts_ms), {present})"


def _is_selector(request: Summary) -> bool:
    return (
        request.buckets is None
        and len(request.columns) == 1
        and request.columns[0].function in SELECTORS
    )


@statement.register
def _summary(request: Summary, table: str) -> str:
    wanted: list[Field] = []
    index: dict[str, int] = {}
    for key in [c.field for c in request.columns] + [m[0] for m in request.match]:
        if key not in index:
            index[key] = len(wanted)
            wanted.append(Field.of(key))
    for tag in request.group_by:
        _check_tag(tag)
    rows = _fields(table, request.measurements, wanted, request.start, request.end, request.where)
    values = [f"f{index[c.field]}" for c in request.columns]
    aggregates = [_aggregate(c, v) for c, v in zip(request.columns, values, strict=True)]
    if request.buckets is not None:
        time = bucket(request.buckets, "ts_ms")
    elif _is_selector(request):
        time = _selected_time(request.columns[0], values[0])
    else:
        time = str(ms(request.start)) if request.start is not None else "0"
    keys = ["measurement", *request.group_by]
    if request.buckets is not None:
        keys.append("t")
    where = " AND ".join(_match(request.match, index)) or "1"
    present = " OR ".join(f"count({v}) > 0" for v in values)
    return (
        f"SELECT {', '.join(['measurement', *request.group_by])}, {time} AS t, "
        f"{', '.join(aggregates)} FROM ({rows}) WHERE {where} "
        f"GROUP BY {', '.join(keys)} HAVING {present} ORDER BY {', '.join(keys)}"
    )


@statement.register
def _step_sums(request: StepSums, table: str) -> str:
    r = request
    for tag in r.group_by:
        _check_tag(tag)
    lookback = r.start - r.max_gap
    tags = "".join(f"{t}, " for t in r.group_by)
    group = f"GROUP BY {tags}t ORDER BY {tags}t"
    if r.measure == "hours":
        valid = _valid(table, r, r.start)
        hours = (
            f"SELECT plant, meter, intDiv(ts_ms, {HOUR_MS}) * {HOUR_MS} AS hour FROM ({valid}) "
            "GROUP BY plant, meter, hour"
        )
        # Each hour is stamped at its start, the first one too (before `start` when `start`
        # lies inside it): InfluxDB pushes the outer range into its subquery and does not
        # filter the subquery's rows by it again, so `first_hour` changes no row there either.
        return f"SELECT {tags}{bucket(r.buckets, 'hour')} AS t, count() FROM ({hours}) {group}"
    per_series = (
        "SELECT plant, meter, arraySort(groupArray((ts_ms, value))) AS s, "
        "arrayMap(x -> x.1, s) AS ts, arrayDifference(arrayMap(x -> x.2, s)) AS d, "
        "arrayDifference(ts) AS g, arrayEnumerate(ts) AS i "
        f"FROM ({_valid(table, r, lookback)}) GROUP BY plant, meter"
    )
    steps = (
        "SELECT plant, meter, ts, d, g "
        f"FROM ({per_series}) ARRAY JOIN ts, d, g, i WHERE i > 1 AND g <= {r.max_gap // MS}"
    )
    rate = f"d / (g / {HOUR_MS})"
    limit = float(r.max_per_hour)
    head, condition = {
        "consumption": ("sum(d)", f"d >= 0 AND {rate} <= {limit!r}"),
        "implausible_steps": ("count()", f"d >= 0 AND {rate} > {limit!r}"),
        "resets": ("count()", "d < 0"),
    }[r.measure]
    return (
        f"SELECT {tags}{bucket(r.buckets, 'ts')} AS t, {head} FROM ({steps}) "
        f"WHERE {condition} {group}"
    )


def _valid(table: str, r: StepSums, start: datetime) -> str:
    """The valid records (plant, meter, ts_ms, value) of the register in [start, end)."""
    _check_measurements((r.measurement,))
    conditions = [
        f"measurement = {literal(r.measurement)}",
        f"name = {literal(r.field)}",
        f"ts_ms >= {ms(start)}",
        f"ts_ms < {ms(r.end)}",
        *_tag_conditions(r.where),
    ]
    records = (
        f"SELECT plant, meter, ts_ms, argMin(value, {RECORD_ORDER}) AS value, "
        f"argMin(invalid, {RECORD_ORDER}) AS bad FROM {table} WHERE {' AND '.join(conditions)} "
        "GROUP BY plant, meter, ts_ms"
    )
    return f"SELECT plant, meter, ts_ms, value FROM ({records}) WHERE bad = ''"


@statement.register
def _tag_values(request: TagValues, table: str) -> str:
    _check_measurements((request.measurement,))
    _check_tag(request.key)
    return (
        f"SELECT DISTINCT {request.key} FROM {table} "
        f"WHERE measurement = {literal(request.measurement)} ORDER BY {request.key}"
    )


# ---- answers --------------------------------------------------------------------------------


@singledispatch
def answer(request: Read, rows: Sequence[Sequence[Any]]) -> list[Series]:
    """The `Series` InfluxDB gives for `request`, from the rows of `statement(request)`."""
    raise TypeError(f"no answer for {type(request).__name__}")


def _series(
    rows: Sequence[Sequence[Any]],
    names: Sequence[str] | str,
    group_by: Sequence[str],
    columns: tuple[str, ...],
    cast: Sequence[Any],
    descending: bool = False,
) -> list[Series]:
    """Rows (measurement if `names` is a list, group tag values, time, values...) as Series,
    one per measurement and group, in InfluxDB's order (by name, then tags by key; reversed
    when the rows are newest first), tags by key."""
    found: dict[tuple[str, tuple[str, ...]], list[tuple[Any, ...]]] = {}
    named = not isinstance(names, str)
    for row in rows:
        name = str(row[0]) if named else str(names)
        rest = row[1:] if named else row
        tags = tuple(str(v) for v in rest[: len(group_by)])
        values = rest[len(group_by) :]
        found.setdefault((name, tags), []).append(
            tuple(c(v) if v is not None else None for c, v in zip(cast, values, strict=True))
        )
    by_key = sorted(range(len(group_by)), key=lambda i: group_by[i])
    order = sorted(found, key=lambda k: (k[0], tuple(k[1][i] for i in by_key)), reverse=descending)
    return [
        Series(
            name,
            {group_by[i]: tags[i] for i in by_key},
            columns,
            tuple(found[(name, tags)]),
        )
        for name, tags in order
    ]


@answer.register
def _points_answer(request: Points, rows: Sequence[Sequence[Any]]) -> list[Series]:
    descending = request.newest is not None
    if not request.fields:
        return _every_field_answer(request, rows)
    cast = [int, *(Field.of(k).cast for k in request.fields)]
    columns = ("time", *request.fields)
    return _series(rows, request.measurement, request.group_by, columns, cast, descending)


def _every_field_answer(request: Points, rows: Sequence[Sequence[Any]]) -> list[Series]:
    """`SELECT *`: the columns are the range's field keys and the tags not grouped by,
    sorted by name (InfluxDB's wildcard), each point's row holding what it has."""
    group = len(request.group_by)
    keys = {str(k) for row in rows for k in row[-1]} | {ARRIVED, SOURCE}
    keys |= {t for t in READING_TAGS if t not in request.group_by}
    columns = tuple(sorted(keys))
    flat = []
    for row in rows:
        ts, plant, meter, names, vs, flags, bad, arrived, src, back = row[group:-1]
        point: dict[str, Any] = {"plant": plant, "meter": meter}
        point.update({ARRIVED: int(arrived), SOURCE: str(src)})
        if int(back):
            point[BACKFILL] = True
        for name, value, flag, invalid in zip(names, vs, flags, bad, strict=True):
            if invalid:
                point[f"{name}_invalid"] = str(invalid)
            else:
                point[name], point[f"{name}_flag"] = float(value), str(flag)
        flat.append([*row[:group], int(ts), *(point.get(c) for c in columns)])
    cast = [int, *(_same for _ in columns)]
    return _series(
        flat,
        request.measurement,
        request.group_by,
        ("time", *columns),
        cast,
        descending=request.newest is not None,
    )


def _same(raw: Any) -> Any:
    return raw


def _number(raw: Any) -> float:
    return float(raw)


@answer.register
def _summary_answer(request: Summary, rows: Sequence[Sequence[Any]]) -> list[Series]:
    cast: list[Any] = [int]
    for c in request.columns:
        if c.function == "count":
            cast.append(int)
        elif c.function in {"first", "last", "min", "max"}:
            part = Field.of(c.field)
            cast.append(part.cast if part.part != "value" else _number)
        else:
            cast.append(_number)
    columns = ("time", *(c.alias or c.function for c in request.columns))
    return _series(rows, list(request.measurements), request.group_by, columns, cast)


@answer.register
def _step_answer(request: StepSums, rows: Sequence[Sequence[Any]]) -> list[Series]:
    cast = [int, float if request.measure == "consumption" else int]
    columns = ("time", request.measure)
    return _series(rows, request.measurement, request.group_by, columns, cast)


@answer.register
def _tag_values_answer(request: TagValues, rows: Sequence[Sequence[Any]]) -> list[Series]:
    if not rows:
        return []
    values = tuple((request.key, str(row[0])) for row in rows)
    return [Series(request.measurement, {}, ("key", "value"), values)]
