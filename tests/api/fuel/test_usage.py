"""Usage per plant and per sector: hand-computed totals, and rollups agreeing with raw data."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from api.app import rollup_job
from api.settings import ApiSettings
from ingest.kernel.store import InfluxStore
from tests.api.support import ADMIN
from tests.builders import FUEL_METERS, register_lines, registry_toml

pytestmark = pytest.mark.integration

LOCAL_1_MARCH = datetime(2026, 2, 28, 16, tzinfo=UTC)  # 2026-03-01T00:00+08:00
STEP = timedelta(minutes=15)
N = 2 * 96  # two local days of 15-minute readings
TOML = registry_toml(
    {
        "ss-a": ("stainless_steel", FUEL_METERS),
        "ss-b": ("stainless_steel", FUEL_METERS),
        "sl-x": ("synthetic_leather", FUEL_METERS),
    }
)


def write_data(store: InfluxStore) -> None:
    lines: list[str] = []
    for plant, gas_step, coal_step in (
        ("ss-a", 10.0, 1.0),
        ("ss-b", 5.0, 0.0),
        ("sl-x", 1000.0, 0.0),
    ):
        lines += register_lines(
            "gas", plant, "gas-1", LOCAL_1_MARCH, STEP, [gas_step * i for i in range(N)]
        )
        lines += register_lines(
            "coal", plant, "coal-1", LOCAL_1_MARCH, STEP, [coal_step * i for i in range(N)]
        )
    store.write_lines(lines)


def get(client: TestClient, path: str, **params: str) -> dict:
    resp = client.get(path, params=params, headers=ADMIN)
    assert resp.status_code == 200, resp.text
    return resp.json()


DAYS = {"start": "2026-03-01T00:00:00+08:00", "end": "2026-03-03T00:00:00+08:00", "every": "1d"}


def test_plant_usage_per_day_hand_computed(
    store: InfluxStore, make_client: Callable[..., TestClient]
) -> None:
    write_data(store)
    body = get(make_client(TOML), "/api/v1/plants/ss-a/usage", **DAYS)
    first, second = body["intervals"]
    # Day 1: 96 readings, 95 steps (the first reading has no predecessor); day 2: 96 steps,
    # the first one bridging midnight.
    assert (first["gas_m3"], first["coal_kg"], first["gas_readings"]) == (950.0, 95.0, 96)
    assert (second["gas_m3"], second["coal_kg"]) == (960.0, 96.0)
    assert first["start"] == "2026-02-28T16:00:00+00:00"
    assert first["kgce"] == pytest.approx(950 * 1.2143 + 95 * 0.7143)
    assert first["co2_kg"] == pytest.approx(950 * 2.1622 + 95 * 1.9003)
    assert body["totals"]["gas_m3"] == 1910.0
    assert body["sources"] == [
        {"source": "raw", "start": "2026-02-28T16:00:00+00:00", "end": "2026-03-02T16:00:00+00:00"}
    ]


def test_sector_usage_sums_only_that_sector(
    store: InfluxStore, make_client: Callable[..., TestClient]
) -> None:
    write_data(store)
    client = make_client(TOML)
    body = get(client, "/api/v1/usage", sector="stainless_steel", **DAYS)
    assert body["plants"] == ["ss-a", "ss-b"]
    assert [i["gas_m3"] for i in body["intervals"]] == [950.0 + 475.0, 960.0 + 480.0]
    other = get(client, "/api/v1/usage", sector="other", **DAYS)
    assert other["plants"] == [] and other["totals"]["gas_m3"] == 0


@pytest.mark.parametrize(
    "params",
    [
        DAYS,
        {"start": "2026-03-01T00:30:00+08:00", "end": "2026-03-02T21:10:00+08:00", "every": "6h"},
        {"start": "2026-03-01T03:00:00+08:00", "end": "2026-03-02T21:00:00+08:00", "every": "1h"},
        {"start": "2026-03-01T00:00:00+08:00", "end": "2026-03-03T00:00:00+08:00", "every": "45m"},
        {"start": "2026-02-23T00:00:00+08:00", "end": "2026-03-09T00:00:00+08:00", "every": "1w"},
    ],
)
def test_rollups_answer_like_raw_data(
    params: dict[str, str],
    store: InfluxStore,
    make_settings: Callable[..., ApiSettings],
    make_client: Callable[..., TestClient],
) -> None:
    write_data(store)
    client = make_client(TOML)
    raw = get(client, "/api/v1/usage", **params)
    assert {s["source"] for s in raw["sources"]} == {"raw"}
    # Large chunks: the catch-up runs from the data to today, mostly over empty months.
    rollup_job(make_settings(TOML, rollup_chunk_days=120), store).run_pass()
    rolled = get(client, "/api/v1/usage", **params)
    assert rolled["intervals"] == raw["intervals"]
    if params["every"] in ("1d", "1w"):
        assert "daily" in {s["source"] for s in rolled["sources"]}


def test_weeks_start_on_monday_local_time(
    store: InfluxStore, make_client: Callable[..., TestClient]
) -> None:
    write_data(store)
    body = get(
        make_client(TOML),
        "/api/v1/plants/ss-a/usage",
        start="2026-02-25T00:00:00+08:00",
        end="2026-03-09T00:00:00+08:00",
        every="1w",
    )
    # 2026-03-02 is a Monday: the first interval is clipped to the requested start.
    assert [i["start"] for i in body["intervals"]] == [
        "2026-02-24T16:00:00+00:00",
        "2026-03-01T16:00:00+00:00",
    ]
    # The data covers local 1 and 2 March: Sunday closes the first week, Monday opens the next.
    assert [i["gas_m3"] for i in body["intervals"]] == [950.0, 960.0]


def test_usage_csv_has_bom_and_rows(
    store: InfluxStore, make_client: Callable[..., TestClient]
) -> None:
    write_data(store)
    resp = make_client(TOML).get(
        "/api/v1/plants/ss-a/usage", params={**DAYS, "format": "csv"}, headers=ADMIN
    )
    assert resp.status_code == 200
    assert resp.content[:3] == b"\xef\xbb\xbf"
    rows = list(csv.DictReader(io.StringIO(resp.content.decode("utf-8-sig"))))
    assert [r["gas_m3"] for r in rows] == ["950.0", "960.0"]
    assert 'filename="usage-ss-a.csv"' in resp.headers["content-disposition"]
