"""The report's charts (matplotlib, Agg backend) as PNG bytes, labelled in the report's language."""

from __future__ import annotations

import io
from functools import cache

import matplotlib

matplotlib.use("Agg")

from matplotlib import font_manager
from matplotlib import pyplot as plt
from matplotlib.figure import Figure

from api.fuel.rules import STATUSES
from api.reports.content import ReportContent, alert_stats
from api.reports.fonts import cjk_font_path
from api.reports.texts import ALERT_KIND_NAMES, POLLUTANT_NAMES, STATUS_NAMES, name_of, text

DPI = 120
SIZE_IN = (7.0, 2.9)
STATUS_COLOURS = {
    "gas": "#2e7d32",
    "mixed": "#f9a825",
    "coal": "#424242",
    "idle": "#90a4ae",
    "unknown": "#e0e0e0",
}


@cache
def _font_family() -> str:
    path = cjk_font_path()
    font_manager.fontManager.addfont(str(path))
    return font_manager.FontProperties(fname=str(path)).get_name()


def _figure(left: float = 0.08, right: float = 0.97) -> Figure:
    plt.rcParams["font.family"] = [_font_family(), "DejaVu Sans"]
    plt.rcParams["axes.unicode_minus"] = False
    # Fixed margins: a constrained layout draws every chart twice.
    fig = Figure(figsize=SIZE_IN, dpi=DPI)
    fig.subplots_adjust(left=left, right=right, top=0.88, bottom=0.12)
    return fig


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def share_series(c: ReportContent) -> tuple[list[float], list[float]]:
    """The share and its upper bound per month, in %, NaN (a gap) where a month has no data."""
    nan = float("nan")
    share = [
        100 * m.kpi.share if m.kpi.has_data and m.kpi.share is not None else nan
        for m in c.figures.months
    ]
    upper = [
        100 * m.kpi.share_upper if m.kpi.has_data and m.kpi.share_upper is not None else nan
        for m in c.figures.months
    ]
    return share, upper


def share_chart(c: ReportContent) -> bytes:
    """Monthly share on gas and its upper bound, the goal, and the year-end projection."""
    f, lang = c.figures, c.lang
    fig = _figure()
    ax = fig.add_subplot()
    months = [int(m.month[-2:]) for m in f.months]
    # Months without data are gaps (shaded, as on the page), never a share of 0 %.
    share, upper = share_series(c)
    for month, m in zip(months, f.months, strict=True):
        if not m.kpi.has_data:
            ax.axvspan(month - 0.5, month + 0.5, color="#eeeeee", zorder=0)
    if any(not m.kpi.has_data for m in f.months):
        ax.fill_between([], [], color="#eeeeee", label=text("c_no_data", lang))
    ax.plot(months, share, "o-", color="#2e7d32", label=text("c_share", lang))
    ax.plot(months, upper, ":", color="#2e7d32", label=text("c_share_upper", lang))
    ax.axhline(100 * f.goal, color="#c62828", linestyle="--", label=text("goal", lang))
    o = f.outlook
    if o.projected_share is not None:
        low = o.share_low if o.share_low is not None else o.projected_share
        high = o.share_high if o.share_high is not None else o.projected_share
        ax.errorbar(
            [12],
            [100 * o.projected_share],
            yerr=[[100 * (o.projected_share - low)], [100 * (high - o.projected_share)]],
            fmt="s",
            color="#1565c0",
            capsize=4,
            label=text("p_share", lang),
        )
    ax.set_xlim(0.5, 12.5)
    ax.set_xticks(range(1, 13))
    ax.set_ylim(0, 105)
    ax.set_ylabel("%")
    ax.set_title(text("ch_share", lang))
    ax.legend(loc="upper left", fontsize=7)
    ax.grid(alpha=0.3)
    return _png(fig)


def status_chart(c: ReportContent) -> bytes:
    """Firms by status for each month, stacked."""
    f, lang = c.figures, c.lang
    fig = _figure(right=0.86)
    ax = fig.add_subplot()
    months = [int(m.month[-2:]) for m in f.months]
    bottom = [0] * len(months)
    for status in STATUSES:
        values = [m.kpi.counts[status] for m in f.months]
        ax.bar(
            months,
            values,
            bottom=bottom,
            color=STATUS_COLOURS[status],
            label=name_of(STATUS_NAMES, status, lang),
        )
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_xlim(0.5, 12.5)
    ax.set_xticks(range(1, 13))
    ax.set_title(text("ch_status", lang))
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7)
    return _png(fig)


def voc_chart(c: ReportContent) -> bytes:
    """The county's exceedance hours per pollutant this month."""
    f, lang = c.figures, c.lang
    fig = _figure()
    ax = fig.add_subplot()
    pollutants = list(dict.fromkeys(p for s in f.stacks for p in s.exceeding_hours)) or list(
        POLLUTANT_NAMES
    )
    values = [sum(s.exceeding_hours.get(p, 0) for s in f.stacks) for p in pollutants]
    ax.bar([name_of(POLLUTANT_NAMES, p, lang) for p in pollutants], values, color="#6a1b9a")
    for x, v in enumerate(values):
        ax.annotate(str(v), (x, v), ha="center", va="bottom", fontsize=8)
    ax.set_title(text("ch_voc", lang))
    ax.set_ylabel(text("c_exceed_hours", lang))
    return _png(fig)


def alerts_chart(c: ReportContent) -> bytes:
    """Alerts raised and still open at month end, per kind."""
    f, lang = c.figures, c.lang
    fig = _figure(left=0.25)
    ax = fig.add_subplot()
    stats = alert_stats(f.alerts, f.start, f.end)
    names = [name_of(ALERT_KIND_NAMES, s.kind, lang) for s in stats]
    ys = range(len(stats))
    ax.barh(
        [y + 0.2 for y in ys],
        [s.raised for s in stats],
        height=0.4,
        color="#ef6c00",
        label=text("c_raised", lang),
    )
    ax.barh(
        [y - 0.2 for y in ys],
        [s.still_open for s in stats],
        height=0.4,
        color="#546e7a",
        label=text("c_still_open", lang),
    )
    ax.set_yticks(list(ys), names, fontsize=8)
    ax.set_title(text("ch_alerts", lang))
    ax.legend(fontsize=7)
    return _png(fig)


CHARTS = {"share": share_chart, "status": status_chart, "voc": voc_chart, "alerts": alerts_chart}
