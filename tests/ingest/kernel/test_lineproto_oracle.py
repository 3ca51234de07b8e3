"""The project's line-protocol encoder writes what influxdb-client's `Point` writes, byte for
byte, for any measurement, tags, fields and time (hypothesis against the library as oracle)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from influxdb_client import Point, WritePrecision

from ingest.kernel.store import StoreRejected, encode_point, printable_text

TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
NAMES = st.text(
    alphabet=st.sampled_from([*list('abz_ ,="\\\n\t\r松阳#'), "\x01"]), min_size=1, max_size=8
)
VALUES = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.booleans(),
    TEXT,
    st.none(),
)


def oracle(measurement: str, tags: dict[str, str], fields: dict[str, object], ts: int) -> str:
    point = Point(measurement)
    for key, value in tags.items():
        point.tag(key, value)
    for key, field in fields.items():
        point.field(key, printable_text(field) if isinstance(field, str) else field)
    point.time(ts, WritePrecision.MS)
    return str(point.to_line_protocol())


@pytest.mark.filterwarnings("ignore::SyntaxWarning")  # the library warns of "#" measurements
@settings(max_examples=400, deadline=None)
@given(
    measurement=NAMES,
    tags=st.dictionaries(NAMES, NAMES, max_size=3),
    fields=st.dictionaries(NAMES, VALUES, max_size=4),
    ts=st.integers(min_value=0, max_value=4_102_444_800_000),
)
def test_the_same_line_as_the_library(
    measurement: str, tags: dict[str, str], fields: dict[str, object], ts: int
) -> None:
    try:
        ours = encode_point(measurement, tags, fields, ts)  # type: ignore[arg-type]
    except StoreRejected:
        # a tag value the store refuses (control character, trailing backslash): the same
        # check runs before the library is asked
        return
    assert ours == oracle(measurement, tags, fields, ts)


@pytest.mark.parametrize(
    ("fields", "line"),
    [
        ({"v": 1.0}, "m,p=a v=1 5"),
        ({"v": 2.5, "n": 3}, "m,p=a n=3i,v=2.5 5"),
        ({"v": math.nan, "w": True}, "m,p=a w=true 5"),
        # a newline is written visibly (printable_text), its backslash then escaped
        ({"s": 'say "hi"\n'}, 'm,p=a s="say \\"hi\\"\\\\n" 5'),
        ({"v": np.float32(0.1)}, "m,p=a v=0.1 5"),  # numpy scalars: the library encodes them
        ({"v": None}, ""),
    ],
)
def test_literal_lines(fields: dict[str, object], line: str) -> None:
    assert encode_point("m", {"p": "a"}, fields, 5) == line  # type: ignore[arg-type]
