"""FastAPI dependencies: settings, store, registry and the caller's identity."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.alerts.repo import AlertRepo
from api.auth import KeyRing, Principal
from api.errors import Forbidden, NotAuthenticated, NotFound
from api.keys import KeyStore
from api.settings import ApiSettings
from ingest.registry import Plant, Registry
from ingest.store import InfluxStore

_bearer = HTTPBearer(auto_error=False)


def get_settings(request: Request) -> ApiSettings:
    return request.app.state.settings


def get_store(request: Request) -> InfluxStore:
    return request.app.state.store


def get_registry(request: Request) -> Registry:
    return request.app.state.registry


def get_alert_repo(request: Request) -> AlertRepo:
    return request.app.state.alert_repo


def get_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None:
        raise NotAuthenticated("missing 'Authorization: Bearer <key>' header")
    keyring: KeyRing = request.app.state.keyring
    keys: KeyStore = request.app.state.keys
    principal = keyring.lookup(credentials.credentials) or keys.lookup(credentials.credentials)
    if principal is None:
        raise NotAuthenticated("unknown API key")
    return principal


def require_roles(*roles: str):
    """A dependency that lets only `roles` through (admin always passes)."""

    def check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if principal.role != "admin" and principal.role not in roles:
            raise Forbidden(
                f"role {principal.role!r} may not do this; needs {', '.join(('admin', *roles))}"
            )
        return principal

    return check


def get_keys(request: Request) -> KeyStore:
    return request.app.state.keys


def plant_reader(plant: str, principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    """Readers see every plant; a plant key sees only its own."""
    if principal.role == "plant" and principal.plant != plant:
        raise Forbidden(f"this plant key belongs to {principal.plant!r}, not {plant!r}")
    return principal


def plant_pusher(plant: str, principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    """Only admin and the plant's own key push readings."""
    if principal.role == "admin":
        return principal
    if principal.role != "plant":
        raise Forbidden(f"role {principal.role!r} may not push readings; needs plant")
    if principal.plant != plant:
        raise Forbidden(f"this plant key belongs to {principal.plant!r}, not {plant!r}")
    return principal


def known_plant(plant: str, registry: Annotated[Registry, Depends(get_registry)]) -> Plant:
    """The registry entry of the `plant` path parameter, or 404."""
    found = registry.plant(plant)
    if found is None:
        raise NotFound(f"plant {plant!r} is not in the registry")
    return found


SettingsDep = Annotated[ApiSettings, Depends(get_settings)]
StoreDep = Annotated[InfluxStore, Depends(get_store)]
RegistryDep = Annotated[Registry, Depends(get_registry)]
ReaderDep = Annotated[Principal, Depends(require_roles("officer", "viewer"))]
AlertRepoDep = Annotated[AlertRepo, Depends(get_alert_repo)]
OfficerDep = Annotated[Principal, Depends(require_roles("officer"))]
AdminDep = Annotated[Principal, Depends(require_roles())]
PlantReaderDep = Annotated[Principal, Depends(plant_reader)]
PlantPusherDep = Annotated[Principal, Depends(plant_pusher)]
KnownPlantDep = Annotated[Plant, Depends(known_plant)]
KeysDep = Annotated[KeyStore, Depends(get_keys)]
