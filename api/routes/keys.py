"""API key management over HTTP (admin only); the CLI `python -m api keys` does the same."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Path, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from api.deps import AdminDep, KeysDep, RegistryDep
from api.schemas import KeyList, KeyView, NewKeyAnswer, error_responses

router = APIRouter(prefix="/api/v1/keys", tags=["keys"])


class NewKey(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    role: Literal["admin", "officer", "viewer", "plant", "inspector"]
    plant: str | None = Field(default=None, description="required for (and only for) plant keys")
    county: str | None = Field(
        default=None,
        max_length=32,
        description="officer, viewer and inspector keys only: the one county of the registry "
        "the key sees; none: every county (province-wide)",
    )
    expires_in_days: float | None = Field(
        default=None, gt=0, le=3650, description="the key is refused after this many days"
    )


class Rotation(BaseModel):
    grace_hours: float = Field(
        default=24.0, ge=0, le=24 * 30, description="how long the old key still works"
    )


def _expiry(days: float | None) -> datetime | None:
    return None if days is None else datetime.now(UTC) + timedelta(days=days)


@router.get("", response_model=KeyList, responses=error_responses())
async def list_keys(_: AdminDep, keys: KeysDep) -> KeyList:
    """Every key (never the secret), revoked ones too."""
    found = await run_in_threadpool(keys.list)
    return KeyList.model_validate({"keys": [k.as_dict() for k in found]})


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=NewKeyAnswer,
    responses=error_responses(),
)
async def create_key(
    body: NewKey, admin: AdminDep, keys: KeysDep, registry: RegistryDep
) -> NewKeyAnswer:
    """A new key; its secret is in this answer only."""
    known = {p.id for p in registry.plants}
    info, secret = await run_in_threadpool(
        keys.create,
        body.name,
        body.role,
        body.plant,
        known,
        admin.name,
        _expiry(body.expires_in_days),
        body.county,
        {c.id for c in registry.counties},
    )
    return NewKeyAnswer.model_validate({**info.as_dict(), "key": secret})


@router.post(
    "/{key_id}/rotate",
    status_code=status.HTTP_201_CREATED,
    response_model=NewKeyAnswer,
    responses=error_responses(404),
)
async def rotate_key(
    key_id: Annotated[int, Path(ge=1, le=2_147_483_647)],
    admin: AdminDep,
    keys: KeysDep,
    body: Rotation | None = None,
) -> NewKeyAnswer:
    """A new key for the same holder; the old one works `grace_hours` more, then expires."""
    grace = timedelta(hours=(body or Rotation()).grace_hours)
    info, secret = await run_in_threadpool(keys.rotate, key_id, admin.name, grace)
    return NewKeyAnswer.model_validate({**info.as_dict(), "key": secret})


@router.delete("/{key_id}", response_model=KeyView, responses=error_responses(404))
async def revoke_key(
    key_id: Annotated[int, Path(ge=1, le=2_147_483_647)], admin: AdminDep, keys: KeysDep
) -> KeyView:
    """Revoke a key (idempotent)."""
    info = await run_in_threadpool(keys.revoke, key_id, admin.name)
    return KeyView.model_validate(info.as_dict())
