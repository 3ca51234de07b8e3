"""PDF layout of the monthly report: a section heading is never left alone at a page foot."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from api.reports import pdf
from api.reports.content import Column, ReportContent, Section, Table


def pages_of(data: bytes, tmp_path: Path) -> list[str]:
    path = tmp_path / "layout.pdf"
    path.write_bytes(data)
    out = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, check=True, text=True)
    return out.stdout.split("\f")


def content(rows: int) -> ReportContent:
    def table(key: str, n: int, first: str) -> Table:
        cells = [[first if i == 0 else f"{key} row {i}", i] for i in range(n)]
        return Table(key, f"{key} table", (Column("name"), Column("n", "int")), cells)

    sections = [
        Section("FIRST SECTION", tables=[table("a", rows, "a row 0")]),
        Section("SECOND SECTION", tables=[table("b", 3, "FIRST ROW OF SECOND")]),
    ]
    figures: Any = None  # tables only: no chart reads the figures
    return ReportContent("en", "Layout", "a test", "", sections, figures)


def test_a_heading_stays_with_its_first_rows(tmp_path: Path) -> None:
    # Every length of the first table puts the second heading at a different height, the
    # foot of the first page among them.
    for rows in range(28, 48):
        pages = pages_of(pdf.render(content(rows)), tmp_path)
        page = next(p for p in pages if "SECOND SECTION" in p)
        assert "FIRST ROW OF SECOND" in page, rows
