"""The monthly job: once a local month is over, write its report (PDF and XLSX) to disk and
keep only the newest `reports_keep` months (`PLANTWATCH_REPORTS_DIR`, default var/reports/)."""

from __future__ import annotations

import logging
import os
import re
import threading
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from api.reports import content
from api.reports.data import gather
from api.reports.service import filename, renderer
from api.settings import ApiSettings
from ingest.kernel.errors import PlantwatchError
from ingest.kernel.registry import Registry
from ingest.kernel.store import Store

log = logging.getLogger(__name__)
REPORT_FILE = re.compile(r"^plantwatch-(\d{4}-\d{2})-(zh|en)\.(pdf|xlsx)$")
LANG = "zh"
CHECK_SECONDS = 3600.0
# The first check waits: a restart loop or a short-lived test process never builds a report.
FIRST_CHECK_DELAY_SECONDS = 300.0


def previous_month(now: datetime, tz: ZoneInfo) -> str:
    """`YYYY-MM` of the last local month that is over at `now`."""
    local = now.astimezone(tz)
    year, month = (local.year, local.month - 1) if local.month > 1 else (local.year - 1, 12)
    return f"{year:04d}-{month:02d}"


def months_to_drop(names: list[str], keep: int) -> list[str]:
    """Files of all but the newest `keep` months among report file `names`."""
    months = sorted({m.group(1) for n in names if (m := REPORT_FILE.match(n))}, reverse=True)
    old = set(months[keep:])
    return sorted(n for n in names if (m := REPORT_FILE.match(n)) and m.group(1) in old)


class ReportJob:
    def __init__(self, settings: ApiSettings, registry: Registry, store: Store, db: Engine) -> None:
        self.settings, self.registry, self.store, self.db = settings, registry, store, db
        self.directory = Path(settings.reports_dir)

    def run_once(self, now: datetime | None = None) -> list[Path]:
        """Write last month's report if missing, prune old ones; the files written."""
        now = now or datetime.now(UTC)
        month = previous_month(now, ZoneInfo(self.settings.timezone))
        self.directory.mkdir(parents=True, exist_ok=True)
        wanted = {fmt: self.directory / filename(month, fmt, LANG) for fmt in ("pdf", "xlsx")}
        written = []
        if not all(p.exists() for p in wanted.values()):
            built = content.build(
                gather(self.settings, self.registry, self.store, self.db, month, now), LANG
            )
            for fmt in ("pdf", "xlsx"):
                _write_atomically(wanted[fmt], renderer(fmt)(built))
                written.append(wanted[fmt])
            log.info("monthly report written", extra={"month": month, "dir": str(self.directory)})
        for name in months_to_drop(os.listdir(self.directory), self.settings.reports_keep):
            (self.directory / name).unlink(missing_ok=True)
        return written

    def run_forever(self, stop: threading.Event, interval_seconds: float = CHECK_SECONDS) -> None:
        if stop.wait(FIRST_CHECK_DELAY_SECONDS):
            return
        while not stop.is_set():
            try:
                self.run_once()
            except (PlantwatchError, OSError):
                log.exception("monthly report job failed; retrying later")
            stop.wait(interval_seconds)


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
