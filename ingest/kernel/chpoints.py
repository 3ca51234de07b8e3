"""ClickHouse SQL over every point that is not a reading: rollups, read-model state, KPI
snapshots, dead letters, events, the collector's stats.

`chsql` answers requests over readings (rows of the first write); this module answers them
over the `point_fields` table (`clickhouse.POINT_FIELDS`), where every other point (the read
model's `fuel_hourly`, `fuel_daily`, `voc_hourly`, `readmodel_state`, `rollup_passes`,
`kpi_gas_share`, `kpi_firm_status`; the collector's `dead_letter`, events and
`ingest_stats`) is stored one row per field:

    measurement, series (its tags, canonical), tag_keys, tag_values, ts_ms, field,
    kind (0 float, 1 integer, 2 string, 3 boolean), number, text, written

A point is identified as in InfluxDB by measurement, tags and time, and a later write of a
field of the same point replaces the earlier one (a re-roll overwrites): every read takes
`argMax(…, written)` per (series, time, field), and the table is a `ReplacingMergeTree`
over that key so merges drop what no read can see. A tag is read as
`tag_values[indexOf(tag_keys, tag)]` ('' where the point has none, as InfluxDB groups it);
only ClickHouse 18.16's SQL (no JSON functions, no window functions).

It also answers `Points` over `rollup_dirty` (`clickhouse.MARKS`, the collector's marks,
one row per mark, its stamp `written_ms` its time): `ingest.kernel.dirty.dirty_runs`.

Requests these tables cannot answer as InfluxDB would (every field of a point, step sums)
are refused with the reason, never answered empty.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ingest.kernel.chsql import _series, bucket, literal, ms
from ingest.kernel.errors import StoreRejected
from ingest.kernel.reads import Column, Match, Points, Read, Series, Summary, Tags, TagValues

FLOAT, INTEGER, STRING, BOOLEAN = 0, 1, 2, 3
SELECTORS = frozenset({"first", "last", "min", "max"})
MARK_TAGS = ("measurement", "meter", "plant")
MARK_FIELDS = ("first_hour_ms", "end_hour_ms", "points")


def kind_of(value: object) -> int:
    """The stored kind of a field value (bool before int: a bool is an int in Python)."""
    if isinstance(value, bool):
        return BOOLEAN
    if isinstance(value, int):
        return INTEGER
    if isinstance(value, float):
        return FLOAT
    return STRING


def value_of(kind: Any, number: Any, text: Any) -> Any:
    """A field's value as InfluxDB's JSON gives it, from its stored kind, number and text."""
    kind = int(kind)
    if kind == STRING:
        return str(text)
    if kind == BOOLEAN:
        return bool(float(number))
    if kind == INTEGER:
        return int(float(number))
    return float(number)


def _tag(name: str, keys: str = "tag_keys", values: str = "tag_values") -> str:
    return f"{values}[indexOf({keys}, {literal(name)})]"


def _tag_conditions(where: Tags) -> list[str]:
    out = []
    for tag, values in where:
        if not values:
            raise ValueError(f"an empty list of {tag} values selects nothing")
        out.append(f"{_tag(tag)} IN ({', '.join(literal(v) for v in values)})")
    return out


def _pivot(
    table: str,
    measurements: Sequence[str],
    fields: Sequence[str],
    start: Any,
    end: Any,
    where: Tags,
    group_by: Sequence[str],
) -> str:
    """One row per point: measurement, group tags g0.., ts_ms, and per field i whether the
    point has it (p<i>), its kind (k<i>), number (n<i>) and text (s<i>)."""
    conditions = [
        f"measurement IN ({', '.join(literal(m) for m in measurements)})",
        f"field IN ({', '.join(literal(f) for f in sorted(set(fields)))})",
    ]
    if start is not None:
        conditions.append(f"ts_ms >= {ms(start)}")
    if end is not None:
        conditions.append(f"ts_ms < {ms(end)}")
    conditions += _tag_conditions(where)
    latest = (
        "SELECT measurement, series, ts_ms, field, any(tag_keys) AS tk, any(tag_values) AS tv, "
        "argMax(kind, written) AS k, argMax(number, written) AS n, argMax(text, written) AS s "
        f"FROM {table} WHERE {' AND '.join(conditions)} "
        "GROUP BY measurement, series, ts_ms, field"
    )
    columns = []
    for i, name in enumerate(fields):
        held = f"field = {literal(name)}"
        columns.append(
            f"countIf({held}) > 0 AS p{i}, anyIf(k, {held}) AS k{i}, "
            f"anyIf(n, {held}) AS n{i}, anyIf(s, {held}) AS s{i}"
        )
    groups = "".join(f"{_tag(t, 'ptk', 'ptv')} AS g{i}, " for i, t in enumerate(group_by))
    return (
        f"SELECT measurement, any(tk) AS ptk, any(tv) AS ptv, {groups}ts_ms, "
        f"{', '.join(columns)} FROM ({latest}) GROUP BY measurement, series, ts_ms"
    )


def _match(match: Sequence[Match], index: dict[str, int]) -> list[str]:
    out = []
    for key, operator, value in match:
        i = index[key]
        column = f"s{i}" if isinstance(value, str) else f"n{i}"
        out.append(f"(p{i} AND {column} {operator} {literal(value)})")
    return out


def _index(keys: Sequence[str]) -> tuple[list[str], dict[str, int]]:
    wanted: list[str] = []
    index: dict[str, int] = {}
    for key in keys:
        if key not in index:
            index[key] = len(wanted)
            wanted.append(key)
    return wanted, index


# ---- statements -----------------------------------------------------------------------------


def statement(request: Read, table: str, marks: bool = False) -> str:
    """The one SQL statement answering `request` over the `point_fields` `table` (or, `marks`, the
    `rollup_dirty` table)."""
    if marks:
        return _marks(request, table)
    if isinstance(request, Points):
        return _points(request, table)
    if isinstance(request, Summary):
        return _summary(request, table)
    if isinstance(request, TagValues):
        return (
            f"SELECT DISTINCT {_tag(request.key)} AS v FROM {table} "
            f"WHERE measurement = {literal(request.measurement)} "
            f"AND has(tag_keys, {literal(request.key)}) ORDER BY v"
        )
    raise StoreRejected(
        f"{type(request).__name__} of {getattr(request, 'measurement', '?')!r} is not answered "
        "by ClickHouse (step sums are of readings)"
    )


def _points(request: Points, table: str) -> str:
    if not request.fields:
        raise StoreRejected(
            f"every field of {request.measurement!r} is not answered by ClickHouse: name them"
        )
    wanted, index = _index([*request.fields, *(m[0] for m in request.match)])
    rows = _pivot(
        table, (request.measurement,), wanted, request.start, request.end, request.where,
        request.group_by,
    )  # fmt: skip
    present = " OR ".join(f"p{i}" for i in range(len(request.fields)))
    conditions = [f"({present})", *_match(request.match, index)]
    columns = ", ".join(f"p{i}, k{i}, n{i}, s{i}" for i in range(len(request.fields)))
    groups = [f"g{i}" for i in range(len(request.group_by))]
    order = f" ORDER BY {''.join(g + ', ' for g in groups)}ts_ms"
    if request.newest is not None:
        order += f" DESC LIMIT {int(request.newest)}"
        order += f" BY {', '.join(groups)}" if groups else ""
    return (
        f"SELECT {''.join(g + ', ' for g in groups)}ts_ms, {columns} FROM ({rows}) "
        f"WHERE {' AND '.join(conditions)}{order}"
    )


def _aggregate(column: Column, i: int) -> str:
    """The aggregate's number, the field's kind and (selectors of text) its text."""
    n, p, f = f"n{i}", f"p{i}", column.function
    text = "''"
    if f == "sum":
        number = f"sumIf({n}, {p})"
    elif f == "mean":
        number = f"avgIf({n}, {p})"
    elif f == "count":
        number = f"countIf({p})"
    elif f == "spread":
        number = f"maxIf({n}, {p}) - minIf({n}, {p})"
    elif f == "min":
        number = f"minIf({n}, {p})"
    elif f == "max":
        number = f"maxIf({n}, {p})"
    elif f == "first":  # ties of several series: the greater value, as InfluxDB's reducers
        number = f"argMinIf({n}, (ts_ms, -{n}), {p})"
        text = f"argMinIf(s{i}, (ts_ms, -{n}), {p})"
    else:
        number = f"argMaxIf({n}, (ts_ms, {n}), {p})"
        text = f"argMaxIf(s{i}, (ts_ms, {n}), {p})"
    # No value in the group: NULL, as InfluxDB answers a sum of nothing (not 0).
    return f"if(countIf({p}) > 0, {number}, NULL), anyIf(k{i}, {p}), {text}"


def _selected_time(column: Column, i: int) -> str:
    """The time of the row a lone selector picks (ties: the earliest, as InfluxDB)."""
    n, p, f = f"n{i}", f"p{i}", column.function
    if f == "first":
        return f"minIf(ts_ms, {p})"
    if f == "last":
        return f"maxIf(ts_ms, {p})"
    if f == "max":
        return f"argMaxIf(ts_ms, ({n}, -ts_ms), {p})"
    return f"argMinIf(ts_ms, ({n}, ts_ms), {p})"


def _summary(request: Summary, table: str) -> str:
    wanted, index = _index([*(c.field for c in request.columns), *(m[0] for m in request.match)])
    rows = _pivot(
        table, request.measurements, wanted, request.start, request.end, request.where,
        request.group_by,
    )  # fmt: skip
    fields = [index[c.field] for c in request.columns]
    aggregates = [_aggregate(c, i) for c, i in zip(request.columns, fields, strict=True)]
    lone = (
        request.buckets is None
        and len(request.columns) == 1
        and request.columns[0].function in SELECTORS
    )
    if request.buckets is not None:
        time = bucket(request.buckets, "ts_ms")
    elif lone:
        time = _selected_time(request.columns[0], fields[0])
    else:
        time = str(ms(request.start)) if request.start is not None else "0"
    keys = ["measurement", *(f"g{i}" for i in range(len(request.group_by)))]
    if request.buckets is not None:
        keys.append("t")
    where = " AND ".join(_match(request.match, index)) or "1"
    present = " OR ".join(f"countIf(p{i}) > 0" for i in fields)
    return (
        f"SELECT {', '.join(keys[: 1 + len(request.group_by)])}, {time} AS t, "
        f"{', '.join(aggregates)} FROM ({rows}) WHERE {where} "
        f"GROUP BY {', '.join(keys)} HAVING {present} ORDER BY {', '.join(keys)}"
    )


def _marks(request: Read, table: str) -> str:
    """`rollup_dirty` marks as InfluxDB holds them: tags measurement, plant, meter; fields
    `first_hour_ms`, `end_hour_ms`, `points`; time the mark's stamp."""
    if not isinstance(request, Points) or not request.fields or request.match:
        raise StoreRejected("rollup_dirty is read on ClickHouse only as named fields' points")
    for name in [*request.fields, *request.group_by, *(t for t, _ in request.where)]:
        if name not in MARK_FIELDS and name not in MARK_TAGS:
            raise StoreRejected(f"rollup_dirty has no {name!r} on ClickHouse")
    conditions = [
        f"{tag} IN ({', '.join(literal(v) for v in values)})" for tag, values in request.where
    ]
    if request.start is not None:
        conditions.append(f"written_ms >= {ms(request.start)}")
    if request.end is not None:
        conditions.append(f"written_ms < {ms(request.end)}")
    groups = list(request.group_by)
    # A mark written twice (a retried insert) is one point, as InfluxDB keeps it.
    columns = ", ".join(f"any({f})" for f in request.fields)
    keys = ", ".join([*groups, "written_ms"])
    order = f" ORDER BY {keys}"
    if request.newest is not None:
        order = f" ORDER BY {''.join(g + ', ' for g in groups)}written_ms DESC "
        order += f"LIMIT {int(request.newest)}" + (f" BY {', '.join(groups)}" if groups else "")
    return (
        f"SELECT {keys}, {columns} FROM {table} WHERE {' AND '.join(conditions) or '1'} "
        f"GROUP BY measurement, plant, meter, written_ms{order}"
    )


