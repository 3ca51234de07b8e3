"""The alerts HTTP API in process: roles, filters, officer actions and their errors."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.alerts.lifecycle import Plan, Raise
from api.alerts.model import AlertKey, Condition
from api.alerts.repo import AlertRepo
from api.app import create_app
from api.auth import Principal
from api.settings import ApiSettings
from tests.builders import RegistryBuilder

ADMIN, OFFICER, VIEWER, PLANT = "k-admin", "k-officer", "k-viewer", "k-plant"
T = datetime(2026, 3, 2, 10, 7, tzinfo=UTC)
REGISTRY = RegistryBuilder(county="Test").plant("sl-001", "synthetic_leather", []).toml()


@pytest.fixture
def client(tmp_path: Path, database_url: str) -> Iterator[TestClient]:
    registry = tmp_path / "registry.toml"
    registry.write_text(REGISTRY, encoding="utf-8")
    app = create_app(
        ApiSettings(
            registry=registry,
            admin_key=SecretStr(ADMIN),
            database_url=database_url,
            alert_engine_enabled=False,
        )
    )
    app.state.keyring.add(OFFICER, Principal("olga", "officer"))
    app.state.keyring.add(VIEWER, Principal("vic", "viewer"))
    app.state.keyring.add(PLANT, Principal("sl-001", "plant", "sl-001"))
    repo: AlertRepo = app.state.alert_repo
    assert repo.try_lease("engine", T, 60)
    repo.apply(
        Plan(
            (
                Raise(
                    Condition(AlertKey("voc_spike", "sl-001", "stack-1", "dmf_mgm3"), 50, 40, "s")
                ),
                Raise(Condition(AlertKey("meter_offline", "sl-002", "gas-1"), 70, 60, "o")),
            )
        ),
        T,
        "engine",
        60,
    )
    with TestClient(app) as c:
        yield c


def h(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_list_and_filters(client: TestClient) -> None:
    assert client.get("/api/v1/alerts").status_code == 401
    # a plant key reads its own plant's alerts only (its page, issue 25)
    own = client.get("/api/v1/alerts", headers=h(PLANT)).json()["alerts"]
    assert {a["plant"] for a in own} <= {"sl-001"}
    assert client.get("/api/v1/alerts?plant=sl-002", headers=h(PLANT)).status_code == 403
    body = client.get("/api/v1/alerts", headers=h(VIEWER)).json()
    assert [a["kind"] for a in body["alerts"]] == ["meter_offline", "voc_spike"]
    spike = body["alerts"][1]
    assert (spike["plant"], spike["meter"], spike["pollutant"], spike["status"]) == (
        "sl-001",
        "stack-1",
        "dmf_mgm3",
        "open",
    )
    assert body["alerts"][0]["pollutant"] is None

    def kinds(**params: str) -> list[str]:
        resp = client.get("/api/v1/alerts", params=params, headers=h(VIEWER))
        assert resp.status_code == 200, resp.text
        return [a["kind"] for a in resp.json()["alerts"]]

    assert kinds(plant="sl-001") == ["voc_spike"]
    assert kinds(kind="meter_offline") == ["meter_offline"]
    assert kinds(status="resolved") == []
    assert kinds(status="active", plant="sl-002") == ["meter_offline"]
    assert kinds(plant="x' OR '1'='1") == []


@pytest.mark.parametrize(
    "params",
    [
        {"status": "closed"},
        {"kind": "fire"},
        {"limit": "0"},
        {"limit": "100000"},
        {"plant": "x" * 65},
    ],
)
def test_list_bad_params(client: TestClient, params: dict[str, str]) -> None:
    resp = client.get("/api/v1/alerts", params=params, headers=h(VIEWER))
    assert resp.status_code == 422
    assert "detail" in resp.json()


def test_officer_actions(client: TestClient) -> None:
    spike_id = next(
        a["id"]
        for a in client.get("/api/v1/alerts", headers=h(VIEWER)).json()["alerts"]
        if a["kind"] == "voc_spike"
    )
    url = f"/api/v1/alerts/{spike_id}"
    assert client.post(f"{url}/ack", json={"comment": "x"}, headers=h(VIEWER)).status_code == 403
    assert client.post(f"{url}/ack", json={"comment": "x"}, headers=h(PLANT)).status_code == 403
    assert (
        client.post(f"{url}/ack", json={"comment": "x" * 2001}, headers=h(OFFICER)).status_code
        == 422
    )
    assert client.post(f"{url}/ack", content=b"not json", headers=h(OFFICER)).status_code == 422
    # Past PostgreSQL's 32-bit INTEGER: refused up front, not a 500 from the database.
    assert client.get("/api/v1/alerts/2147483648", headers=h(OFFICER)).status_code == 422
    assert client.get("/api/v1/alerts/2147483647", headers=h(OFFICER)).status_code == 404
    # NUL cannot be stored in PostgreSQL text: refused up front, not a 500 from the database.
    nul = client.post(f"{url}/ack", json={"comment": "a\x00b"}, headers=h(OFFICER))
    assert nul.status_code == 422, nul.text
    resp = client.post(f"{url}/ack", json={"comment": "calling them"}, headers=h(OFFICER))
    assert resp.status_code == 200, resp.text
    assert (resp.json()["status"], resp.json()["acknowledged_by"], resp.json()["ack_comment"]) == (
        "acknowledged",
        "olga",
        "calling them",
    )
    again = client.post(f"{url}/ack", json={}, headers=h(OFFICER))
    assert again.status_code == 409 and "olga" in again.json()["detail"]
    resp = client.post(f"{url}/resolve", json={"comment": "filter replaced"}, headers=h(ADMIN))
    assert resp.status_code == 200
    assert (resp.json()["status"], resp.json()["resolved_by"]) == ("resolved", "admin")
    assert client.post(f"{url}/resolve", json={}, headers=h(OFFICER)).status_code == 409
    assert client.post(f"{url}/ack", headers=h(OFFICER)).status_code == 409

    detail = client.get(url, headers=h(VIEWER)).json()
    assert detail["status"] == "resolved"
    assert [(e["event"], e["actor"], e["comment"], e["status"]) for e in detail["events"]] == [
        ("raised", "engine", None, "open"),
        ("acknowledged", "olga", "calling them", "acknowledged"),
        ("resolved", "admin", "filter replaced", "resolved"),
    ]


def test_resolve_without_body_and_missing_alerts(client: TestClient) -> None:
    offline_id = client.get(
        "/api/v1/alerts", params={"kind": "meter_offline"}, headers=h(VIEWER)
    ).json()["alerts"][0]["id"]
    resp = client.post(f"/api/v1/alerts/{offline_id}/resolve", headers=h(OFFICER))
    assert resp.status_code == 200 and resp.json()["resolve_comment"] is None
    assert client.get("/api/v1/alerts/999", headers=h(VIEWER)).status_code == 404
    assert client.post("/api/v1/alerts/999/ack", headers=h(OFFICER)).status_code == 404
    assert client.get("/api/v1/alerts/abc", headers=h(VIEWER)).status_code == 422


def test_alerts_are_served_in_the_readers_language_and_as_csv(client: TestClient) -> None:
    zh = client.get("/api/v1/alerts", headers=h(VIEWER)).json()["alerts"][1]
    en = client.get("/api/v1/alerts?lang=en", headers=h(VIEWER)).json()["alerts"][1]
    assert (zh["lang"], zh["title"], en["title"]) == (
        "zh",
        "VOC 瞬时值超 2 倍限值",
        "VOC reading above twice the limit",
    )
    registry = client.app.state.registry  # type: ignore[attr-defined]
    assert zh["firm"] == registry.plant("sl-001").name  # the registry's name, not the id
    assert "DMF" in zh["text"] and "DMF" in en["text"]
    assert client.get("/api/v1/alerts?lang=fr", headers=h(VIEWER)).status_code == 422
    resp = client.get("/api/v1/alerts?format=csv&status=open", headers=h(VIEWER))
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/csv")
    header, *rows = resp.text.lstrip("\ufeff").splitlines()
    assert header.startswith("id,status,kind,title,firm,plant,meter,pollutant,text,")
    assert len(rows) == 2 and "仪表离线" in rows[0]
    assert "+08:00" in rows[0]  # opened_at in the county's local time
