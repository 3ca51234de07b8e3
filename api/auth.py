"""API keys: `Authorization: Bearer <key>`; keys are kept only as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

# inspector: a town inspector who sees and acts on the tasks assigned to it only (api.tasks).
ROLES = ("admin", "officer", "viewer", "plant", "inspector")
# The roles a key of which may be scoped to one county (api/scope.py); the others see the
# province (admin) or their plant (plant).
COUNTY_ROLES = ("officer", "viewer", "inspector")


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    role: str
    plant: str | None = None
    # The county this key is scoped to; None: every county of the registry.
    county: str | None = None


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return "pw_" + secrets.token_urlsafe(24)


class KeyRing:
    """Hashed keys in memory; the admin key from settings is always accepted."""

    def __init__(self) -> None:
        self._by_hash: dict[str, Principal] = {}

    def add(self, key: str, principal: Principal) -> None:
        self._by_hash[hash_key(key)] = principal

    def lookup(self, key: str) -> Principal | None:
        digest = hash_key(key)
        for known, principal in self._by_hash.items():
            if hmac.compare_digest(known, digest):
                return principal
        return None
