"""Broker accounts on a NATS cluster (SPEC section 15): the Mosquitto plan, as NATS users.

NATS's MQTT listener authenticates MQTT clients as NATS users and checks their publish and
subscribe permissions on subjects: MQTT topic `a/b/+/c` is subject `a.b.*.c`, and filter
`a/#` covers `a` and `a.>`. Who may publish what is said once, by `broker_plan`
(ingest/credentials.py, the dynamic-security roles); this module only translates it, so a
plant publishes only its own topics on either broker.

What does not translate (docs/decisions.md): NATS does not bind a client id to a user.
Any authenticated client may connect with another account's client id: the session's
subscriptions are re-made under the intruder's own permissions (a plant cannot read other
plants' readings that way), but with a clean session it ends the session, and the readings
queued for an absent collector with it (tested). So on NATS a collector's session carries
a client id no plant can guess (`session_client_id`, derived from the collector's
password). There is no control topic either: `svc-admin` has no permissions (it only probes
that the listener is up), and a change of accounts is a new config file and a reload signal
(`nats-server --signal reload`).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from typing import Any

from ingest.credentials import (
    DEFAULT_COLLECTOR_IDS,
    DEFAULT_GATEWAY_IDS,
    CredentialStore,
    broker_plan,
)
from ingest.dynsec import ADMIN_ACCOUNT, PLANT_ROLE_PREFIX, Account
from ingest.kernel.errors import PlantwatchError
from ingest.kernel.registry import Registry

SESSION_ID_HEX_CHARS = 20  # 80 bits
PUBLISH_ACLS = frozenset({"publishClientSend"})
SUBSCRIBE_ACLS = frozenset({"subscribePattern", "subscribeLiteral"})


class NatsAuthError(PlantwatchError):
    """An MQTT topic that has no NATS subject (a `.` or a space in a level)."""


def topic_subjects(topic: str) -> tuple[str, ...]:
    """The NATS subjects an MQTT topic or filter covers (`a/#` is `a` and `a.>`)."""
    if any(c in topic for c in ". \t") or not topic:
        raise NatsAuthError(f"MQTT topic {topic!r} has no NATS subject: '.' or space in it")
    levels = ["*" if level == "+" else level for level in topic.split("/")]
    if levels[-1] == "#":
        parent = ".".join(levels[:-1])
        return (parent, f"{parent}.>") if parent else (">",)
    return (".".join(levels),)


def session_client_id(collector_id: str, password: str) -> str:
    """The collector's client id on NATS: its id and a tag only its password can make.

    Stable while the password is (a new password means a new session: drain the old one
    first, docs/operations.md).
    """
    tag = hmac.new(password.encode(), f"mqtt-session:{collector_id}".encode(), hashlib.sha256)
    return f"{collector_id}-{tag.hexdigest()[:SESSION_ID_HEX_CHARS]}"


def nats_user(account: Account, acls: Sequence[dict[str, Any]], plant: bool) -> dict[str, Any]:
    """One account as a NATS user: its password and the subjects of its role's grants."""
    publish = [s for a in acls if a["acltype"] in PUBLISH_ACLS for s in topic_subjects(a["topic"])]
    subscribe = [
        s for a in acls if a["acltype"] in SUBSCRIBE_ACLS for s in topic_subjects(a["topic"])
    ]
    user: dict[str, Any] = {
        "user": account.username,
        "password": account.password,
        "permissions": {
            "publish": {"allow": publish} if publish else {"deny": [">"]},
            "subscribe": {"allow": subscribe} if subscribe else {"deny": [">"]},
        },
    }
    if plant:
        user["allowed_connection_types"] = ["MQTT"]
    return user


def nats_users(
    roles: Sequence[dict[str, Any]], accounts: Sequence[Account]
) -> list[dict[str, Any]]:
    """Every account of the plan as a NATS user (the administrator: connect only)."""
    acls = {role["rolename"]: role["acls"] for role in roles}
    return [
        nats_user(
            a,
            () if a.username == ADMIN_ACCOUNT else acls[a.role],
            a.role.startswith(PLANT_ROLE_PREFIX),
        )
        for a in accounts
    ]


def nats_authorization(
    store: CredentialStore,
    registry: Registry,
    topic_root: str = "plantwatch",
    collector_ids: Sequence[str] = DEFAULT_COLLECTOR_IDS,
    gateway_ids: Sequence[str] = DEFAULT_GATEWAY_IDS,
) -> dict[str, Any]:
    """The `authorization` block of a NATS server for the registry (passwords made if missing)."""
    roles, accounts = broker_plan(store, registry, topic_root, collector_ids, gateway_ids)
    admin = Account(ADMIN_ACCOUNT, store.service_password(ADMIN_ACCOUNT), None, "admin")
    return {"users": nats_users(roles, [admin, *accounts])}
