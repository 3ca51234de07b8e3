"""Table tests of the JSON readings schema (SPEC section 4)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.kernel.errors import InvalidPayload
from ingest.kernel.schema import (
    _loads,
    encode_readings,
    parse_payload,
    parse_timestamp,
    to_epoch_ms,
)

T = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-03-01T08:00:00+08:00", T),
        ("2026-03-01T00:00:00Z", T),
        ("2026-03-01T00:00:00.250Z", T.replace(microsecond=250_000)),
        (1772323200000, T),
        (1772323200123, T.replace(microsecond=123_000)),
    ],
)
def test_timestamps(raw: object, expected: datetime) -> None:
    assert parse_timestamp(raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("2026-03-01T08:00:00", "no UTC offset"),
        ("2026-03-01", "no UTC offset"),
        ("yesterday", "not an RFC 3339"),
        (1772323200, "epoch seconds are not accepted"),
        (True, "RFC 3339 text or epoch milliseconds"),
        (1.5e12, "RFC 3339 text or epoch milliseconds"),
        ("1999-12-31T23:59:59Z", "outside 2000..2099"),
    ],
)
def test_bad_timestamps(raw: object, reason: str) -> None:
    with pytest.raises(InvalidPayload, match=reason):
        parse_timestamp(raw)


def test_batch_and_bare_forms() -> None:
    batch = parse_payload(
        b'{"readings": [{"ts": "2026-03-01T08:00:00+08:00", "values": {"volume_m3": 18234.5}},'
        b'{"ts": 1772323260000, "values": {"volume_m3": 18236.1}, "flags": {"volume_m3": "M"}}]}'
    )
    assert [r.values["volume_m3"] for r in batch] == [18234.5, 18236.1]
    assert [r.flag("volume_m3") for r in batch] == ["N", "M"]
    bare = parse_payload(b'{"ts": 1772323200000, "values": {"mass_kg": 7}}')
    assert bare[0].ts == T and bare[0].values == {"mass_kg": 7.0}


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "not valid UTF-8 JSON"),
        (b"\xff\xfe", "not valid UTF-8 JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b"{}", "must have 'readings'"),
        (b'{"readings": []}', "non-empty array"),
        (b'{"readings": [1]}', r"readings\[0\]: must be an object"),
        (b'{"values": {"x": 1}}', "'ts' is missing"),
        (b'{"ts": 1772323200000}', "'values' must be a non-empty object"),
        (b'{"ts": 1772323200000, "values": {"x y": 1}}', "'x y' is not a value name"),
        (b'{"ts": 1772323200000, "values": {"_x": 1}}', "'_x' is not a value name"),
        (b'{"ts": 1772323200000, "values": {"x": 1}, "flags": {"y\\n": "N"}}', "not a value name"),
        (b'{"ts": 1772323200000, "values": {"x": 1}, "flags": []}', "'flags' must be an object"),
        (b'{"ts": 1772323200000, "values": {"x": 1}, "extra": 1}', "unknown keys"),
    ],
)
def test_refusals_say_why(payload: bytes, reason: str) -> None:
    with pytest.raises(InvalidPayload, match=reason):
        parse_payload(payload)


@pytest.mark.parametrize(
    ("values", "flags", "kept", "kept_flags", "invalid"),
    [
        ({"x": "1"}, {}, {}, {}, {"x": 'x="1" is not a number'}),
        ({"x": True}, {}, {}, {}, {"x": "x=true is not a number"}),
        ({"x": None, "y": 2}, {}, {"y": 2.0}, {}, {"x": "x=null is not a number"}),
        ({"x": [1]}, {}, {}, {}, {"x": "x=[1] is not a number"}),
        ({"x": "a" * 50}, {}, {}, {}, {"x": 'x="' + "a" * 36 + "... is not a number"}),
        ({"x": float("nan")}, {}, {}, {}, {"x": "x=nan is not finite"}),
        ({"x": float("inf")}, {}, {}, {}, {"x": "x=inf is not finite"}),
        (
            {"x": 1, "y": 2},
            {"x": "Q", "y": "M"},
            {"y": 2.0},
            {"y": "M"},
            {"x": "flag \"Q\" for 'x' is not an HJ 212 flag (NFMSDCTB)"},
        ),
        ({"x": 1}, {"x": 5}, {}, {}, {"x": "flag 5 for 'x' is not an HJ 212 flag (NFMSDCTB)"}),
        ({"x": 1}, {"y": "D"}, {"x": 1.0}, {}, {"y": "flag \"D\" for 'y', which has no value"}),
        ({"x": "?"}, {"x": "Q"}, {}, {}, {"x": 'x="?" is not a number'}),  # the first reason
    ],
)
def test_a_bad_value_is_kept_as_invalid_beside_the_others(
    values: dict, flags: dict, kept: dict, kept_flags: dict, invalid: dict
) -> None:
    payload = json.dumps({"ts": 1772323200000, "values": values, "flags": flags}).encode()
    (reading,) = parse_payload(payload)
    assert reading.ts == T
    assert (dict(reading.values), dict(reading.flags), dict(reading.invalid)) == (
        kept,
        kept_flags,
        invalid,
    )


def test_encode_parse_round_trip() -> None:
    readings = parse_payload(
        b'{"readings": [{"ts": 1772323200001, "values": {"dmf_mgm3": 12.5}, "flags": {"dmf_mgm3": "C"}}]}'
    )
    assert parse_payload(encode_readings(readings)) == readings


# --- the compiled decoder reads every payload as json does (ingest/kernel/schema.py `_loads`)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=30,
)


def _read(payload: bytes) -> tuple[str, str]:
    """A decoder's answer as comparable text: the document, or the error json words."""
    try:
        return "doc", repr(_loads(payload))
    except (ValueError, RecursionError) as exc:
        return type(exc).__name__, str(exc)


def _json_reads(payload: bytes) -> tuple[str, str]:
    try:
        return "doc", repr(json.loads(payload))
    except (ValueError, RecursionError) as exc:
        return type(exc).__name__, str(exc)


@given(json_values, st.sampled_from([None, 0, 2]))
def test_payloads_decode_as_json_decodes_them(doc: object, indent: int | None) -> None:
    payload = json.dumps(doc, indent=indent).encode()
    assert _read(payload) == _json_reads(payload)


@pytest.mark.parametrize(
    "payload",
    [
        b'{"v":123456789012345678901234567890}',  # orjson would give a float
        b'{"v":-9223372036854775809}',
        b'{"v":18446744073709551616}',
        b'{"v":NaN}',
        b'{"v":1e400}',
        b'{"v":"\\ud800"}',
        b'\xef\xbb\xbf{"v":1}',
        '{"v":1}'.encode("utf-16"),
        b'{"v":1,"v":2}',
        b'{"v":"\xff"}',
        b"[" * 990 + b"]" * 990,  # json: too deep; orjson would read it
        b"{not json",
        b"",
    ],
)
def test_what_the_compiled_decoder_reads_otherwise_is_json_s_to_read(payload: bytes) -> None:
    assert _read(payload) == _json_reads(payload)


@given(st.integers(min_value=946_684_800_000, max_value=4_102_444_800_000))
def test_epoch_milliseconds_read_exactly(ms: int) -> None:
    ts = parse_timestamp(ms)
    assert ts == datetime.fromtimestamp(ms // 1000, UTC).replace(microsecond=ms % 1000 * 1000)
    assert ts.tzinfo is UTC and to_epoch_ms(ts) == ms
