"""Make a month's report: gather the figures, build the content, render it (PDF or XLSX)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine

from api.reports import content
from api.reports.data import gather
from api.scope import Scope
from api.settings import ApiSettings
from ingest.kernel.registry import Registry
from ingest.kernel.store import Store

# Each format's media type and renderer module (api.reports.<name>). The renderers pull in
# reportlab and matplotlib (about a second of start-up): imported when a report is made.
FORMATS = {
    "pdf": "application/pdf",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def renderer(fmt: str) -> Callable[[content.ReportContent], bytes]:
    """The render function of `fmt` (a key of FORMATS)."""
    if fmt not in FORMATS:
        raise KeyError(fmt)
    render: Callable[[content.ReportContent], bytes] = importlib.import_module(
        f"api.reports.{fmt}"
    ).render
    return render


def monthly_report(
    settings: ApiSettings,
    registry: Registry,
    store: Store,
    db: Engine,
    month: str,
    fmt: str,
    lang: str,
    now: datetime | None = None,
    scope: Scope | None = None,
) -> bytes:
    """The report of local month `YYYY-MM` as `fmt` (pdf or xlsx) in `lang` (zh or en), of
    the caller's `scope` (None: the whole registry)."""
    figures = gather(settings, registry, store, db, month, now, scope)
    return renderer(fmt)(content.build(figures, lang))


def filename(month: str, fmt: str, lang: str) -> str:
    return f"plantwatch-{month}-{lang}.{fmt}"
