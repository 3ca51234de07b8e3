"""MQTT credentials: one password per plant and per service account, provisioned to the broker.

The passwords live in one JSON file (mode 0600; `credentials_file` setting):

    {"version": 1, "plants": {"ss-001": "..."}, "services": {"svc-collector-1": "..."}}

From it and the registry, `broker_plan` gives the broker's roles and accounts, and
`provision_broker` creates them in Mosquitto's dynamic-security plugin (ingest/dynsec.py)
over its control topic: no broker restart or signal. Each account may connect only with
its own client id (the plant id; the collector id), so no plant can take over another
account's session. Reading and writing the JSON file is serialised with a lock file, so the
CLI, `make run` and the simulator can create passwords at the same time without losing one.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import secrets
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ingest.dynsec import (
    ADMIN_ACCOUNT,
    API_ACCOUNT,
    API_ROLE,
    COLLECTOR_ROLE,
    GATEWAY_ROLE,
    PLANT_ROLE_PREFIX,
    SERVICE_PREFIX,
    Account,
    DynsecAdmin,
    collector_account,
    gateway_account,
    plant_role,
    service_roles,
)
from ingest.kernel.errors import PlantwatchError
from ingest.kernel.registry import ID_PATTERN, Registry
from ingest.kernel.topics import Topics

PASSWORD_BYTES = 18  # 24 URL-safe characters
SERVICE_ACCOUNT_PATTERN = re.compile(r"svc-[a-z0-9-]{1,60}")
DEFAULT_COLLECTOR_IDS = ("collector-1",)
DEFAULT_GATEWAY_IDS = ("hj212-gateway-1",)


class CredentialError(PlantwatchError):
    """The credentials file is unreadable, or a name cannot have credentials."""


def plant_account(plant_id: str, password: str) -> Account:
    """A plant's account: username and client id are both the plant id."""
    return Account(plant_id, password, plant_id, f"{PLANT_ROLE_PREFIX}{plant_id}")


def broker_plan(
    store: CredentialStore,
    registry: Registry,
    topic_root: str = "plantwatch",
    collector_ids: Sequence[str] = DEFAULT_COLLECTOR_IDS,
    gateway_ids: Sequence[str] = DEFAULT_GATEWAY_IDS,
) -> tuple[list[dict[str, Any]], list[Account]]:
    """Every role and account the broker needs for the registry (passwords made if missing)."""
    topics = Topics(topic_root)
    passwords = store.ensure(
        registry,
        [
            ADMIN_ACCOUNT,
            API_ACCOUNT,
            *map(collector_account, collector_ids),
            *map(gateway_account, gateway_ids),
        ],
    )
    roles = [*service_roles(topics), *(plant_role(topics, p.id) for p in registry.plants)]
    accounts = [
        Account(API_ACCOUNT, passwords[API_ACCOUNT], None, API_ROLE),
        *(
            Account(collector_account(c), passwords[collector_account(c)], c, COLLECTOR_ROLE)
            for c in collector_ids
        ),
        *(
            Account(gateway_account(g), passwords[gateway_account(g)], g, GATEWAY_ROLE)
            for g in gateway_ids
        ),
        *(plant_account(p.id, passwords[p.id]) for p in registry.plants),
    ]
    return roles, accounts


def provision_broker(
    store: CredentialStore,
    registry: Registry,
    host: str,
    port: int,
    topic_root: str = "plantwatch",
    collector_ids: Sequence[str] = DEFAULT_COLLECTOR_IDS,
    reset_existing: bool = False,
    tls_ca: Path | None = None,
) -> list[str]:
    """Create the registry's accounts in the running broker; returns the usernames created."""
    roles, accounts = broker_plan(store, registry, topic_root, collector_ids)
    admin_password = store.service_password(ADMIN_ACCOUNT, create=False)
    with DynsecAdmin(host, port, admin_password, tls_ca) as admin:
        return admin.provision(roles, accounts, reset_existing)


