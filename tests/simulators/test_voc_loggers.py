"""Simulated stack loggers behave like real ones, and the demo they feed mostly passes Appendix D."""

from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import replace
from datetime import UTC, date, datetime

import numpy as np

from api.voc.rules import HOUR_MS, flag_classes, judge_stack, stack_aggregates
from ingest.kernel import hj212, hj212_sm4
from ingest.kernel.pipeline import Accepted, IngestRules, handle_message
from ingest.kernel.registry import Registry, load_registry
from ingest.kernel.topics import Topics
from ingest.settings import demo_registry_path
from simulators.engine import County, EngineConfig
from simulators.faults import FaultRates
from simulators.plans import county_plan
from simulators.runner import run_history

REGISTRY = load_registry(demo_registry_path())
START = datetime(2026, 3, 10, tzinfo=UTC).timestamp() - 8 * 3600  # local midnight
NOW = datetime(2026, 11, 27, tzinfo=UTC)


class Sink:
    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes]] = []

    def publish(self, plant: str, topic: str, payload: bytes) -> None:
        self.messages.append((topic, payload))


def one_plant(plant_id: str) -> Registry:
    plant = REGISTRY.plant(plant_id)
    assert plant is not None
    return Registry(REGISTRY.county_name, REGISTRY.gas_share_goal, (plant,))


def run(registry: Registry, config: EngineConfig, days: float) -> Sink:
    county = County(county_plan(registry, config.seed, "on_track", 2026), Topics(), config,
                    date(2026, 3, 10))  # fmt: skip
    sink = Sink()
    run_history(county, sink, START, START + days * 86_400, threading.Event(), progress=False)
    return sink


def test_hj212_logger_sends_minute_hour_and_sparse_realtime_data() -> None:
    registry = one_plant("sl-001")
    config = EngineConfig(seed=2026, voc_interval_s=60, voc_protocol="hj212",
                          hj212_realtime_interval_s=300, rates=FaultRates.none())  # fmt: skip
    sink = run(registry, config, days=2 / 24)
    stacks = len(registry.plants[0].meters_of("voc"))
    cns = Counter(hj212.decode_packet(p).cn for t, p in sink.messages if t.endswith("/hj212"))
    assert cns == {"2051": 120 * stacks, "2061": 2 * stacks, "2011": 24 * stacks}


def test_demo_stack_hours_are_mostly_valid_and_exceedances_show() -> None:
    """sl-001 over 31 days of backfill (minute readings, default faults): SPEC demo promise."""
    registry = one_plant("sl-001")
    sink = run(registry, EngineConfig(seed=2026, voc_interval_s=60), days=31)
    rules = IngestRules(registry)
    readings = []
    for topic, payload in sink.messages:
        outcome = handle_message(rules, topic, payload, NOW)
        if isinstance(outcome, Accepted) and outcome.meter == "stack-1":
            readings += outcome.readings
    ts = np.array([r.ts_ms for r in readings], dtype=np.int64)
    fields = ("nmhc_mgm3", "dmf_mgm3", "flow_m3h")
    data = {
        f: (ts, np.array([r.values.get(f, np.nan) for r in readings]),
            flag_classes([r.flag(f) for r in readings]))
        for f in fields
    }  # fmt: skip
    first, n = int(START * 1000), 31 * 24
    aggs = stack_aggregates({}, data, fields[:2], first, n)
    hours = first + HOUR_MS * np.arange(n, dtype=np.int64)
    meter = registry.plants[0].meter("stack-1")
    assert meter is not None
    stack = judge_stack("sl-001", "stack-1", aggs, hours, meter.limits(), first + n * HOUR_MS)
    judged_all = [p for p in stack.pollutants if p.limit.pollutant in fields]
    assert len(judged_all) == 2
    for judged in judged_all:
        # Hours the line was stopped (flag F, e.g. a rest day) are "stopped", not missing
        # data; of the others at least 90 % are valid.
        last_week = np.asarray(judged.status[-7 * 24 :])
        running = last_week != "stopped"
        assert np.mean(last_week[running] == "valid") >= 0.9, judged.limit.pollutant
        assert np.mean(last_week == "valid") >= 0.85, judged.limit.pollutant
    exceeding = sum(int(p.exceeds.sum()) for p in stack.pollutants)
    assert exceeding > 0  # the simulator's exceedance episodes show as exceeding hours


def test_json_backfill_minutes_cover_the_hour() -> None:
    sink = run(one_plant("sl-002"), replace(EngineConfig(seed=1), voc_interval_s=60), days=1 / 24)
    stamps = {
        r["ts"]
        for t, p in sink.messages
        if t.endswith("stack-1/readings")
        for r in json.loads(p)["readings"]
    }
    assert len(stamps) == 60


def test_a_2025_logger_with_a_key_sends_encrypted_packets_the_collector_reads() -> None:
    registry = one_plant("sl-018")  # a 2025 logger of the demo county, with an SM4 key
    stack = registry.plants[0].meters_of("voc")[0]
    assert stack.hj212_mn and hj212.MN_2025.match(stack.hj212_mn) and stack.sm4_keys
    config = EngineConfig(seed=2026, voc_interval_s=60, voc_protocol="hj212",
                          hj212_realtime_interval_s=300, rates=FaultRates.none())  # fmt: skip
    sink = run(registry, config, days=1 / 24)
    packets = [p for t, p in sink.messages if t.endswith("/hj212")]
    assert packets and all(hj212_sm4.is_encrypted(p) for p in packets)
    rules = IngestRules(registry)
    outcomes = [handle_message(rules, t, p, NOW) for t, p in sink.messages if t.endswith("/hj212")]
    assert all(isinstance(o, Accepted) for o in outcomes), outcomes[0]
    plain, _ = hj212_sm4.open_packet(packets[0], stack.sm4_keys)
    assert hj212.decode_packet(plain).version == hj212.VERSION_2025
