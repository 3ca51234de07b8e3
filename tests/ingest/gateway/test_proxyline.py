"""The PROXY v1 header a balancer sends first (HAProxy proxy-protocol.txt 2.1), read strictly."""

from __future__ import annotations

import pytest

from ingest.gateway.proxyline import MAX_LINE_BYTES, ProxyHeaderError, Source, parse_header


@pytest.mark.parametrize(
    ("line", "source"),
    [
        (b"PROXY TCP4 203.0.113.7 10.0.0.5 40312 9212\r\n", Source("203.0.113.7", 40312)),
        (b"PROXY TCP4 127.0.0.2 127.0.0.1 1 65535\r\n", Source("127.0.0.2", 1)),
        (b"PROXY TCP6 2001:db8::7 2001:db8::1 40312 9212\r\n", Source("2001:db8::7", 40312)),
        (b"PROXY UNKNOWN\r\n", None),
        (b"PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n", None),
        # the longest header the specification allows
        (
            b"PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
            b" ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n",
            Source("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535),
        ),
    ],
)
def test_a_header_names_the_client(line: bytes, source: Source | None) -> None:
    assert len(line) <= MAX_LINE_BYTES
    assert parse_header(line) == source


@pytest.mark.parametrize(
    ("line", "why"),
    [
        (b"##0101QN=20260101000000000;ST=22\r\n", "does not start with 'PROXY '"),
        (b"PROXY TCP4 203.0.113.7 10.0.0.5 40312 9212\n", "does not end with CRLF"),
        (b"PROXY TCP4 203.0.113.7 10.0.0.5 40312\r\n", "has 5 fields, not 6"),
        (b"PROXY TCP4 203.0.113.7  10.0.0.5 40312 9212\r\n", "has 7 fields"),
        (b"PROXY UDP4 203.0.113.7 10.0.0.5 40312 9212\r\n", "'UDP4' is not TCP4"),
        (b"PROXY TCP4 2001:db8::7 10.0.0.5 40312 9212\r\n", "is not a TCP4 address"),
        (b"PROXY TCP6 203.0.113.7 2001:db8::1 40312 9212\r\n", "is not a TCP6 address"),
        (b"PROXY TCP4 203.0.113.256 10.0.0.5 40312 9212\r\n", "is not an address"),
        (b"PROXY TCP4 203.0.113.07 10.0.0.5 40312 9212\r\n", "is not an address"),
        (b"PROXY TCP4 203.0.113.7 10.0.0.5 65536 9212\r\n", "port '65536' is not a port"),
        (b"PROXY TCP4 203.0.113.7 10.0.0.5 040312 9212\r\n", "is not a port"),
        (b"PROXY TCP4 203.0.113.7 10.0.0.5 -1 9212\r\n", "is not a port"),
        (b"PROXY TCP4 203.0.113.7 10.0.0.5 40312 \xff\r\n", "is not ASCII"),
        (b"PROXY TCP4 " + b"1" * 100 + b"\r\n", "longer than 107 bytes"),
    ],
)
def test_anything_else_is_refused_with_its_reason(line: bytes, why: str) -> None:
    with pytest.raises(ProxyHeaderError, match=why.replace("(", r"\(")):
        parse_header(line)
