"""Counties as tenants (issue 26, item 4): a key scoped to a county sees only its county.

Over a literal two-county registry (`TWO_COUNTIES_TOML`: 松阳 with ss-a and sl-a, 遂昌 with
ss-b and sl-b), a songyang officer gets songyang's firms, figures, alerts, records, marks,
tasks, reports and stream events, and 404 for anything of suichang's, as for something that
does not exist; a province key (no county) sees both.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import create_engine, insert

from api.alerts.model import COUNTY, county_alert_plant
from api.alerts.tables import alerts
from api.auth import Principal
from tests.api.support import ADMIN
from tests.builders import TWO_COUNTIES_TOML
from tests.support import http_post

pytestmark = pytest.mark.integration

OWN = ("ss-a", "sl-a")  # songyang's
OTHER = ("ss-b", "sl-b")  # suichang's
DAY = "start=2026-03-01T00:00:00%2B08:00&end=2026-03-02T00:00:00%2B08:00"
# Every route that takes a firm in its path, with a query that makes it answer 200.
PLANT_ROUTES = [
    ("ss", "/api/v1/plants/{p}"),
    ("ss", "/api/v1/plants/{p}/latest"),
    ("ss", "/api/v1/plants/{p}/latest?format=csv"),
    ("ss", "/api/v1/plants/{p}/usage?" + DAY),
    ("ss", "/api/v1/plants/{p}/usage?format=csv&" + DAY),
    ("ss", "/api/v1/plants/{p}/records"),
    ("ss", "/api/v1/plants/{p}/revisions"),
    ("ss", "/api/v1/plants/{p}/refused"),
    ("ss", "/api/v1/plants/{p}/lines"),
    ("sl", "/api/v1/plants/{p}/voc?" + DAY),
    ("sl", "/api/v1/plants/{p}/voc?format=csv&" + DAY),
    ("sl", "/api/v1/plants/{p}/voc/capture"),
    ("sl", "/api/v1/plants/{p}/voc/emissions"),
]


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def new_key(client: TestClient, role: str, county: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"name": f"{role} {county or 'province'}", "role": role}
    if county is not None:
        body["county"] = county
    made = client.post("/api/v1/keys", json=body, headers=ADMIN)
    assert made.status_code == 201, made.text
    return made.json()


@pytest.fixture
def county_keys(
    make_client: Callable[..., TestClient],
) -> tuple[TestClient, dict[str, str], dict[str, str]]:
    """The app on two counties; a songyang officer's and a province officer's headers."""
    client = make_client(TWO_COUNTIES_TOML, alert_engine_enabled=False)
    own = bearer(new_key(client, "officer", "songyang")["key"])
    province = bearer(new_key(client, "officer")["key"])
    return client, own, province


# County-wide alerts: of one county each (gas_share_off_track), and of the whole (`_county`).
OWN_COUNTY, OTHER_COUNTY = county_alert_plant("songyang"), county_alert_plant("suichang")


def add_alerts(engine: Any) -> dict[str, int]:
    """One open alert per firm, per county and of the whole; plant slot -> alert id."""
    at = int(datetime.now(UTC).timestamp() * 1000)
    ids = {}
    with engine.begin() as conn:
        for plant in (*OWN, *OTHER, OWN_COUNTY, OTHER_COUNTY, COUNTY):
            done = conn.execute(
                insert(alerts).values(
                    kind="meter_offline", plant=plant, meter="m-1", pollutant="",
                    open_key=f"x/{plant}", status="open", message="silent", opened_at=at,
                    last_seen_at=at, updated_at=at,
                )
            )  # fmt: skip
            ids[plant] = int(done.inserted_primary_key[0])
    return ids


def test_keys_carry_a_county_and_refuse_one_the_registry_does_not_name(
    make_offline_client: Callable[..., TestClient],
) -> None:
    client = make_offline_client(TWO_COUNTIES_TOML)
    made = new_key(client, "viewer", "suichang")
    assert made["county"] == "suichang"
    assert client.get("/api/v1/me", headers=bearer(made["key"])).json() == {
        "name": f"viewer suichang#{made['id']}",
        "role": "viewer",
        "plant": None,
        "county": "suichang",
    }
    listed = client.get("/api/v1/keys", headers=ADMIN).json()["keys"]
    assert [(k["role"], k["county"]) for k in listed] == [("viewer", "suichang")]
    rotated = client.post(f"/api/v1/keys/{made['id']}/rotate", headers=ADMIN)
    assert rotated.json()["county"] == "suichang"
    refused = {
        "unknown": ("officer", "lishui", "county 'lishui' is not in the registry; it names "
                    "songyang, suichang"),
        "plant": ("plant", "songyang", "a plant key's scope is its plant"),
        "admin": ("admin", "songyang", "role 'admin' is not"),
    }  # fmt: skip
    for role, county, reason in refused.values():
        body = {"name": "x", "role": role, "county": county, "plant": "ss-a"}
        if role != "plant":
            del body["plant"]
        answer = client.post("/api/v1/keys", json=body, headers=ADMIN)
        assert answer.status_code == 422, answer.text
        assert reason in answer.json()["detail"]


def test_the_gas_share_of_a_county_key_is_its_county_with_its_goal(
    county_keys: tuple[TestClient, dict[str, str], dict[str, str]],
) -> None:
    client, own, province = county_keys
    mine = client.get("/api/v1/kpi/gas-share", headers=own).json()
    assert [r["plant"] for r in mine["rows"]] == ["ss-a"]
    assert (mine["goal"], mine["firms"], mine["definition"]["goal"]) == (0.5, 1, 0.5)
    assert [(c["id"], c["name"], c["goal"], c["firms"]) for c in mine["counties"]] == [
        ("songyang", "松阳县", 0.5, 1)
    ]
    assert set(mine["firm_data_through"]) == {"ss-a"}
    csv = client.get("/api/v1/kpi/gas-share?format=csv", headers=own).text
    assert "ss-a" in csv and "ss-b" not in csv
    history = client.get("/api/v1/kpi/gas-share/history?year=2026", headers=own).json()
    assert history["goal"] == 0.5

    whole = client.get("/api/v1/kpi/gas-share", headers=province).json()
    assert sorted(r["plant"] for r in whole["rows"]) == ["ss-a", "ss-b"]
    assert (whole["goal"], whole["firms"]) == (0.6, 2)
    assert [(c["id"], c["goal"], c["firms"]) for c in whole["counties"]] == [
        ("songyang", 0.5, 1),
        ("suichang", 0.7, 1),
    ]
    assert (
        client.get("/api/v1/kpi/gas-share/history?year=2026", headers=province).json()["goal"]
        == 0.6
    )


def test_a_county_key_lists_its_county_and_gets_404_for_the_other(
    county_keys: tuple[TestClient, dict[str, str], dict[str, str]],
) -> None:
    client, own, province = county_keys
    listed = client.get("/api/v1/plants", headers=own).json()
    assert [p["id"] for p in listed["plants"]] == list(OWN)
    assert (listed["county"], listed["gas_share_goal"]) == ("松阳县", 0.5)
    assert "ss-b" not in client.get("/api/v1/plants?format=csv", headers=own).text
    whole = client.get("/api/v1/plants", headers=province).json()
    assert [p["id"] for p in whole["plants"]] == [*OWN, *OTHER]
    assert whole["county"] == "丽水市（测试）"

    for sector, plants in (("stainless_steel", ["ss-a"]), ("synthetic_leather", ["sl-a"])):
        usage = client.get(f"/api/v1/usage?sector={sector}&{DAY}", headers=own).json()
        assert usage["plants"] == plants
    assert client.get("/api/v1/voc/emissions", headers=own).json()["county"] == "松阳县"
    lines = client.get("/api/v1/lines", headers=own)
    assert lines.status_code == 200 and lines.json()["lines"] == []

    for sector, route in PLANT_ROUTES:
        mine, theirs = route.format(p=f"{sector}-a"), route.format(p=f"{sector}-b")
        assert client.get(mine, headers=own).status_code == 200, mine
        assert client.get(theirs, headers=province).status_code == 200, theirs
        hidden = client.get(theirs, headers=own)
        unknown = client.get(route.format(p=f"{sector}-z"), headers=own)
        # Another county's firm is answered exactly as one that does not exist.
        assert hidden.status_code == unknown.status_code == 404, theirs
        assert hidden.json()["detail"] == unknown.json()["detail"].replace(
            f"{sector}-z", f"{sector}-b"
        )


def test_a_county_key_sees_and_acts_on_its_county_alerts_only(
    county_keys: tuple[TestClient, dict[str, str], dict[str, str]],
) -> None:
    client, own, province = county_keys
    ids = add_alerts(client.app.state.db)  # type: ignore[attr-defined]
    mine = client.get("/api/v1/alerts", headers=own).json()["alerts"]
    assert sorted(a["plant"] for a in mine) == sorted((*OWN, OWN_COUNTY))
    assert {a["plant"]: a["firm"] for a in mine}[OWN_COUNTY] == "松阳县"
    assert client.get("/api/v1/alerts?plant=ss-b", headers=own).json()["alerts"] == []
    csv = client.get("/api/v1/alerts?format=csv", headers=own).text
    rows = {line.split(",")[5] for line in csv.splitlines()[1:]}
    assert rows == {*OWN, OWN_COUNTY}
    everything = client.get("/api/v1/alerts", headers=province).json()["alerts"]
    assert sorted(a["plant"] for a in everything) == sorted(ids)

    for plant in (*OTHER, OTHER_COUNTY, COUNTY):
        alert_id = ids[plant]
        missing = f"no alert {alert_id}"
        for method, path in (
            ("GET", f"/api/v1/alerts/{alert_id}"),
            ("POST", f"/api/v1/alerts/{alert_id}/ack"),
            ("POST", f"/api/v1/alerts/{alert_id}/resolve"),
        ):
            answer = client.request(method, path, headers=own)
            assert (answer.status_code, answer.json()["detail"]) == (404, missing), path
    assert client.get(f"/api/v1/alerts/{ids['ss-b']}", headers=province).json()["status"] == "open"

    acked = client.post(f"/api/v1/alerts/{ids['ss-a']}/ack", json={}, headers=own)
    assert acked.status_code == 200 and acked.json()["status"] == "acknowledged"
    resolved = client.post(f"/api/v1/alerts/{ids['ss-b']}/resolve", json={}, headers=province)
    assert resolved.status_code == 200 and resolved.json()["status"] == "resolved"


def test_records_marks_and_tasks_follow_the_scope(
    county_keys: tuple[TestClient, dict[str, str], dict[str, str]],
) -> None:
    client, own, province = county_keys
    ids = add_alerts(client.app.state.db)  # type: ignore[attr-defined]
    sealed = {"kind": "boiler_sealed", "effective_at": "2026-03-01T00:00:00+08:00", "reason": "x"}
    for plant in ("ss-a", "ss-b"):
        made = client.post(f"/api/v1/plants/{plant}/records", json=sealed, headers=province)
        assert made.status_code == 201, made.text
    assert client.post("/api/v1/plants/ss-b/records", json=sealed, headers=own).status_code == 404
    assert [r["plant"] for r in client.get("/api/v1/records", headers=own).json()["records"]] == [
        "ss-a"
    ]
    assert len(client.get("/api/v1/records", headers=province).json()["records"]) == 2

    task = {"assignee": "张三", "deadline": "2099-01-01T00:00:00+08:00", "priority": "normal"}
    theirs = client.post("/api/v1/tasks", json={**task, "alerts": [ids["ss-b"]]}, headers=own)
    assert (theirs.status_code, theirs.json()["detail"]) == (404, f"no alert {ids['ss-b']}")
    made = client.post("/api/v1/tasks", json={**task, "alerts": [ids["ss-b"]]}, headers=province)
    assert made.status_code == 201, made.text
    task_id = made.json()["id"]
    assert client.get(f"/api/v1/tasks/{task_id}", headers=own).status_code == 404
    closed = client.post(f"/api/v1/tasks/{task_id}/close", json={"conclusion": "x"}, headers=own)
    assert closed.status_code == 404
    assert client.get("/api/v1/tasks", headers=own).json()["tasks"] == []
    assert [t["id"] for t in client.get("/api/v1/tasks", headers=province).json()["tasks"]] == [
        task_id
    ]

    plant_key = bearer(client.app.state.keys.create("logger b", "plant", "sl-b")[1])  # type: ignore[attr-defined]
    mark = {
        "meter": "stack-1", "kind": "maintenance", "start": "2026-03-01T00:00:00+08:00",
        "end": "2026-03-01T02:00:00+08:00", "reason": "检修", "evidence": ["work order 1"],
    }  # fmt: skip
    marked = client.post("/api/v1/plants/sl-b/marks", json=mark, headers=plant_key)
    assert marked.status_code == 201, marked.text
    mark_id = marked.json()["id"]
    assert client.get("/api/v1/marks", headers=own).json()["marks"] == []
    assert client.get("/api/v1/marks?plant=sl-b", headers=own).json()["marks"] == []
    assert [m["id"] for m in client.get("/api/v1/marks", headers=province).json()["marks"]] == [
        mark_id
    ]
    review = {"comment": "ok"}
    for verb in ("accept", "reject"):
        hidden = client.post(f"/api/v1/marks/{mark_id}/{verb}", json=review, headers=own)
        assert (hidden.status_code, hidden.json()["detail"]) == (404, f"no mark {mark_id}")
    accepted = client.post(f"/api/v1/marks/{mark_id}/accept", json=review, headers=province)
    assert accepted.status_code == 200, accepted.text
    revision = "ss-b.gas-1.gas.volume_m3.1772323200000.1"
    assert client.post(f"/api/v1/revisions/{revision}/accept", headers=own).status_code == 404


def test_the_monthly_report_of_a_county_key_names_its_county_only(
    county_keys: tuple[TestClient, dict[str, str], dict[str, str]], tmp_path: Path
) -> None:
    client, own, province = county_keys
    add_alerts(client.app.state.db)  # type: ignore[attr-defined]
    month = datetime.now(UTC).strftime("%Y-%m")

    def cells(headers: dict[str, str]) -> str:
        answer = client.get(
            "/api/v1/reports/monthly", params={"month": month, "format": "xlsx"}, headers=headers
        )
        assert answer.status_code == 200, answer.text
        path = tmp_path / "report.xlsx"
        path.write_bytes(answer.content)
        book = load_workbook(path)
        return "\n".join(
            str(v) for sheet in book for row in sheet.iter_rows(values_only=True) for v in row
        )

    mine, whole = cells(own), cells(province)
    assert "松阳县" in mine and "遂昌" not in mine and "ss-b" not in mine and "sl-b" not in mine
    assert "ss-a" in mine
    assert "ss-b" in whole and "ss-a" in whole


def test_the_alert_stream_of_a_county_key_carries_its_county_only(
    make_server: Callable[..., str], database_url: str
) -> None:
    base = make_server(TWO_COUNTIES_TOML, alert_engine_enabled=False, alert_stream_poll_seconds=0.1)
    made = http_post(
        f"{base}/api/v1/keys",
        json={"name": "wall", "role": "viewer", "county": "songyang"},
        headers=ADMIN,
    )
    ids = add_alerts(create_engine(database_url))
    # suichang's alert changes first, then songyang's: the county's stream must skip the first.
    for plant in ("ss-b", "ss-a"):
        acked = http_post(f"{base}/api/v1/alerts/{ids[plant]}/ack", json={}, headers=ADMIN)
        assert acked.status_code == 200, acked.text
    headers = bearer(made.json()["key"]) | {"Last-Event-ID": "0"}
    seen: list[dict[str, Any]] = []
    stream = httpx.Client(timeout=httpx.Timeout(10, read=30))
    with stream, stream.stream("GET", f"{base}/api/v1/alerts/stream", headers=headers) as resp:
        assert resp.status_code == 200
        kind = ""
        for line in resp.iter_lines():
            if line.startswith("event:"):
                kind = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and kind == "alert":
                seen.append(json.loads(line.split(":", 1)[1]))
                break
    assert [e["alert"]["plant"] for e in seen] == ["ss-a"]


def test_a_key_whose_county_left_the_registry_is_refused_with_the_reason(
    make_offline_client: Callable[..., TestClient],
) -> None:
    client = make_offline_client(TWO_COUNTIES_TOML)
    client.app.state.keyring.add("gone-key", Principal("gone#9", "officer", None, "lishui"))  # type: ignore[attr-defined]
    answer = client.get("/api/v1/plants", headers=bearer("gone-key"))
    assert answer.status_code == 403
    assert (
        "scoped to county 'lishui', which the registry no longer names" in answer.json()["detail"]
    )
