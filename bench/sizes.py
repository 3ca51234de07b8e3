"""How big each benchmark is: `--quick` (a minute or two) or the full run (under ~10 min)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Sizes:
    publishers: int
    broker_messages: int
    influx_points: int
    influx_batch_points: int
    naive_messages: int
    collector_messages: int
    collector_counts: tuple[int, ...]
    batched_readings_per_message: int
    batched_messages: int
    latency_rate_per_s: float
    latency_seconds: float
    history_firms: int
    history_days: float
    api_requests: int
    api_concurrency: int
    api_concurrent_requests: int
    max_seconds_per_phase: float
    growth_firms: tuple[int, ...] = (60, 600, 3000)
    hj212_loggers: int = 1000  # TCP loggers, one minute packet per second each
    hj212_seconds: int = 60
    voc_stacks: int = 25
    voc_days: float = 31.0


QUICK = Sizes(
    publishers=16,
    broker_messages=40_000,
    influx_points=200_000,
    influx_batch_points=5000,
    naive_messages=4000,
    collector_messages=50_000,
    collector_counts=(1, 2),
    batched_readings_per_message=96,
    batched_messages=1000,
    latency_rate_per_s=20.0,
    latency_seconds=5.0,
    history_firms=60,
    history_days=14.0,
    api_requests=5,
    api_concurrency=8,
    api_concurrent_requests=16,
    max_seconds_per_phase=15.0,
    growth_firms=(60, 300),
    hj212_loggers=100,
    hj212_seconds=20,
    voc_days=3.0,
)

FULL = Sizes(
    publishers=16,
    broker_messages=300_000,
    influx_points=1_000_000,
    influx_batch_points=5000,
    naive_messages=20_000,
    collector_messages=200_000,
    collector_counts=(1, 2),
    batched_readings_per_message=96,
    batched_messages=5000,
    latency_rate_per_s=50.0,
    latency_seconds=20.0,
    history_firms=60,
    history_days=365.0,
    api_requests=20,
    api_concurrency=8,
    api_concurrent_requests=40,
    max_seconds_per_phase=30.0,
)
