"""`python -m bench.hj212_backlog`: N loggers empty a backlog through a slow broker.

`make run` after its back-fill: Mosquitto saves its whole store after every loop pass that
changed it (durable acknowledgements) and reads one packet per connection per pass, so with
a large store the gateway's one connection gets a few packets a second. Here a broker with
`durable_acks` holds `--store-mb` of messages queued for an offline session (which also
queues everything the gateway publishes); N simulated loggers each submit M packets at once
and resend every `--resend-seconds`; the gateway (in this process, as `serve` builds it:
no in-flight cap, a sync barrier) answers after `--answer-timeout-seconds` at the latest.
Prints: seconds until every packet is answered (or the cap), answer timeouts, publishes
the broker acknowledged (data and barriers), answers, resends, answered/s, load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.hj212 import TIMEZONE, encode_2017, registry_text, stacks_of
from ingest.client import MqttClient
from ingest.gateway import protocol
from ingest.gateway.run import MAX_UNACKED_PUBLISHES, build_rules
from ingest.gateway.server import Gateway
from ingest.kernel.registry import load_registry
from ingest.kernel.topics import Topics
from ingest.settings import GatewaySettings
from scripts.devstack import mosquitto_server
from simulators.tcp_logger import TcpLoggers

FILL_MESSAGE_BYTES = 200_000


def fill_store(port: int, megabytes: int) -> None:
    """Queue `megabytes` for an offline persistent session subscribed to everything."""
    sink = MqttClient(f"sink-{uuid.uuid4().hex[:6]}", "127.0.0.1", port, clean_session=False,
                      subscriptions=[("#", 1)])  # fmt: skip
    sink.start()
    assert sink.wait_subscribed(10)
    sink.stop()
    filler = MqttClient(f"fill-{uuid.uuid4().hex[:6]}", "127.0.0.1", port)
    filler.start()
    count = megabytes * 1_000_000 // FILL_MESSAGE_BYTES
    for i in range(count):
        filler.publish(f"fill/{i}", b"x" * FILL_MESSAGE_BYTES)
    assert filler.wait_published(count, 300)
    filler.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--loggers", type=int, default=18)
    parser.add_argument("--packets", type=int, default=50, help="backlog per logger")
    parser.add_argument("--store-mb", type=int, default=20)
    parser.add_argument("--resend-seconds", type=float, default=10.0)
    parser.add_argument("--answer-timeout-seconds", type=float, default=30.0)
    parser.add_argument("--cap-seconds", type=float, default=300.0)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="hj212-backlog-"))
    broker = mosquitto_server(work / "mosquitto", durable_acks=True).start()
    try:
        fill_store(broker.port, args.store_mb)
        reg = work / "r.toml"
        reg.write_text(registry_text(args.loggers), encoding="utf-8")
        settings = GatewaySettings(registry=reg, hj212_port=0, mqtt_port=broker.port,
                                   hj212_answer_timeout_seconds=args.answer_timeout_seconds)  # fmt: skip
        mqtt = MqttClient(settings.hj212_gateway_id, "127.0.0.1", broker.port, max_inflight=0,
                          max_queued=MAX_UNACKED_PUBLISHES,
                          sync_topic=Topics(settings.topic_root).sync(settings.hj212_gateway_id))  # fmt: skip
        gateway = Gateway(settings, build_rules(settings, load_registry(reg)), mqtt)
        result: dict[str, object] = {"load_before": os.getloadavg()[0]}

        async def run() -> None:
            port = await gateway.start()
            loggers = TcpLoggers("127.0.0.1", port, stacks_of(args.loggers, ("2017",)),
                                 resend_seconds=args.resend_seconds).start()  # fmt: skip
            try:
                while not all(one.connected.is_set() for one in loggers.loggers.values()):
                    await asyncio.sleep(0.05)
                t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=6)
                began = time.monotonic()
                for i in range(args.packets):
                    for n in range(args.loggers):
                        data_time = protocol.local_text(t0 + timedelta(minutes=i), TIMEZONE)
                        raw = encode_2017(n, "1", data_time, f"{i % 50 + 1}.0")
                        loggers.publish("", "x/hj212", raw)
                total = args.packets * args.loggers
                while loggers.latencies.answered < total:
                    if time.monotonic() - began > args.cap_seconds:
                        break
                    await asyncio.sleep(0.1)
                took = time.monotonic() - began
                result.update(
                    packets=total, answered=loggers.latencies.answered,
                    seconds=round(took, 1), answered_per_s=round(loggers.latencies.answered / took, 1),
                    resent=loggers.latencies.resent, broker_pubacks=mqtt.published_count,
                    **{k: gateway.tally.get(k) for k in ("published", "answers", "answer_timeouts", "resends_joined", "deferred")},
                    pending_at_end=gateway.pending,
                )  # fmt: skip
            finally:
                loggers.stop()
                await gateway.stop()

        mqtt.start()
        try:
            asyncio.run(run())
        finally:
            mqtt.stop()
        result["load_after"] = os.getloadavg()[0]
        print(json.dumps(result))
    finally:
        broker.stop()


if __name__ == "__main__":
    main()
