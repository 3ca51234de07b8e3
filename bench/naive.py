"""(c) NAIVE BASELINE collector, for comparison only: paho + one HTTP /write per message.

This is what a first attempt looks like: subscribe at QoS 1, and in the message callback
turn the JSON into line protocol and POST it to InfluxDB before returning (paho then
acknowledges). No validation, no batching, no dead letters. Run as its own process:
`python -m bench.naive --port P --influx-url U --db D`.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from bench.landed import figures, watch
from bench.publishers import PublisherFiles, start_publishers
from bench.stack import Stack, progress, stop_process
from bench.workload import READINGS_FILTER, fuel_line
from ingest.kernel.store import InfluxStore

CLIENT_ID = "bench-naive"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.naive", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--influx-url", required=True)
    parser.add_argument("--db", required=True)
    args = parser.parse_args(argv)
    http = httpx.Client(base_url=args.influx_url, timeout=30.0)
    http.post("/query", data={"q": f'CREATE DATABASE "{args.db}"'})

    def on_message(client: Any, userdata: Any, msg: paho.MQTTMessage) -> None:
        parts = msg.topic.split("/")
        doc = json.loads(msg.payload)
        lines = [
            fuel_line("gas", parts[2], parts[4], r["values"]["volume_m3"], r["ts"])
            for r in doc["readings"]
        ]
        http.post("/write", params={"db": args.db, "precision": "ms"}, content="\n".join(lines))

    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=CLIENT_ID)
    client.on_connect = lambda c, *_: c.subscribe(READINGS_FILTER, qos=1)
    client.on_message = on_message
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    client.connect("127.0.0.1", args.port)
    client.loop_start()
    stop.wait()
    client.disconnect()
    client.loop_stop()
    return 0


def run(stack: Stack, prepared: PublisherFiles, max_seconds: float) -> dict[str, Any]:
    """Readings/s the naive collector lands in InfluxDB from the fast publishers."""
    progress(f"naive baseline: {prepared.total:,} messages")
    database = "bench_naive"
    proc = stack.spawn(
        [
            "-m",
            "bench.naive",
            "--port",
            str(stack.mqtt_port),
            "--influx-url",
            stack.influx_url,
            "--db",
            database,
        ],
        stack.env(database, Path("/dev/null")),
        "naive",
    )
    try:
        if not stack.wait_subscribed([CLIENT_ID]):
            return {"error": "naive collector did not subscribe: " + stack.log_tail("naive")}
        with InfluxStore(stack.influx_url, database) as store:
            pubs = start_publishers(stack.mqtt_port, prepared)
            samples, _ = watch(
                store, prepared.total, max_seconds, "naive", lambda: proc.poll() is None
            )
            pubs.finish()
    finally:
        stop_process(proc)
    result = figures(samples, prepared.total)
    result["publish_seconds"] = round(pubs.seconds, 2) if pubs.seconds else None
    progress(f"naive baseline: {result['sustained_per_s'] or 0:,} readings/s")
    return {"what": "NAIVE: paho, one HTTP /write per message, ack after the write", **result}


if __name__ == "__main__":
    sys.exit(main())
