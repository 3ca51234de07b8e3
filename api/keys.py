"""API keys in the SQL database: only SHA-256 hashes are stored; a key is shown once, at creation.

Roles (see docs/api.md): `admin` everything; `officer` reads and acts on alerts; `viewer`
reads; `plant` pushes readings for, and reads, its own plant only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Integer,
    String,
    Table,
    insert,
    select,
    update,
)

from api.auth import ROLES, Principal, hash_key, new_key
from api.db import METADATA
from api.errors import InvalidInput, NotFound
from ingest.errors import PlantwatchError
from ingest.registry import ID_PATTERN

api_keys = Table(
    "api_keys",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False),
    Column("role", String(20), nullable=False),
    Column("plant", String(32), nullable=True),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)
MAX_NAME_CHARS = 100


class ApiKeyError(PlantwatchError):
    """A key cannot be created or revoked as asked; the message says why."""


class InvalidKeyRequest(ApiKeyError, InvalidInput):
    """The new key's name, role or plant is unusable."""


class UnknownKey(ApiKeyError, NotFound):
    """No key with that id."""


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """A stored key without its secret."""

    id: int
    name: str
    role: str
    plant: str | None
    created_at: datetime
    revoked_at: datetime | None

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "plant": self.plant,
            "created_at": _aware(self.created_at).isoformat(),
            "revoked_at": _aware(self.revoked_at).isoformat() if self.revoked_at else None,
        }


def _aware(ts: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything stored is UTC.
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def check_new_key(name: str, role: str, plant: str | None, known_plants: set[str] | None) -> None:
    """Refuse a role outside ROLES, a plant key without a (known) plant, a plant on another role."""
    if not name.strip() or len(name) > MAX_NAME_CHARS:
        raise InvalidKeyRequest(f"name must be 1 to {MAX_NAME_CHARS} characters")
    if role not in ROLES:
        raise InvalidKeyRequest(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    if role == "plant":
        if plant is None:
            raise InvalidKeyRequest("a plant key needs --plant PLANT_ID")
        if not ID_PATTERN.match(plant):
            raise InvalidKeyRequest(f"plant id {plant!r} must match [a-z0-9-]{{1,32}}")
        if known_plants is not None and plant not in known_plants:
            raise InvalidKeyRequest(f"plant {plant!r} is not in the registry")
    elif plant is not None:
        raise InvalidKeyRequest(f"only plant keys name a plant; role {role!r} does not take one")


class KeyStore:
    """Create, revoke, list and look up keys in the `api_keys` table."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create(
        self, name: str, role: str, plant: str | None = None, known_plants: set[str] | None = None
    ) -> tuple[KeyInfo, str]:
        """A new key: its stored record and the secret (shown only now)."""
        check_new_key(name, role, plant, known_plants)
        secret = new_key()
        now = datetime.now(UTC)
        with self.engine.begin() as conn:
            result = conn.execute(
                insert(api_keys).values(
                    name=name,
                    role=role,
                    plant=plant,
                    key_hash=hash_key(secret),
                    created_at=now,
                    revoked_at=None,
                )
            )
            key_id = int(result.inserted_primary_key[0])  # type: ignore[index]
        return KeyInfo(key_id, name, role, plant, now, None), secret

    def revoke(self, key_id: int) -> KeyInfo:
        """Revoke a key (idempotent); unknown ids are an error."""
        with self.engine.begin() as conn:
            row = conn.execute(select(api_keys).where(api_keys.c.id == key_id)).first()
            if row is None:
                raise UnknownKey(f"no key with id {key_id}")
            if row.revoked_at is None:
                conn.execute(
                    update(api_keys)
                    .where(api_keys.c.id == key_id)
                    .values(revoked_at=datetime.now(UTC))
                )
            row = conn.execute(select(api_keys).where(api_keys.c.id == key_id)).one()
        return _info(row)

    def list(self, include_revoked: bool = True) -> list[KeyInfo]:
        query = select(api_keys).order_by(api_keys.c.id)
        if not include_revoked:
            query = query.where(api_keys.c.revoked_at.is_(None))
        with self.engine.connect() as conn:
            return [_info(row) for row in conn.execute(query)]

    def lookup(self, secret: str) -> Principal | None:
        """The principal of a live (not revoked) key, by the hash of its secret."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(api_keys).where(
                    api_keys.c.key_hash == hash_key(secret), api_keys.c.revoked_at.is_(None)
                )
            ).first()
        if row is None:
            return None
        return Principal(f"{row.name}#{row.id}", row.role, row.plant)


def _info(row: Any) -> KeyInfo:
    return KeyInfo(row.id, row.name, row.role, row.plant, row.created_at, row.revoked_at)
