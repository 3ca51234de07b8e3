"""The county engine: determinism, delivery faults, and messages the real collector accepts."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from ingest.kernel import hj212, hj212_sm4
from ingest.kernel.pipeline import Accepted, IngestRules, Refused, handle_message
from ingest.kernel.registry import load_registry
from ingest.kernel.topics import Topics
from ingest.settings import demo_registry_path
from simulators.engine import County, EngineConfig, Outgoing
from simulators.faults import Fault, FaultRates
from simulators.plans import county_plan
from simulators.runner import run_history

REGISTRY = load_registry(demo_registry_path())
START = datetime(2026, 3, 10, tzinfo=UTC).timestamp() - 8 * 3600  # local midnight
NOW = datetime(2026, 11, 27, tzinfo=UTC)


class Sink:
    def __init__(self) -> None:
        self.messages: list[tuple[str, str, bytes]] = []

    def publish(self, plant: str, topic: str, payload: bytes) -> None:
        self.messages.append((plant, topic, payload))


def county(config: EngineConfig, faults: list[Fault] | None = None) -> County:
    return County(
        county_plan(REGISTRY, config.seed, "on_track", 2026),
        Topics(),
        config,
        date(2026, 3, 10),
        faults or [],
    )


def history(config: EngineConfig, days: float = 1.0, faults: list[Fault] | None = None) -> Sink:
    sink = Sink()
    run_history(
        county(config, faults),
        sink,
        START,
        START + days * 86_400,
        threading.Event(),
        progress=False,
    )
    return sink


QUIET = EngineConfig(seed=2026, rates=FaultRates.none())


def test_same_seed_same_messages_other_seed_other_data() -> None:
    began = time.process_time()
    first = history(QUIET, days=0.25)
    print(
        f"\nsix hours of the default county: {len(first.messages)} messages, {time.process_time() - began:.2f}s CPU"
    )
    assert first.messages == history(QUIET, days=0.25).messages
    assert first.messages != history(replace(QUIET, seed=7), days=0.25).messages


def test_registers_agree_whatever_the_reporting_interval() -> None:
    def gas_readings(interval: int) -> dict[int, float]:
        out = {}
        for _, topic, payload in history(
            replace(QUIET, fuel_interval_s=interval), days=0.25
        ).messages:
            if topic.endswith("ss-001/meters/gas-1/readings"):
                out.update(
                    {r["ts"]: r["values"]["volume_m3"] for r in json.loads(payload)["readings"]}
                )
        return out

    coarse, fine = gas_readings(900), gas_readings(300)
    assert len(coarse) == 24 and len(fine) == 72
    assert all(fine[ts] == value for ts, value in coarse.items())


def test_every_clean_message_is_accepted_by_the_collector_pipeline() -> None:
    rules = IngestRules(REGISTRY)
    sink = history(replace(QUIET, voc_protocol="mixed"), days=0.25)
    outcomes = [handle_message(rules, topic, payload, NOW) for _, topic, payload in sink.messages]
    refused = [o for o in outcomes if isinstance(o, Refused)]
    assert not refused, refused[:3]
    kinds = {line.split(",", 1)[0] for o in outcomes if isinstance(o, Accepted) for line in o.lines}
    assert kinds == {"gas", "coal", "electricity", "voc", "voc_minute", "voc_hour"}


def test_every_hj212_packet_round_trips_with_a_valid_crc() -> None:
    sink = history(replace(QUIET, voc_protocol="hj212", voc_interval_s=60), days=0.05)
    packets = [p for _, topic, p in sink.messages if topic.endswith("/hj212")]
    assert len(packets) > 1000  # 72 minutes of 27 stacks
    cns = set()
    sealed = 0
    for sent in packets:
        # 2025 loggers with a key encrypt: the length and CRC are the plaintext's
        raw, encrypted = hj212_sm4.unseal(sent, lambda mn: REGISTRY.stack_by_mn(mn)[1].sm4_keys)
        sealed += encrypted
        raw = raw + b"\r\n" if encrypted else raw  # the plaintext comes without the CRLF
        assert raw.endswith(b"\r\n") and int(raw[2:6]) == len(raw) - 12
        packet = hj212.decode_packet(raw)  # raises on a bad length or CRC
        assert f"{hj212.crc16(raw[6:-6]):04X}".encode() == raw[-6:-2]
        cns.add(packet.cn)
        found = REGISTRY.stack_by_mn(packet.mn)
        assert found is not None
        codes = hj212.code_map(found[1].codes, found[1].flow_unit)
        (reading,) = hj212.to_readings(packet, "Asia/Shanghai", codes)
        assert {"nmhc_mgm3", "dmf_mgm3", "flow_m3h", "o2_pct"} <= set(reading.values)
        # DMF travels under the registry's vendor code, never a99051 (carbon disulfide)
        assert "a99051" not in packet.items and "a99999" in packet.items
    assert cns == {"2011", "2051", "2061"}
    assert 0 < sealed < len(packets)


def test_outage_backfills_late_newest_first() -> None:
    outage = Fault("outage", "ss-003", "gas-1", START + 3600 * 10, 3600 * 3)
    sink = history(replace(QUIET, batch=4), faults=[outage])
    gas = [
        json.loads(p)["readings"]
        for _, t, p in sink.messages
        if t.endswith("ss-003/meters/gas-1/readings")
    ]
    firsts = [r[0]["ts"] / 1000 for r in gas]
    buffered = [i for i, f in enumerate(firsts) if outage.start_s <= f < outage.end_s]
    assert len(buffered) == 3  # 3 h x 4 readings an hour, in messages of 4
    # newest first, and after readings taken once the link was back
    assert [firsts[i] for i in buffered] == sorted((firsts[i] for i in buffered), reverse=True)
    assert any(firsts[j] >= outage.end_s for j in range(buffered[-1]))
    assert sum(len(r) for r in gas) == 96


def test_duplicates_and_malformed_payloads() -> None:
    faults = [
        Fault("duplicate", "ss-001", "gas-1", START, 2 * 86_400),
        Fault("malformed", "sl-002", "*", START, 2 * 86_400),
    ]
    sink = history(replace(QUIET, batch=4), faults=faults)
    gas = [p for _, t, p in sink.messages if t.endswith("ss-001/meters/gas-1/readings")]
    assert len(gas) == 48 and len(set(gas)) == 24
    rules = IngestRules(REGISTRY)
    stack = [(t, p) for _, t, p in sink.messages if "/sl-002/" in t]
    outcomes = [handle_message(rules, t, p, NOW) for t, p in stack]
    # A value that is not a number costs only itself (SPEC 4): the message is kept in part.
    assert stack and all(
        isinstance(o, Refused) or o.partial_refusal() is not None for o in outcomes
    )
    assert any(isinstance(o, Accepted) for o in outcomes)


@pytest.mark.parametrize("kind", ["outage", "duplicate", "malformed", "dropout"])
def test_random_delivery_faults_happen_at_high_rates(kind: str) -> None:
    config = replace(QUIET, rates=FaultRates.none().with_overrides([f"{kind}=5"]))
    clean, faulty = history(QUIET, days=0.5), history(config, days=0.5)
    assert clean.messages != faulty.messages


def test_outgoing_is_frozen() -> None:
    with pytest.raises(AttributeError):
        Outgoing("p", "t", b"", 0.0, 1).plant = "q"  # type: ignore[misc]


def test_history_sends_the_energy_meters_period_first_and_the_same_messages_as_one_pass() -> None:
    # make run's first KPI needs the whole window of gas and coal registers (SPEC 6); the
    # stacks' minute data, most of a back-fill, follows. Splitting the period into passes must
    # not change a single message (registers continue across days within each meter).
    two_passes = history(QUIET, days=2.0).messages
    sink = Sink()
    run_history(
        county(QUIET), sink, START, START + 2 * 86_400, threading.Event(), progress=False,
        passes=(frozenset({"gas", "coal", "voc", "electricity"}),),
    )  # fmt: skip
    one_pass = sink.messages
    assert sorted(two_passes) == sorted(one_pass)
    kinds = [
        "energy" if "/meters/gas" in t or "/meters/coal" in t else "other" for _, t, _ in two_passes
    ]
    assert "other" in kinds and "energy" in kinds
    assert kinds.index("other") == kinds.count("energy")  # every energy message came first
    assert one_pass != two_passes  # one pass interleaves them day by day


def test_the_pace_is_asked_before_every_message_and_stop_ends_the_history() -> None:
    asked: list[int] = []
    stop = threading.Event()

    def pace(published: int, stop_: threading.Event) -> None:
        asked.append(published)
        if len(asked) == 50:
            stop_.set()  # as SIGTERM does while the pace holds the back-fill

    sink = Sink()
    totals = run_history(
        county(QUIET), sink, START, START + 86_400, stop, progress=False, pace=pace
    )
    assert len(asked) == 50 and totals.messages == 49 == len(sink.messages)
    assert asked == sorted(asked) and asked[0] == 0 and asked[-1] == totals.readings
