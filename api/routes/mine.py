"""What a caller is (`/me`, so the page opens the right view), and a plant's refused readings
with their reasons (its own page, SPEC section 14)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import Field

from api.auth import Principal
from api.deps import KnownPlantDep, PlantReaderDep, StoreDep, get_principal
from api.schemas import Model, error_responses
from ingest.kernel.points import DEAD_LETTER_MEASUREMENT
from ingest.kernel.reads import Points, tags
from ingest.kernel.store import Store

router = APIRouter(prefix="/api/v1", tags=["plants"])
REFUSED_DAYS = 7
MAX_REFUSED = 200


class MeAnswer(Model):
    name: str
    role: str
    plant: str | None = Field(description="the plant of a plant key")
    county: str | None = Field(
        None, description="the county the key is scoped to; null: every county (province)"
    )


class RefusedReading(Model):
    at: str
    code: str
    reason: str
    topic: str | None


class RefusedAnswer(Model):
    plant: str
    days: int
    refused: list[RefusedReading]


@router.get("/me", response_model=MeAnswer, responses=error_responses())
async def me(who: Annotated[Principal, Depends(get_principal)]) -> dict[str, Any]:
    """The caller's name, role, (for a plant key) plant and (for a county key) county."""
    return {"name": who.name, "role": who.role, "plant": who.plant, "county": who.county}


def refused_of(store: Store, plant: str, since: datetime) -> list[dict[str, Any]]:
    """The plant's refused messages since `since`, newest first, with their reasons."""
    request = Points(
        DEAD_LETTER_MEASUREMENT, ("reason", "topic", "code"), since, None, tags(plant=plant),
        newest=MAX_REFUSED,
    )  # fmt: skip
    (series,) = store.read([request])
    out = []
    for s in series:
        index = {c: i for i, c in enumerate(s.columns)}
        for row in s.values:
            out.append(
                {
                    "at": datetime.fromtimestamp(row[0] / 1000, tz=UTC).isoformat(),
                    "code": row[index["code"]] if "code" in index else s.tags.get("code", ""),
                    "reason": row[index["reason"]] or "",
                    "topic": row[index["topic"]] if "topic" in index else None,
                }
            )
    return out


@router.get("/plants/{plant}/refused", response_model=RefusedAnswer, responses=error_responses(404))
async def refused(
    found: KnownPlantDep,
    _: PlantReaderDep,
    store: StoreDep,
    days: Annotated[int, Query(ge=1, le=31)] = REFUSED_DAYS,
) -> dict[str, Any]:
    """Readings the plant sent that were refused, with the reason, over the last `days`."""
    since = datetime.now(UTC) - timedelta(days=days)
    rows = await run_in_threadpool(refused_of, store, found.id, since)
    return {"plant": found.id, "days": days, "refused": rows}
