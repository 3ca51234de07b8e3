"""The monthly report counts `treatment_not_running` per firm and month (SPEC 13)."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

from api.alerts.model import Alert, AlertKey
from api.reports.content import treatment_table

START, END = datetime(2026, 2, 28, 16, tzinfo=UTC), datetime(2026, 3, 31, 16, tzinfo=UTC)


def _alert(
    i: int, plant: str, line: str, opened: datetime, kind: str = "treatment_not_running"
) -> Alert:
    return Alert(i, AlertKey(kind, plant, line), "resolved", opened, opened, opened, 0.3, 0.4, "")


def test_counts_per_firm_in_the_month() -> None:
    alerts = [
        _alert(1, "sl-003", "line-1", datetime(2026, 3, 1, 14, tzinfo=UTC)),
        _alert(2, "sl-003", "line-1", datetime(2026, 3, 2, 14, tzinfo=UTC)),
        _alert(3, "sl-003", "line-2", datetime(2026, 3, 2, 15, tzinfo=UTC)),
        _alert(4, "ss-007", "pickling", datetime(2026, 3, 9, 2, tzinfo=UTC)),
        _alert(5, "ss-007", "pickling", datetime(2026, 2, 27, 2, tzinfo=UTC)),  # last month
        _alert(6, "sl-001", "stack-1", datetime(2026, 3, 3, tzinfo=UTC), "voc_spike"),
    ]
    figures = SimpleNamespace(
        alerts=alerts, start=START, end=END, plant_names={"sl-003": "某合成革公司"}
    )
    table = treatment_table(figures, "zh")  # type: ignore[arg-type]
    assert table.rows == [["sl-003", "某合成革公司", 3, 2], ["ss-007", "ss-007", 1, 1]]
    assert "治污设施" in table.title
    assert "Treatment" in treatment_table(figures, "en").title  # type: ignore[arg-type]
