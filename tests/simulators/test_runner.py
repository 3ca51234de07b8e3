"""Live mode with a fake wall clock: speed-up never runs ahead of it; faults from a control file."""

from __future__ import annotations

import json
import threading
from datetime import UTC, date, datetime
from pathlib import Path

from ingest.kernel.registry import load_registry
from ingest.kernel.topics import Topics
from ingest.settings import demo_registry_path
from simulators.engine import County, EngineConfig
from simulators.faults import FaultRates
from simulators.plans import county_plan
from simulators.runner import run_live

START = datetime(2026, 5, 4, 9, tzinfo=UTC).timestamp()


class Sink:
    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes]] = []

    def publish(self, plant: str, topic: str, payload: bytes) -> None:
        self.messages.append((topic, payload))


def test_live_speed_up_stops_at_the_wall_clock_and_reads_injected_faults(tmp_path: Path) -> None:
    registry = load_registry(demo_registry_path())
    config = EngineConfig(seed=1, fuel_interval_s=60, voc_interval_s=60, rates=FaultRates.none())
    county = County(county_plan(registry, 1, "on_track", 2026), Topics(), config, date(2026, 5, 4))
    control = tmp_path / "control"
    control.write_text("")
    wall = [START + 600.0]  # the simulation starts 10 minutes behind the wall clock
    sink, stop, ticks = Sink(), threading.Event(), [0]

    def tick() -> None:
        ticks[0] += 1
        wall[0] += 1.0
        if ticks[0] == 2:
            control.write_text("dropout:ss-001/gas-1,for=1h\nnonsense\n")
        if ticks[0] == 30:
            stop.set()

    run_live(
        county,
        sink,
        START,
        60.0,
        stop,
        wall_clock=lambda: wall[0],
        tick_s=0,
        control=control,
        on_tick=tick,
    )
    gas = [
        json.loads(p)["readings"]
        for t, p in sink.messages
        if t.endswith("/ss-002/meters/gas-1/readings")
    ]
    times = [r["ts"] / 1000 for batch in gas for r in batch]
    # 60x until it reached the wall clock (after ~10 s), then real time: never ahead of it
    assert max(times) <= wall[0]
    assert len(times) >= 10
    assert times == sorted(times)
    dropped = [p for t, p in sink.messages if t.endswith("/ss-001/meters/gas-1/readings")]
    assert len(dropped) < len(gas)
    assert len(county.manual_faults) == 1
