"""API key management over HTTP (admin only); the CLI `python -m api keys` does the same."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from api.deps import AdminDep, KeysDep, RegistryDep
from api.keys import ApiKeyError

router = APIRouter(prefix="/api/v1/keys", tags=["keys"])


class NewKey(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    role: Literal["admin", "officer", "viewer", "plant"]
    plant: str | None = Field(default=None, description="required for (and only for) plant keys")


@router.get("")
async def list_keys(_: AdminDep, keys: KeysDep) -> dict[str, Any]:
    """Every key (never the secret), revoked ones too."""
    return {"keys": [k.as_dict() for k in await run_in_threadpool(keys.list)]}


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_key(
    body: NewKey, admin: AdminDep, keys: KeysDep, registry: RegistryDep
) -> dict[str, Any]:
    """A new key; its secret is in this answer only."""
    known = {p.id for p in registry.plants}
    try:
        info, secret = await run_in_threadpool(
            keys.create, body.name, body.role, body.plant, known, admin.name
        )
    except ApiKeyError as exc:
        raise HTTPException(422, str(exc)) from exc
    return {**info.as_dict(), "key": secret}


@router.delete("/{key_id}")
async def revoke_key(
    key_id: Annotated[int, Path(ge=1, le=2_147_483_647)], admin: AdminDep, keys: KeysDep
) -> dict[str, Any]:
    """Revoke a key (idempotent)."""
    try:
        info = await run_in_threadpool(keys.revoke, key_id, admin.name)
    except ApiKeyError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    return info.as_dict()
