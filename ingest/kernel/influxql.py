"""InfluxQL, the statement text of the InfluxDB 1.x engine (`store.InfluxStore`) and nothing else.

`statement` turns a read request (`ingest.kernel.reads`) into one statement; the domains ask
for requests and never see this text. Every identifier and literal goes through
`quote_ident` / `quote_literal` / `influx_time`; every time range is literal (never `now()`),
so answers are reproducible.

Step sums (`StepSums`) are computed inside InfluxDB so that only sums travel: a step belongs
to the bucket of its later reading, so to see the step into a bucket's first reading the
statement reads `max_gap` before the range. InfluxDB pushes an outer time condition down
into a subquery, so the outer query spans the same wider range and the caller drops the
buckets before `start`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from functools import singledispatch

from ingest.kernel.reads import Buckets, Match, Points, Read, StepSums, Summary, Tags, TagValues

MS = timedelta(milliseconds=1)
HOUR = timedelta(hours=1)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def quote_ident(name: str) -> str:
    """An InfluxQL identifier in double quotes, safe for any text."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def quote_literal(value: str) -> str:
    """An InfluxQL string literal in single quotes, safe for any text."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def influx_time(ts: datetime) -> str:
    """An InfluxQL time literal (RFC 3339 UTC) for an aware datetime."""
    return quote_literal(ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))


def duration(td: timedelta) -> str:
    """An InfluxQL duration literal in whole milliseconds."""
    return f"{td // MS}ms"


def tag_condition(where: Tags) -> list[str]:
    """InfluxQL conditions for a tag filter (values OR-ed, tags AND-ed)."""
    out = []
    for tag, values in where:
        if not values:
            raise ValueError(f"an empty list of {tag} values selects nothing")
        alternatives = " OR ".join(f"{quote_ident(tag)} = {quote_literal(v)}" for v in values)
        out.append(f"({alternatives})")
    return out


def _conditions(
    start: datetime | None, end: datetime | None, where: Tags, match: Sequence[Match]
) -> str:
    """` WHERE ...` for a time range, a tag filter and field conditions, or nothing."""
    out = []
    if start is not None:
        out.append(f"time >= {influx_time(start)}")
    if end is not None:
        out.append(f"time < {influx_time(end)}")
    out += tag_condition(where)
    out += [_match(m) for m in match]
    return " WHERE " + " AND ".join(out) if out else ""


def _grouping(buckets: Buckets | None, tags: Sequence[str]) -> str:
    """` GROUP BY time(...), tags fill(none)`, ` GROUP BY tags` or nothing."""
    parts = [quote_ident(t) for t in tags]
    if buckets is None:
        return " GROUP BY " + ", ".join(parts) if parts else ""
    every = buckets.every
    text = " GROUP BY " + ", ".join(
        [f"time({duration(every)}, {duration(buckets.offset % every)})", *parts]
    )
    text += " fill(none)"
    if buckets.timezone is not None:
        text += f" tz({quote_literal(buckets.timezone)})"
    return text


@singledispatch
def statement(request: Read) -> str:
    """The one InfluxQL statement answering `request`."""
    raise TypeError(f"no InfluxQL for {type(request).__name__}")


@statement.register
def _points(request: Points) -> str:
    columns = ", ".join(quote_ident(f) for f in request.fields) or "*"
    where = _conditions(request.start, request.end, request.where, request.match)
    text = f"SELECT {columns} FROM {quote_ident(request.measurement)}{where}"
    text += _grouping(None, request.group_by)
    if request.newest is not None:
        text += f" ORDER BY time DESC LIMIT {int(request.newest)}"
    return text


@statement.register
def _summary(request: Summary) -> str:
    columns = ", ".join(
        f"{c.function}({quote_ident(c.field)})"
        + (f" AS {quote_ident(c.alias)}" if c.alias is not None else "")
        for c in request.columns
    )
    sources = ", ".join(quote_ident(m) for m in request.measurements)
    where = _conditions(request.start, request.end, request.where, request.match)
    return f"SELECT {columns} FROM {sources}{where}{_grouping(request.buckets, request.group_by)}"


def _match(match: Match) -> str:
    field, operator, value = match
    literal = quote_literal(value) if isinstance(value, str) else repr(value)
    return f"{quote_ident(field)} {operator} {literal}"


@statement.register
def _step_sums(request: StepSums) -> str:
    r = request
    field, measurement = quote_ident(r.field), quote_ident(r.measurement)
    where_tags = "".join(f" AND {c}" for c in tag_condition(r.where))
    lookback = r.start - r.max_gap
    outer_group = _grouping(r.buckets, r.group_by)
    bridged = f'"gap" <= {r.max_gap // MS}'
    if r.measure == "hours":
        # The inner row of the hour holding `start` is stamped at that hour's start.
        first_hour = r.start - (r.start - EPOCH) % HOUR
        return (
            f'SELECT count("c") AS "hours" FROM (SELECT count({field}) AS "c" FROM {measurement} '
            f"WHERE {_range(r.start, r.end)}{where_tags} "
            f'GROUP BY time(1h), "plant", "meter" fill(none)) '
            f"WHERE {_range(first_hour if r.first_hour else r.start, r.end)}{outer_group}"
        )
    if r.measure == "resets":
        return (
            f'SELECT count("d") AS "resets" FROM (SELECT difference({field}) AS "d", '
            f'elapsed({field}, 1ms) AS "gap" '
            f"FROM {measurement} WHERE {_range(lookback, r.end)}{where_tags} "
            'GROUP BY "plant", "meter") '
            f'WHERE {_range(lookback, r.end)} AND "d" < 0 AND {bridged}{outer_group}'
        )
    steps = (
        f'SELECT non_negative_difference({field}) AS "step", '
        f'non_negative_derivative({field}, 1h) AS "rate", elapsed({field}, 1ms) AS "gap" '
        f"FROM {measurement} WHERE {_range(lookback, r.end)}{where_tags} "
        'GROUP BY "plant", "meter"'
    )
    if r.measure == "consumption":
        head, rate = 'sum("step") AS "consumption"', f'"rate" <= {float(r.max_per_hour)!r}'
    else:
        head, rate = 'count("step") AS "implausible_steps"', f'"rate" > {float(r.max_per_hour)!r}'
    return (
        f"SELECT {head} FROM ({steps}) "
        f"WHERE {_range(lookback, r.end)} AND {rate} AND {bridged}{outer_group}"
    )


@statement.register
def _tag_values(request: TagValues) -> str:
    return (
        f"SHOW TAG VALUES FROM {quote_ident(request.measurement)} "
        f"WITH KEY = {quote_ident(request.key)}"
    )


def _range(start: datetime, end: datetime) -> str:
    return f"time >= {influx_time(start)} AND time < {influx_time(end)}"
