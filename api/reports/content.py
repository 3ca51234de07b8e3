"""The report's content as plain tables (pure): month figures in, titled rows out, in zh or en.

Numbers stay numbers (the XLSX keeps them, the PDF formats them); times are local
`datetime`s without offset, as officers read them. Every figure is read from
`MonthFigures`, which the services produced; the only arithmetic here is unit scaling
(kg -> t), sums of per-month figures and the alert timings (differences of recorded times).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from api.alerts.model import COUNTY, KINDS, TREATMENT_NOT_RUNNING, Alert
from api.alerts.texts import limit_rule_text
from api.factors import factor_periods, factors_used
from api.fuel.rules import STATUSES, GasShare
from api.reports.data import MonthFigures
from api.reports.texts import (
    ALERT_KIND_NAMES,
    METHOD_NAMES,
    POLLUTANT_NAMES,
    REFUSAL_NAMES,
    STATUS_NAMES,
    name_of,
    text,
)
from api.tasks.rules import month_counts
from ingest.kernel.record import LATE_FILL_AFTER_MS

KG_PER_T = 1000.0
# Formats of a column's cells: text, int, float (2 decimals), pct (fraction shown as %), time
KINDS_OF_CELLS = ("text", "int", "float", "float4", "pct", "time", "date")


@dataclass(frozen=True, slots=True)
class Column:
    label: str
    cell: str = "text"


@dataclass(frozen=True, slots=True)
class Table:
    key: str  # stable, ASCII: the XLSX sheet name
    title: str
    columns: tuple[Column, ...]
    rows: list[list[Any]]


@dataclass(frozen=True, slots=True)
class Headline:
    """One headline figure: its label, its text, and the number behind it (None: text only)."""

    label: str
    text: str
    value: float | int | None = None
    cell: str = "text"  # the number's format (api.reports.xlsx NUMBER_FORMATS)


@dataclass(frozen=True, slots=True)
class Section:
    title: str
    headline: list[Headline] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    charts: list[str] = field(default_factory=list)  # chart keys (api.reports.charts)


@dataclass(frozen=True, slots=True)
class ReportContent:
    lang: str
    title: str
    subtitle: str
    note: str
    sections: list[Section]
    figures: MonthFigures

    def tables(self) -> list[Table]:
        return [t for s in self.sections for t in s.tables]


def local(ts: datetime | None, tz: ZoneInfo) -> datetime | None:
    """A UTC instant as local wall time without offset (what spreadsheets show)."""
    return None if ts is None else ts.astimezone(tz).replace(tzinfo=None)


def pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f} %"


@dataclass(frozen=True, slots=True)
class AlertStats:
    kind: str
    raised: int
    acknowledged: int
    ack_median_min: float | None
    ack_mean_min: float | None
    still_open: int


def raised_at(a: Alert) -> datetime:
    """When an alert counts as raised: a late one in the month of the hours it found, the
    others when the engine raised them (so the report agrees with its own VOC hours)."""
    return a.since if a.late and a.since is not None else a.opened_at


def alert_stats(alerts: list[Alert], start: datetime, end: datetime) -> list[AlertStats]:
    """Per kind: raised in [start, end), of those acknowledged before `end`, time to ack, open at `end`."""
    out = []
    for kind in KINDS:
        mine = [a for a in alerts if a.key.kind == kind]
        raised = [a for a in mine if start <= raised_at(a) < end]
        acked = [a for a in raised if a.acknowledged_at is not None and a.acknowledged_at < end]
        minutes = [(a.acknowledged_at - a.opened_at).total_seconds() / 60 for a in acked]  # type: ignore[operator]
        still_open = [
            a
            for a in mine
            if raised_at(a) < end and (a.resolved_at is None or a.resolved_at >= end)
        ]
        out.append(
            AlertStats(
                kind,
                len(raised),
                len(acked),
                statistics.median(minutes) if minutes else None,
                statistics.fmean(minutes) if minutes else None,
                len(still_open),
            )
        )
    return out


def share_text(kpi: GasShare, lang: str) -> str:
    """The headline share; with firms whose data cannot tell, the range it may lie in (a
    month that began before the data did reads "0.0 % to 100.0 %", never a bare 0.0 %)."""
    unknown = kpi.counts["unknown"]
    if not unknown or kpi.share_upper is None:  # no firms, or every firm told
        return pct(kpi.share)
    status = name_of(STATUS_NAMES, "unknown", lang)
    return text(
        "share_range", lang, low=pct(kpi.share), high=pct(kpi.share_upper), n=unknown,
        status=status,
    )  # fmt: skip


def _gas_section(f: MonthFigures, lang: str, tz: ZoneInfo) -> Section:
    def t(key: str, **kw: object) -> str:
        return text(key, lang, **kw)

    month = f.this_month
    kpi = month.kpi
    active = kpi.firms - kpi.counts["idle"]

    def tce(m: Any) -> float:
        return sum(r.gas_kgce + r.coal_kgce for r in m.kpi.rows) / KG_PER_T

    def co2_t(m: Any) -> float:
        return sum(r.co2_avoided_kg for r in m.kpi.rows) / KG_PER_T

    o = f.outlook
    interval = (
        f"{pct(o.projected_share)} ({pct(o.share_low)} – {pct(o.share_high)})"
        if o.share_low is not None
        else pct(o.projected_share)
    )
    on_track = t("unknown_value") if o.on_track is None else t("yes" if o.on_track else "no")
    co2_ytd, tce_ytd = sum(co2_t(m) for m in f.months), sum(tce(m) for m in f.months)
    headline = [
        Headline(t("share"), share_text(kpi, lang), kpi.share, "pct"),
        Headline(t("goal"), pct(f.goal), f.goal, "pct"),
        Headline(t("gas_firms"), f"{kpi.counts['gas']} / {active}"),
        Headline(t("firms_needed"), str(kpi.firms_needed), kpi.firms_needed, "int"),
        Headline(t("projected"), interval, o.projected_share, "pct"),
        Headline(t("on_track"), on_track),
        Headline(t("co2_month"), f"{co2_t(month):,.1f}", co2_t(month), "float"),
        Headline(t("co2_ytd"), f"{co2_ytd:,.1f}", co2_ytd, "float"),
        Headline(t("tce_month"), f"{tce(month):,.1f}", tce(month), "float"),
        Headline(t("tce_ytd"), f"{tce_ytd:,.1f}", tce_ytd, "float"),
    ]
    status_cols = tuple(Column(name_of(STATUS_NAMES, s, lang), "int") for s in STATUSES)
    months = Table(
        "months",
        t("t_months"),
        (
            Column(t("c_month")),
            *status_cols,
            Column(t("c_share"), "pct"),
            Column(t("c_share_upper"), "pct"),
            Column(t("c_firms_needed"), "int"),
            Column(t("c_tce"), "float"),
            Column(t("c_co2_avoided_t"), "float"),
        ),
        [
            [
                m.month,
                *(m.kpi.counts[s] for s in STATUSES),
                m.kpi.share,
                m.kpi.share_upper,
                m.kpi.firms_needed,
                tce(m),
                co2_t(m),
            ]
            for m in f.months
        ],
    )
    p = o.projection
    projection = Table(
        "projection",
        t("t_projection")
        + f" · {t('p_months')} {p.months_used if p else 0} · "
        + (name_of(METHOD_NAMES, p.method, lang) if p else "—"),
        (Column(t("c_item")), Column(t("p_gas_firms"), "float"), Column(t("p_share"), "pct")),
        [
            [t("p_estimate"), p.gas_firms if p else None, o.projected_share],
            [t("p_low"), p.low if p else None, o.share_low],
            [t("p_high"), p.high if p else None, o.share_high],
        ],
    )
    candidates = Table(
        "candidates",
        t("t_candidates"),
        (
            Column(t("c_plant")),
            Column(t("c_name")),
            Column(t("c_status")),
            Column(t("c_gas_fraction"), "pct"),
            Column(t("c_coal_kg"), "float"),
            Column(t("c_co2_kg"), "float"),
        ),
        [
            [
                c["plant"],
                c["name"],
                name_of(STATUS_NAMES, str(c["status"]), lang),
                c["gas_fraction"],
                c["coal_kg"],
                c["co2_kg"],
            ]
            for c in o.candidates
        ],
    )
    firms = Table(
        "firms",
        t("t_firms"),
        (
            Column(t("c_plant")),
            Column(t("c_name")),
            Column(t("c_status")),
            Column(t("c_gas_fraction"), "pct"),
            Column(t("c_gas_m3"), "float"),
            Column(t("c_coal_kg"), "float"),
            Column(t("c_kgce"), "float"),
            Column(t("c_co2_kg"), "float"),
            Column(t("c_reason")),
        ),
        [
            [
                r.plant,
                r.name,
                name_of(STATUS_NAMES, r.status, lang),
                r.gas_fraction,
                r.gas_m3,
                r.coal_kg,
                r.gas_kgce + r.coal_kgce,
                r.co2_kg,
                r.reason or f.records_used.get(r.plant, ""),
            ]
            for r in kpi.rows
        ],
    )
    return Section(
        t("sec_gas"), headline, [months, projection, candidates, firms], ["share", "status"]
    )


def _voc_section(f: MonthFigures, lang: str) -> Section:
    def t(key: str, **kw: object) -> str:
        return text(key, lang, **kw)

    pollutants = list(dict.fromkeys(p for s in f.stacks for p in s.valid_hours)) or list(
        POLLUTANT_NAMES
    )
    heads = (Column(t("c_plant")), Column(t("c_name")), Column(t("c_stack")))

    def pcols(cell: str) -> tuple[Column, ...]:
        return tuple(Column(name_of(POLLUTANT_NAMES, p, lang), cell) for p in pollutants)

    def ident(s: Any) -> list[Any]:
        return [s.plant, f.plant_names.get(s.plant, s.plant), s.meter]

    valid = Table(
        "voc_valid",
        t("t_voc_valid"),
        (
            *heads,
            Column(t("c_hours"), "int"),
            Column(t("c_late_filled", hours=LATE_FILL_AFTER_MS / 3_600_000), "int"),
            *pcols("pct"),
        ),
        [
            [
                *ident(s),
                s.hours,
                s.late_filled_hours,
                *(s.valid_share(p) for p in pollutants),
            ]
            for s in f.stacks
        ],
    )
    exceed = Table(
        "voc_exceedance",
        t("t_voc_exceed"),
        (*heads, *pcols("int")),
        [[*ident(s), *(s.exceeding_hours.get(p, 0) for p in pollutants)] for s in f.stacks],
    )
    emission = Table(
        "voc_emission",
        t("t_voc_emission"),
        (*heads, *pcols("float")),
        [[*ident(s), *(s.emission_kg.get(p, 0.0) for p in pollutants)] for s in f.stacks],
    )
    county = Table(
        "voc_county",
        t("t_voc_county"),
        (
            Column(t("c_pollutant")),
            Column(t("c_stacks"), "int"),
            Column(t("c_valid_hours"), "int"),
            Column(t("c_exceed_hours"), "int"),
            Column(t("c_emission_kg"), "float"),
        ),
        [
            [
                name_of(POLLUTANT_NAMES, p, lang),
                sum(1 for s in f.stacks if p in s.valid_hours),
                sum(s.valid_hours.get(p, 0) for s in f.stacks),
                sum(s.exceeding_hours.get(p, 0) for s in f.stacks),
                sum(s.emission_kg.get(p, 0.0) for s in f.stacks),
            ]
            for p in pollutants
        ],
    )
    limits = Table(
        "voc_limits",
        t("t_voc_limits"),
        (*heads, Column(t("c_rule")), *pcols("float")),
        [
            [
                *ident(s),
                "; ".join(
                    dict.fromkeys(
                        limit_rule_text(d, lang).strip(" （）()") for d in s.limit_details.values()
                    )
                ),
                *(s.limits_mgm3.get(p) for p in pollutants),
            ]
            for s in f.stacks
        ],
    )
    return Section(t("sec_voc"), [], [county, limits, valid, exceed, emission], ["voc"])


def _alert_section(f: MonthFigures, lang: str, tz: ZoneInfo) -> Section:
    def t(key: str, **kw: object) -> str:
        return text(key, lang, **kw)

    stats = alert_stats(f.alerts, f.start, f.end)
    by_kind = Table(
        "alerts",
        t("t_alerts"),
        (
            Column(t("c_kind")),
            Column(t("c_raised"), "int"),
            Column(t("c_acknowledged"), "int"),
            Column(t("c_ack_median_min"), "float"),
            Column(t("c_ack_mean_min"), "float"),
            Column(t("c_still_open"), "int"),
        ),
        [
            [
                name_of(ALERT_KIND_NAMES, s.kind, lang),
                s.raised,
                s.acknowledged,
                s.ack_median_min,
                s.ack_mean_min,
                s.still_open,
            ]
            for s in stats
        ],
    )
    still_open = [
        a
        for a in f.alerts
        if a.opened_at < f.end and (a.resolved_at is None or a.resolved_at >= f.end)
    ]
    open_rows = Table(
        "open_alerts",
        t("t_open_alerts"),
        (
            Column(t("c_id"), "int"),
            Column(t("c_kind")),
            Column(t("c_name")),
            Column(t("c_meter")),
            Column(t("c_opened"), "time"),
            Column(t("c_value"), "float"),
            Column(t("c_limit"), "float"),
        ),
        [
            [
                a.id,
                name_of(ALERT_KIND_NAMES, a.key.kind, lang),
                f.county if a.key.plant == COUNTY else f.plant_names.get(a.key.plant, a.key.plant),
                " ".join(
                    x for x in (a.key.meter, name_of(POLLUTANT_NAMES, a.key.pollutant, lang)) if x
                ),
                local(a.opened_at, tz),
                a.value,
                a.limit,
            ]
            for a in still_open
        ],
    )
    counts = month_counts(f.tasks, f.start, f.end)
    dispositions = Table(
        "tasks",
        t("t_tasks"),
        (
            Column(t("c_tasks_opened"), "int"),
            Column(t("c_tasks_closed"), "int"),
            Column(t("c_tasks_in_time"), "int"),
            Column(t("c_tasks_overdue"), "int"),
        ),
        [[counts.opened, counts.closed, counts.closed_in_time, counts.overdue]],
    )
    return Section(
        t("sec_alerts"),
        [],
        [by_kind, treatment_table(f, lang), open_rows, dispositions],
        ["alerts"],
    )


def treatment_table(f: MonthFigures, lang: str) -> Table:
    """Per firm: `treatment_not_running` alerts raised in the month, and on how many lines."""
    raised: dict[str, list[str]] = {}
    for a in f.alerts:
        if a.key.kind == TREATMENT_NOT_RUNNING and f.start <= a.opened_at < f.end:
            raised.setdefault(a.key.plant, []).append(a.key.meter)
    return Table(
        "treatment_not_running",
        text("t_treatment", lang),
        (
            Column(text("c_plant", lang)),
            Column(text("c_name", lang)),
            Column(text("c_raised", lang), "int"),
            Column(text("c_lines", lang), "int"),
        ),
        [
            [plant, f.plant_names.get(plant, plant), len(keys), len(set(keys))]
            for plant, keys in sorted(raised.items(), key=lambda kv: (-len(kv[1]), kv[0]))
        ],
    )


def _quality_section(f: MonthFigures, lang: str) -> Section:
    def t(key: str, **kw: object) -> str:
        return text(key, lang, **kw)

    max_silent = f.settings.kpi.max_silent_fraction
    silent = [m for m in f.silence if m.hours and 1 - m.hours_reported / m.hours > max_silent]
    silent_table = Table(
        "silent_meters",
        t("t_silent"),
        (
            Column(t("c_plant")),
            Column(t("c_name")),
            Column(t("c_meter")),
            Column(t("c_meter_kind")),
            Column(t("c_hours_reported"), "int"),
            Column(t("c_hours"), "int"),
            Column(t("c_silent_share"), "pct"),
        ),
        [
            [
                m.plant,
                f.plant_names.get(m.plant, m.plant),
                m.meter,
                m.kind,
                m.hours_reported,
                m.hours,
                1 - m.hours_reported / m.hours,
            ]
            for m in sorted(silent, key=lambda m: (m.hours_reported / m.hours, m.plant, m.meter))
        ],
    )
    refused = Table(
        "refused",
        t("t_refused"),
        (
            Column(t("c_plant")),
            Column(t("c_name")),
            Column(t("c_code")),
            Column(t("c_count"), "int"),
        ),
        [
            [plant, f.plant_names.get(plant, plant), name_of(REFUSAL_NAMES, code, lang), n]
            for (plant, code), n in sorted(f.refused.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
    )
    return Section(t("sec_quality"), [], [silent_table, refused])


def _factor_section(f: MonthFigures, lang: str, tz: ZoneInfo) -> Section:
    """The factors each run of months used (each month: those in effect at its last instant)."""
    periods = factor_periods(f.settings.kpi, [(m.month, m.end) for m in f.months], tz)
    table = Table(
        "factors",
        text("t_factors", lang),
        (
            Column(text("c_period", lang)),
            Column(text("c_factor", lang)),
            Column(text("c_value", lang), "float4"),
            Column(text("c_unit", lang)),
            Column(text("c_effective", lang), "date"),
            Column(text("c_source", lang)),
        ),
        [
            [
                p.first if p.first == p.last else f"{p.first} – {p.last}",
                text(f"f_{name}", lang),
                value,
                unit,
                since,
                source,
            ]
            for p in periods
            for name, value, unit, since, source in factors_used(p.definition)
        ],
    )
    return Section(text("sec_factors", lang), [], [table])


def build(f: MonthFigures, lang: str) -> ReportContent:
    """The whole report for `f` in `lang` (zh or en)."""
    tz = ZoneInfo(f.timezone)
    fmt = "%Y-%m-%d %H:%M"
    title = text("title", lang, county=f.county, month=f.month)
    subtitle = text(
        "subtitle",
        lang,
        start=f.start.astimezone(tz).strftime(fmt),
        end=f.end.astimezone(tz).strftime(fmt),
        tz=f.timezone,
        generated=f.generated_at.astimezone(tz).strftime(fmt),
    )
    return ReportContent(
        lang,
        title,
        subtitle,
        "" if f.complete else text("in_progress", lang),
        [
            _gas_section(f, lang, tz),
            _voc_section(f, lang),
            _alert_section(f, lang, tz),
            _quality_section(f, lang),
            _factor_section(f, lang, tz),
        ],
        f,
    )
