"""Start, stop, start again on the same var/, N times: every start succeeds, figures identical.

    python -m scripts.restart_cycles [--cycles 10] [--days 2]

The whole stack as `make run` runs it (tests/scripts/runstack.py), a tiny county backfilled
once, then N starts with the simulator off and Ctrl-C after each; prints the start and stop
times and whether the KPI, the leather plant's VOC and the alert list were identical.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.conftest import wait_until
from tests.scripts.runstack import RunStack, tiny_registry


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=10)
    parser.add_argument("--days", type=float, default=2.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="plantwatch-restarts-") as tmp:
        stack = RunStack(Path(tmp) / "var", tiny_registry(Path(tmp) / "registry.toml"), args.days)
        try:
            up = stack.start(simulator="backfill")
            assert wait_until(stack.simulator_done, 120.0), stack.diagnosis()
            at = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
            reference = stack.settled_figures(at)
            print(f"first start {up:.1f}s, stop {stack.interrupt():.1f}s", flush=True)
            same = 0
            for cycle in range(1, args.cycles + 1):
                up = stack.start(simulator="off")
                figures = stack.settled_figures(at)
                same += figures == reference
                down = stack.interrupt()
                print(
                    f"cycle {cycle}: start {up:.1f}s, stop {down:.1f}s, "
                    f"figures {'identical' if figures == reference else 'DIFFERENT'}",
                    flush=True,
                )
        finally:
            stack.stop()
    print(f"{same}/{args.cycles} starts with identical figures")
    return 0 if same == args.cycles else 1


if __name__ == "__main__":
    sys.exit(main())
