"""Monthly history and year-end projection over HTTP, from rollups and from raw data alike."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from api.app import rollup_job
from api.settings import ApiSettings
from ingest.kernel.store import InfluxStore
from tests.api.support import ADMIN
from tests.builders import FUEL_METERS, registry_toml

pytestmark = pytest.mark.integration

START = datetime(2024, 12, 31, 16, tzinfo=UTC)  # 2025-01-01T00:00+08:00
END = datetime(2025, 6, 30, 16, tzinfo=UTC)  # hourly readings until the end of local June
HOURS = int((END - START) / timedelta(hours=1))
SWITCH = {  # plant -> local month from which it burns gas (None: never; 0: always)
    "f1": 0,
    "f2": 3,
    "f3": 5,
    "f4": None,  # dual fuel at exactly 0.5 of energy: mixed
    "f5": None,
}
TOML = registry_toml({p: ("stainless_steel", FUEL_METERS) for p in SWITCH})


def local_month(ts: datetime) -> int:
    return (ts + timedelta(hours=8)).month


def write_year(store: InfluxStore) -> None:
    lines = []
    for plant, switch in SWITCH.items():
        gas = coal = 0.0
        for i in range(HOURS):
            ts = START + timedelta(hours=i)
            if plant == "f4":
                gas, coal = gas + 0.7143, coal + 1.2143  # equal kgce
            elif switch is not None and local_month(ts) >= switch:
                gas += 50.0
            else:
                coal += 80.0
            ms = int(ts.timestamp() * 1000)
            lines.append(f"gas,plant={plant},meter=gas-1 volume_m3={gas!r} {ms}")
            lines.append(f"coal,plant={plant},meter=coal-1 mass_kg={coal!r} {ms}")
    for i in range(0, len(lines), 20_000):
        store.write_lines(lines[i : i + 20_000])


def test_history_and_projection(
    store: InfluxStore,
    make_settings: Callable[..., ApiSettings],
    make_client: Callable[..., TestClient],
) -> None:
    write_year(store)
    client = make_client(TOML)
    raw = client.get("/api/v1/kpi/gas-share/history", params={"year": 2025}, headers=ADMIN)
    assert raw.status_code == 200, raw.text
    rollup_job(make_settings(TOML, rollup_chunk_days=200), store).run_pass()
    resp = client.get("/api/v1/kpi/gas-share/history", params={"year": 2025}, headers=ADMIN)
    body = resp.json()
    # Rollups answer exactly as the raw readings did.
    assert body["months"] == raw.json()["months"]

    months = body["months"]
    assert [m["month"] for m in months] == [f"2025-{n:02d}" for n in range(1, 13)]
    assert all(m["complete"] for m in months)
    assert [m["counts"]["gas"] for m in months[:6]] == [1, 1, 2, 2, 3, 3]
    assert months[0]["counts"] == {"gas": 1, "mixed": 1, "coal": 3, "idle": 0, "unknown": 0}
    assert [m["share"] for m in months[:6]] == [0.2, 0.2, 0.4, 0.4, 0.6, 0.6]
    assert months[0]["firms_needed"] == 2  # ceil(0.5 * 5) - 1
    # No data after June: every firm unknown, and those months are not evidence.
    assert months[6]["counts"]["unknown"] == 5
    assert months[6]["share_upper"] == 1.0

    # y = 1,1,2,2,3,3 over x = 1..6: slope 8/17.5, intercept 0.4 -> 5.886 at December,
    # clipped to the 5 active firms
    projection = body["projection"]
    assert projection["months_used"] == 6
    assert projection["slope_firms_per_month"] == pytest.approx(8 / 17.5)
    assert projection["gas_firms"] == 5.0
    assert projection["share"] == 1.0
    assert body["on_track"] is True
    assert body["firms_needed"] == 0  # June: 3 of 5 on gas
    assert [(c["plant"], c["status"]) for c in body["candidates"]] == [
        ("f4", "mixed"),
        ("f5", "coal"),
    ]
    assert body["candidates"][0]["gas_fraction"] == pytest.approx(0.5)


def test_history_of_a_year_without_data(make_client: Callable[..., TestClient]) -> None:
    body = (
        make_client(TOML)
        .get("/api/v1/kpi/gas-share/history", params={"year": 2024}, headers=ADMIN)
        .json()
    )
    assert len(body["months"]) == 12
    assert body["on_track"] is None and body["projection"]["method"] == "no data"
    assert body["candidates"] == []
