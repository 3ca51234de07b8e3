"""A realistic county in InfluxDB for the dashboard tests.

STAND-IN, until the branches that own these measurements land:

| measurement | real source (other branch) | here |
|---|---|---|
| `gas`, `coal` | the simulator over MQTT | the simulator's own generators (`simulators.fuel`), written directly |
| `fuel_hourly`, `fuel_daily`, `kpi_gas_share`, `kpi_firm_status` | the rollup job | **the real job** (`api.app.rollup_job`) run over the registers written here |
| `voc` | the simulator's stacks | minute readings generated here, with an exceedance episode, maintenance and a gap |
| `voc_minute`, `voc_hour` | HJ 212 loggers (CN 2051, 2061) | one stack (`MINUTE_ONLY_STACK`) sends only minute and hourly data, as loggers in the field may |
| `voc_hourly` | the VOC rollup | **the real job** (`api.voc.rollup.VocRollup`, in `api.app.rollup_job`) run over the VOC data written here |
| `electricity` | the simulator | hourly cumulative register generated here |
| `alert_event` | the alert engine | the events that engine would write for the episodes above |
| `ingest_stats` | the collectors | two collectors' cumulative counters, an outage and a restart |
| `dead_letter` | the collectors | refusals written with `ingest.kernel.points.dead_letter_line` |

Once those branches are merged this module should shrink to calling them; the dashboard
queries only rely on the data model in `docs/data-model.md` and `docs/dashboards.md`.
Everything is deterministic for a given `now` and seed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from zoneinfo import ZoneInfo

import numpy as np

from api.app import rollup_job
from api.fuel.points import KpiPoints
from api.settings import ApiSettings
from api.voc.rollup import VocRollup
from ingest.kernel.points import dead_letter_line, reading_lines
from ingest.kernel.registry import Meter, Plant, Registry
from ingest.kernel.schema import Reading
from ingest.kernel.store import InfluxStore, encode_point
from simulators.fuel import Registers, firm_profile, fuel_readings

LOCAL_ZONE = ZoneInfo("Asia/Shanghai")
LOCAL_UTC_OFFSET = timedelta(hours=8)  # China has no daylight saving time
FUEL_STEP = timedelta(minutes=15)
OLD_FUEL_STEP = timedelta(hours=1)
FUEL_HISTORY_DAYS = 120  # the real rollup job catches it all up: keep the fixture quick
RAW_FUEL_DAYS = 35  # raw registers for the KPI window (30 d) and the drill-down
VOC_STEP = timedelta(minutes=1)
VOC_HOURS = 48
# The synthetic-leather stack (by position) whose logger sends only CN 2051 minutes and CN
# 2061 hours, no real-time data: the boards must show it from the VOC rollup.
MINUTE_ONLY_STACK = 3
STATS_STEP = timedelta(seconds=30)
STATS_HOURS = 24
# GB 21902-2008 Table 5 (SPEC section 7); per-stack overrides come from the registry.
DEFAULT_LIMITS_MGM3 = {
    "nmhc_mgm3": 200.0,
    "dmf_mgm3": 50.0,
    "benzene_mgm3": 2.0,
    "toluene_mgm3": 30.0,
    "xylene_mgm3": 40.0,
}
WRITE_CHUNK_LINES = 20_000


@dataclass
class CountyFacts:
    """What was written, for tests to check dashboards and pages against."""

    now: datetime
    points: dict[str, int] = field(default_factory=dict)
    exceedance: tuple[str, str, str] | None = None  # plant, meter, pollutant
    minute_only: tuple[str, str] | None = None  # plant, meter of the CN 2051/2061-only logger


def fill_county(
    store: InfluxStore, registry: Registry, now: datetime, seed: int = 2026
) -> CountyFacts:
    """Write a year of fuel history, two days of VOC, alerts and ingest health up to `now`."""
    now = now.replace(minute=0, second=0, microsecond=0)
    facts = CountyFacts(now)
    rng = np.random.default_rng(seed)
    writers = {
        "fuel": _fuel_lines(registry, now, seed, rng),
        "electricity": _electricity_lines(registry, now, rng),
        "voc": _voc_lines(registry, now, rng, facts),
        "alert_event": _alert_lines(registry, now, facts),
        "ingest_stats": _stats_lines(now, rng),
        "dead_letter": _dead_letter_lines(registry, now, rng),
    }
    for name, lines in writers.items():
        count = 0
        batch: list[str] = []
        for line in lines:
            batch.append(line)
            if len(batch) >= WRITE_CHUNK_LINES:
                store.write_lines(batch)
                count += len(batch)
                batch = []
        store.write_lines(batch)
        facts.points[name] = count + len(batch)
    roll_up(store, registry, now)
    return facts


def roll_up(store: InfluxStore, registry: Registry, now: datetime) -> None:
    """The API's own rollup job (and its daily KPI points) over what was written, as of `now`."""
    settings = ApiSettings(influx_url=store.url, influx_db=store.database)
    # A year's catch-up on a busy machine: more patience than a request gets.
    with InfluxStore(store.url, store.database, timeout_seconds=600) as patient:
        job = rollup_job(settings, patient, registry)
        job.clock = lambda: now
        points = job.after_pass["fuel"]
        assert isinstance(points, KpiPoints)
        points.clock = lambda: now
        voc = job.domain("voc")
        assert isinstance(voc, VocRollup)
        voc.pause_seconds = 0
        job.run_pass()


