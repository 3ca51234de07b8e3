"""FastAPI dependencies: settings, store, registry and the caller's identity.

The registry a route gets (`RegistryDep`) is the caller's view of it (`get_scope`,
api/scope.py): a key scoped to a county sees that county only, and every answer follows.

They are `async def` because none of them waits on anything (a key not resolved by
`api.middleware.AuthFirstMiddleware` is looked up on the thread pool): FastAPI runs a plain
`def` dependency on the thread pool, a hop per dependency and request, which under eight
concurrent KPI readers cost more than the KPI itself.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine

from api.alerts.repo import AlertRepo
from api.auth import KeyRing, Principal
from api.errors import Forbidden, NotAuthenticated, NotFound
from api.keys import KeyStore
from api.readmodel.cache import RollupCache
from api.scope import Scope, scope_of
from api.settings import ApiSettings
from ingest.kernel.registry import Plant, Registry
from ingest.kernel.store import InfluxStore

_bearer = HTTPBearer(auto_error=False)


async def get_settings(request: Request) -> ApiSettings:
    return request.app.state.settings


async def get_store(request: Request) -> InfluxStore:
    return request.app.state.store


async def get_rollup_cache(request: Request) -> RollupCache:
    """The app's cache of rolled-up answers (api/readmodel/cache.py)."""
    cache: RollupCache = request.app.state.rollup_cache
    return cache


async def get_alert_repo(request: Request) -> AlertRepo:
    return request.app.state.alert_repo


async def get_db(request: Request) -> Engine:
    """The service's SQL database (audit log, alerts, records)."""
    return request.app.state.db


MISSING_KEY = "missing 'Authorization: Bearer <key>' header"
UNKNOWN_KEY = "unknown API key"


def resolve_key(state: Any, secret: str) -> Principal | None:
    """The live principal of `secret`: settings' admin key unless revoked (`keys revoke-admin`),
    or a stored key neither revoked nor expired."""
    keyring: KeyRing = state.keyring
    keys: KeyStore = state.keys
    principal = keyring.lookup(secret)
    if principal is not None:
        return None if keys.is_revoked_secret(secret) else principal
    return keys.lookup(secret)


def key_is_live(request: Request) -> bool:
    """Whether the request's bearer key is still accepted (long streams re-check it)."""
    scheme, _, secret = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and resolve_key(request.app.state, secret.strip()) is not None


async def get_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    # api.middleware.AuthFirstMiddleware has resolved the key already (before any body).
    known = getattr(request.state, "principal", None)
    if isinstance(known, Principal):
        return known
    if credentials is None:
        raise NotAuthenticated(MISSING_KEY)
    principal = await run_in_threadpool(resolve_key, request.app.state, credentials.credentials)
    if principal is None:
        raise NotAuthenticated(UNKNOWN_KEY)
    return principal


def require_roles(*roles: str):
    """A dependency that lets only `roles` through (admin always passes)."""

    async def check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if principal.role != "admin" and principal.role not in roles:
            raise Forbidden(
                f"role {principal.role!r} may not do this; needs {', '.join(('admin', *roles))}"
            )
        return principal

    return check


async def get_keys(request: Request) -> KeyStore:
    return request.app.state.keys


async def plant_reader(
    plant: str, principal: Annotated[Principal, Depends(get_principal)]
) -> Principal:
    """Readers see every plant; a plant key sees only its own."""
    if principal.role == "plant" and principal.plant != plant:
        raise Forbidden(f"this plant key belongs to {principal.plant!r}, not {plant!r}")
    return principal


async def plant_pusher(
    plant: str, principal: Annotated[Principal, Depends(get_principal)]
) -> Principal:
    """Only admin and the plant's own key push readings."""
    if principal.role == "admin":
        return principal
    if principal.role != "plant":
        raise Forbidden(f"role {principal.role!r} may not push readings; needs plant")
    if principal.plant != plant:
        raise Forbidden(f"this plant key belongs to {principal.plant!r}, not {plant!r}")
    return principal


async def get_scope(
    request: Request, principal: Annotated[Principal, Depends(get_principal)]
) -> Scope:
    """The one place a request gets the registry: the caller's view of it (api/scope.py)."""
    return scope_of(request.app.state.registry, principal)


async def get_registry(scope: Annotated[Scope, Depends(get_scope)]) -> Registry:
    """The firms, name and goal the caller sees: its county's, or the whole registry."""
    return scope.registry


async def known_plant(plant: str, registry: Annotated[Registry, Depends(get_registry)]) -> Plant:
    """The registry entry of the `plant` path parameter, or 404 (outside the caller's county
    too: a firm out of view is answered as one that does not exist)."""
    found = registry.plant(plant)
    if found is None:
        raise NotFound(f"plant {plant!r} is not in the registry")
    return found


SettingsDep = Annotated[ApiSettings, Depends(get_settings)]
StoreDep = Annotated[InfluxStore, Depends(get_store)]
RollupCacheDep = Annotated[RollupCache, Depends(get_rollup_cache)]
RegistryDep = Annotated[Registry, Depends(get_registry)]
ScopeDep = Annotated[Scope, Depends(get_scope)]
ReaderDep = Annotated[Principal, Depends(require_roles("officer", "viewer"))]
AlertRepoDep = Annotated[AlertRepo, Depends(get_alert_repo)]
DbDep = Annotated[Engine, Depends(get_db)]
OfficerDep = Annotated[Principal, Depends(require_roles("officer"))]
AdminDep = Annotated[Principal, Depends(require_roles())]
PlantReaderDep = Annotated[Principal, Depends(plant_reader)]
PlantPusherDep = Annotated[Principal, Depends(plant_pusher)]
KnownPlantDep = Annotated[Plant, Depends(known_plant)]
KeysDep = Annotated[KeyStore, Depends(get_keys)]
