"""The InfluxDB store, spoken to over the v1-compatible HTTP API (`/write`, `/query`).

InfluxDB 1.x serves it natively, 2.x through DBRP mappings and 3.x natively, so this is the
one transport plantwatch needs. Line protocol is encoded by influxdb-client's `Point`; the
HTTP calls are made with httpx. Errors are translated here, at the edge:

    httpx.TransportError / 5xx  -> StoreUnavailable (retry later)
    4xx                         -> StoreRejected    (the request itself is wrong)
"""

from __future__ import annotations

import functools
import gzip
import logging
import math
import re
import ssl
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

import httpx
from influxdb_client import Point, WritePrecision

from ingest.kernel.errors import PlantwatchError, StoreRejected, StoreUnavailable
from ingest.kernel.influxql import quote_ident, statement
from ingest.kernel.reads import Aggregate, Read, ReadShortcuts, Series, TagFilter
from ingest.kernel.schema import to_epoch_ms

if TYPE_CHECKING:
    from ingest.settings import CommonSettings

log = logging.getLogger(__name__)

GZIP_MIN_BYTES = 1024
GZIP_LEVEL = 1  # fast: line protocol compresses ~10x even at level 1


_TAG_CONTROL = re.compile("[\x00-\x1f\x7f]")


def check_tag_value(value: str) -> str:
    """Line protocol cannot carry control characters in a tag, nor a tag ending in a backslash."""
    if _TAG_CONTROL.search(value):
        raise StoreRejected(f"tag value {value!r} contains a control character")
    if value.endswith("\\"):
        raise StoreRejected(f"tag value {value!r} ends with a backslash")
    if value == "":
        raise StoreRejected("empty tag value")
    return value


