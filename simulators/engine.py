"""The simulated county as a deterministic state machine: time in, wire messages out.

`County.step(t0, t1)` returns every message the county's devices send for readings taken in
(t0, t1], each with the time it leaves the device (late for buffered outages). Clean data
comes from the pure generators one local day at a time, with a Generator owned by
(seed, meter, day, interval), so the same seed and intervals give the same readings however
the time is sliced. Faults are applied on the way out.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date

import numpy as np

from ingest.kernel import hj212, hj212_sm4
from ingest.kernel.schema import Reading
from ingest.kernel.topics import Topics
from ingest.settings import CommonSettings
from simulators.calendar import SECONDS_PER_DAY, date_of_day, day_start_s, local_day
from simulators.faults import (
    Fault,
    FaultRates,
    FaultState,
    Series,
    apply_value_faults,
    random_faults,
)
from simulators.fuel import ElectricityPlan, FuelPlan, electricity_block, fuel_block
from simulators.packets import (
    HOUR_PACKET_SECONDS,
    MINUTE_PACKET_SECONDS,
    NATIONAL_CODES,
    average_packet,
    json_payload,
    malformed,
    readings_of,
    realtime_packet,
)
from simulators.plans import CountyPlan
from simulators.seeding import rng_for, seeded_unit
from simulators.voc import StackPlan, season_temp_c, voc_block

VOC_PROTOCOLS = ("json", "hj212", "mixed")
BASE_STEP_S = 60  # registers are integrated at this step; intervals must be multiples of it
OUTAGE_BACKFILL_PACE = 0.5  # a reading buffered x s before the link returned leaves 0.5 x s after


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One MQTT message a plant sends."""

    plant: str
    topic: str
    payload: bytes
    deliver_at_s: float
    readings: int


@dataclass(frozen=True, slots=True)
class EngineConfig:
    seed: int
    fuel_interval_s: int = 900
    voc_interval_s: int = 300
    batch: int = 96  # readings per JSON message at most
    voc_protocol: str = "json"
    hj212_realtime_interval_s: int = 300  # HJ 212 stacks: CN 2011 every this many seconds
    timezone: str = CommonSettings.model_fields["timezone"].default  # HJ 212 DataTime
    rates: FaultRates = field(default_factory=FaultRates)


@dataclass(frozen=True, slots=True)
class _Meter:
    plant: str
    meter: str
    kind: str  # gas | coal | voc | electricity
    source: FuelPlan | StackPlan | ElectricityPlan


