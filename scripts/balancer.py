"""HAProxy in front of `make cluster`'s services: the HJ 212 gateways and the API processes.

- HJ 212 (TCP): by source address, so a logger (its resends, its commands, its lockout)
  stays on one gateway while that gateway is up; each connection opens with a PROXY v1
  header (`send-proxy`), so the gateway's per-address limits and locks see the logger's
  address, not the balancer's (`hj212_proxy_from`, ingest/gateway/proxyline.py). A gateway
  is checked on its metrics port; when it dies its loggers reconnect to the other one and
  resend what was not answered (no answer means not yet held by the broker).
- API (HTTP): round robin over the API processes, checked on `/healthz`; a request that
  could not reach a process, or a GET whose process died before answering, is tried on the
  other (`option redispatch`, `retries`, `retry-on`); a POST is never sent twice. Streams
  (`/api/v1/alerts/stream`) are tunnels and may stay open for an hour.
- ClickHouse (HTTP, `make cluster` on ClickHouse): round robin over the replicas of the
  shard, checked on `/ping`; every process has this one URL. A replica that refuses the
  connection is skipped (`retries`, `option redispatch`); a statement in flight on a replica
  that dies is answered 502 and never resent by the balancer (the writer spools it and
  replays it through its first-write check; a read is asked again by its caller).

Debian's `haproxy` package (2.6); NATS's MQTT balancer is in scripts/natsstack.py.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from scripts.devstack import Server, StackError

CHECK = "inter 500ms fall 2 rise 2"
# An API process busy with a back-fill's queries answers /healthz in seconds, not in 500 ms:
# checked less often, given longer (`timeout check`), and three misses before it is out.
API_CHECK = "inter 2s fall 3 rise 2"


def haproxy_binary() -> str:
    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
    if not Path(haproxy).exists():
        raise StackError("haproxy not found: install Debian's 'haproxy' package (make deps)")
    return haproxy


@dataclass(frozen=True, slots=True)
class Backend:
    """One process behind the balancer: where it listens and where it is checked."""

    port: int
    check_port: int


def services_config(
    host: str,
    hj212_port: int,
    gateways: list[Backend],
    api_port: int | None = None,
    apis: list[Backend] | None = None,
    clickhouse: tuple[int, list[Backend]] | None = None,
) -> str:
    """The balancer's configuration: HJ 212 on `host:hj212_port`, the API (if any) on
    `api_port`, ClickHouse's replicas (if any: front port, replicas) on 127.0.0.1."""
    gateway_lines = "\n".join(
        f"  server g{i} 127.0.0.1:{g.port} send-proxy check port {g.check_port} {CHECK}"
        for i, g in enumerate(gateways, 1)
    )
    api_lines = "\n".join(
        f"  server a{i} 127.0.0.1:{a.port} check port {a.check_port} {API_CHECK}"
        for i, a in enumerate(apis or [], 1)
    )
    api = f"""frontend api
  mode http
  bind 127.0.0.1:{api_port}
  option forwardfor
  default_backend apis
backend apis
  mode http
  balance roundrobin
  # a process killed with a request on it: the GET goes to the other (a push is not resent)
  retry-on conn-failure empty-response response-timeout
  http-request disable-l7-retry unless METH_GET
  option httpchk
  http-check send meth GET uri /healthz
{api_lines}
"""
    return f"""global
  maxconn 8000
defaults
  timeout connect 2s
  # loggers send at least every 10 minutes (the gateway's idle timeout), pages poll
  timeout client 11m
  timeout server 11m
  timeout tunnel 1h
  retries 3
  option redispatch
  timeout check 5s
frontend hj212
  mode tcp
  bind {host}:{hj212_port}
  default_backend gateways
backend gateways
  mode tcp
  balance source
  hash-type consistent
  option httpchk
  http-check send meth GET uri /metrics
{gateway_lines}
{api if apis else ""}{clickhouse_config(*clickhouse) if clickhouse else ""}"""


def clickhouse_config(port: int, replicas: list[Backend]) -> str:
    """The ClickHouse frontend: HTTP round robin over the replicas, checked on `/ping`."""
    lines = "\n".join(
        f"  server c{i} 127.0.0.1:{r.port} check port {r.check_port} {CHECK}"
        for i, r in enumerate(replicas, 1)
    )
    return f"""frontend clickhouse
  mode http
  bind 127.0.0.1:{port}
  default_backend replicas
backend replicas
  mode http
  balance roundrobin
  option httpchk
  http-check send meth GET uri /ping
{lines}
"""


def services_balancer(
    folder: Path,
    host: str,
    hj212_port: int,
    gateways: list[Backend],
    api_port: int | None = None,
    apis: list[Backend] | None = None,
    clickhouse: tuple[int, list[Backend]] | None = None,
) -> Server:
    """The balancer as a server of scripts/devstack.py (not started yet; ready when its
    HJ 212 port is open)."""
    folder.mkdir(parents=True, exist_ok=True)
    cfg = folder / "haproxy.cfg"
    cfg.write_text(services_config(host, hj212_port, gateways, api_port, apis, clickhouse))
    return Server(
        name="haproxy-services",
        argv=[haproxy_binary(), "-db", "-f", str(cfg)],
        port=hj212_port,
        log_path=folder / "haproxy.log",
    )
