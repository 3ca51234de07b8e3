"""Lines of plants over a window: their meters' 15-minute power, ratings, out-of-sync buckets.

The one place the pure rules of `api.power.rules` meet the store; the alert engine, the
lines endpoint and the monthly report all ask it.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from api.power import queries
from api.power.rules import (
    BUCKET_MS,
    RATED_WINDOW_DAYS,
    FloatArray,
    IntArray,
    LineBuckets,
    MeterPower,
    bucket_grid,
    bucket_power_from_energy,
    learn_rated_kw,
    line_buckets,
)
from api.settings import ApiSettings
from ingest.kernel.catalogue import MAX_RATE_PER_HOUR
from ingest.kernel.registry import Meter, Plant
from ingest.kernel.schema import to_epoch_ms
from ingest.kernel.store import Store

FACILITIES_JUDGED = ("production", "treatment")
# A learned rating is learned again after this long (60 days of history move slowly).
RATING_TTL = timedelta(hours=6)


@dataclass(frozen=True, slots=True)
class Line:
    """A line of a plant (registry `line`) and its production and treatment meters."""

    plant: str
    line: str
    meters: tuple[Meter, ...]


def lines_of(plants: Sequence[Plant]) -> list[Line]:
    """Every line of these plants with a production or treatment meter, in registry order."""
    out = []
    for plant in plants:
        by_line: dict[str, list[Meter]] = {}
        for m in plant.meters_of("electricity"):
            if m.facility in FACILITIES_JUDGED and m.line is not None:
                by_line.setdefault(m.line, []).append(m)
        out += [Line(plant.id, line, tuple(ms)) for line, ms in by_line.items()]
    return out


@dataclass(frozen=True, slots=True)
class Rating:
    rated_kw: float | None
    learned: bool


def _on_grid(samples: queries.Samples | None, grid: IntArray) -> FloatArray:
    out = np.full(grid.size, np.nan)
    if samples is None or grid.size == 0:
        return out
    ts, values = samples
    position = (ts - grid[0]) // BUCKET_MS
    inside = (position >= 0) & (position < grid.size)
    out[position[inside]] = values[inside]
    return out


class PowerCore:
    """15-minute power of every judged meter, with the ratings of SPEC section 13."""

    def __init__(
        self,
        store: Store,
        max_kw: float = MAX_RATE_PER_HOUR[queries.ENERGY_FIELD],
        max_gap: timedelta = timedelta(hours=24),
    ) -> None:
        self.store = store
        self.max_kw = max_kw
        self.max_gap_ms = int(max_gap.total_seconds() * 1000)
        self.max_gap = max_gap
        self._ratings: dict[tuple[str, str], tuple[datetime, Rating]] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: ApiSettings, store: Store) -> PowerCore:
        """The step rules of every consumption figure: plausible kWh/h and the longest gap."""
        return cls(
            store,
            settings.max_rate_per_hour.get(queries.ENERGY_FIELD, MAX_RATE_PER_HOUR["energy_kwh"]),
            timedelta(hours=settings.rollup_max_gap_hours),
        )

    def power(
        self, lines: Sequence[Line], start: datetime, end: datetime
    ) -> tuple[IntArray, dict[tuple[str, str], FloatArray]]:
        """The bucket grid of [start, end) and each meter's 15-minute mean power on it.

        `power_kw` where the meter sent it; a meter that sent no `power_kw` in the window
        (only its `energy_kwh` register) gets its register's consumption by the one rule.
        A gap in a meter's `power_kw` stays a gap: it is silence, not a reason to read raw
        registers on every evaluation.
        """
        grid = bucket_grid(to_epoch_ms(start), to_epoch_ms(end))
        plants = sorted({line.plant for line in lines})
        if not plants or grid.size == 0:
            return grid, {}
        begin = datetime.fromtimestamp(int(grid[0]) / 1000, tz=UTC)
        means = queries.bucket_means(self.store, plants, begin, end)
        keys = [(line.plant, m.id) for line in lines for m in line.meters]
        out = {key: _on_grid(means.get(key), grid) for key in keys}
        register_only = [key for key in keys if key not in means]
        if register_only:
            plants_of = sorted({plant for plant, _ in register_only})
            energy = queries.energy_readings(self.store, plants_of, begin, end, self.max_gap)
            for key in register_only:
                if key in energy:
                    ts, values = energy[key]
                    out[key] = bucket_power_from_energy(
                        ts, values, grid, self.max_kw, self.max_gap_ms
                    )
        return grid, out

    def ratings(self, lines: Sequence[Line], now: datetime) -> dict[tuple[str, str], Rating]:
        """The registry's `rated_kw`, else learned from the trailing 60 days (cached a while)."""
        out: dict[tuple[str, str], Rating] = {}
        unknown: list[Line] = []
        with self._lock:
            for line in lines:
                for m in line.meters:
                    key = (line.plant, m.id)
                    cached = self._ratings.get(key)
                    if m.rated_kw is not None:
                        out[key] = Rating(m.rated_kw, False)
                    elif cached is not None and abs(now - cached[0]) < RATING_TTL:
                        out[key] = cached[1]
                    elif line not in unknown:
                        unknown.append(line)
        if unknown:
            _, power = self.power(unknown, now - timedelta(days=RATED_WINDOW_DAYS), now)
            with self._lock:
                for line in unknown:
                    for m in line.meters:
                        key = (line.plant, m.id)
                        if m.rated_kw is None:
                            series = power.get(key, np.zeros(0))
                            rating = Rating(learn_rated_kw(series), True)
                            self._ratings[key] = (now, rating)
                            out[key] = rating
        return out

    def lines(
        self, lines: Sequence[Line], start: datetime, end: datetime, now: datetime
    ) -> list[LineBuckets]:
        """Producing / not running per quarter hour of each line over [start, end).

        Learned ratings are those of the 60 days before the window's end (or `now`).
        """
        if not lines:
            return []
        ratings = self.ratings(lines, min(end, now))
        grid, power = self.power(lines, start, end)
        out = []
        for line in lines:
            meters = [
                MeterPower(
                    m.id,
                    m.facility or "",
                    power.get((line.plant, m.id), np.full(grid.size, np.nan)),
                    ratings[(line.plant, m.id)].rated_kw,
                    ratings[(line.plant, m.id)].learned,
                )
                for m in line.meters
            ]
            out.append(line_buckets(line.plant, line.line, grid, meters))
        return out
