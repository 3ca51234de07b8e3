"""CSV exports: UTF-8 with a byte-order mark so Excel shows Chinese names; local times;
Chinese headers (and status names) on request (`lang=zh`)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from ingest.kernel.catalogue import status_label

BOM = "\ufeff"
MEDIA_TYPE = "text/csv; charset=utf-8"

KPI_COLUMNS = (
    "plant",
    "name",
    "status",
    "gas_fraction",
    "gas_m3",
    "coal_kg",
    "gas_kgce",
    "coal_kgce",
    "co2_kg",
    "co2_avoided_kg",
    "reason",
)
USAGE_COLUMNS = (
    "start",
    "end",
    "gas_m3",
    "coal_kg",
    "gas_kgce",
    "coal_kgce",
    "kgce",
    "co2_kg",
    "gas_readings",
    "coal_readings",
    "resets",
    "implausible_steps",
)


# Columns holding instants: written as local wall time, "YYYY-MM-DD HH:MM:SS".
TIME_COLUMNS = frozenset({"start", "end"})
HEADERS_ZH = {
    "plant": "企业编号",
    "name": "企业名称",
    "status": "状态",
    "gas_fraction": "天然气比例",
    "gas_m3": "天然气（立方米）",
    "coal_kg": "煤（千克）",
    "gas_kgce": "天然气折标煤（千克）",
    "coal_kgce": "煤折标煤（千克）",
    "co2_kg": "CO2（千克）",
    "co2_avoided_kg": "减排CO2（千克）",
    "reason": "说明",
    "start": "开始时间",
    "end": "结束时间",
    "kgce": "能耗（千克标煤）",
    "gas_readings": "天然气读数条数",
    "coal_readings": "煤读数条数",
    "resets": "表底归零次数",
    "implausible_steps": "不合理跳变次数",
}


def header(column: str, lang: str, tz: ZoneInfo) -> str:
    """A column's header in `lang`; time columns name their time zone."""
    label = HEADERS_ZH.get(column, column) if lang == "zh" else column
    if column in TIME_COLUMNS:
        return f"{label}（{tz.key}）" if lang == "zh" else f"{label} ({tz.key})"
    return label


def local_time(value: Any, tz: ZoneInfo) -> Any:
    """An instant (datetime or RFC 3339 text) as local wall time text; anything else unchanged."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")
    return value


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        # Six decimals keep fractions exact enough and spare the report float noise.
        return str(round(value, 6))
    text = str(value)
    if formula_like(text):
        return "'" + text
    return text


FORMULA_STARTS = ("=", "+", "-", "@", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def formula_like(text: str) -> bool:
    """Would a spreadsheet run `text` as a formula? (OWASP CSV injection rules.)

    Excel and LibreOffice skip leading tabs, carriage returns and other control characters or
    spaces before = + - @ (full-width forms too), and a leading tab or CR alone starts DDE in
    some versions: such a cell is quoted as text. Plain numbers (-1.5) stay numbers.
    """
    if not text or _is_number(text):
        return False
    if ord(text[0]) < 32:
        return True
    stripped = text.lstrip(" \u3000")
    return stripped[:1] in FORMULA_STARTS


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def to_csv(
    columns: Sequence[str],
    rows: Iterable[dict[str, Any]],
    lang: str = "en",
    tz: ZoneInfo | None = None,
) -> str:
    """CSV text with a header row, BOM first, CRLF line ends (what Excel expects).

    With `tz`, time columns are local wall times; with `lang="zh"`, headers and statuses
    are in Chinese.
    """
    buffer = io.StringIO()
    buffer.write(BOM)
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([header(c, lang, tz) if tz else c for c in columns])
    for row in rows:
        cells = []
        for c in columns:
            value = row.get(c)
            if tz is not None and c in TIME_COLUMNS:
                value = local_time(value, tz)
            if lang == "zh" and c == "status":
                value = status_label(str(value), "zh")
            cells.append(_cell(value))
        writer.writerow(cells)
    return buffer.getvalue()
