"""The benchmark's fast line formatter matches the real encoder; its stats are right."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime

import numpy as np
import pytest

from bench.report import ratios
from bench.stats import percentiles_ms, ratio, sustained_rate, time_to_reach
from bench.workload import (
    county_firms,
    fuel_line,
    history_lines,
    readings_message,
    registry_toml,
)
from ingest.kernel.pipeline import Accepted, IngestRules, handle_message
from ingest.kernel.registry import parse_registry
from ingest.kernel.store import encode_point


@pytest.mark.parametrize("value", [1000.0, 1000.5, 0.001, 123456789.125, 1e20, 0.0])
def test_fuel_line_is_what_the_encoder_writes(value: float) -> None:
    expected = encode_point(
        "gas",
        {"plant": "ss-001", "meter": "gas-1"},
        {"volume_m3": value, "volume_m3_flag": "N"},
        1772323200000,
    )
    assert fuel_line("gas", "ss-001", "gas-1", value, 1772323200000) == expected


def test_a_bench_message_becomes_the_bench_line() -> None:
    """What the publishers send is what the InfluxDB ceiling writes: same points."""
    firms = county_firms(3)
    rules = IngestRules(parse_registry(tomllib.loads(registry_toml(firms))))
    outcome = handle_message(
        rules,
        "plantwatch/plants/ss-002/meters/gas-1/readings",
        readings_message(1772323200000, 1000.5),
        datetime(2026, 11, 27, tzinfo=UTC),
    )
    assert isinstance(outcome, Accepted)
    arrived_ms = 1_795_737_600_000  # 2026-11-27T00:00:00Z, when the collector received it
    assert outcome.lines == [fuel_line("gas", "ss-002", "gas-1", 1000.5, 1772323200000, arrived_ms)]


def test_county_has_converted_mixed_and_coal_firms() -> None:
    fractions = [f.gas_fraction for f in county_firms(60)]
    assert len(fractions) == 60
    assert {0.97, 0.5, 0.03} == set(fractions)
    assert 0.4 <= fractions.count(0.97) / 60 <= 0.6


def test_history_registers_never_drop() -> None:
    firm = county_firms(1)[0]
    lines = history_lines(firm, 0, 10, 15, np.random.default_rng(1))
    assert len(lines) == 20
    gas = [float(line.split("volume_m3=")[1].split(",")[0]) for line in lines[0::2]]
    assert gas == sorted(gas)
    assert [int(line.rsplit(" ", 1)[1]) for line in lines[0::2]] == [i * 900_000 for i in range(10)]


def test_percentiles_of_a_known_sample() -> None:
    figures = percentiles_ms([i / 1000 for i in range(1, 101)])  # 1..100 ms
    assert figures["n"] == 100
    assert figures["p50_ms"] == pytest.approx(50.5)
    assert figures["p99_ms"] == pytest.approx(99.01)
    assert figures["max_ms"] == 100.0
    assert percentiles_ms([]) == {"n": 0}


def test_sustained_rate_leaves_out_start_and_tail() -> None:
    # Nothing for 2 s (start-up), then 100/s, then a slow tail.
    samples = [(0.0, 0), (2.0, 0), (3.0, 100), (11.0, 900), (20.0, 1000)]
    assert time_to_reach(samples, 100) == 3.0
    assert time_to_reach(samples, 500) == pytest.approx(7.0)
    assert sustained_rate(samples, 1000) == pytest.approx(100.0)
    assert time_to_reach(samples, 2000) is None
    assert sustained_rate([(0.0, 0)], 1000) is None


def test_ratios_compare_collectors_with_the_limits() -> None:
    benchmarks = {
        "broker_ceiling": {"messages_per_s": 40_000},
        "influx_ceiling": {"points_per_s": 500_000},
        "naive_baseline": {"sustained_per_s": 800},
        "collector_x1": {"sustained_per_s": 10_000},
        "collector_x2": {"sustained_per_s": 15_000},
    }
    assert ratios(benchmarks) == {
        "collector_x1_of_broker_ceiling": 0.25,
        "collector_x1_of_influx_ceiling": 0.02,
        "collector_x1_times_naive": 12.5,
        "collector_x2_of_broker_ceiling": 0.375,
        "collector_x2_of_influx_ceiling": 0.03,
        "collector_x2_times_naive": 18.75,
        "collector_x2_over_x1": 1.5,
    }
    assert ratio(None, 3) is None
    assert ratio(3, 0) is None
