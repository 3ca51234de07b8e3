"""CSV exports for the monthly report: UTF-8 with a byte-order mark so Excel shows Chinese names."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

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


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        # Six decimals keep fractions exact enough and spare the report float noise.
        return str(round(value, 6))
    text = str(value)
    if _formula_like(text):
        return "'" + text
    return text


FORMULA_STARTS = ("=", "+", "-", "@", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def _formula_like(text: str) -> bool:
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


def to_csv(columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> str:
    """CSV text with a header row, BOM first, CRLF line ends (what Excel expects)."""
    buffer = io.StringIO()
    buffer.write(BOM)
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return buffer.getvalue()
