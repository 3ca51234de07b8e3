"""(a) The broker's ceiling: the fast publishers into Mosquitto, out to a C subscriber."""

from __future__ import annotations

import subprocess
import time
from typing import Any

from bench.publishers import PublisherFiles, start_publishers
from bench.stack import Stack, progress
from bench.workload import READINGS_FILTER

SUBSCRIBER_ID = "bench-ceiling-sub"


def run(stack: Stack, prepared: PublisherFiles, timeout_seconds: float) -> dict[str, Any]:
    """Messages/s from publish start until `mosquitto_sub -q 1` has received them all."""
    progress(f"broker ceiling: {prepared.total} messages, {len(prepared.files)} publishers")
    sub = subprocess.Popen(
        [
            "mosquitto_sub",
            "-p",
            str(stack.mqtt_port),
            "-q",
            "1",
            "-i",
            SUBSCRIBER_ID,
            "-C",
            str(prepared.total),
            "-t",
            READINGS_FILTER,
        ],
        stdout=subprocess.DEVNULL,
    )
    if not stack.wait_subscribed([SUBSCRIBER_ID]):
        sub.kill()
        return {"error": "mosquitto_sub did not subscribe"}
    start = time.monotonic()
    pubs = start_publishers(stack.mqtt_port, prepared)
    try:
        sub.wait(timeout_seconds)
        complete = sub.returncode == 0
    except subprocess.TimeoutExpired:
        sub.kill()
        sub.wait()
        complete = False
    elapsed = time.monotonic() - start
    pubs.finish()
    rate = prepared.total / elapsed if complete else None
    progress(f"broker ceiling: {rate or 0:,.0f} msg/s")
    return {
        "what": "Mosquitto QoS 1, mosquitto_pub -l publishers -> mosquitto_sub -q 1",
        "messages": prepared.total,
        "publishers": len(prepared.files),
        "payload_bytes": prepared.payload_bytes,
        "publish_seconds": round(pubs.seconds, 3) if pubs.seconds else None,
        "seconds": round(elapsed, 3),
        "complete": complete and pubs.ok,
        "messages_per_s": round(rate) if rate else None,
    }
