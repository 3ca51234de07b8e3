"""First write is the record (SPEC section 14): what the check costs the collector.

One collector takes the same fresh readings twice, into two databases: with the record
keeper's check (`PLANTWATCH_FIRST_WRITE_CHECK=true`, the default: the recent index and one
batched read-back per batch it cannot answer) and without it (plain writes, as before).
The ratio on/off of sustained readings/s is the cost.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench import collector
from bench.publishers import PublisherFiles
from bench.stack import Stack, progress


def run(
    stack: Stack, registry: Path, prepared: PublisherFiles, max_seconds: float
) -> dict[str, Any]:
    """Sustained readings/s of one collector with first-write checking off and on."""
    off = collector.run(
        stack, registry, prepared, 1, max_seconds, "check_off", PLANTWATCH_FIRST_WRITE_CHECK="false"
    )
    on = collector.run(
        stack, registry, prepared, 1, max_seconds, "check_on", PLANTWATCH_FIRST_WRITE_CHECK="true"
    )
    rate_on, rate_off = on.get("sustained_per_s"), off.get("sustained_per_s")
    ratio = round(rate_on / rate_off, 3) if rate_on and rate_off else None
    progress(f"first-write check: on/off = {ratio}")
    return {
        "what": "python -m ingest x1, the same fresh readings with first-write checking off "
        "and on (ingest/keeper.py)",
        "check_off": off,
        "check_on": on,
        "ratio_on_off": ratio,
    }
