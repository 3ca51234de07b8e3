"""API keys in the SQL database: only SHA-256 hashes are stored; a key is shown once, at creation.

Roles (see docs/api.md): `admin` everything; `officer` reads and acts on alerts; `viewer`
reads; `plant` pushes readings for, and reads, its own plant only. An officer, viewer or
inspector key may be scoped to one `county` of the registry (api/scope.py); without one it
is province-wide.

A key may expire (`expires_at`); rotating a key makes a new one with the same name, role and
plant, and lets the old one live only for a grace period (`replaced_by` names the new one).
A key that is not in the table (the admin key from the environment) is revoked by a row in
`key_revocations` keyed by the hash of its secret.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Engine,
    Integer,
    String,
    Table,
    insert,
    select,
    update,
)

from api.audit import record_audit
from api.auth import COUNTY_ROLES, ROLES, Principal, hash_key, new_key
from api.db import METADATA
from api.errors import InvalidInput, NotFound
from ingest.kernel.errors import PlantwatchError
from ingest.kernel.registry import ID_PATTERN

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
    Column("expires_at", DateTime(timezone=True), nullable=True),
    Column("replaced_by", Integer, nullable=True),
    # The county an officer, viewer or inspector key sees; NULL: every county (province).
    Column("county", String(32), nullable=True),
)
# Secrets revoked although they are not stored keys (the admin key from the environment).
key_revocations = Table(
    "key_revocations",
    METADATA,
    Column("key_hash", String(64), primary_key=True),
    Column("revoked_at", DateTime(timezone=True), nullable=False),
    Column("revoked_by", String(128), nullable=False),
)
MAX_NAME_CHARS = 100
ROTATION_GRACE = timedelta(hours=24)


class ApiKeyError(PlantwatchError):
    """A key cannot be created or revoked as asked; the message says why."""


class InvalidKeyRequest(ApiKeyError, InvalidInput):
    """The new key's name, role, plant or county is unusable."""


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
    expires_at: datetime | None = None
    replaced_by: int | None = None
    county: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "plant": self.plant,
            "created_at": _aware(self.created_at).isoformat(),
            "revoked_at": _aware(self.revoked_at).isoformat() if self.revoked_at else None,
            "expires_at": _aware(self.expires_at).isoformat() if self.expires_at else None,
            "replaced_by": self.replaced_by,
            "county": self.county,
        }