def _fuel_lines(
    registry: Registry, now: datetime, seed: int, rng: np.random.Generator
) -> Iterator[str]:
    """Simulated registers: hourly for most of the year, every 15 min for the last 35 days."""
    raw_from = now - timedelta(days=RAW_FUEL_DAYS)
    old_steps = int(timedelta(days=FUEL_HISTORY_DAYS - RAW_FUEL_DAYS) / OLD_FUEL_STEP)
    raw_steps = int(timedelta(days=RAW_FUEL_DAYS) / FUEL_STEP)
    for plant in registry.by_sector("stainless_steel"):
        profile = firm_profile(plant, seed)
        if profile is None:
            continue
        registers = Registers()
        old_gas, old_coal = fuel_readings(
            profile, registers, raw_from - old_steps * OLD_FUEL_STEP, old_steps, OLD_FUEL_STEP, rng
        )
        gas, coal = fuel_readings(profile, registers, raw_from, raw_steps, FUEL_STEP, rng)
        for meter_id, old, recent in (
            (profile.gas_meter, old_gas, gas),
            (profile.coal_meter, old_coal, coal),
        ):
            meter = plant.meter(meter_id)
            assert meter is not None
            yield from reading_lines(plant, meter, old)
            yield from reading_lines(plant, meter, recent)


def _electricity_lines(
    registry: Registry, now: datetime, rng: np.random.Generator
) -> Iterator[str]:
    hours = RAW_FUEL_DAYS * 24
    start = now - timedelta(hours=hours)
    for plant in registry.plants:
        for meter in plant.meters_of("electricity"):
            if meter.line is not None:
                continue  # line power meters (SPEC 13) have their own tests; this is site load
            load_kw = 80.0 + 40.0 * rng.random(hours)
            register = 120_000.0 + np.cumsum(load_kw)
            readings = [
                Reading(start + timedelta(hours=i), MappingProxyType({"energy_kwh": float(v)}))
                for i, v in enumerate(register)
            ]
            yield from reading_lines(plant, meter, readings)


def _stack_limits(plant: Plant, meter_id: str) -> dict[str, float]:
    meter = plant.meter(meter_id)
    assert meter is not None
    return DEFAULT_LIMITS_MGM3 | dict(meter.limits_mgm3)


