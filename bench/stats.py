"""Figures from raw samples: percentiles and sustained rates. Pure."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def percentiles_ms(latencies_s: Sequence[float]) -> dict[str, float | int]:
    """p50, p95, p99, mean and max in milliseconds, with the sample count."""
    if not latencies_s:
        return {"n": 0}
    ms = np.asarray(latencies_s, dtype=float) * 1000.0
    return {
        "n": len(ms),
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p95_ms": round(float(np.percentile(ms, 95)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
        "mean_ms": round(float(ms.mean()), 2),
        "max_ms": round(float(ms.max()), 2),
    }


def time_to_reach(samples: Sequence[tuple[float, int]], target: float) -> float | None:
    """When a non-decreasing count first reached `target` (linear between samples)."""
    prev_t, prev_n = None, None
    for t, n in samples:
        if n >= target:
            if prev_t is None or prev_n is None or n == prev_n:
                return t
            return prev_t + (t - prev_t) * (target - prev_n) / (n - prev_n)
        prev_t, prev_n = t, n
    return None


def sustained_rate(
    samples: Sequence[tuple[float, int]], total: int, low: float = 0.1, high: float = 0.9
) -> float | None:
    """Items/s between `low` and `high` fractions of `total`: leaves out start-up and tail."""
    t_low = time_to_reach(samples, low * total)
    t_high = time_to_reach(samples, high * total)
    if t_low is None or t_high is None or t_high <= t_low:
        return None
    return (high - low) * total / (t_high - t_low)


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """`numerator / denominator`, or None when either is missing or zero."""
    if not numerator or not denominator:
        return None
    return round(numerator / denominator, 3)
