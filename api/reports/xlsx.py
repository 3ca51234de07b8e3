"""The monthly report as XLSX (openpyxl): one sheet per table, numbers as numbers, local times,
text as text (never a formula)."""

from __future__ import annotations

import io
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from api.export import formula_like
from api.reports.content import ReportContent
from api.reports.texts import SHEET_NAMES, name_of

NUMBER_FORMATS = {
    "int": "#,##0",
    "float": "#,##0.00",
    "float4": "0.0000",
    "pct": "0.0%",
    "time": "yyyy-mm-dd hh:mm",
    "date": "yyyy-mm-dd",
}
SUMMARY_SHEET = "summary"


def sheet_name(key: str, lang: str) -> str:
    """A table's sheet name in the report's language (Excel allows 31 characters)."""
    return name_of(SHEET_NAMES, key, lang)[:31]


def render(c: ReportContent) -> bytes:
    """The XLSX bytes of report content `c`: a summary sheet, then one sheet per table."""
    book = Workbook()
    summary = book.active
    assert summary is not None
    summary.title = sheet_name(SUMMARY_SHEET, c.lang)
    summary.append([c.title])
    summary["A1"].font = Font(bold=True, size=14)
    summary.append([c.subtitle])
    if c.note:
        summary.append([c.note])
    for section in c.sections:
        summary.append([])
        summary.append([section.title])
        summary.cell(summary.max_row, 1).font = Font(bold=True)
        for h in section.headline:
            # The number itself with its format where there is one, so a sheet can sum it.
            summary.append([h.label, h.text if h.value is None else h.value])
            if h.value is not None and h.cell in NUMBER_FORMATS:
                summary.cell(summary.max_row, 2).number_format = NUMBER_FORMATS[h.cell]
    summary.column_dimensions["A"].width = 36
    summary.column_dimensions["B"].width = 28
    for table in c.tables():
        sheet = book.create_sheet(sheet_name(table.key, c.lang))
        sheet.append([table.title])
        sheet["A1"].font = Font(bold=True)
        sheet.append([col.label for col in table.columns])
        for cell in sheet[2]:
            cell.font = Font(bold=True)
        for row in table.rows:
            sheet.append([_value(v) for v in row])
            for cell, col in zip(sheet[sheet.max_row], table.columns, strict=False):
                if col.cell in NUMBER_FORMATS and cell.value is not None:
                    cell.number_format = NUMBER_FORMATS[col.cell]
        for index, col in enumerate(table.columns, start=1):
            sheet.column_dimensions[get_column_letter(index)].width = max(
                10, min(40, len(col.label) * 2)
            )
        sheet.freeze_panes = "A3"
    for sheet in book.worksheets:
        _text_stays_text(sheet)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _text_stays_text(sheet: Any) -> None:
    # openpyxl stores a string starting with `=` as a live formula, and a spreadsheet runs
    # text starting with = + - @ once edited: such cells are typed text with Excel's quote
    # prefix (a plant's name or an officer's comment is never a formula).
    for row in sheet.iter_rows():
        for cell in row:
            if isinstance(cell.value, str) and formula_like(cell.value):
                cell.data_type = "s"
                cell.quotePrefix = True


def _value(value: Any) -> Any:
    # Plain numbers, text, and naive local datetimes/dates are what a cell can hold.
    if isinstance(value, bool):
        return str(value)
    return value
