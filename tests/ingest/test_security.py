"""MQTT credentials: the password store and the broker's stored password form.

Accounts, ACLs and identity binding against a real broker: tests/ingest/test_broker_accounts.py.
"""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest

from ingest.credentials import CredentialStore
from ingest.dynsec import password_fields


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
