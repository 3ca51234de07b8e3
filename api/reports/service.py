"""Make a month's report: gather the figures, build the content, render it (PDF or XLSX)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine

from api.reports import content, pdf, xlsx
from api.reports.data import gather
from api.settings import ApiSettings
from ingest.registry import Registry
from ingest.store import InfluxStore

FORMATS = {
    "pdf": ("application/pdf", pdf.render),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", xlsx.render),
}


def monthly_report(
    settings: ApiSettings,
    registry: Registry,
    store: InfluxStore,
    db: Engine,
    month: str,
    fmt: str,
    lang: str,
    now: datetime | None = None,
) -> bytes:
    """The report of local month `YYYY-MM` as `fmt` (pdf or xlsx) in `lang` (zh or en)."""
    figures = gather(settings, registry, store, db, month, now)
    return FORMATS[fmt][1](content.build(figures, lang))


def filename(month: str, fmt: str, lang: str) -> str:
    return f"plantwatch-{month}-{lang}.{fmt}"
