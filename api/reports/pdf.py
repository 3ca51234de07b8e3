"""The monthly report as PDF (reportlab platypus): headline, charts and tables, CJK embedded."""

from __future__ import annotations

import io
from datetime import date, datetime
from functools import cache
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import (
    Image,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from api.reports import content
from api.reports.charts import CHARTS, SIZE_IN
from api.reports.fonts import cjk_font
from api.reports.texts import text

FONT = "PlantwatchCJK"
PAGE_WIDTH_MM = 180
MAX_ROWS_IN_PDF = 60
WRAP_CHARS = 10
MIN_WRAP_WIDTH = 60.0  # points  # longer tables are cut here in the PDF (the XLSX has them whole)


@cache
def _register_font() -> str:
    path, index = cjk_font()
    pdfmetrics.registerFont(TTFont(FONT, str(path), subfontIndex=index))
    return FONT


def _para(text: str, style: ParagraphStyle) -> Paragraph:
    """A paragraph of plain text: reportlab reads `<...>` and `&...;` as markup (an `<img>`
    in a plant's name or an officer's comment would load a file), so every text is escaped."""
    return Paragraph(escape(text), style)


def _styles() -> dict[str, ParagraphStyle]:
    font = _register_font()
    return {
        "title": ParagraphStyle("title", fontName=font, fontSize=16, leading=22, spaceAfter=4),
        "subtitle": ParagraphStyle(
            "subtitle", fontName=font, fontSize=9, leading=12, textColor=colors.grey
        ),
        "h1": ParagraphStyle(
            "h1",
            fontName=font,
            fontSize=13,
            leading=18,
            spaceBefore=10,
            spaceAfter=4,
            textColor=colors.HexColor("#1a237e"),
        ),
        "h2": ParagraphStyle(
            "h2", fontName=font, fontSize=10.5, leading=14, spaceBefore=6, spaceAfter=3
        ),
        "cell": ParagraphStyle("cell", fontName=font, fontSize=7.5, leading=9.5),
        "note": ParagraphStyle(
            "note", fontName=font, fontSize=8, leading=10, textColor=colors.HexColor("#b71c1c")
        ),
    }


def fmt(value: Any, cell: str) -> str:
    """A cell as shown in the PDF (the XLSX keeps the number itself)."""
    if value is None:
        return "—"
    if cell == "pct" and isinstance(value, int | float):
        return f"{100 * value:.1f}%"
    if cell == "int" and isinstance(value, int | float):
        return f"{int(value):,}"
    if cell == "float" and isinstance(value, int | float):
        return f"{value:,.2f}"
    if cell == "float4" and isinstance(value, int | float):
        return f"{value:.4f}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)


def _table(t: content.Table, styles: dict[str, ParagraphStyle], none: str) -> list[Any]:
    out: list[Any] = [_para(t.title, styles["h2"])]
    if not t.rows:
        out.append(_para(none, styles["cell"]))
        return out
    header = [_para(c.label, styles["cell"]) for c in t.columns]
    shown = t.rows[:MAX_ROWS_IN_PDF]
    # Only long text columns are paragraphs (they wrap); the rest are plain strings, which
    # size their column and cost far less to lay out.
    wraps = [
        c.cell == "text" and any(len(fmt(row[i], c.cell)) > WRAP_CHARS for row in shown)
        for i, c in enumerate(t.columns)
    ]
    rows = [
        [
            _para(fmt(v, c.cell), styles["cell"]) if wrap else fmt(v, c.cell)
            for v, c, wrap in zip(row, t.columns, wraps, strict=True)
        ]
        for row in shown
    ]
    table = Table([header, *rows], repeatRows=1, hAlign="LEFT", colWidths=_widths(t, shown, wraps))
    table.setStyle(
        TableStyle(
            [
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eaf6")),
                ("GRID", (0, 0), (-1, -1), 0.3, colors.HexColor("#9e9e9e")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("FONTNAME", (0, 0), (-1, -1), FONT),
                ("FONTSIZE", (0, 0), (-1, -1), 7.5),
                ("ALIGN", (0, 1), (-1, -1), "LEFT"),
                ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#fafafa")]),
            ]
        )
    )
    out.append(table)
    if len(t.rows) > MAX_ROWS_IN_PDF:
        out.append(_para(f"… {len(t.rows) - MAX_ROWS_IN_PDF} (XLSX)", styles["cell"]))
    return out


def _widths(t: content.Table, shown: list[list[Any]], wraps: list[bool]) -> list[float]:
    """Plain columns as wide as their longest cell; wrapping columns share what is left."""
    font = _register_font()
    padding = 14.0  # the cell padding (6 pt each side) and a little air
    natural = [
        max(
            [pdfmetrics.stringWidth(fmt(row[i], c.cell), font, 7.5) for row in shown]
            + [min(pdfmetrics.stringWidth(c.label, font, 7.5), 60.0)]
        )
        + padding
        for i, c in enumerate(t.columns)
    ]
    total = PAGE_WIDTH_MM * mm
    fixed = sum(w for w, wrap in zip(natural, wraps, strict=True) if not wrap)
    n_wrap = sum(wraps)
    if not n_wrap:
        scale = min(1.0, total / fixed) if fixed else 1.0
        return [w * scale for w in natural]
    share = max(MIN_WRAP_WIDTH, (total - fixed) / n_wrap)
    # Too wide: the plain columns give way (their text is short, a little overflow is rare).
    scale = min(1.0, (total - share * n_wrap) / fixed) if fixed else 1.0
    return [share if wrap else w * scale for w, wrap in zip(natural, wraps, strict=True)]


def render(c: content.ReportContent) -> bytes:
    """The PDF bytes of report content `c`."""
    styles = _styles()
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=15 * mm,
        bottomMargin=15 * mm,
        title=c.title,
        author="plantwatch",
    )
    none = text("none", c.lang)
    story: list[Any] = [
        _para(c.title, styles["title"]),
        _para(c.subtitle, styles["subtitle"]),
    ]
    if c.note:
        story.append(_para(c.note, styles["note"]))
    width = PAGE_WIDTH_MM * mm
    height = width * SIZE_IN[1] / SIZE_IN[0]
    for section in c.sections:
        blocks: list[list[Any]] = []
        if section.headline:
            grid = Table(
                [
                    [_para(h.label, styles["cell"]), _para(h.text, styles["cell"])]
                    for h in section.headline
                ],
                colWidths=[70 * mm, 60 * mm],
                hAlign="LEFT",
            )
            grid.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.3, colors.HexColor("#9e9e9e"))]))
            blocks.append([grid])
        for key in section.charts:
            blocks.append(
                [Spacer(1, 3 * mm), Image(io.BytesIO(CHARTS[key](c)), width=width, height=height)]
            )
        for table in section.tables:
            # The title stays with the table's first rows.
            parts = _table(table, styles, none)
            blocks.append([KeepTogether(parts[:2]), *parts[2:]])
        # The heading stays with its section's first block: never alone at a page foot.
        first = blocks[0] if blocks else []
        story.append(KeepTogether([_para(section.title, styles["h1"]), *first[:2]]))
        story.extend(first[2:])
        for block in blocks[1:]:
            story.extend(block)
    doc.build(story, onFirstPage=_footer, onLaterPages=_footer)
    return buffer.getvalue()


def _footer(canvas: Any, doc: Any) -> None:
    canvas.saveState()
    canvas.setFont(FONT, 7)
    canvas.drawRightString(A4[0] - 15 * mm, 8 * mm, f"plantwatch · {doc.page}")
    canvas.restoreState()
