"""The PROXY protocol's v1 header, as a TCP balancer (HAProxy `send-proxy`) sends it. Pure.

Behind a balancer every logger's connection comes from the balancer's address. The
gateway's limits and locks are per address (`hj212_max_connections_per_address`, the
address lock of `lockout.py`): without the logger's own address, 200 loggers would fill
one address's quota and one guesser would lock out everyone behind the balancer. The
balancer therefore opens each connection with one line naming the client:

    PROXY TCP4 203.0.113.7 10.0.0.5 40312 9212\\r\\n

(HAProxy's proxy-protocol.txt, section 2.1: at most 107 bytes with the CRLF; `PROXY
UNKNOWN` when the balancer does not know, e.g. its own health checks). The gateway reads it
only from the addresses it is told are balancers (`hj212_proxy_from`): from anyone else the
line is not believed, so a logger cannot claim another's address.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from ingest.kernel.errors import PlantwatchError

MAX_LINE_BYTES = 107  # the specification's bound, CRLF included
SIGNATURE = b"PROXY "


class ProxyHeaderError(PlantwatchError):
    """The first line of a balancer's connection is not a PROXY v1 header."""


@dataclass(frozen=True, slots=True)
class Source:
    """The client behind the balancer (None: `PROXY UNKNOWN`, the connection's own peer)."""

    address: str
    port: int


def parse_header(line: bytes) -> Source | None:
    """The client a v1 header names; `line` is the header up to and including its CRLF."""
    if len(line) > MAX_LINE_BYTES:
        raise ProxyHeaderError(f"PROXY header longer than {MAX_LINE_BYTES} bytes")
    if not line.startswith(SIGNATURE):
        raise ProxyHeaderError("the balancer's connection does not start with 'PROXY '")
    if not line.endswith(b"\r\n"):
        raise ProxyHeaderError("PROXY header does not end with CRLF")
    try:
        text = line[:-2].decode("ascii")
    except UnicodeDecodeError:
        raise ProxyHeaderError("PROXY header is not ASCII") from None
    parts = text.split(" ")
    if len(parts) >= 2 and parts[1] == "UNKNOWN":
        return None
    if len(parts) != 6:
        raise ProxyHeaderError(f"PROXY header has {len(parts)} fields, not 6")
    _, family, source, destination, source_port, destination_port = parts
    version = {"TCP4": 4, "TCP6": 6}.get(family)
    if version is None:
        raise ProxyHeaderError(f"PROXY protocol family {family!r} is not TCP4, TCP6 or UNKNOWN")
    for what, value in (("source", source), ("destination", destination)):
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            raise ProxyHeaderError(f"PROXY {what} address {value!r} is not an address") from None
        if address.version != version or str(address) != value:
            raise ProxyHeaderError(f"PROXY {what} address {value!r} is not a {family} address")
    ports = []
    for what, value in (("source", source_port), ("destination", destination_port)):
        if not value.isdigit() or (len(value) > 1 and value[0] == "0") or int(value) > 65535:
            raise ProxyHeaderError(f"PROXY {what} port {value!r} is not a port")
        ports.append(int(value))
    return Source(source, ports[0])
