"""VOC compliance against a real InfluxDB: crafted readings, the endpoint, hand-computed answers."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import create_app
from api.auth import Principal
from api.presence import last_seen
from api.readmodel.plan import HOUR, hour_groups
from api.settings import ApiSettings
from api.voc.rollup import VocRollup, voc_job
from api.voc.service import compliance
from ingest.kernel.points import reading_lines
from ingest.kernel.registry import load_registry
from ingest.kernel.schema import Reading
from ingest.kernel.store import InfluxStore
from tests.builders import MeterSpec, RegistryBuilder

pytestmark = pytest.mark.integration

H0 = datetime(2026, 3, 2, 8, tzinfo=UTC)  # a whole hour
ADMIN, VIEWER, PLANT_KEY = "admin-key", "viewer-key", "plant-key"
REGISTRY = (
    RegistryBuilder(county="Test")
    .plant(
        "sl-001",
        "synthetic_leather",
        [MeterSpec("stack-1", "voc", {"limits": {"dmf_mgm3": 20.0}}), ("stack-2", "voc")],
    )
    .plant("sl-002", "synthetic_leather", [("stack-1", "voc")])
    .plant("sl-003", "synthetic_leather", [MeterSpec("stack-1", "voc", {"hj212_mn": "MN-SL003"})])
    .plant("ss-001", "stainless_steel", [("gas-1", "gas")])
    .toml()
)


def reading(ts: datetime, values: dict[str, float], flags: dict[str, str] | None = None) -> Reading:
    return Reading(ts, MappingProxyType(values), MappingProxyType(flags or {}))


def crafted() -> dict[tuple[str, str], list[Reading]]:
    """Readings with known answers (see the test's comments)."""
    s1: list[Reading] = []
    for minute in range(60):
        t = H0 + timedelta(minutes=minute)
        # hour 0: dmf valid in minutes 0..44 (45 valid minutes), M-flagged 500 in 45..59
        if minute < 45:
            # two readings in minute 0 average to 25: 15 at :00 and 35 at :30
            if minute == 0:
                s1.append(reading(t, {"dmf_mgm3": 15.0, "flow_m3h": 10_000.0}))
                s1.append(reading(t + timedelta(seconds=30), {"dmf_mgm3": 35.0}))
            else:
                s1.append(reading(t, {"dmf_mgm3": 25.0, "flow_m3h": 10_000.0}))
        else:
            s1.append(reading(t, {"dmf_mgm3": 500.0, "flow_m3h": 10_000.0}, {"dmf_mgm3": "M"}))
        # hour 1: dmf valid in 44 minutes, C-flagged 900 in the other 16 -> insufficient
        t1 = t + timedelta(hours=1)
        if minute < 44:
            s1.append(reading(t1, {"dmf_mgm3": 10.0, "toluene_mgm3": 31.0, "flow_m3h": 8_000.0}))
        else:
            s1.append(
                reading(
                    t1,
                    {"dmf_mgm3": 900.0, "toluene_mgm3": 31.0, "flow_m3h": 8_000.0},
                    {"dmf_mgm3": "C"},
                )
            )
    # stack-2 (default limits): 45 valid minutes of dmf 25 -> valid, below 50
    s2 = [reading(H0 + timedelta(minutes=m), {"dmf_mgm3": 25.0}) for m in range(45)]
    # another plant with the same meter id must not leak into sl-001
    other = [reading(H0 + timedelta(minutes=m), {"dmf_mgm3": 999.0}) for m in range(60)]
    return {("sl-001", "stack-1"): s1, ("sl-001", "stack-2"): s2, ("sl-002", "stack-1"): other}


def logger_only() -> dict[str, list[Reading]]:
    """sl-003: a logger uploading minute (CN 2051) and hourly (CN 2061) data, no real time.

    hour 0: 50 minutes of dmf 30 at 20 000 m³/h (valid, 0.6 kg/h), its logger hour says 30.
    hour 1: no minute at all; the logger's hour says dmf 70 (above 50), -Cou 1.4 kg.
    """
    minutes = [
        reading(H0 + timedelta(minutes=m), {"dmf_mgm3": 30.0, "flow_m3h": 20_000.0})
        for m in range(50)
    ]
    hours = [
        reading(H0, {"dmf_mgm3": 30.0, "flow_m3h": 20_000.0}),
        reading(H0 + timedelta(hours=1), {"dmf_mgm3": 70.0, "dmf_kg": 1.4, "flow_m3h": 20_000.0}),
    ]
    return {"voc_minute": minutes, "voc_hour": hours}


@pytest.fixture
def voc_store(store: InfluxStore, tmp_path: Path) -> InfluxStore:
    registry = load_registry(_registry(tmp_path))
    lines = []
    for (plant_id, meter_id), readings in crafted().items():
        plant = registry.plant(plant_id)
        assert plant is not None
        meter = plant.meter(meter_id)
        assert meter is not None
        lines += reading_lines(plant, meter, readings)
    plant = registry.plant("sl-003")
    assert plant is not None
    for measurement, readings in logger_only().items():
        lines += reading_lines(plant, plant.meters[0], readings, measurement)
    store.write_lines(lines)
    return store


def _registry(tmp_path: Path) -> Path:
    path = tmp_path / "registry.toml"
    path.write_text(REGISTRY, encoding="utf-8")
    return path


@pytest.fixture
def client(voc_store: InfluxStore, tmp_path: Path) -> Iterator[TestClient]:
    settings = ApiSettings(
        registry=_registry(tmp_path),
        influx_url=voc_store.url,
        influx_db=voc_store.database,
        admin_key=SecretStr(ADMIN),
        database_url=f"sqlite:///{tmp_path}/plantwatch.db",
        alert_engine_enabled=False,
    )
    app = create_app(settings)
    app.state.keyring.add(VIEWER, Principal("viewer", "viewer"))
    app.state.keyring.add(PLANT_KEY, Principal("sl-001", "plant", "sl-001"))
    with TestClient(app) as c:
        yield c


def get(client: TestClient, plant: str, key: str = VIEWER, **params: str):
    return client.get(
        f"/api/v1/plants/{plant}/voc", params=params, headers={"Authorization": f"Bearer {key}"}
    )


def _answer(store: InfluxStore, tmp_path: Path) -> list[object]:
    registry = load_registry(_registry(tmp_path))
    now = H0 + timedelta(days=1)
    stacks = compliance(store, list(registry.plants), H0, H0 + timedelta(hours=2), now)
    return [
        (s.plant, s.meter, p.limit.pollutant, p.status, p.mean.tolist(), p.emission_kg.tolist())
        for s in stacks
        for p in s.pollutants
    ]


def test_rolled_up_hours_answer_like_raw_ones(voc_store: InfluxStore, tmp_path: Path) -> None:
    raw = _answer(voc_store, tmp_path)
    registry = load_registry(_registry(tmp_path))
    job = voc_job(voc_store, registry, clock=lambda: H0 + timedelta(days=1))
    assert job.run_pass()["voc"].watermarks.hourly == H0 + timedelta(days=1)
    written = voc_store.query('SELECT count("dmf_mgm3_valid_minutes") FROM "voc_hourly"')
    assert written[0].values[0][1] == 5  # hours with data: sl-001 x2 (+1 stack-2), sl-002, sl-003
    assert repr(_answer(voc_store, tmp_path)) == repr(raw)
    # re-rolling a given set of stack hours is idempotent
    voc = job.domain("voc")
    assert isinstance(voc, VocRollup)
    stop = threading.Event()
    assert voc.roll(H0, H0 + HOUR, frozenset({("sl-001", "stack-1")}), stop) == 1
    assert repr(_answer(voc_store, tmp_path)) == repr(raw)
    # several stacks' marked hours, as the read model plans them (api/readmodel/plan.py):
    # each hour with the stacks marked in it, not sl-001's stack-2
    marked = {("sl-002", "stack-1"): {H0}, ("sl-001", "stack-1"): {H0 + HOUR}}
    rolled = [voc.roll(a, b, series, stop) for a, b, series in hour_groups(marked)]
    assert rolled == [1, 1]
    assert repr(_answer(voc_store, tmp_path)) == repr(raw)


def test_voc_endpoint_boundary_flags_and_overrides(client: TestClient) -> None:
    resp = get(
        client,
        "sl-001",
        start=H0.isoformat(),
        end=(H0 + timedelta(hours=2)).isoformat(),
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    stacks = {s["meter"]: {p["pollutant"]: p for p in s["pollutants"]} for s in body["stacks"]}
    assert set(stacks) == {"stack-1", "stack-2"}

    dmf = stacks["stack-1"]["dmf_mgm3"]
    assert (dmf["limit_mgm3"], dmf["limit_source"]) == (20.0, "registry")
    h0, h1 = dmf["hours"]
    # hour 0: 45 valid minutes (the M-flagged 500s excluded), mean 25 > override 20
    assert (h0["status"], h0["valid_minutes"], h0["mean_mgm3"], h0["exceeds"]) == (
        "valid",
        45,
        25.0,
        True,
    )
    # emission: 25 mg/m³ × 10 000 m³/h × 1e-6 = 0.25 kg/h over the 45 minutes with both
    assert h0["emission_kgh"] == pytest.approx(0.25)
    assert (h0["transmitted_minutes"], h0["source"]) == (60, "minutes")
    # hour 1: 44 valid minutes (C-flagged 900s excluded) -> insufficient, never a pass
    assert (h1["status"], h1["valid_minutes"], h1["mean_mgm3"], h1["exceeds"]) == (
        "insufficient",
        44,
        None,
        False,
    )
    assert h1["emission_kgh"] is None
    assert dmf["counts"] == {
        "hours": 2,
        "running": 2,
        "valid": 1,
        "insufficient": 1,
        "stopped": 0,
        "pending": 0,
        "marked": 0,
        "exceeding": 1,
        "disagreeing": 0,
    }

    # toluene in hour 1: 60 valid minutes at 31 > the default 30
    toluene = stacks["stack-1"]["toluene_mgm3"]
    assert toluene["limit_source"] == "GB 21902-2008 Table 5"
    assert [h["status"] for h in toluene["hours"]] == ["insufficient", "valid"]
    assert toluene["hours"][1]["mean_mgm3"] == 31.0
    assert toluene["hours"][1]["emission_kgh"] == pytest.approx(31 * 8000 * 1e-6)
    assert toluene["counts"]["exceeding"] == 1

    # stack-2: default DMF limit 50, 45 valid minutes of 25 -> a pass; other plant's 999s absent
    dmf2 = stacks["stack-2"]["dmf_mgm3"]
    assert dmf2["limit_mgm3"] == 50.0
    assert dmf2["hours"][0]["mean_mgm3"] == 25.0
    assert dmf2["counts"]["exceeding"] == 0
    assert dmf2["hours"][0]["emission_kgh"] is None  # stack-2 reports no flow


def test_voc_endpoint_partial_hours_and_pending(client: TestClient) -> None:
    # 08:30..09:30 covers the whole hours 08:00 and 09:00
    resp = get(
        client,
        "sl-001",
        start=(H0 + timedelta(minutes=30)).isoformat(),
        end=(H0 + timedelta(minutes=90)).isoformat(),
    )
    assert resp.status_code == 200
    hours = resp.json()["stacks"][0]["pollutants"][0]["hours"]
    assert [h["start"] for h in hours] == [H0.isoformat(), (H0 + timedelta(hours=1)).isoformat()]
    now = datetime.now(UTC)
    resp = get(client, "sl-001", start=(now - timedelta(hours=1)).isoformat())
    statuses = [h["status"] for h in resp.json()["stacks"][0]["pollutants"][0]["hours"]]
    assert statuses[-1] == "pending"


def test_voc_endpoint_plant_without_stacks(client: TestClient) -> None:
    resp = get(client, "ss-001")
    assert resp.status_code == 200
    assert resp.json()["stacks"] == []


@pytest.mark.parametrize(
    ("plant", "params", "code"),
    [
        ("nope", {}, 404),
        ("sl-001' OR 1=1 --", {}, 404),
        ("sl-001", {"start": "2026-03-02T08:00:00"}, 422),  # no offset
        ("sl-001", {"start": "yesterday"}, 422),
        ("sl-001", {"start": "2026-03-02T08:00:00Z", "end": "2026-03-02T08:00:00Z"}, 422),
        ("sl-001", {"start": "2026-01-01T00:00:00Z", "end": "2026-03-02T00:00:00Z"}, 422),
        ("sl-001", {"start": "1900-01-01T00:00:00Z", "end": "1900-01-02T00:00:00Z"}, 422),
        ("sl-001", {"end": "9999-12-31T23:00:00Z"}, 422),
    ],
)
def test_voc_endpoint_bad_input(
    client: TestClient, plant: str, params: dict[str, str], code: int
) -> None:
    resp = get(client, plant, **params)
    assert resp.status_code == code, resp.text
    assert "detail" in resp.json()


def test_voc_endpoint_roles(client: TestClient) -> None:
    assert client.get("/api/v1/plants/sl-001/voc").status_code == 401
    assert get(client, "sl-001", key="wrong").status_code == 401
    # A plant key reads its own stacks' compliance, and no other plant's.
    assert get(client, "sl-001", key=PLANT_KEY).status_code == 200
    assert get(client, "sl-002", key=PLANT_KEY).status_code == 403
    assert get(client, "sl-001", key=ADMIN).status_code == 200


def test_minute_and_hourly_only_logger(client: TestClient) -> None:
    resp = get(client, "sl-003", start=H0.isoformat(), end=(H0 + timedelta(hours=2)).isoformat())
    dmf = next(p for p in resp.json()["stacks"][0]["pollutants"] if p["pollutant"] == "dmf_mgm3")
    h0, h1 = dmf["hours"]
    assert (h0["status"], h0["source"], h0["mean_mgm3"], h0["logger_mean_mgm3"]) == (
        "valid",
        "minutes",
        30.0,
        30.0,
    )
    assert h0["emission_kgh"] == pytest.approx(0.6)
    assert (h1["status"], h1["source"], h1["mean_mgm3"], h1["exceeds"]) == (
        "valid",
        "logger_hour",
        70.0,
        True,
    )
    assert h1["emission_kg"] == 1.4  # the logger's -Cou


def test_emissions_and_capture_endpoints(client: TestClient) -> None:
    params = {"start": H0.isoformat(), "end": (H0 + timedelta(hours=2)).isoformat()}
    headers = {"Authorization": f"Bearer {VIEWER}"}
    resp = client.get("/api/v1/plants/sl-003/voc/emissions", params=params, headers=headers)
    assert resp.status_code == 200, resp.text
    [row] = [r for r in resp.json()["stacks"] if r["pollutant"] == "dmf_mgm3"]
    assert (row["period"], row["emission_kg"], row["hours_with_emission"]) == (
        "2026-03-02",
        pytest.approx(2.0),
        2,
    )
    county = client.get(
        "/api/v1/voc/emissions", params={**params, "period": "month"}, headers=headers
    ).json()
    dmf = [t for t in county["totals"] if t["pollutant"] == "dmf_mgm3"]
    # sl-001 stack-1 0.25 + sl-003 2.0 (sl-002 has no flow, stack-2 no flow)
    assert dmf == [
        {"pollutant": "dmf_mgm3", "period": "2026-03", "emission_kg": pytest.approx(2.25)}
    ]
    csv = client.get(
        "/api/v1/plants/sl-003/voc/emissions", params={**params, "format": "csv"}, headers=headers
    )
    assert csv.text.startswith("\ufeffplant,meter,pollutant,period,emission_kg")
    capture = client.get("/api/v1/plants/sl-001/voc/capture", params=params, headers=headers)
    rows = {(r["meter"], r["pollutant"]): r for r in capture.json()["capture"]}
    row = rows[("stack-1", "dmf_mgm3")]
    # 120 minutes passed, 120 transmitted, 45 + 44 valid
    assert (row["expected_minutes"], row["transmitted_minutes"], row["valid_minutes"]) == (
        120,
        120,
        89,
    )
    assert capture.status_code == 200
    assert (
        client.get(
            "/api/v1/plants/sl-002/voc/capture",
            params=params,
            headers={"Authorization": f"Bearer {PLANT_KEY}"},
        ).status_code
        == 403
    )


def test_a_minute_data_logger_is_seen_by_the_offline_rule(voc_store: InfluxStore) -> None:
    now = H0 + timedelta(minutes=55)
    seen = last_seen(voc_store, {"voc"}, now, timedelta(hours=2))
    # sl-003 sends no real-time data, only minute (CN 2051) and hourly data
    assert seen[("sl-003", "stack-1")] == H0 + timedelta(minutes=49)


def test_late_readings_re_roll_their_hours_through_dirty_marks(
    voc_store: InfluxStore, tmp_path: Path
) -> None:
    """A logger backfilling an hour 3 days old after the rollup ran: the next pass re-rolls it."""
    from ingest.kernel.dirty import write_readings

    registry = load_registry(_registry(tmp_path))
    now = H0 + timedelta(days=4)
    job = voc_job(voc_store, registry, clock=lambda: now)
    assert job.run_pass()["voc"].watermarks.hourly == now
    before = _answer(voc_store, tmp_path)
    plant = registry.plant("sl-002")
    assert plant is not None
    meter = plant.meter("stack-1")
    assert meter is not None
    # the second hour of sl-002 was empty: it arrives now, 60 valid minutes of DMF at 80
    late_hour = H0 + timedelta(hours=1)
    late = [
        reading(late_hour + timedelta(minutes=m), {"dmf_mgm3": 80.0, "flow_m3h": 5_000.0})
        for m in range(60)
    ]
    write_readings(voc_store, reading_lines(plant, meter, late))
    job.run_pass()
    after = _answer(voc_store, tmp_path)
    # the watermark path re-rolls only the hour before `now`: this change came from the marks
    old = next(a for a in before if a[0] == "sl-002" and a[2] == "dmf_mgm3")
    new = next(a for a in after if a[0] == "sl-002" and a[2] == "dmf_mgm3")
    assert old[3][1] != "valid"
    assert (new[3][1], new[4][1]) == ("valid", 80.0)