def _voc_lines(
    registry: Registry, now: datetime, rng: np.random.Generator, facts: CountyFacts
) -> Iterator[str]:
    """Minute readings per stack: production by day shift, one DMF exceedance, maintenance, a gap."""
    minutes = VOC_HOURS * 60
    start = now - timedelta(minutes=minutes)
    times = [start + i * VOC_STEP for i in range(minutes)]
    local_hour = np.array([t.astimezone(LOCAL_ZONE).hour for t in times])
    running = ((local_hour >= 7) & (local_hour < 23)).astype(float)
    stacks = [(p, m) for p in registry.by_sector("synthetic_leather") for m in p.meters_of("voc")]
    for index, (plant, meter) in enumerate(stacks):
        limits = _stack_limits(plant, meter.id)
        load = 0.25 + 0.75 * running * rng.uniform(0.8, 1.1, minutes)
        values = {
            "nmhc_mgm3": 45.0 * load + rng.normal(0, 2.0, minutes),
            "dmf_mgm3": 22.0 * load + rng.normal(0, 1.5, minutes),
            "benzene_mgm3": 0.3 * load + rng.normal(0, 0.02, minutes),
            "toluene_mgm3": 6.0 * load + rng.normal(0, 0.4, minutes),
            "xylene_mgm3": 8.0 * load + rng.normal(0, 0.5, minutes),
            "flow_m3h": 36_000.0 * load + rng.normal(0, 500.0, minutes),
            "temp_c": 28.0 + 12.0 * load + rng.normal(0, 0.3, minutes),
            "pressure_kpa": 101.3 + rng.normal(0, 0.05, minutes),
            "humidity_pct": 9.0 + rng.normal(0, 0.5, minutes),
            "o2_pct": 20.6 - 1.2 * load + rng.normal(0, 0.05, minutes),
        }
        values["thc_mgm3"] = values["nmhc_mgm3"] + 2.5
        flags = np.full(minutes, "N", dtype=object)
        flow_flags = flags.copy()  # the flow meter may fail on its own
        keep = np.ones(minutes, dtype=bool)
        if index == 0:
            # Three hours of DMF at ~1.5x its limit, ending six hours ago: hourly exceedances.
            episode = slice(minutes - 9 * 60, minutes - 6 * 60)
            values["dmf_mgm3"][episode] = limits["dmf_mgm3"] * rng.uniform(1.4, 1.6, 180)
            values["dmf_mgm3"][minutes - 8 * 60] = limits["dmf_mgm3"] * 2.3  # a spike
            facts.exceedance = (plant.id, meter.id, "dmf_mgm3")
        if index == 1:
            flags[minutes - 20 * 60 : minutes - 19 * 60 + 20] = "M"  # analyser maintenance
        if index == 2:
            keep[minutes - 30 * 60 : minutes - 30 * 60 + 25] = False  # logger offline: 25 min gap
        measurement = None
        if index == MINUTE_ONLY_STACK:
            measurement = "voc_minute"  # what a CN 2051 minute is stored as
            # The flow meter faulted: 10 minutes of one hour (emission from the other 50),
            # 20 minutes of another (too few minutes for an hourly emission rate).
            flow_flags[minutes - 5 * 60 : minutes - 5 * 60 + 10] = "D"
            flow_flags[minutes - 4 * 60 : minutes - 4 * 60 + 20] = "D"
            facts.minute_only = (plant.id, meter.id)
            yield from _logger_hour_lines(plant, meter, times, values, keep)
        for i in np.flatnonzero(keep):
            reading_values = {k: round(max(float(v[i]), 0.0), 3) for k, v in values.items()}
            flag = str(flags[i])
            reading = Reading(
                times[i],
                MappingProxyType(reading_values),
                MappingProxyType(
                    dict.fromkeys(reading_values, flag) | {"flow_m3h": str(flow_flags[i])}
                ),
            )
            yield from reading_lines(plant, meter, [reading], measurement)


def _logger_hour_lines(
    plant: Plant,
    meter: Meter,
    times: list[datetime],
    values: dict[str, np.ndarray],
    keep: np.ndarray,
) -> Iterator[str]:
    """The logger's own CN 2061 hours (`voc_hour`): the mean of each whole hour's minutes."""
    for first in range(0, len(times) - 59, 60):
        if times[first].minute != 0:
            continue
        inside = slice(first, first + 60)
        means = {
            k: round(max(float(np.mean(v[inside][keep[inside]])), 0.0), 3)
            for k, v in values.items()
        }
        hour = Reading(
            times[first], MappingProxyType(means), MappingProxyType(dict.fromkeys(means, "N"))
        )
        yield from reading_lines(plant, meter, [hour], "voc_hour")


