"""CSV exports: BOM for Excel, Chinese names intact, formulas neutralised."""

from __future__ import annotations

import csv
import io

import pytest

from api.export import to_csv


def test_csv_has_bom_crlf_and_chinese() -> None:
    text = to_csv(
        ("plant", "name", "share"), [{"plant": "ss-1", "name": "松阳县不锈钢", "share": 0.5}]
    )
    assert text.startswith("\ufeffplant,name,share\r\n")
    assert "ss-1,松阳县不锈钢,0.5\r\n" in text


def test_cells() -> None:
    rows = [
        {"a": None, "b": 0.1 + 0.2, "c": "=HYPERLINK(1)"},
        {"a": -5, "b": 1234.5, "c": "@SUM(A1)"},
        {"a": "-12.5", "b": 2, "c": "+x"},
    ]
    parsed = list(csv.reader(io.StringIO(to_csv(("a", "b", "c"), rows).lstrip("\ufeff"))))
    assert parsed == [
        ["a", "b", "c"],
        ["", "0.3", "'=HYPERLINK(1)"],
        ["-5", "1234.5", "'@SUM(A1)"],
        ["-12.5", "2", "'+x"],
    ]


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+1", "'=1+1"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("\n=1+1", "'\n=1+1"),
        ("\x00=cmd", "'\x00=cmd"),
        (" @SUM(A1)", "' @SUM(A1)"),
        ("\uff1dHYPERLINK()", "'\uff1dHYPERLINK()"),
        ("+86 578 123", "'+86 578 123"),
        ("-1.5", "-1.5"),
        ("1e5", "1e5"),
        ("plain 名称", "plain 名称"),
    ],
)
def test_formula_and_control_starts_are_quoted(value: str, cell: str) -> None:
    row = list(csv.reader(io.StringIO(to_csv(("a",), [{"a": value}]).lstrip("\ufeff"))))[1]
    assert row == [cell]
