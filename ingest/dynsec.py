"""Broker accounts in Mosquitto's dynamic-security plugin: identity bound to the account.

Mosquitto 2.0 does not tie client ids to usernames, so with password/ACL files any plant
could connect as `collector-1` and take over the collector's persistent session (issue 14).
The dynamic-security plugin (shipped with Debian's mosquitto) binds an account to one client
id: a plant's account connects only as its plant id, a collector's only as its collector id,
so no plant can use another account's client id. Accounts are created and changed at run
time through the plugin's control topic, so adding a plant or rotating its password takes
effect without restarting or signalling the broker.

Pure parts (roles, accounts, commands, the seed file) are plain data; `DynsecAdmin` is the
I/O edge (one MQTT request/response over `$CONTROL/dynamic-security/v1`).

Accounts (usernames; the `svc-` prefix is reserved for services):

    <plant id>          client id = the plant id; publishes only its own topics
    svc-<collector id>  client id = the collector id; reads readings, writes refusals
    svc-api             the API (push, alerts): two connections per process, several
                        processes, so no fixed client id (docs/decisions.md)
    svc-<gateway id>    client id = the HJ 212 gateway's id; publishes loggers' packets
    svc-admin           client id svc-admin; may only use the control topic
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ingest.client import Inbound, MqttClient
from ingest.kernel.errors import PlantwatchError
from ingest.kernel.topics import Topics

CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
RESPONSE_TOPIC = f"{CONTROL_TOPIC}/response"
ADMIN_ACCOUNT = "svc-admin"
API_ACCOUNT = "svc-api"
SERVICE_PREFIX = "svc-"
PLANT_ROLE_PREFIX = "plant-"
COLLECTOR_ROLE = "collector"
API_ROLE = "api"
GATEWAY_ROLE = "hj212-gateway"
ADMIN_ROLE = "admin"
PBKDF2_ITERATIONS = 101  # the plugin's own default
SALT_BYTES = 12
HASH_BYTES = 64
RESPONSE_TIMEOUT_SECONDS = 20.0
CONNECT_SECONDS = 10.0
PLUGIN_CANDIDATES = (
    "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so",
    "/usr/lib/aarch64-linux-gnu/mosquitto_dynamic_security.so",
    "/usr/lib/mosquitto_dynamic_security.so",
    "/usr/local/lib/mosquitto_dynamic_security.so",
)
ALREADY_EXISTS = ("Client already exists", "Role already exists")


class DynsecError(PlantwatchError):
    """The broker's dynamic-security plugin could not be reached or refused a command."""


def plugin_path() -> Path:
    """Where this machine's Mosquitto keeps the dynamic-security plugin."""
    for candidate in PLUGIN_CANDIDATES:
        if Path(candidate).exists():
            return Path(candidate)
    found = sorted(Path("/usr/lib").glob("*/mosquitto_dynamic_security.so"))
    if found:
        return found[0]
    raise DynsecError(
        "mosquitto_dynamic_security.so not found: install Debian's 'mosquitto' package (2.0+)"
    )


def collector_account(collector_id: str) -> str:
    """The broker username of a collector: `svc-<collector id>`."""
    return f"{SERVICE_PREFIX}{collector_id}"


def gateway_account(gateway_id: str) -> str:
    """The broker username of an HJ 212 gateway: `svc-<gateway id>`."""
    return f"{SERVICE_PREFIX}{gateway_id}"


@dataclass(frozen=True, slots=True)
class Account:
    """One broker account: who, its password, the one client id it may use, its role."""

    username: str
    password: str
    clientid: str | None
    role: str


def password_fields(password: str, salt: bytes | None = None) -> dict[str, Any]:
    """The plugin's stored form of a password: PBKDF2-HMAC-SHA512, base64 hash and salt."""
    salt = salt if salt is not None else secrets.token_bytes(SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, PBKDF2_ITERATIONS, HASH_BYTES)
    return {
        "password": base64.b64encode(digest).decode(),
        "salt": base64.b64encode(salt).decode(),
        "iterations": PBKDF2_ITERATIONS,
    }


def _acl(acltype: str, topic: str) -> dict[str, Any]:
    return {"acltype": acltype, "topic": topic, "allow": True}