def _alert_lines(registry: Registry, now: datetime, facts: CountyFacts) -> Iterator[str]:
    """The `alert_event` points the alert engine would write for the episodes above."""
    if facts.exceedance is None:
        return
    plant, meter, pollutant = facts.exceedance
    stack = registry.plant(plant)
    assert stack is not None
    limit = _stack_limits(stack, meter)[pollutant]
    hour = timedelta(hours=1)
    events = [
        (1, "voc_spike", "open", now - 8 * hour, 2.3 * limit, "DMF reading above twice its limit"),
        (1, "voc_spike", "resolved", now - 7 * hour, 0.0, "spike cleared"),
        (
            2,
            "voc_hourly_exceedance",
            "open",
            now - 8 * hour,
            1.5 * limit,
            "DMF hourly mean above limit",
        ),
        (
            2,
            "voc_hourly_exceedance",
            "acknowledged",
            now - 7 * hour,
            1.5 * limit,
            "officer on site",
        ),
        (
            2,
            "voc_hourly_exceedance",
            "resolved",
            now - 5 * hour,
            0.4 * limit,
            "cleared for the hold-off",
        ),
    ]
    for alert_id, kind, state, ts, value, message in events:
        yield encode_point(
            "alert_event",
            {"plant": plant, "kind": kind, "state": state},
            {
                "id": alert_id,
                "meter": meter,
                "pollutant": pollutant,
                "message": message,
                "value": round(value, 3),
                "limit": limit,
            },
            ts,
        )
    silent = registry.by_sector("stainless_steel")
    if silent:
        yield encode_point(
            "alert_event",
            {"plant": silent[-1].id, "kind": "meter_offline", "state": "open"},
            {
                "id": 3,
                "meter": "gas-1",
                "pollutant": "",
                "message": "no data for 75 min (allowance 60 min)",
                "value": 75.0,
                "limit": 60.0,
            },
            now - 3 * hour,
        )


def _stats_lines(now: datetime, rng: np.random.Generator) -> Iterator[str]:
    """Two collectors' cumulative counters; an InfluxDB outage at -3 h, collector-2 restarts at -2 h."""
    n = int(timedelta(hours=STATS_HOURS) / STATS_STEP)
    start = now - n * STATS_STEP
    outage = range(n - 360, n - 350)  # five minutes of spooling
    restart = n - 240
    for collector in ("collector-1", "collector-2"):
        received = written = refused = spooled = replayed = 0.0
        spool_bytes = 0.0
        for i in range(n):
            if collector == "collector-2" and i == restart:
                received = written = refused = spooled = replayed = 0.0
            messages = float(rng.poisson(1500))
            received += messages
            refused += float(rng.poisson(0.5))
            lag = float(rng.uniform(0.05, 0.4))
            if i in outage:
                spooled += messages * 4
                spool_bytes += messages * 4 * 120
                lag = 30.0 * (i - outage.start + 1)
            else:
                written += messages * 4
                if spool_bytes:
                    replayed = spooled
                    written += spool_bytes / 120
                    spool_bytes = 0.0
            yield encode_point(
                "ingest_stats",
                {"collector": collector},
                {
                    "received": received,
                    "points_written": written,
                    "refused": refused,
                    "spooled": spooled,
                    "replayed": replayed,
                    "spool_bytes": spool_bytes,
                    "lag_seconds": round(lag, 3),
                },
                start + i * STATS_STEP,
            )


def _dead_letter_lines(
    registry: Registry, now: datetime, rng: np.random.Generator
) -> Iterator[str]:
    plants = [p.id for p in registry.plants]
    refusals = [
        ("invalid_payload", "readings[0]: value 'volume_m3' must be a number, got 'n/a'"),
        ("unknown_source", "meter 'gas-9' is not in the registry for plant {plant}"),
        ("hj212", "CRC mismatch: packet says 1C80, computed 4F2A"),
    ]
    for seq in range(36):
        code, reason = refusals[seq % len(refusals)]
        plant = plants[int(rng.integers(len(plants)))]
        topic = f"plantwatch/plants/{plant}/meters/gas-1/readings"
        received = now - timedelta(minutes=40 * seq + int(rng.integers(30)))
        yield dead_letter_line(
            topic, plant, code, reason.format(plant=plant), b'{"readings": []}', received, seq
        )
