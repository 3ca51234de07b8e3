"""The registry's broker accounts as NATS users (pure: no server)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from ingest.credentials import CredentialStore, broker_plan
from ingest.dynsec import ADMIN_ACCOUNT, API_ACCOUNT
from ingest.kernel.registry import parse_registry
from ingest.natsauth import NatsAuthError, nats_authorization, session_client_id, topic_subjects
from tests.builders import RegistryBuilder


@pytest.mark.parametrize(
    ("topic", "subjects"),
    [
        ("plantwatch/plants/ss-001/status", ("plantwatch.plants.ss-001.status",)),
        ("plantwatch/plants/+/meters/+/readings", ("plantwatch.plants.*.meters.*.readings",)),
        ("plantwatch/alerts/#", ("plantwatch.alerts", "plantwatch.alerts.>")),
        ("#", (">",)),
    ],
)
def test_topic_subjects(topic: str, subjects: tuple[str, ...]) -> None:
    assert topic_subjects(topic) == subjects


@pytest.mark.parametrize("topic", ["a.b/c", "a b", ""])
def test_a_topic_without_a_subject_is_refused(topic: str) -> None:
    with pytest.raises(NatsAuthError):
        topic_subjects(topic)


def users_by_name(tmp_path: Path) -> dict[str, dict]:  # type: ignore[type-arg]
    builder = RegistryBuilder()
    builder.plant("ss-001", meters=[("gas-1", "gas")])
    registry = parse_registry(tomllib.loads(builder.toml()))
    store = CredentialStore(tmp_path / "credentials.json")
    users = nats_authorization(store, registry)["users"]
    return {u["user"]: u for u in users}


def test_a_plant_publishes_only_its_own_topics_and_only_over_mqtt(tmp_path: Path) -> None:
    plant = users_by_name(tmp_path)["ss-001"]
    own = "plantwatch.plants.ss-001"
    assert plant["permissions"]["publish"] == {
        "allow": [f"{own}.meters.*.readings", f"{own}.hj212", f"{own}.status"]
    }
    assert plant["permissions"]["subscribe"]["allow"] == [
        f"{own}.status",
        f"{own}.rejected",
        "plantwatch.alerts.ss-001",
    ]
    assert plant["allowed_connection_types"] == ["MQTT"]


def test_services_and_the_administrator(tmp_path: Path) -> None:
    users = users_by_name(tmp_path)
    assert set(users) == {ADMIN_ACCOUNT, API_ACCOUNT, "svc-collector-1", "svc-hj212-gateway-1",
                          "ss-001"}  # fmt: skip
    collector = users["svc-collector-1"]["permissions"]
    assert collector["publish"] == {"allow": ["plantwatch.plants.*.rejected"]}
    assert "plantwatch.plants.*.meters.*.readings" in collector["subscribe"]["allow"]
    # The administrator only proves the listener is up: it may neither publish nor read.
    assert users[ADMIN_ACCOUNT]["permissions"] == {
        "publish": {"deny": [">"]},
        "subscribe": {"deny": [">"]},
    }
    assert "allowed_connection_types" not in users[API_ACCOUNT]


def test_the_same_plan_and_passwords_as_mosquitto(tmp_path: Path) -> None:
    """One source of who may publish what: the NATS users are broker_plan's accounts."""
    builder = RegistryBuilder()
    builder.plant("ss-001", meters=[("gas-1", "gas")])
    registry = parse_registry(tomllib.loads(builder.toml()))
    store = CredentialStore(tmp_path / "credentials.json")
    _, accounts = broker_plan(store, registry)
    users = {u["user"]: u["password"] for u in nats_authorization(store, registry)["users"]}
    assert {a.username: a.password for a in accounts}.items() <= users.items()


def test_the_collectors_session_id_is_stable_and_needs_its_password() -> None:
    first = session_client_id("collector-1", "password-a")
    assert first == session_client_id("collector-1", "password-a")
    assert first.startswith("collector-1-") and len(first) == len("collector-1-") + 20
    assert first != session_client_id("collector-1", "password-b")
    assert first != session_client_id("collector-2", "password-a")