# Control characters (C0, DEL, C1 and the Unicode line separators) never reach InfluxDB raw:
# a newline in a string field would end the line in any reader that frames by lines.
_CONTROL_ESCAPES = {
    code: {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"}.get(code, f"\\u{code:04x}")
    for code in (*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029)
}


def printable_text(value: str) -> str:
    """`value` with every control character written as a visible escape (`\\n`, `\\u001b`)."""
    return value.translate(_CONTROL_ESCAPES)


# Line-protocol escapes, as influxdb-client writes them (its `Point` is the oracle of
# tests/ingest/kernel/test_lineproto_oracle.py): measurement, keys (tag and field), string fields.
_MEASUREMENT_ESCAPES = str.maketrans(
    {",": "\\,", " ": "\\ ", "\n": "\\n", "\t": "\\t", "\r": "\\r"}
)
_KEY_ESCAPES = str.maketrans(
    {",": "\\,", "=": "\\=", " ": "\\ ", "\n": "\\n", "\t": "\\t", "\r": "\\r"}
)
_STRING_ESCAPES = str.maketrans({'"': '\\"', "\\": "\\\\"})


# Keys and tag values repeat on every line (a county's value names, plants and meters):
# their escaped text is kept (str.translate costs more than the rest of a field).
@functools.lru_cache(maxsize=65_536)
def _key(name: str) -> str:
    return name.translate(_KEY_ESCAPES)


@functools.lru_cache(maxsize=65_536)
def _key_equals(name: str) -> str:
    return _key(name) + "="


_finite = math.isfinite


@functools.lru_cache(maxsize=1024)
def _measurement(name: str) -> str:
    return name.translate(_MEASUREMENT_ESCAPES)


@functools.lru_cache(maxsize=65_536)
def _tag_value(value: str) -> str:
    return check_tag_value(value).translate(_KEY_ESCAPES)


def _field_text(value: object) -> str | None:
    """A field's value in line protocol, None when it is left out (None, NaN, infinity)."""
    kind = type(value)
    if kind is float:
        if not math.isfinite(value):  # type: ignore[arg-type]
            return None
        text = str(value)
        return text[:-2] if text.endswith(".0") else text
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return f"{value}i"
    if kind is str:
        return '"' + printable_text(value).translate(_STRING_ESCAPES) + '"'  # type: ignore[arg-type]
    raise TypeError(kind)  # numpy scalars and the like: the library's encoder


def encode_point(
    measurement: str,
    tags: Mapping[str, str],
    fields: Mapping[str, float | int | str | bool],
    ts: datetime | int,
) -> str:
    """One line of line protocol at millisecond precision (`ts` aware datetime or epoch ms).

    Written here rather than through influxdb-client's `Point`, whose general encoder took a
    third of the collector's CPU during `make run`'s back-fill (py-spy); the same bytes for
    every input (an oracle test against `Point`), and `Point` still encodes the rare value
    of another type (a numpy scalar)."""
    if isinstance(ts, datetime):
        ts = to_epoch_ms(ts)
    head = _head(measurement, tuple(tags.items()))
    try:
        parts = []
        for key, value in sorted(fields.items()):
            if type(value) is float and _finite(value):  # `_field_text`'s float, inline
                number = str(value)
                parts.append(_key_equals(key) + (number[:-2] if number.endswith(".0") else number))
                continue
            if value is None:
                continue
            text = _field_text(value)
            if text is not None:
                parts.append(_key_equals(key) + text)
    except TypeError:
        return _library_line(measurement, tags, fields, ts)
    if not parts:
        return ""
    return f"{head} {','.join(parts)} {ts}"


# A series' measurement and tags repeat on every one of its lines: their text is kept.
@functools.lru_cache(maxsize=65_536)
def _head(measurement: str, tags: tuple[tuple[str, str], ...]) -> str:
    tag_text = "".join(f",{_key(key)}={_tag_value(value)}" for key, value in sorted(tags) if key)
    return _measurement(measurement) + tag_text


def _library_line(
    measurement: str,
    tags: Mapping[str, str],
    fields: Mapping[str, float | int | str | bool],
    ts: int,
) -> str:
    point = Point(measurement)
    for key, value in tags.items():
        point.tag(key, check_tag_value(value))
    for key, field_value in fields.items():
        point.field(
            key, printable_text(field_value) if isinstance(field_value, str) else field_value
        )
    point.time(ts, WritePrecision.MS)
    return str(point.to_line_protocol())


class Store(Protocol):
    """The operations the read model (`api.readmodel`) needs of a time-series engine.

    Times are aware datetimes; answers are `Series` (times in epoch ms), one per group of
    `group_by` tags. `InfluxStore` is the first engine, its statement text in
    `ingest.kernel.influxql`; a second engine (ClickHouse, issue 26) implements these in its
    own module. `read` answers typed requests (`ingest.kernel.reads`), several per round trip.
    """

    url: str
    database: str

    def write_lines(self, lines: Sequence[str]) -> None:
        """Write points (line protocol; identified by measurement, tags and time)."""
        ...

    def read_range(
        self,
        measurement: str,
        fields: Sequence[str],
        start: datetime,
        end: datetime,
        where: TagFilter | None = None,
        group_by: Sequence[str] = (),
    ) -> list[Series]:
        """A series' points of `fields` in [start, end)."""
        ...

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
        """One aggregate of `field` over [start, end) (None: unbounded) per group; `last`
        is the latest value before `end`, `first` the earliest at or after `start`."""
        ...

    def read(self, requests: Sequence[Read]) -> list[list[Series]]:
        """Each request's answer (`ingest.kernel.reads`), in order; one round trip where
        the engine allows (a window's many reads cost one)."""
        ...


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """httpx's default trust, built once per process: each new client loaded the CA bundle
    again (~36 ms of CPU), and the tests build a store per test."""
    return httpx.create_ssl_context()


class InfluxStore(ReadShortcuts):
    """Batched writes and InfluxQL queries against one database (the first `Store` engine)."""

    def __init__(
        self,
        url: str,
        database: str,
        username: str | None = None,
        password: str | None = None,
        timeout_seconds: float = 10.0,
        gzip_answers: bool = False,
    ) -> None:
        self.url = url.rstrip("/")
        self.database = database
        auth = (username, password or "") if username else None
        self._http = httpx.Client(
            base_url=self.url, timeout=timeout_seconds, auth=auth, verify=_tls_context()
        )
        # httpx asks for gzip by default; InfluxDB then compresses every answer on its CPU.
        self._answer_encoding = {"Accept-Encoding": "gzip" if gzip_answers else "identity"}

    @classmethod
    def from_settings(cls, settings: CommonSettings) -> InfluxStore:
        """The store every process configures from its `PLANTWATCH_INFLUX_*` settings."""
        if settings.store != "influxdb":
            # Refused, not ignored: a county that chose ClickHouse must not write InfluxDB.
            raise PlantwatchError(
                f"PLANTWATCH_STORE={settings.store}: this process reads and writes InfluxDB "
                "only so far (the collector writes ClickHouse and `ClickHouseStore.read` answers "
                "reads of readings; the API's rollups and state are not stored there yet)"
            )
        return cls(
            settings.influx_url,
            settings.influx_db,
            settings.influx_username,
            settings.influx_password_text,
            settings.influx_timeout_seconds,
            settings.influx_gzip_answers,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> InfluxStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def ping(self) -> bool:
        try:
            return self._http.get("/ping").status_code == 204
        except httpx.HTTPError:
            return False

    def create_database(self) -> None:
        self._command(f"CREATE DATABASE {quote_ident(self.database)}")

    def write_lines(self, lines: Sequence[str]) -> None:
        """Write line-protocol lines in one request (gzip when worth it)."""
        if not lines:
            return
        body = ("\n".join(lines) + "\n").encode()
        headers = {"Content-Type": "text/plain; charset=utf-8"}
        if len(body) >= GZIP_MIN_BYTES:
            body = gzip.compress(body, compresslevel=GZIP_LEVEL)
            headers["Content-Encoding"] = "gzip"
        resp = self._request(
            "POST",
            "/write",
            params={"db": self.database, "precision": "ms"},
            content=body,
            headers=headers,
        )
        if resp.status_code != 204:
            raise self._error(resp, f"write of {len(lines)} points")

    def query(self, influxql: str, epoch: str | None = "ms") -> list[Series]:
        """Run one InfluxQL SELECT/SHOW statement; return its series."""
        results = self._query(influxql, epoch)
        if len(results) != 1:
            raise StoreRejected(f"expected one statement, got {len(results)}")
        return results[0]

    def query_many(self, influxql: str, epoch: str | None = "ms") -> list[list[Series]]:
        """Run several `;`-separated statements in one round trip."""
        return self._query(influxql, epoch)

    def read(self, requests: Sequence[Read]) -> list[list[Series]]:
        """Each request as one InfluxQL statement (`influxql.statement`), all in one query."""
        if not requests:
            return []
        return self._query(";".join(statement(r) for r in requests), "ms")

    def _query(self, influxql: str, epoch: str | None) -> list[list[Series]]:
        params = {"db": self.database, "q": influxql}
        if epoch:
            params["epoch"] = epoch
        resp = self._request("POST", "/query", data=params, headers=self._answer_encoding)
        if resp.status_code != 200:
            raise self._error(resp, "query")
        out: list[list[Series]] = []
        for result in resp.json().get("results", []):
            if "error" in result:
                raise StoreRejected(f"query failed: {result['error']} (query: {influxql[:300]})")
            out.append(
                [
                    Series(
                        s.get("name", ""),
                        s.get("tags", {}) or {},
                        tuple(s.get("columns", [])),
                        tuple(tuple(v) for v in s.get("values", [])),
                    )
                    for s in result.get("series", [])
                ]
            )
        return out

    def _command(self, influxql: str) -> None:
        resp = self._request("POST", "/query", data={"q": influxql})
        if resp.status_code != 200:
            raise self._error(resp, influxql)
        for result in resp.json().get("results", []):
            if "error" in result:
                raise StoreRejected(f"{influxql}: {result['error']}")

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._http.request(method, path, **kwargs)
        except httpx.ReadTimeout as exc:
            # Reached but slow (a back-fill's writes, a heavy query): not "unreachable".
            raise StoreUnavailable(
                f"InfluxDB at {self.url} did not answer within {self._http.timeout.read:g} s "
                "(busy); try again shortly"
            ) from exc
        except httpx.TransportError as exc:
            raise StoreUnavailable(f"InfluxDB at {self.url} unreachable: {exc}") from exc

    def _error(self, resp: httpx.Response, what: str) -> StoreUnavailable | StoreRejected:
        try:
            detail = resp.json().get("error", resp.text)
        except ValueError:
            detail = resp.text
        message = f"InfluxDB {what} answered {resp.status_code}: {detail}"
        if resp.status_code >= 500 or "database not found" in str(detail):
            # A missing database is a deployment state (created on the next attempt),
            # not something wrong with the points: retry or spool, never dead-letter.
            return StoreUnavailable(message)
        return StoreRejected(message)


def first_values(series: Iterable[Series]) -> dict[tuple[tuple[str, str], ...], dict[str, Any]]:
    """Index single-row series by their sorted tag items (for GROUP BY results)."""
    out = {}
    for s in series:
        rows = s.rows()
        if rows:
            out[tuple(sorted(s.tags.items()))] = rows[0]
    return out