class County:
    """Every meter of the county, its registers, faults and HJ 212 buffers."""

    def __init__(
        self,
        plan: CountyPlan,
        topics: Topics,
        config: EngineConfig,
        origin: date,
        faults: Sequence[Fault] = (),
    ) -> None:
        self.plan, self.topics, self.config = plan, topics, config
        self.origin_day = (origin - date(1970, 1, 1)).days
        self.manual_faults: list[Fault] = list(faults)
        self.meters: list[_Meter] = []
        for p in plan.fuel:
            self.meters += [
                _Meter(p.plant, p.gas_meter, "gas", p),
                _Meter(p.plant, p.coal_meter, "coal", p),
            ]
        self.meters += [_Meter(s.plant, s.meter, "voc", s) for s in plan.stacks]
        self.meters += [_Meter(e.plant, e.meter, "electricity", e) for e in plan.electricity]
        self.plants = sorted({m.plant for m in self.meters})
        self._day_end: dict[tuple[str, int], dict[str, float]] = {}
        self._days: dict[tuple[str, int, int], dict[str, Series]] = {}
        self._random: dict[tuple[str, str, int], list[Fault]] = {}
        self._state: dict[tuple[str, str], FaultState] = {}
        self._recent: dict[tuple[str, str], list[Reading]] = {}

    def add_fault(self, fault: Fault) -> None:
        """Schedule a fault given on demand."""
        self.manual_faults.append(fault)

    def uses_hj212(self, stack: StackPlan) -> bool:
        """Does this stack's data logger speak HJ 212 (else JSON)?"""
        if stack.hj212_mn is None or self.config.voc_protocol == "json":
            return False
        return (
            self.config.voc_protocol == "hj212"
            or seeded_unit(self.config.seed, f"{stack.plant}/{stack.meter}/hj212") < 0.5
        )

    def step(self, t0: float, t1: float, kinds: Collection[str] | None = None) -> list[Outgoing]:
        """Messages for readings taken in (t0, t1] (of meters of these kinds, or all)."""
        out: list[Outgoing] = []
        first, last = int(local_day(int(np.floor(t0)) + 1)), int(local_day(int(np.floor(t1))))
        for meter in self.meters:
            if kinds is not None and meter.kind not in kinds:
                continue
            parts = [self._slice(meter, day, t0, t1) for day in range(first, last + 1)]
            parts = [p for p in parts if len(p.times_s)]
            if not parts:
                continue
            series = parts[0] if len(parts) == 1 else _concat(parts)
            faults = self._faults(meter, first - 1, last)
            state = self._state.setdefault((meter.plant, meter.meter), FaultState())
            faulted, device_t = apply_value_faults(series, faults, state)
            out += self._messages(meter, faulted, device_t, faults, t0, t1)
        # Remember the latest day's register ends only; old clean days are no longer needed.
        for key in [k for k in self._days if k[1] < last - 1]:
            del self._days[key]
        return out

    # -- clean data -------------------------------------------------------------------

    def _interval(self, meter: _Meter) -> int:
        return self.config.voc_interval_s if meter.kind == "voc" else self.config.fuel_interval_s

    def _slice(self, meter: _Meter, day: int, t0: float, t1: float) -> Series:
        day_series = self._day(meter, day, self._interval(meter))[meter.meter]
        t = day_series.times_s
        return day_series.take((t > t0) & (t <= t1))

    def _day(self, meter: _Meter, day: int, interval: int) -> dict[str, Series]:
        # Gas and coal come from one furnace: one generation feeds both meters.
        name = (
            f"{meter.plant}/fuel"
            if meter.kind in ("gas", "coal")
            else f"{meter.plant}/{meter.meter}"
        )
        key = (name, day, interval)
        cached = self._days.get(key)
        if cached is None:
            cached = self._generate(meter.source, name, day, interval)
            self._days[key] = cached
        return cached

    def _generate(
        self, source: FuelPlan | StackPlan | ElectricityPlan, key: str, day: int, interval: int
    ) -> dict[str, Series]:
        start = day_start_s(day)
        if isinstance(source, StackPlan):
            times = start + interval * np.arange(1, SECONDS_PER_DAY // interval + 1, dtype=np.int64)
            rng = rng_for(self.config.seed, key, day, interval)
            doy = date_of_day(day).timetuple().tm_yday
            block = voc_block(source, times, season_temp_c(doy), rng)
            return {
                source.meter: Series(
                    source.plant, source.meter, times, dict(block.values), dict(block.flags)
                )
            }
        # Registers are generated at a fixed base step and sampled at the reporting interval,
        # so a register read at the same moment agrees whatever the interval (no false drop
        # when live mode takes over from the backfill at a finer interval).
        base = start + BASE_STEP_S * np.arange(
            1, SECONDS_PER_DAY // BASE_STEP_S + 1, dtype=np.int64
        )
        rng = rng_for(self.config.seed, key, day)
        per = interval // BASE_STEP_S
        pick = per * np.arange(1, len(base) // per + 1) - 1
        registers = self._registers_at(source, key, day)
        if isinstance(source, FuelPlan):
            fb = fuel_block(
                source, base, BASE_STEP_S, registers["volume_m3"], registers["mass_kg"], rng
            )
            self._day_end.setdefault(
                (key, day), {"volume_m3": float(fb.volume_m3[-1]), "mass_kg": float(fb.mass_kg[-1])}
            )
            gas = {
                "volume_m3": fb.volume_m3[pick],
                "flow_m3h": np.round(fb.flow_m3h.reshape(-1, per).mean(axis=1), 2),
            }
            coal = {
                "mass_kg": fb.mass_kg[pick],
                "rate_kgh": np.round(fb.rate_kgh.reshape(-1, per).mean(axis=1), 1),
            }
            return {
                source.gas_meter: Series(source.plant, source.gas_meter, base[pick], gas),
                source.coal_meter: Series(source.plant, source.coal_meter, base[pick], coal),
            }
        power = electricity_block(source, base, BASE_STEP_S, registers["energy_kwh"], rng)
        energy = power.energy_kwh
        self._day_end.setdefault((key, day), {"energy_kwh": float(energy[-1])})
        values = {"energy_kwh": energy[pick]}
        if source.sends_power:
            values["power_kw"] = np.round(power.power_kw.reshape(-1, per).mean(axis=1), 2)
        return {source.meter: Series(source.plant, source.meter, base[pick], values)}

    def _registers_at(
        self, source: FuelPlan | ElectricityPlan, key: str, day: int
    ) -> dict[str, float]:
        """Register values at the start of `day`, advancing silently from the origin if needed."""
        if day <= self.origin_day:
            if isinstance(source, FuelPlan):
                return {"volume_m3": source.start_volume_m3, "mass_kg": source.start_mass_kg}
            return {"energy_kwh": source.start_energy_kwh}
        if (key, day - 1) not in self._day_end:
            known = max(
                (d for (k, d) in self._day_end if k == key and d < day), default=self.origin_day - 1
            )
            for d in range(known + 1, day):
                self._generate(source, key, d, BASE_STEP_S)
        return self._day_end[(key, day - 1)]

    # -- faults and messages ----------------------------------------------------------

    def _faults(self, meter: _Meter, first_day: int, last_day: int) -> list[Fault]:
        faults = [f for f in self.manual_faults if f.applies_to(meter.plant, meter.meter)]
        for day in range(first_day, last_day + 1):
            key = (meter.plant, meter.meter, day)
            if key not in self._random:
                rng = rng_for(self.config.seed, "faults", meter.plant, meter.meter, day)
                self._random[key] = random_faults(
                    meter.plant, meter.meter, meter.kind, day_start_s(day), self.config.rates, rng
                )
            faults += self._random[key]
        for key in [k for k in self._random if k[2] < first_day - 1]:
            del self._random[key]
        return faults

    def _messages(
        self,
        meter: _Meter,
        series: Series,
        device_t: np.ndarray,
        faults: Sequence[Fault],
        t0: float,
        t1: float,
    ) -> list[Outgoing]:
        readings = readings_of(device_t, series.values, series.flags)
        true_t = series.times_s.astype(np.float64)
        # (true time the device sends it, payload, readings carried)
        items: list[tuple[float, bytes, int]] = []
        stack = meter.source if isinstance(meter.source, StackPlan) else None
        if stack is not None and self.uses_hj212(stack):
            assert stack.hj212_mn is not None
            topic = self.topics.hj212(meter.plant)
            tz, dmf = self.config.timezone, stack.hj212_codes or NATIONAL_CODES
            # A 24-hex MN is an HJ 212-2025 logger: Flag=8, its data SM4-encrypted if keyed.
            flag = "8" if hj212.MN_2025.match(stack.hj212_mn) else "4"
            seal = _sealer(stack.hj212_sm4_key)
            # Real-time upload is optional and sparse in the field; minute data (CN 2051)
            # every minute and hourly data (CN 2061) every hour carry compliance.
            every = max(1, self.config.hj212_realtime_interval_s)
            items += [
                (float(t), seal(realtime_packet(stack.hj212_mn, r, tz, dmf, flag)), 1)
                for t, r in zip(true_t, readings, strict=True)
                if int(t) % every == 0
            ]
            recent = self._recent.setdefault((meter.plant, meter.meter), [])
            recent += readings
            for period, cn in (
                (MINUTE_PACKET_SECONDS, hj212.CN_MINUTE),
                (HOUR_PACKET_SECONDS, hj212.CN_HOUR),
            ):
                for end in range(int(t0 // period + 1) * period, int(t1) + 1, period):
                    window = [r for r in recent if end - period < r.ts.timestamp() <= end]
                    packet = average_packet(stack.hj212_mn, cn, end - period, window, tz, dmf, flag)
                    if packet is not None:
                        items.append((float(end), seal(packet), 1))
            cutoff = t1 - HOUR_PACKET_SECONDS - 1
            self._recent[(meter.plant, meter.meter)] = [
                r for r in recent if r.ts.timestamp() > cutoff
            ]
            return self._deliver(meter, topic, items, faults)
        topic = self.topics.readings(meter.plant, meter.meter)
        outages = [f for f in faults if f.kind == "outage"]
        group = np.full(len(true_t), -1)
        for i, f in enumerate(outages):
            group[(true_t >= f.start_s) & (true_t < f.end_s)] = i
        batch = self.config.batch
        for g in sorted(set(group.tolist())):
            rows = np.nonzero(group == g)[0]
            for k in range(0, len(rows), batch):
                chunk = rows[k : k + batch]
                items.append(
                    (
                        float(true_t[chunk[-1]]),
                        json_payload([readings[i] for i in chunk]),
                        len(chunk),
                    )
                )
        return self._deliver(meter, topic, items, faults)

    def _deliver(
        self,
        meter: _Meter,
        topic: str,
        items: Iterable[tuple[float, bytes, int]],
        faults: Sequence[Fault],
    ) -> list[Outgoing]:
        out = []
        outages = [f for f in faults if f.kind == "outage"]
        for t, payload, n in items:
            deliver = t
            for f in outages:
                if f.start_s <= t < f.end_s:
                    # Buffered while the link was down; backfilled newest first when it
                    # returns, trickling in between the live readings that follow.
                    deliver = f.end_s + (f.end_s - t) * OUTAGE_BACKFILL_PACE
            body = payload
            if any(f.kind == "malformed" and f.start_s <= t < f.end_s for f in faults):
                body = malformed(
                    payload, int(seeded_unit(self.config.seed, f"{meter.meter}/{t}") * 1000)
                )
            out.append(Outgoing(meter.plant, topic, body, deliver, n))
            if any(f.kind == "duplicate" and f.start_s <= t < f.end_s for f in faults):
                out.append(Outgoing(meter.plant, topic, body, deliver + 0.5, n))
        return out


def _concat(parts: list[Series]) -> Series:
    first = parts[0]
    return Series(
        first.plant,
        first.meter,
        np.concatenate([p.times_s for p in parts]),
        {k: np.concatenate([p.values[k] for p in parts]) for k in first.values},
        {k: np.concatenate([p.flags[k] for p in parts]) for k in first.flags},
    )


def _sealer(key: bytes | None) -> Callable[[bytes], bytes]:
    """What a logger with this SM4 key does to its data packets (nothing without a key)."""
    if key is None:
        return lambda raw: raw
    return lambda raw: hj212_sm4.encrypt_packet(raw, key)