def plant_role(topics: Topics, plant_id: str) -> dict[str, Any]:
    """A plant publishes only its readings, HJ 212 packets and status; reads its own feedback."""
    own = f"{topics.root}/plants/{plant_id}"
    return {
        "rolename": f"{PLANT_ROLE_PREFIX}{plant_id}",
        "acls": [
            _acl("publishClientSend", f"{own}/meters/+/readings"),
            _acl("publishClientSend", topics.hj212(plant_id)),
            _acl("publishClientSend", topics.status(plant_id)),
            _acl("subscribePattern", topics.status(plant_id)),
            _acl("subscribePattern", topics.rejected(plant_id)),
            _acl("subscribePattern", topics.alerts(plant_id)),
        ],
    }


def service_roles(topics: Topics) -> list[dict[str, Any]]:
    """The collector's, the API's, the HJ 212 gateway's and the administrator's roles."""
    plants = f"{topics.root}/plants"
    return [
        {
            "rolename": COLLECTOR_ROLE,
            "acls": [
                _acl("subscribePattern", f"{plants}/+/meters/+/readings"),
                _acl("subscribePattern", f"{plants}/+/hj212"),
                _acl("publishClientSend", f"{plants}/+/rejected"),
                # what the broker's store holds: the queue-limit alarm (ingest/broker_queue.py)
                _acl("subscribePattern", "$SYS/broker/store/messages/#"),
                _acl("publishClientReceive", "$SYS/broker/store/messages/#"),
            ],
        },
        {
            "rolename": API_ROLE,
            "acls": [
                _acl("publishClientSend", f"{plants}/+/meters/+/readings"),
                _acl("publishClientSend", f"{plants}/+/hj212"),
                _acl("publishClientSend", f"{topics.root}/alerts/#"),
                _acl("publishClientSend", f"{topics.root}/sync/#"),
                _acl("subscribePattern", f"{plants}/+/status"),
                _acl("subscribePattern", f"{plants}/+/rejected"),
            ],
        },
        {
            # the HJ 212 TCP gateway publishes its loggers' packets and their refusals
            "rolename": GATEWAY_ROLE,
            "acls": [
                _acl("publishClientSend", f"{plants}/+/hj212"),
                _acl("publishClientSend", f"{plants}/+/rejected"),
                _acl("publishClientSend", f"{topics.root}/sync/#"),
            ],
        },
        admin_role(),
    ]


def admin_role() -> dict[str, Any]:
    """The administrator may use the control topic and read `$SYS`, nothing else."""
    return {
        "rolename": ADMIN_ROLE,
        "acls": [
            _acl("publishClientSend", CONTROL_TOPIC),
            _acl("subscribePattern", f"{CONTROL_TOPIC}/#"),
            # `$` topics need an explicit grant to be delivered, whatever the default says.
            _acl("publishClientReceive", f"{CONTROL_TOPIC}/#"),
            _acl("subscribePattern", "$SYS/#"),
            _acl("publishClientReceive", "$SYS/#"),
        ],
    }


def seed_config(admin_password: str) -> dict[str, Any]:
    """The plugin's file before first start: only the administrator; the rest is provisioned."""
    return {
        "defaultACLAccess": {
            "publishClientSend": False,
            "publishClientReceive": True,
            "subscribe": False,
            "unsubscribe": True,
        },
        "clients": [
            {
                "username": ADMIN_ACCOUNT,
                "clientid": ADMIN_ACCOUNT,
                **password_fields(admin_password),
                "roles": [{"rolename": ADMIN_ROLE}],
            }
        ],
        "groups": [],
        "roles": [admin_role()],
    }


