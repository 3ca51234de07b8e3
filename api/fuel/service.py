"""Fuel figures: the rules of `api.fuel.rules` over the sums of `api.fuel.queries`.

Every figure (KPI, usage, monthly history and its projection, the KPI-based alerts, the
rollup's `kpi_gas_share` points) goes through `FuelCore`, so the same firm and interval
give the same m³ and kg everywhere. A stretch is answered from daily rollups for whole
local days, hourly rollups for whole hours and raw registers for the edges
(`api.ranges.plan_segments`); all of them obey the one step rule.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from api.factors import dated
from api.fuel.outlook import Month, Outlook, outlook
from api.fuel.queries import (
    Key,
    RecentReads,
    last_readings,
    query_sums,
)
from api.fuel.rules import (
    EPOCH,
    REGISTERS,
    ConversionFact,
    Definition,
    Firm,
    FirmFuel,
    GasShare,
    StepRules,
    Sums,
    coal_removed_by,
    firm_fuel,
    gas_share,
    hours_in,
    manual_coverages,
    month_starts,
)
from api.ranges import Segment, check_raw_span, data_through, plan_segments
from api.readmodel.cache import RollupCache
from api.readmodel.state import read_watermarks
from ingest.kernel.registry import Plant
from ingest.kernel.store import Store

if TYPE_CHECKING:
    from api.settings import ApiSettings
    from ingest.kernel.registry import Registry

SECTOR = "stainless_steel"


# Conversion facts, or where to read the current ones from (records change while a core lives).
Facts = Sequence[ConversionFact] | Callable[[], Sequence[ConversionFact]]


def step_rules(settings: ApiSettings) -> StepRules:
    """Which register steps count, from the one plausible-rate setting and the silence limit."""
    return StepRules.from_registers(
        settings.max_rate_per_hour, timedelta(hours=settings.rollup_max_gap_hours)
    )


def whole_ms(ts: datetime) -> datetime:
    """`ts` cut to whole milliseconds: InfluxQL bucket offsets are whole ms, and so is the data."""
    return ts.replace(microsecond=ts.microsecond // 1000 * 1000)


def firm_of(plant: Plant) -> Firm:
    return Firm(
        plant.id,
        plant.name,
        tuple(m.id for m in plant.meters_of("gas")),
        tuple(m.id for m in plant.meters_of("coal")),
    )


def to_sums(raw: dict[Key, Sums]) -> dict[tuple[str, str, str], Sums]:
    """(kind, plant, meter) -> Sums of one total (bucket 0)."""
    return {(kind, plant, meter): v for (kind, plant, meter, _), v in raw.items()}


def firm_data_through(
    plants: Sequence[Plant], latest: dict[tuple[str, str, str], datetime]
) -> dict[str, datetime | None]:
    """Per firm: the earliest of its fuel meters' latest readings (None if one is silent)."""
    return {
        p.id: data_through(
            [latest.get((m.kind, p.id, m.id)) for m in p.meters if m.kind in ("gas", "coal")]
        )
        for p in plants
    }


def firm_fuels_of(
    plants: Sequence[Plant],
    sums: dict[tuple[str, str, str], Sums],
    start: datetime,
    end: datetime,
    facts: Sequence[ConversionFact],
) -> list[FirmFuel]:
    """Each firm's fuel over [start, end) from its meters' sums and the officers' records."""
    hours = hours_in(start, end)
    return [
        firm_fuel(
            firm_of(p),
            sums,
            hours,
            coal_removed_by(facts, p.id, start),
            manual_coverages(facts, p.id, start, end),
        )
        for p in plants
    ]


@dataclass(frozen=True, slots=True)
class Kpi:
    """The gas-share KPI over [start, end), with how fresh the data behind it is."""

    start: datetime
    end: datetime
    share: GasShare
    data_through: datetime | None  # latest fuel reading of any firm in the window
    firm_data_through: dict[str, datetime | None]  # per firm: all its fuel meters reported until
    sources: list[Segment]


@dataclass(frozen=True, slots=True)
class Interval:
    """Fuel used in one interval (clipped to the requested range)."""

    start: datetime
    end: datetime
    gas_m3: float
    coal_kg: float
    gas_kgce: float
    coal_kgce: float
    kgce: float
    co2_kg: float
    gas_readings: int
    coal_readings: int
    resets: int
    implausible_steps: int


