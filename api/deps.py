"""FastAPI dependencies: settings, store, registry and the caller's identity."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.alerts.repo import AlertRepo
from api.auth import KeyRing, Principal
from api.settings import ApiSettings
from ingest.registry import Registry
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
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing 'Authorization: Bearer <key>' header",
            headers={"WWW-Authenticate": "Bearer"},
        )
    keyring: KeyRing = request.app.state.keyring
    principal = keyring.lookup(credentials.credentials)
    if principal is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "unknown API key", headers={"WWW-Authenticate": "Bearer"}
        )
    return principal


def require_roles(*roles: str):
    """A dependency that lets only `roles` through (admin always passes)."""

    def check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if principal.role != "admin" and principal.role not in roles:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"role {principal.role!r} may not do this; needs {', '.join(roles)}",
            )
        return principal

    return check


SettingsDep = Annotated[ApiSettings, Depends(get_settings)]
StoreDep = Annotated[InfluxStore, Depends(get_store)]
RegistryDep = Annotated[Registry, Depends(get_registry)]
ReaderDep = Annotated[Principal, Depends(require_roles("officer", "viewer"))]
AlertRepoDep = Annotated[AlertRepo, Depends(get_alert_repo)]