# ---- answers --------------------------------------------------------------------------------


def answer(request: Read, rows: Sequence[Sequence[Any]], marks: bool = False) -> list[Series]:
    """The `Series` InfluxDB gives for `request`, from the rows of `statement(request)`."""
    if marks:
        assert isinstance(request, Points)
        cast = [int, *(int for _ in request.fields)]
        columns = ("time", *request.fields)
        return _series(
            rows, request.measurement, request.group_by, columns, cast,
            descending=request.newest is not None,
        )  # fmt: skip
    if isinstance(request, TagValues):
        if not rows:
            return []
        values = tuple((request.key, str(row[0])) for row in rows)
        return [Series(request.measurement, {}, ("key", "value"), values)]
    if isinstance(request, Points):
        return _points_answer(request, rows)
    assert isinstance(request, Summary)
    return _summary_answer(request, rows)


def _same(raw: Any) -> Any:
    return raw


def _points_answer(request: Points, rows: Sequence[Sequence[Any]]) -> list[Series]:
    group = len(request.group_by)
    flat = []
    for row in rows:
        values = row[group + 1 :]
        point = [
            value_of(values[j + 1], values[j + 2], values[j + 3]) if int(values[j]) else None
            for j in range(0, len(values), 4)
        ]
        flat.append([*row[: group + 1], *point])
    cast = [int, *(_same for _ in request.fields)]
    return _series(
        flat, request.measurement, request.group_by, ("time", *request.fields), cast,
        descending=request.newest is not None,
    )  # fmt: skip


def _summary_answer(request: Summary, rows: Sequence[Sequence[Any]]) -> list[Series]:
    group = len(request.group_by)
    flat = []
    for row in rows:
        out = list(row[: 2 + group])
        values = row[2 + group :]
        for j, column in enumerate(request.columns):
            number, kind, text = values[3 * j : 3 * j + 3]
            out.append(_aggregated(column, number, kind, text))
        flat.append(out)
    cast = [int, *(_same for _ in request.columns)]
    columns = ("time", *(c.alias or c.function for c in request.columns))
    return _series(flat, list(request.measurements), request.group_by, columns, cast)


def _aggregated(column: Column, number: Any, kind: Any, text: Any) -> Any:
    """An aggregate as InfluxDB answers it: counts are integers (NULL for none), means
    floats, others in the field's own kind (a sum of integers is an integer)."""
    if number is None:
        return None
    if column.function == "count":
        return int(number) if int(number) > 0 else None
    if column.function == "mean":
        return float(number)
    if column.function in {"first", "last"} and int(kind) == STRING:
        return str(text)
    if int(kind) == INTEGER:
        return int(float(number))
    if int(kind) == BOOLEAN and column.function in SELECTORS:
        return bool(float(number))
    return float(number)