def intervals(
    sums: dict[Key, Sums],
    start: datetime,
    end: datetime,
    first_bucket: datetime,
    every: timedelta,
    d: Definition,
    tz: ZoneInfo | None = None,
) -> list[Interval]:
    """Every interval from `first_bucket` to `end`, zero where nothing was used; with `tz`,
    each under the factors in effect at its last instant (`api.factors.dated`)."""
    base = d

    def get(kind: str, bucket_ms: int, name: str) -> float:
        values = sums.get((kind, "", "", bucket_ms))
        return float(getattr(values, name)) if values is not None else 0.0

    out = []
    bucket = first_bucket
    while bucket < end:
        ms = round((bucket - EPOCH).total_seconds() * 1000)
        gas_m3, coal_kg = get("gas", ms, "consumption"), get("coal", ms, "consumption")
        d = dated(base, min(bucket + every, end), tz) if tz is not None else base
        gas_kgce, coal_kgce = gas_m3 * d.gas_kgce_per_m3, coal_kg * d.coal_kgce_per_kg
        out.append(
            Interval(
                max(bucket, start),
                min(bucket + every, end),
                gas_m3,
                coal_kg,
                gas_kgce,
                coal_kgce,
                gas_kgce + coal_kgce,
                gas_m3 * d.co2_kg_per_m3_gas + coal_kg * d.co2_kg_per_kg_coal,
                int(get("gas", ms, "readings")),
                int(get("coal", ms, "readings")),
                int(get("gas", ms, "resets") + get("coal", ms, "resets")),
                int(get("gas", ms, "implausible_steps") + get("coal", ms, "implausible_steps")),
            )
        )
        bucket += every
    return out


@dataclass(frozen=True, slots=True)
class Usage:
    intervals: list[Interval]
    sources: list[Segment]
    data_through: datetime | None


