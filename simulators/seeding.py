"""Stable randomness: numbers and generators derived from (seed, key), independent of run order."""

from __future__ import annotations

import hashlib

import numpy as np


def seeded_unit(seed: int, key: str) -> float:
    """A stable number in [0, 1) for (seed, key), independent of Python's hash salt."""
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def seeded_between(seed: int, key: str, low: float, high: float) -> float:
    """A stable number in [low, high) for (seed, key)."""
    return low + (high - low) * seeded_unit(seed, key)


def rng_for(seed: int, *key: object) -> np.random.Generator:
    """A numpy Generator owned by (seed, key): the same key always draws the same numbers."""
    digest = hashlib.sha256(f"{seed}:{'/'.join(map(str, key))}".encode()).digest()
    words = [int.from_bytes(digest[i : i + 4], "big") for i in range(0, 16, 4)]
    return np.random.default_rng(np.random.SeedSequence(words))
