"""The benchmark workload: a generated county, readings messages and line protocol. Pure.

The line-protocol formatter here produces exactly the lines the collector writes for a
fuel reading (checked against `ingest.kernel.store.encode_point` in tests/bench), but fast enough
to generate millions of points for the InfluxDB ceiling and a year of history.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

TOPIC_ROOT = "plantwatch"
READINGS_FILTER = f"{TOPIC_ROOT}/plants/+/meters/+/readings"
REGISTER_BY_KIND = {"gas": "volume_m3", "coal": "mass_kg"}
GAS_KGCE_PER_M3 = 1.2143
COAL_KGCE_PER_KG = 0.7143
MS_PER_MINUTE = 60_000


@dataclass(frozen=True, slots=True)
class Firm:
    """A generated stainless-steel firm: its fuel mix and load."""

    plant: str
    gas_fraction: float
    load_kgce_per_hour: float


def firm_ids(count: int) -> list[str]:
    """`ss-001`, `ss-002`, ... like the demo county."""
    return [f"ss-{i:03d}" for i in range(1, count + 1)]


def county_firms(count: int, seed: int = 2026) -> list[Firm]:
    """Half the firms converted to gas, a few dual-fuel, the rest on coal."""
    rng = np.random.default_rng(seed)
    firms = []
    for i, plant in enumerate(firm_ids(count)):
        u = (i * 0.618034) % 1.0  # evenly spread, stable for any count
        fraction = 0.97 if u < 0.5 else (0.5 if u < 0.65 else 0.03)
        firms.append(Firm(plant, fraction, float(rng.uniform(200.0, 2000.0))))
    return firms


def registry_toml(firms: list[Firm], county: str = "Songyang (bench)") -> str:
    """A registry file (SPEC section 3) naming each firm with a gas and a coal meter."""
    parts = [f'[county]\nname = "{county}"\ngas_share_goal = 0.5\n']
    for firm in firms:
        parts.append(
            f'[[plants]]\nid = "{firm.plant}"\nname = "松阳县{firm.plant}不锈钢有限公司"\n'
            'sector = "stainless_steel"\n'
            '  [[plants.meters]]\n  id = "gas-1"\n  kind = "gas"\n'
            '  [[plants.meters]]\n  id = "coal-1"\n  kind = "coal"\n'
        )
    return "\n".join(parts)


def readings_topic(plant: str, meter: str) -> str:
    return f"{TOPIC_ROOT}/plants/{plant}/meters/{meter}/readings"


def readings_message(ts_ms: int, volume_m3: float, count: int = 1, step_ms: int = 1000) -> bytes:
    """Gas readings as the SPEC's JSON batch; one reading is a live meter's message."""
    doc = {
        "readings": [
            {"ts": ts_ms + i * step_ms, "values": {"volume_m3": round(volume_m3 + 0.5 * i, 3)}}
            for i in range(count)
        ]
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def publisher_lines(
    count: int, start_ms: int, per_message: int = 1, step_ms: int = 1000
) -> Iterator[bytes]:
    """`count` messages of one meter with distinct times (for `mosquitto_pub -l`)."""
    for k in range(count):
        first = k * per_message
        yield readings_message(
            start_ms + first * step_ms, 1000.0 + 0.5 * first, per_message, step_ms
        )


def format_float(value: float) -> str:
    """A float as influxdb-client writes it (whole numbers without `.0`)."""
    text = str(float(value))
    return text[:-2] if text.endswith(".0") else text


def fuel_line(
    kind: str, plant: str, meter: str, value: float, ts_ms: int, arrived_ms: int | None = None
) -> str:
    """The line the collector writes for one fuel reading with flag N (received at `arrived_ms`).

    Without `arrived_ms`: a point as history written straight to InfluxDB has it.
    """
    name = REGISTER_BY_KIND[kind]
    arrival = "" if arrived_ms is None else f'_arrived_ms={arrived_ms}i,_source="mqtt",'
    return (
        f"{kind},meter={meter},plant={plant} "
        f'{arrival}{name}={format_float(value)},{name}_flag="N" {ts_ms}'
    )


def ceiling_lines(count: int, start_ms: int, plants: int = 60) -> list[str]:
    """`count` distinct gas points spread over `plants` meters (the InfluxDB ceiling's input)."""
    ids = firm_ids(plants)
    return [
        fuel_line(
            "gas", ids[k % plants], "gas-1", round(1000.0 + 0.5 * k, 3), start_ms + k, start_ms + k
        )
        for k in range(count)
    ]


def history_lines(
    firm: Firm, start_ms: int, steps: int, step_minutes: int, rng: np.random.Generator
) -> list[str]:
    """Cumulative gas and coal registers of one firm at a fixed step (a year of history)."""
    hours = step_minutes / 60
    load = firm.load_kgce_per_hour * hours * rng.uniform(0.7, 1.3, steps)
    gas = np.round(5000.0 + np.cumsum(load * firm.gas_fraction / GAS_KGCE_PER_M3), 3)
    coal = np.round(20000.0 + np.cumsum(load * (1 - firm.gas_fraction) / COAL_KGCE_PER_KG), 3)
    step_ms = step_minutes * MS_PER_MINUTE
    out = []
    for i in range(steps):
        ts = start_ms + i * step_ms
        out.append(fuel_line("gas", firm.plant, "gas-1", float(gas[i]), ts))
        out.append(fuel_line("coal", firm.plant, "coal-1", float(coal[i]), ts))
    return out