class FuelCore:
    """The fuel figures of one county over one store, under one definition."""

    def __init__(
        self,
        store: Store,
        timezone: str,
        rules: StepRules,
        definition: Definition,
        goal: float,
        conversions: Facts = (),
        cache: RollupCache | None = None,
    ) -> None:
        self.store = store
        # The app's cache of rolled-up answers (None: every answer is read afresh).
        self.cache = cache
        self.tz = ZoneInfo(timezone)
        self.rules = rules
        self.definition = definition
        self.goal = goal
        self._conversions = conversions

    @property
    def conversions(self) -> tuple[ConversionFact, ...]:
        """The recorded conversion facts; a long-lived core (alerts, KPI points) is given a
        provider (`RecordRepo.facts`) and asks it each time, so a new record counts at once."""
        facts = self._conversions
        return tuple(facts() if callable(facts) else facts)

    @classmethod
    def from_settings(
        cls,
        settings: ApiSettings,
        store: Store,
        registry: Registry,
        conversions: Facts = (),
        cache: RollupCache | None = None,
    ) -> FuelCore:
        return cls(
            store,
            settings.timezone,
            step_rules(settings),
            settings.kpi,
            registry.gas_share_goal,
            conversions,
            cache,
        )

    # ---- per-meter sums -------------------------------------------------------------------

    def meter_sums(
        self,
        plant_ids: Sequence[str],
        windows: Sequence[tuple[datetime, datetime]],
        recent: RecentReads | None = None,
    ) -> tuple[list[dict[tuple[str, str, str], Sums]], list[list[Segment]]]:
        """Sums per (kind, plant, meter) for each window, in one round trip (`recent`: see
        `query_sums`)."""
        marks = read_watermarks(self.store, "fuel")
        windows = [(whole_ms(s), whole_ms(e)) for s, e in windows]
        plans = [plan_segments(s, e, self.tz, marks.hourly, marks.daily) for s, e in windows]
        if not plant_ids:
            return [{} for _ in windows], plans
        raw = query_sums(
            self.store,
            plans,
            self.rules,
            plant_ids,
            True,
            generation=marks.generation,
            cache=self.cache,
            settled=marks.hourly,
            recent=recent,
        )
        return [to_sums(r) for r in raw], plans

    def firm_fuels(
        self,
        plants: Sequence[Plant],
        start: datetime,
        end: datetime,
        recent: RecentReads | None = None,
    ) -> tuple[list[FirmFuel], list[Segment]]:
        """Each firm's gas m³, coal kg and coverage over [start, end)."""
        start, end = whole_ms(start), whole_ms(end)
        (sums,), (plan,) = self.meter_sums([p.id for p in plants], [(start, end)], recent)
        return firm_fuels_of(plants, sums, start, end, self.conversions), plan

    # ---- figures --------------------------------------------------------------------------

    def kpi(self, plants: Sequence[Plant], end: datetime, window: timedelta) -> Kpi:
        """The gas-share KPI over the trailing `window` ending at `end`."""
        end = whole_ms(end)
        start = end - window
        # The raw edge ending the window also gives each meter's latest reading (one scan).
        recent = RecentReads(end)
        fuels, plan = self.firm_fuels(plants, start, end, recent)
        share = gas_share(fuels, self.goal, self.definition)
        latest = self.latest_by_meter(plants, end, window, recent)
        per_firm = firm_data_through(plants, latest)
        newest = max(latest.values()) if latest else None
        return Kpi(start, end, share, newest, per_firm, plan)

    def latest_by_meter(
        self,
        plants: Sequence[Plant],
        end: datetime,
        lookback: timedelta,
        recent: RecentReads | None = None,
    ) -> dict[tuple[str, str, str], datetime]:
        if not plants:
            return {}
        meters = [(m.kind, p.id, m.id) for p in plants for m in p.meters if m.kind in REGISTERS]
        return last_readings(self.store, [p.id for p in plants], end, lookback, meters, recent)

    def latest_reading(
        self, plants: Sequence[Plant], end: datetime, lookback: timedelta
    ) -> datetime | None:
        """The latest fuel reading of any of `plants` in [end - lookback, end)."""
        latest = self.latest_by_meter(plants, whole_ms(end), lookback)
        return max(latest.values()) if latest else None

    def data_through(
        self, plants: Sequence[Plant], end: datetime, lookback: timedelta
    ) -> dict[str, datetime | None]:
        """Per firm: the time until which every one of its fuel meters has reported."""
        return firm_data_through(plants, self.latest_by_meter(plants, end, lookback))

    def usage(
        self,
        plants: Sequence[Plant],
        start: datetime,
        end: datetime,
        every: timedelta,
        offset: timedelta,
        first_bucket: datetime,
        max_raw: timedelta | None = None,
    ) -> Usage:
        """Usage of `plants` (summed) per interval, the stretches each source answered, freshness.

        With `max_raw`, a range needing more raw readings than that is refused (RangeError).
        """
        start, end = whole_ms(start), whole_ms(end)
        marks = read_watermarks(self.store, "fuel")
        plan = plan_segments(start, end, self.tz, marks.hourly, marks.daily, every, offset)
        if max_raw is not None:
            check_raw_span(plan, max_raw)
        ids = [p.id for p in plants]
        # A sector without plants uses no fuel: nothing to ask InfluxDB.
        sums = (
            query_sums(
                self.store,
                [plan],
                self.rules,
                ids,
                False,
                every,
                offset,
                generation=marks.generation,
                cache=self.cache,
                settled=marks.hourly,
            )[0]
            if ids
            else {}
        )
        latest = self.latest_by_meter(plants, end, end - start)
        return Usage(
            intervals(sums, start, end, first_bucket, every, self.definition, self.tz),
            plan,
            max(latest.values()) if latest else None,
        )

    def months(self, plants: Sequence[Plant], year: int, now: datetime) -> list[Month]:
        """The KPI of every local calendar month of `year` that has begun (the current one to
        date), each under the factors in effect at its last instant (`api.factors`)."""
        bounds = month_starts(year, self.tz)
        now = whole_ms(now)
        windows = [
            (index + 1, bounds[index], min(bounds[index + 1], now))
            for index in range(12)
            if bounds[index] < now
        ]
        all_sums, _ = self.meter_sums([p.id for p in plants], [(s, e) for _, s, e in windows])
        facts = self.conversions
        out = []
        for (number, start, end), sums in zip(windows, all_sums, strict=True):
            fuels = firm_fuels_of(plants, sums, start, end, facts)
            out.append(
                Month(
                    f"{year:04d}-{number:02d}",
                    start,
                    end,
                    end == bounds[number],
                    # each month under the factors in effect at its last instant
                    gas_share(fuels, self.goal, dated(self.definition, end, self.tz)),
                )
            )
        return out

    def history(
        self, plants: Sequence[Plant], year: int, now: datetime
    ) -> tuple[list[Month], Outlook]:
        """The monthly history of `year` and the one year-end projection from it."""
        months = self.months(plants, year, now)
        return months, outlook(months, self.goal)

    def projected_share(self, plants: Sequence[Plant], now: datetime) -> float | None:
        """The projected year-end share (the history's projection), for the off-track alert."""
        if not plants:
            return None
        _, view = self.history(plants, now.astimezone(self.tz).year, now)
        return view.projected_share
