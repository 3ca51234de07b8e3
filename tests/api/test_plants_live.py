"""`/api/v1/plants` and `/plants/{plant}/latest`: meter state, latest values, data freshness."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import MappingProxyType

import pytest
from fastapi.testclient import TestClient

from ingest.kernel.points import reading_lines
from ingest.kernel.registry import Registry
from ingest.kernel.schema import Reading
from ingest.kernel.store import InfluxStore
from tests.api.support import ADMIN
from tests.builders import FUEL_METERS, MeterSpec, RegistryBuilder, register_lines

pytestmark = pytest.mark.integration

TOML = (
    RegistryBuilder()
    .plant("ss-a", meters=FUEL_METERS, name="甲不锈钢")
    .plant("sl-a", "synthetic_leather", [MeterSpec("stack-1", "voc")], name="乙合成革")
    .toml()
)


@pytest.fixture
def client(make_client: Callable[..., TestClient], store: InfluxStore) -> TestClient:
    now = datetime.now(UTC).replace(microsecond=0)
    store.write_lines(
        register_lines(
            "gas",
            "ss-a",
            "gas-1",
            now - timedelta(minutes=30),
            timedelta(minutes=15),
            [10.0, 12.5, 15.0],
        )
        # the coal scale last reported 3 h ago: offline (allowance 60 min)
        + register_lines(
            "coal", "ss-a", "coal-1", now - timedelta(hours=3), timedelta(minutes=15), [5.0]
        )
    )
    c = make_client(TOML)
    registry: Registry = c.app.state.registry  # type: ignore[attr-defined]
    plant = registry.plant("sl-a")
    assert plant is not None
    meter = plant.meter("stack-1")
    assert meter is not None
    reading = Reading(
        now - timedelta(minutes=2),
        MappingProxyType({"dmf_mgm3": 12.3, "flow_m3h": 9000.0}),
        MappingProxyType({"dmf_mgm3": "T"}),
    )
    store.write_lines(reading_lines(plant, meter, [reading]))
    return c


def test_plants_carry_state_latest_values_and_freshness(client: TestClient) -> None:
    doc = client.get("/api/v1/plants", headers=ADMIN).json()
    ss, sl = doc["plants"]
    gas, coal = ss["meters"]
    assert (gas["reporting"], coal["reporting"]) == (True, False)
    assert gas["latest"]["values"] == {"volume_m3": 15.0}
    assert gas["latest"]["units"] == {"volume_m3": "m³"}
    assert ss["meters_reporting"] == 1
    # a firm's data reaches as far as its most behind meter
    assert ss["data_through"] == coal["last_reading"]
    stack = sl["meters"][0]
    assert stack["latest"]["values"] == {"dmf_mgm3": 12.3, "flow_m3h": 9000.0}
    assert stack["latest"]["flags"] == {"dmf_mgm3": "T", "flow_m3h": "N"}
    assert stack["latest"]["units"] == {"dmf_mgm3": "mg/m³", "flow_m3h": "m³/h"}
    assert doc["data_through"] == gas["last_reading"]  # the newest reading of any meter
    # 1 of 3 meters silent: below the stall threshold, nothing is loading
    assert doc["ingest"] == {
        "state": "normal",
        "meters": 3,
        "silent": 1,
        "flowing": False,
        "data_through": gas["last_reading"],
    }


def test_latest_in_json_and_csv(client: TestClient) -> None:
    doc = client.get("/api/v1/plants/sl-a/latest", headers=ADMIN).json()
    assert (doc["plant"], doc["name"]) == ("sl-a", "乙合成革")
    assert doc["meters"][0]["latest"]["values"]["dmf_mgm3"] == 12.3
    resp = client.get("/api/v1/plants/sl-a/latest?format=csv", headers=ADMIN)
    assert resp.headers["content-type"].startswith("text/csv")
    lines = resp.text.lstrip("\ufeff").splitlines()
    assert lines[0] == "plant,meter,kind,reporting,last_reading,value,unit,flag"
    assert lines[1].endswith("dmf_mgm3=12.3,mg/m³,T")
    plants = client.get("/api/v1/plants?format=csv", headers=ADMIN).text.lstrip("\ufeff")
    assert plants.splitlines()[1].startswith("ss-a,甲不锈钢,stainless_steel,2,1,")


def test_an_sm4_key_is_in_no_answer_and_backfill_is_no_value(
    make_client: Callable[..., TestClient], store: InfluxStore
) -> None:
    key = "00112233445566778899AABBCCDDEEFF"
    mn = "331124A02025000100000001"
    toml = (
        RegistryBuilder()
        .plant(
            "sl-k",
            "synthetic_leather",
            [MeterSpec("stack-1", "voc", {"hj212_mn": mn, "hj212_sm4_key": key})],
        )
        .toml()
    )
    c = make_client(toml)
    registry: Registry = c.app.state.registry  # type: ignore[attr-defined]
    plant = registry.plant("sl-k")
    assert plant is not None and plant.meters[0].sm4_keys
    now = datetime.now(UTC).replace(microsecond=0)
    reading = Reading(now - timedelta(minutes=1), MappingProxyType({"nmhc_mgm3": 3.0}))
    store.write_lines(reading_lines(plant, plant.meters[0], [reading], backfill=True))
    headers = ADMIN
    for path in ("/api/v1/plants", "/api/v1/plants/sl-k", "/api/v1/plants/sl-k/latest"):
        answer = c.get(path, headers=headers)
        assert answer.status_code == 200, answer.text
        assert key not in answer.text and key.lower() not in answer.text
    latest = c.get("/api/v1/plants/sl-k/latest", headers=headers).text
    assert "nmhc_mgm3" in latest and "backfill" not in latest