def _write_private(path: Path, text: str) -> None:
    """Replace `path` atomically with a 0600 file holding `text`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


class CredentialStore:
    """Plant and service passwords in one 0600 JSON file."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def password_for(self, plant_id: str, create: bool = True) -> str:
        """The plant's MQTT password (its username is the plant id); made if missing."""
        if not ID_PATTERN.fullmatch(plant_id) or plant_id.startswith(SERVICE_PREFIX):
            raise CredentialError(
                f"{plant_id!r} cannot be a plant's MQTT user: ids match [a-z0-9-]{{1,32}} "
                f"and must not start with {SERVICE_PREFIX!r} (reserved for service accounts)"
            )
        return self._password("plants", plant_id, create)

    def service_password(self, account: str, create: bool = True) -> str:
        """A service account's password (`svc-api`, `svc-admin`, `svc-<collector id>`)."""
        if not SERVICE_ACCOUNT_PATTERN.fullmatch(account):
            raise CredentialError(
                f"{account!r} is not a service account name (svc- and [a-z0-9-]{{1,60}})"
            )
        return self._password("services", account, create)

    def rotate(self, plant_id: str) -> str:
        """Give a plant a new password (the broker must then be told: `provision_broker`)."""
        self.password_for(plant_id)  # validates the id
        with self._locked() as doc:
            doc["plants"][plant_id] = secrets.token_urlsafe(PASSWORD_BYTES)
            return str(doc["plants"][plant_id])

    def ensure(self, registry: Registry, services: Sequence[str] = ()) -> dict[str, str]:
        """Every registry plant's and the named services' passwords, creating missing ones."""
        with self._locked() as doc:
            for plant in registry.plants:
                if plant.id.startswith(SERVICE_PREFIX):
                    raise CredentialError(
                        f"plant id {plant.id!r} starts with {SERVICE_PREFIX!r}, which is "
                        "reserved for service accounts; rename the plant in the registry"
                    )
                doc["plants"].setdefault(plant.id, secrets.token_urlsafe(PASSWORD_BYTES))
            for account in services:
                if not SERVICE_ACCOUNT_PATTERN.fullmatch(account):
                    raise CredentialError(f"{account!r} is not a service account name")
                doc["services"].setdefault(account, secrets.token_urlsafe(PASSWORD_BYTES))
            wanted = {p.id for p in registry.plants}
            return {
                **{k: v for k, v in doc["plants"].items() if k in wanted},
                **{k: v for k, v in doc["services"].items() if k in services},
            }

    def _password(self, section: str, name: str, create: bool) -> str:
        if not create:
            doc = self._read()
            if name not in doc[section]:
                raise CredentialError(f"no MQTT password for {name!r} in {self.path}")
            return str(doc[section][name])
        with self._locked() as doc:
            return str(doc[section].setdefault(name, secrets.token_urlsafe(PASSWORD_BYTES)))

    def _read(self) -> dict[str, Any]:
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            doc = {}
        except (OSError, ValueError) as exc:
            raise CredentialError(f"credentials file {self.path}: {exc}") from exc
        if not isinstance(doc, dict):
            raise CredentialError(f"credentials file {self.path}: not a JSON object")
        doc.setdefault("version", 1)
        for section in ("plants", "services"):
            if not isinstance(doc.setdefault(section, {}), dict):
                raise CredentialError(
                    f"credentials file {self.path}: {section!r} must be an object"
                )
        return doc

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, Any]]:
        """Read-modify-write under an exclusive lock; written back only if changed."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.path.with_name(self.path.name + ".lock")
        with lock_path.open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            doc = self._read()
            before = json.dumps(doc, sort_keys=True)
            yield doc
            if json.dumps(doc, sort_keys=True) != before or not self.path.exists():
                _write_private(self.path, json.dumps(doc, indent=2, sort_keys=True) + "\n")
