"""MQTT credentials: the password store and the broker's stored password form.

Accounts, ACLs and identity binding against a real broker: tests/ingest/test_broker_accounts.py.
"""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest

import ingest.dynsec
from ingest.__main__ import credentials_command
from ingest.credentials import CredentialStore
from ingest.dynsec import password_fields, plant_role
from ingest.kernel.topics import Topics
from ingest.settings import CollectorSettings
from scripts.devstack import free_port
from tests.builders import RegistryBuilder


def test_password_fields_match_what_mosquitto_ctrl_writes() -> None:
    # From `mosquitto_ctrl dynsec init ds.json admin secretpw` (Mosquitto 2.0.11).
    salt = base64.b64decode("nbbH9TotNoinGwc+")
    assert password_fields("secretpw", salt) == {
        "password": "mdvlswsLi6Iu5k1ugIpEioWjcNUj0/GkvjtqZfQbUNQiTJMaeSJpOhaQVFbA8eJylVDIAd+1Rr5z8woxKdPOiw==",
        "salt": "nbbH9TotNoinGwc+",
        "iterations": 101,
    }


def test_credential_store_is_private_and_stable(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path / "creds.json")
    first = store.password_for("ss-001")
    assert store.password_for("ss-001") == first
    assert CredentialStore(tmp_path / "creds.json").password_for("ss-001", create=False) == first
    assert store.password_for("ss-002") != first
    assert stat.S_IMODE((tmp_path / "creds.json").stat().st_mode) == 0o600
    with pytest.raises(Exception, match="no MQTT password"):
        store.password_for("ss-003", create=False)
    with pytest.raises(Exception, match="reserved for service accounts"):
        store.password_for("svc-collector")
    with pytest.raises(Exception, match="ids match"):
        store.password_for("ss-001\n")  # a trailing newline would break the broker's config
    rotated = store.rotate("ss-001")
    assert rotated != first and store.password_for("ss-001") == rotated


def test_credentials_are_made_and_printed_while_the_broker_is_down(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(ingest.dynsec, "CONNECT_SECONDS", 1.0)
    store = CredentialStore(tmp_path / "creds.json")
    store.service_password("svc-admin")
    settings = CollectorSettings(
        credentials_file=tmp_path / "creds.json", mqtt_port=free_port(), _env_file=None
    )  # type: ignore[call-arg]
    registry = RegistryBuilder().plant("ss-001", "other", [("e", "electricity")]).registry()
    assert credentials_command(settings, registry, "ss-001") == 0
    out, err = capsys.readouterr()
    assert f"password:  {store.password_for('ss-001', create=False)}" in out
    assert "the broker was not updated" in err and "broker-accounts" in err
    assert credentials_command(settings, registry, "ss-404") == 2


def test_a_plant_role_grants_only_its_own_topics() -> None:
    role = plant_role(Topics(), "ss-001")
    assert role["rolename"] == "plant-ss-001"
    assert [(a["acltype"], a["topic"]) for a in role["acls"]] == [
        ("publishClientSend", "plantwatch/plants/ss-001/meters/+/readings"),
        ("publishClientSend", "plantwatch/plants/ss-001/hj212"),
        ("publishClientSend", "plantwatch/plants/ss-001/status"),
        ("subscribePattern", "plantwatch/plants/ss-001/status"),
        ("subscribePattern", "plantwatch/plants/ss-001/rejected"),
        ("subscribePattern", "plantwatch/alerts/ss-001"),
    ]
    assert all(a["allow"] for a in role["acls"])
