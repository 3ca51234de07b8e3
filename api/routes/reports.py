"""The monthly report as PDF or XLSX (issue 16)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from api.deps import ReaderDep, RegistryDep, ScopeDep, SettingsDep, StoreDep
from api.limits import report_slot
from api.reports.data import ReportMonthError
from api.reports.service import FORMATS, filename, monthly_report
from api.schemas import error_responses

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])


@router.get(
    "/monthly",
    response_class=Response,
    dependencies=[Depends(report_slot)],
    responses={
        **error_responses(429),
        200: {
            "content": {media: {} for media in FORMATS.values()},
            "description": "the report as PDF or XLSX",
        },
    },
)
async def get_monthly_report(
    request: Request,
    settings: SettingsDep,
    store: StoreDep,
    registry: RegistryDep,
    scope: ScopeDep,
    _: ReaderDep,
    month: Annotated[str, Query(description="local calendar month, YYYY-MM", max_length=7)],
    format: Annotated[Literal["pdf", "xlsx"], Query(description="pdf or xlsx")] = "pdf",
    lang: Annotated[Literal["zh", "en"], Query(description="zh (default) or en")] = "zh",
) -> Response:
    """The month's coal-to-gas, VOC, alert and data-quality report (a month in progress: to date)."""
    try:
        body = await run_in_threadpool(
            monthly_report,
            settings,
            registry,
            store,
            request.app.state.db,
            month,
            format,
            lang,
            None,
            scope,
        )
    except ReportMonthError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, str(exc)) from exc
    return Response(
        body,
        media_type=FORMATS[format],
        headers={"Content-Disposition": f'attachment; filename="{filename(month, format, lang)}"'},
    )