def _aware(ts: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything stored is UTC.
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def check_new_key(
    name: str,
    role: str,
    plant: str | None,
    known_plants: set[str] | None,
    county: str | None = None,
    known_counties: set[str] | None = None,
) -> None:
    """Refuse a role outside ROLES, a plant key without a (known) plant, a plant on another
    role, and a county on a role that takes none or that the registry does not name."""
    if not name.strip() or len(name) > MAX_NAME_CHARS:
        raise InvalidKeyRequest(f"name must be 1 to {MAX_NAME_CHARS} characters")
    # PostgreSQL text cannot hold NUL, and a name is shown in logs and the audit trail.
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise InvalidKeyRequest("name must not contain control characters")
    if role not in ROLES:
        raise InvalidKeyRequest(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    if role == "plant":
        if plant is None:
            raise InvalidKeyRequest("a plant key needs --plant PLANT_ID")
        if not ID_PATTERN.fullmatch(plant):
            raise InvalidKeyRequest(f"plant id {plant!r} must match [a-z0-9-]{{1,32}}")
        if known_plants is not None and plant not in known_plants:
            raise InvalidKeyRequest(f"plant {plant!r} is not in the registry")
    elif plant is not None:
        raise InvalidKeyRequest(f"only plant keys name a plant; role {role!r} does not take one")
    if county is None:
        return
    if role not in COUNTY_ROLES:
        raise InvalidKeyRequest(
            f"only {', '.join(COUNTY_ROLES)} keys are scoped to a county; role {role!r} is not"
            + (" (a plant key's scope is its plant)" if role == "plant" else "")
        )
    if known_counties is not None and county not in known_counties:
        raise InvalidKeyRequest(
            f"county {county!r} is not in the registry; it names {', '.join(sorted(known_counties))}"
        )
    if not ID_PATTERN.fullmatch(county):
        raise InvalidKeyRequest(f"county id {county!r} must match [a-z0-9-]{{1,32}}")


class KeyStore:
    """Create, revoke, list and look up keys in the `api_keys` table."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create(
        self,
        name: str,
        role: str,
        plant: str | None = None,
        known_plants: set[str] | None = None,
        actor: str = "cli",
        expires_at: datetime | None = None,
        county: str | None = None,
        known_counties: set[str] | None = None,
    ) -> tuple[KeyInfo, str]:
        """A new key: its stored record and the secret (shown only now); audited as `actor`."""
        check_new_key(name, role, plant, known_plants, county, known_counties)
        now = datetime.now(UTC)
        if expires_at is not None and expires_at <= now:
            raise InvalidKeyRequest("a key's expiry must lie in the future")
        with self.engine.begin() as conn:
            info, secret = self._insert(conn, name, role, plant, now, expires_at, county)
            detail: dict[str, object] = {"name": name, "role": role, "plant": plant}
            if county is not None:
                detail["county"] = county
            if expires_at is not None:
                detail["expires_at"] = expires_at
            record_audit(conn, actor, "key.created", f"key:{info.id}", detail)
        return info, secret

    def _insert(
        self,
        conn: Connection,
        name: str,
        role: str,
        plant: str | None,
        now: datetime,
        expires_at: datetime | None,
        county: str | None = None,
    ) -> tuple[KeyInfo, str]:
        secret = new_key()
        result = conn.execute(
            insert(api_keys).values(
                name=name,
                role=role,
                plant=plant,
                key_hash=hash_key(secret),
                created_at=now,
                revoked_at=None,
                expires_at=expires_at,
                county=county,
            )
        )
        key_id = int(result.inserted_primary_key[0])  # type: ignore[index]
        return KeyInfo(key_id, name, role, plant, now, None, expires_at, None, county), secret

    def rotate(
        self,
        key_id: int,
        actor: str = "cli",
        grace: timedelta = ROTATION_GRACE,
        expires_at: datetime | None = None,
    ) -> tuple[KeyInfo, str]:
        """A new key in place of `key_id` (same name, role, plant, county); the old one lives
        `grace` more.

        The new key expires at `expires_at`, else after as long as the old one was given.
        """
        now = datetime.now(UTC)
        with self.engine.begin() as conn:
            row = conn.execute(select(api_keys).where(api_keys.c.id == key_id)).first()
            if row is None:
                raise UnknownKey(f"no key with id {key_id}")
            if row.revoked_at is not None or row.replaced_by is not None:
                raise InvalidKeyRequest(f"key {key_id} is revoked or already rotated")
            if expires_at is None and row.expires_at is not None:
                expires_at = now + (_aware(row.expires_at) - _aware(row.created_at))
            info, secret = self._insert(
                conn, row.name, row.role, row.plant, now, expires_at, row.county
            )
            old_until = now + grace
            if row.expires_at is not None:
                old_until = min(old_until, _aware(row.expires_at))
            conn.execute(
                update(api_keys)
                .where(api_keys.c.id == key_id)
                .values(expires_at=old_until, replaced_by=info.id)
            )
            record_audit(
                conn,
                actor,
                "key.rotated",
                f"key:{key_id}",
                {"name": row.name, "new_key": info.id, "old_valid_until": old_until},
            )
        return info, secret

    def revoke_secret(self, secret: str, actor: str = "cli") -> bool:
        """Revoke a secret that is not a stored key (the environment's admin key); audited.

        False if it was revoked already.
        """
        digest = hash_key(secret)
        with self.engine.begin() as conn:
            if conn.execute(
                select(key_revocations).where(key_revocations.c.key_hash == digest)
            ).first():
                return False
            conn.execute(
                insert(key_revocations).values(
                    key_hash=digest, revoked_at=datetime.now(UTC), revoked_by=actor
                )
            )
            record_audit(
                conn, actor, "key.revoked", f"key-hash:{digest[:16]}", {"environment_key": True}
            )
        return True

    def is_revoked_secret(self, secret: str) -> bool:
        """Whether `secret` was revoked by `revoke_secret`."""
        digest = hash_key(secret)
        with self.engine.connect() as conn:
            return (
                conn.execute(
                    select(key_revocations.c.key_hash).where(key_revocations.c.key_hash == digest)
                ).first()
                is not None
            )

    def revoke(self, key_id: int, actor: str = "cli") -> KeyInfo:
        """Revoke a key (idempotent; audited the first time as `actor`); unknown ids are an error."""
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
                record_audit(conn, actor, "key.revoked", f"key:{key_id}", {"name": row.name})
            row = conn.execute(select(api_keys).where(api_keys.c.id == key_id)).one()
        return _info(row)

    def list(self, include_revoked: bool = True) -> list[KeyInfo]:
        query = select(api_keys).order_by(api_keys.c.id)
        if not include_revoked:
            query = query.where(api_keys.c.revoked_at.is_(None))
        with self.engine.connect() as conn:
            return [_info(row) for row in conn.execute(query)]

    def lookup(self, secret: str, now: datetime | None = None) -> Principal | None:
        """The principal of a live (not revoked, not expired) key, by the hash of its secret."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(api_keys).where(
                    api_keys.c.key_hash == hash_key(secret), api_keys.c.revoked_at.is_(None)
                )
            ).first()
        if row is None:
            return None
        if row.expires_at is not None and _aware(row.expires_at) <= (now or datetime.now(UTC)):
            return None
        return Principal(f"{row.name}#{row.id}", row.role, row.plant, row.county)


def _info(row: Any) -> KeyInfo:
    return KeyInfo(
        row.id,
        row.name,
        row.role,
        row.plant,
        row.created_at,
        row.revoked_at,
        row.expires_at,
        row.replaced_by,
        row.county,
    )