def write_seed(path: Path, admin_password: str) -> bool:
    """Write the seed file (0600) unless the broker already keeps one there; True if written."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(seed_config(admin_password), indent=1))
    path.chmod(0o600)
    return True


def create_commands(
    roles: Iterable[dict[str, Any]], accounts: Iterable[Account]
) -> list[dict[str, Any]]:
    """`createRole` for each role, then `createClient` for each account."""
    commands: list[dict[str, Any]] = [{"command": "createRole", **role} for role in roles]
    for account in accounts:
        command: dict[str, Any] = {
            "command": "createClient",
            "username": account.username,
            "password": account.password,
            "roles": [{"rolename": account.role}],
        }
        if account.clientid is not None:
            command["clientid"] = account.clientid
        commands.append(command)
    return commands


def reset_commands(account: Account) -> list[dict[str, Any]]:
    """Make an existing account match `account` (password, client id, role); kicks its client."""
    # Mosquitto 2.0's plugin refuses `"clientid": null` ("Invalid/missing client ID"); an
    # absent key is how it is told the account may use any client id (issue 20).
    set_id: dict[str, Any] = {"command": "setClientId", "username": account.username}
    if account.clientid is not None:
        set_id["clientid"] = account.clientid
    return [
        {
            "command": "setClientPassword",
            "username": account.username,
            "password": account.password,
        },
        set_id,
        {
            "command": "modifyClient",
            "username": account.username,
            "roles": [{"rolename": account.role}],
        },
    ]


class DynsecAdmin:
    """Sends command lists to the plugin as `svc-admin` and waits for their responses."""

    def __init__(self, host: str, port: int, password: str, tls_ca: Path | None = None) -> None:
        self._responses: list[dict[str, Any]] = []
        self._arrived = threading.Condition()
        self._client = MqttClient(
            ADMIN_ACCOUNT,
            host,
            port,
            ADMIN_ACCOUNT,
            password,
            on_message=self._on_response,
            subscriptions=[(RESPONSE_TOPIC, 1)],
            tls_ca=tls_ca,
        )

    def __enter__(self) -> DynsecAdmin:
        try:
            self._client.start(wait=False)
        except PlantwatchError as exc:
            raise DynsecError(f"broker administration unavailable: {exc}") from exc
        deadline = time.monotonic() + CONNECT_SECONDS
        while not self._client.wait_connected(0.1):
            if self._client.refused_reason is not None or time.monotonic() > deadline:
                self._client.stop()
                reason = self._client.refused_reason or f"no answer within {CONNECT_SECONDS:.0f}s"
                raise DynsecError(
                    f"broker administration unavailable at {self._client.host}:"
                    f"{self._client.port} as {ADMIN_ACCOUNT}: {reason}"
                )
        return self

    def __exit__(self, *exc: object) -> None:
        self._client.stop()

    def execute(self, commands: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Run the commands in one request; the plugin's response per command, in order."""
        if not commands:
            return []
        tag = uuid.uuid4().hex
        tagged = [{**c, "correlationData": f"{tag}-{i}"} for i, c in enumerate(commands)]
        answered: dict[str, dict[str, Any]] = {}
        # The response subscription went out on connect, before this publish, and a broker
        # handles one connection's packets in order: the answer cannot miss us.
        self._client.publish(CONTROL_TOPIC, json.dumps({"commands": tagged}).encode(), qos=1)
        with self._arrived:
            complete = self._arrived.wait_for(
                lambda: self._collect(tag, answered) == len(tagged), RESPONSE_TIMEOUT_SECONDS
            )
        if not complete:
            raise DynsecError(
                f"no complete answer from the broker's dynamic-security plugin on "
                f"{CONTROL_TOPIC} ({len(answered)} of {len(tagged)} responses): is the plugin "
                f"loaded and is {ADMIN_ACCOUNT}'s password right?"
            )
        return [answered[f"{tag}-{i}"] for i in range(len(tagged))]

    def _collect(self, tag: str, answered: dict[str, dict[str, Any]]) -> int:
        for response in self._responses:
            key = str(response.get("correlationData", ""))
            if key.startswith(tag):
                answered[key] = response
        self._responses.clear()
        return len(answered)

    def provision(
        self,
        roles: Sequence[dict[str, Any]],
        accounts: Sequence[Account],
        reset_existing: bool = False,
    ) -> list[str]:
        """Create roles and accounts; existing ones are kept (or reset); returns the new users."""
        responses = self.execute(create_commands(roles, accounts))
        created: list[str] = []
        resets: list[dict[str, Any]] = []
        for command, response in zip(create_commands(roles, accounts), responses, strict=True):
            error = response.get("error")
            if error and error not in ALREADY_EXISTS:
                name = command.get("username") or command.get("rolename")
                raise DynsecError(f"{command['command']} {name!r} refused: {error}")
            if command["command"] == "createClient":
                if not error:
                    created.append(command["username"])
                elif reset_existing:
                    account = next(a for a in accounts if a.username == command["username"])
                    resets += reset_commands(account)
        for command, response in zip(resets, self.execute(resets), strict=True):
            if response.get("error"):
                raise DynsecError(
                    f"{command['command']} {command['username']!r} refused: {response['error']}"
                )
        return created

    def _on_response(self, message: Inbound) -> None:
        try:
            responses = json.loads(message.payload).get("responses", [])
        except (ValueError, AttributeError):
            return
        with self._arrived:
            self._responses.extend(r for r in responses if isinstance(r, dict))
            self._arrived.notify_all()
