"""The four Grafana dashboards, as code: county overview, VOC, plant drill-down, ingest health.

Every figure is computed by InfluxQL from the data model of `docs/data-model.md`: fuel from
the rollups `fuel_daily` / `fuel_hourly`, and the coal-to-gas KPI (which InfluxQL cannot
compute: coverage, `unknown`) from the `kpi_gas_share` / `kpi_firm_status` points the fuel
core writes each day (`api/fuel/points.py`), so Grafana shows the API's exact figures.
Plant ids carry the sector (`ss-` stainless steel, `sl-` synthetic leather).
"""

from __future__ import annotations

from api.voc.rules import MIN_VALID_MINUTES  # HJ 212-2017 Appendix D: the API's rule
from dashboards.grafana_kit import (
    TIMESERIES_OPTIONS,
    TZ_CLAUSE,
    Json,
    annotation,
    constant,
    custom_variable,
    dashboard,
    panel,
    query_variable,
    stat_options,
    target,
    text_panel,
    thresholds,
    timeseries_custom,
)
from ingest.kernel.catalogue import FIRM_STATUSES
from ingest.kernel.limits import DEFAULT_PROCESS, resolve_limits

STAINLESS = "/^ss-/"


def status_alias(status: str) -> str:
    """A firm status as a Grafana series name: the catalogue's zh and en words."""
    label = FIRM_STATUSES[status]
    return f"{label.zh} {label.en}"


def status_columns(*statuses: str) -> str:
    """`last("gas") AS "燃气 gas", ...`: one column per status, named from the catalogue."""
    return ", ".join(f'last("{s}") AS "{status_alias(s)}"' for s in statuses)


POLLUTANT_LABELS = (
    ("nmhc_mgm3", "NMHC 非甲烷总烃 (VOCs)"),
    ("dmf_mgm3", "DMF 二甲基甲酰胺"),
    ("benzene_mgm3", "苯 Benzene"),
    ("toluene_mgm3", "甲苯 Toluene"),
    ("xylene_mgm3", "二甲苯 Xylene"),
)
# field, label, limit (mg/m³): the one limit table's column for a stack that declares no
# process (ingest.kernel.limits). InfluxQL cannot look up each stack's process and height; the web
# page and the API give every stack its own resolved limit and the rule behind it.
_DEFAULT_LIMITS = resolve_limits(DEFAULT_PROCESS)
POLLUTANTS = tuple((f, label, _DEFAULT_LIMITS[f].limit_mgm3) for f, label in POLLUTANT_LABELS)
UIDS = {
    "overview": "plantwatch-county-overview",
    "voc": "plantwatch-voc",
    "plant": "plantwatch-plant",
    "ingest": "plantwatch-ingest",
}
GAS_COLOR = {"mode": "fixed", "fixedColor": "#2f7ed8"}
COAL_COLOR = {"mode": "fixed", "fixedColor": "#5a5a5a"}
SHARE_STEPS = thresholds(("red", None), ("green", 0.5))


def _color(name: str, color: Json) -> Json:
    return {
        "matcher": {"id": "byName", "options": name},
        "properties": [{"id": "color", "value": color}],
    }


KPI_NOTE = (
    "The API's KPI (`/api/v1/kpi/gas-share`, trailing 30 days), written by the fuel core "
    "each day as `kpi_gas_share` / `kpi_firm_status`: exact, `unknown` firms included."
)
KPI_LATEST = 'FROM "kpi_gas_share" WHERE time > now() - 2d'


def county_overview() -> Json:
    """Gas share against the goal, firms by status, coal versus gas, CO2 avoided."""
    avoided = (
        "sum(kgce) / $coal_kgce_per_kg * $co2_per_kg_coal - sum(consumption) * $co2_per_m3_gas"
    )
    panels = [
        panel(
            "gauge",
            "天然气企业占比 · Gas share of stainless-steel firms (30 d) vs 50 % goal",
            [target(f'SELECT last("share") AS "gas share" {KPI_LATEST}')],
            8,
            8,
            description=KPI_NOTE,
            unit="percentunit",
            decimals=1,
            minimum=0,
            maximum=1,
            steps=SHARE_STEPS,
            options={**stat_options(), "showThresholdMarkers": True, "showThresholdLabels": True},
        ),
        panel(
            "stat",
            "企业状态 · Firms by status (30 d)",
            [
                target(
                    f"SELECT {status_columns('gas', 'mixed', 'coal', 'idle', 'unknown')} "
                    f"{KPI_LATEST}"
                )
            ],
            8,
            4,
            description="gas: gas_fraction ≥ 0.9; coal: ≤ 0.1; mixed in between. " + KPI_NOTE,
            unit="none",
            options=stat_options(color_mode="background"),
            overrides=[
                _color(status_alias("gas"), GAS_COLOR),
                _color(status_alias("coal"), COAL_COLOR),
            ],
        ),
        panel(
            "stat",
            "目标 · Firms on gas vs firms the goal needs",
            [
                target(
                    f"SELECT {status_columns('gas')}, "
                    f'last("gas") + last("firms_needed") AS "目标 goal" {KPI_LATEST}'
                )
            ],
            8,
            4,
            description="goal = ceil(goal × (firms − idle)) = on gas + firms_needed (SPEC 6).",
            unit="none",
            options=stat_options(),
        ),
        panel(
            "stat",
            "减排 · CO₂ avoided (time range)",
            [
                target(
                    f'SELECT ({avoided}) / 1000 AS "CO₂ avoided" FROM fuel_daily '
                    f"WHERE kind = 'gas' AND plant =~ {STAINLESS} AND $timeFilter"
                )
            ],
            8,
            4,
            description="Gas burnt instead of the coal of equal energy: that coal's CO₂ "
            "(1.9003 kg/kg) minus the gas's own (2.1622 kg/m³).",
            unit="masst",
            decimals=0,
            options=stat_options(color_mode="value"),
        ),
        panel(
            "stat",
            "能耗 · Fuel energy (time range)",
            [
                target(
                    'SELECT sum("kgce") / 1000 FROM fuel_daily '
                    f"WHERE plant =~ {STAINLESS} AND $timeFilter GROUP BY kind",
                    alias="$tag_kind",
                )
            ],
            8,
            4,
            unit="suffix: tce",
            decimals=0,
            options=stat_options(),
            overrides=[_color("gas", GAS_COLOR), _color("coal", COAL_COLOR)],
        ),
        panel(
            "timeseries",
            "天然气企业占比 · Gas share over the year (trailing 30 d) vs goal",
            [
                target(
                    'SELECT last("share") AS "gas share", last("share_upper") AS '
                    '"upper bound (unknown as gas)" FROM "kpi_gas_share" '
                    f"WHERE $timeFilter GROUP BY time(1d) {TZ_CLAUSE}"
                )
            ],
            12,
            9,
            description="Each day: share of active stainless-steel firms on gas over the "
            "30 days before it. The red line is the goal. " + KPI_NOTE,
            unit="percentunit",
            minimum=0,
            maximum=1,
            steps=SHARE_STEPS,
            custom=timeseries_custom(threshold_style="line+area", fill=20),
            options=TIMESERIES_OPTIONS,
        ),
        panel(
            "timeseries",
            "企业状态 · Firms by status over the year",
            [
                target(
                    f"SELECT {status_columns('gas', 'mixed', 'coal', 'unknown')} "
                    f'FROM "kpi_gas_share" WHERE $timeFilter GROUP BY time(1d) {TZ_CLAUSE}'
                )
            ],
            12,
            9,
            unit="none",
            custom=timeseries_custom(stacked=True, fill=70),
            options=TIMESERIES_OPTIONS,
            overrides=[
                _color(status_alias("gas"), GAS_COLOR),
                _color(status_alias("coal"), COAL_COLOR),
            ],
        ),
        panel(
            "timeseries",
            "煤与气 · Coal vs gas in tonnes of standard coal",
            [
                target(
                    'SELECT sum("kgce") / 1000 FROM fuel_daily WHERE plant =~ /^ss-/ AND '
                    f"$timeFilter GROUP BY time($__interval), kind fill(0) {TZ_CLAUSE}",
                    alias="$tag_kind",
                )
            ],
            12,
            9,
            description="GB/T 2589: gas 1.2143 kgce/m³, coal 0.7143 kgce/kg (from the rollup).",
            unit="suffix: tce",
            custom=timeseries_custom(bars=True, stacked=True),
            options=TIMESERIES_OPTIONS,
            interval="1w",
            overrides=[_color("gas", GAS_COLOR), _color("coal", COAL_COLOR)],
        ),
        panel(
            "timeseries",
            "减排 · CO₂ avoided, cumulative",
            [
                target(
                    f'SELECT (cumulative_sum(sum("kgce")) / $coal_kgce_per_kg * $co2_per_kg_coal '
                    f'- cumulative_sum(sum("consumption")) * $co2_per_m3_gas) / 1000 AS "CO₂ avoided" '
                    f"FROM fuel_daily WHERE kind = 'gas' AND plant =~ {STAINLESS} AND $timeFilter "
                    f"GROUP BY time($__interval) {TZ_CLAUSE}"
                )
            ],
            12,
            9,
            unit="masst",
            custom=timeseries_custom(fill=25),
            options=TIMESERIES_OPTIONS,
            interval="1d",
        ),
        panel(
            "table",
            "企业 · Stainless-steel firms (30 d)",
            [
                target(
                    'SELECT last("gas_fraction") AS "gas fraction", last("status") AS "status", '
                    'last("gas_m3") AS "gas m³", last("coal_kg") AS "coal kg" '
                    'FROM "kpi_firm_status" WHERE time > now() - 2d GROUP BY "plant"',
                    table=True,
                )
            ],
            16,
            10,
            options={"showHeader": True, "sortBy": [{"displayName": "gas fraction", "desc": True}]},
            overrides=[
                {
                    "matcher": {"id": "byName", "options": "gas fraction"},
                    "properties": [
                        {"id": "unit", "value": "percentunit"},
                        {"id": "custom.cellOptions", "value": {"type": "gauge", "mode": "basic"}},
                        {"id": "max", "value": 1},
                        {"id": "min", "value": 0},
                        {
                            "id": "thresholds",
                            "value": thresholds(
                                ("#5a5a5a", None), ("orange", 0.1), ("#2f7ed8", 0.9)
                            ),
                        },
                    ],
                }
            ],
            transformations=[{"id": "merge", "options": {}}],
        ),
        text_panel(
            "说明 · About these figures",
            "**Gas share** = firms on gas ÷ (firms − idle), goal **50 %** by year end "
            "(SPEC 6).\n\n" + KPI_NOTE + "\n\nDrill into a firm: *plantwatch / 企业详情*.",
            8,
            10,
        ),
    ]
    return dashboard(
        UIDS["overview"],
        "松阳县 · 煤改气总览 County overview",
        "Coal-to-gas programme of Songyang county: gas share of stainless-steel firms vs goal.",
        panels,
        variables=[
            constant("coal_kgce_per_kg", 0.7143, "GB/T 2589 coal factor"),
            constant("co2_per_kg_coal", 1.9003, "kg CO2 per kg coal"),
            constant("co2_per_m3_gas", 2.1622, "kg CO2 per m3 natural gas"),
        ],
        time_from="now-1y",
        refresh="15m",
    )


VOC_ROLLUP = "voc_hourly"  # api/voc/rollup.py: one point per stack and hour with data
VOC_LOGGER_HOURS = "voc_hour"  # the logger's own CN 2061 hours
# Every measurement a stack's data may be in: JSON / CN 2011, CN 2051 minutes, CN 2061 hours.
VOC_SOURCES = '"voc_hourly", "voc", "voc_minute", "voc_hour"'


def _rollup_hourly(
    field: str,
    where: str,
    numerator: str,
    minutes: str,
    minimum: int,
    outer: str = '"v"',
    by: str = '"plant", "meter"',
) -> str:
    """Per stack and hour: `numerator` / `minutes` of the VOC rollup, where the minutes
    reach `minimum`; `outer` selects from the quotient `"v"`.

    The rollup writes a field only where it differs from its default: an absent sum is 0,
    an absent `<field>_cq_minutes` equals the valid minutes
    (`api.voc.rules.DEFAULT_TO_VALID_MINUTES`). InfluxQL has no coalesce, and a field no
    point of the shard has reads as null even under fill(0), but `count` of it reads 0: so
    each hour is read once per case (field there or not, by its count) and the cases,
    which never overlap, are merged as one series.
    """
    hours = (
        f'SELECT sum("{field}_{numerator}") AS "s", count("{field}_{numerator}") AS "ks", '
        f'sum("{field}_{minutes}") AS "c", count("{field}_{minutes}") AS "kc", '
        f'sum("{field}_valid_minutes") AS "vm" FROM "{VOC_ROLLUP}" WHERE {where} AND '
        f"$timeFilter GROUP BY time(1h), {by} fill(0)"
    )
    denominators = [("c", '"kc" = 1')]
    if minutes == "cq_minutes":
        denominators.append(("vm", '"kc" = 0'))
    cases = [
        f'(SELECT {quotient} AS "v" FROM ({hours}) WHERE {present} AND "ks" = {ks} '
        f'AND "{n}" >= {minimum} GROUP BY {by})'
        for n, present in denominators
        for quotient, ks in ((f'"s" / "{n}"', 1), (f'0 * "{n}"', 0))
    ]
    return f"SELECT {outer} FROM {', '.join(cases)} WHERE $timeFilter GROUP BY {by}"


def _valid_hourly_mean(field: str, where: str) -> str:
    """The API's valid hourly mean: at least 45 valid (N or T) minutes, from the rollup."""
    return _rollup_hourly(field, where, "valid_sum", "valid_minutes", MIN_VALID_MINUTES)


def _logger_hourly_mean(field: str, where: str) -> str:
    """The logger's own hour (CN 2061), where it flags it N or T."""
    return (
        f'SELECT "{field}" FROM "{VOC_LOGGER_HOURS}" WHERE ("{field}_flag" = \'N\' OR '
        f'"{field}_flag" = \'T\') AND {where} AND $timeFilter GROUP BY "plant", "meter"'
    )


def voc_monitoring() -> Json:
    """Each stack's valid hourly means against the GB 21902-2008 limits, with alert annotations.

    Hours come from the VOC rollup (`voc_hourly`, built from real-time readings and the
    logger's minutes alike), so a logger that sends only minute and hourly data shows too;
    the logger's own hourly means (CN 2061) are drawn beside them.
    """
    where = '"plant" =~ /^$plant$/ AND "meter" =~ /^$stack$/'
    panels: list[Json] = []
    for field, label, limit in POLLUTANTS:
        panels.append(
            panel(
                "timeseries",
                f"{label} · hourly mean vs limit {limit:g} mg/m³",
                [
                    target(_valid_hourly_mean(field, where), alias="$tag_plant $tag_meter"),
                    target(
                        _logger_hourly_mean(field, where),
                        ref="B",
                        alias="$tag_plant $tag_meter (logger hour 2061)",
                    ),
                ],
                12 if field != "nmhc_mgm3" else 24,
                8,
                description=f"Valid hourly mean (at least {MIN_VALID_MINUTES} valid minutes, "
                "HJ 212-2017 Appendix D) from the VOC hourly rollup: the hours the API judges. "
                "Also drawn: the logger's own hourly mean (CN 2061). Red: the default limit "
                f"{limit:g} mg/m³ (GB 21902-2008 Table 5); a stack's registry override is "
                "checked by the API and the alert engine. Annotations: VOC alerts.",
                unit="conmgm3",
                minimum=0,
                steps=thresholds(("green", None), ("red", limit)),
                custom=timeseries_custom(threshold_style="line+area"),
                options=TIMESERIES_OPTIONS,
            )
        )
    panels += [
        panel(
            "timeseries",
            "有效分钟 · Valid minutes per hour (≥ 45 for a valid hourly mean)",
            [
                target(
                    f'SELECT sum("nmhc_mgm3_valid_minutes") FROM "{VOC_ROLLUP}" '
                    f"WHERE {where} AND $timeFilter "
                    'GROUP BY time(1h), "plant", "meter" fill(0)',
                    alias="$tag_plant $tag_meter",
                )
            ],
            12,
            8,
            description="HJ 212-2017 Appendix D: an hour with fewer than 45 valid minutes is "
            "'insufficient data', never a pass. Minutes from real-time readings and the "
            "logger's minute data alike (VOC hourly rollup).",
            unit="none",
            minimum=0,
            maximum=60,
            steps=thresholds(("red", None), ("green", 45)),
            custom=timeseries_custom(threshold_style="dashed"),
            options=TIMESERIES_OPTIONS,
        ),
        panel(
            "timeseries",
            "排放速率 · NMHC emission rate",
            [
                target(
                    _rollup_hourly(
                        "nmhc_mgm3",
                        where,
                        "cq_sum",
                        "cq_minutes",
                        MIN_VALID_MINUTES,
                        outer='"v" / 1000000 AS "kgh"',
                    ),
                    alias="$tag_plant $tag_meter",
                )
            ],
            12,
            8,
            description="kg/h = the hour's mean of minute concentration (mg/m³) × minute "
            "standard dry flow (m³/h) × 10⁻⁶, over at least 45 minutes where both are valid: "
            "the API's emission rate (VOC hourly rollup).",
            unit="suffix: kg/h",
            custom=timeseries_custom(),
            options=TIMESERIES_OPTIONS,
        ),
        panel(
            "timeseries",
            "烟气 · Flue-gas flow (hourly mean)",
            [
                target(
                    _rollup_hourly("flow_m3h", where, "valid_sum", "valid_minutes", 1),
                    alias="$tag_plant $tag_meter",
                )
            ],
            12,
            8,
            unit="suffix: m³/h",
            custom=timeseries_custom(),
            options=TIMESERIES_OPTIONS,
        ),
        panel(
            "table",
            "告警 · VOC alert events",
            [
                target(
                    'SELECT "plant", "meter", "kind", "state", "pollutant", "value", "limit", '
                    '"message" FROM "alert_event" WHERE "kind" =~ /^voc_/ AND "plant" =~ /^$plant$/ '
                    "AND $timeFilter ORDER BY time DESC LIMIT 200",
                    table=True,
                )
            ],
            12,
            8,
            options={"showHeader": True},
        ),
    ]
    return dashboard(
        UIDS["voc"],
        "合成革 VOC 在线监测 · VOC monitoring",
        "Synthetic-leather stacks: valid hourly means against GB 21902-2008 limits.",
        panels,
        variables=[
            query_variable(
                "plant",
                "企业 Plant",
                f'SHOW TAG VALUES FROM {VOC_SOURCES} WITH KEY = "plant"',
                multi=True,
                include_all=True,
            ),
            query_variable(
                "stack",
                "排口 Stack",
                f'SHOW TAG VALUES FROM {VOC_SOURCES} WITH KEY = "meter" '
                'WHERE "plant" =~ /^$plant$/',
                multi=True,
                include_all=True,
            ),
        ],
        annotations=[
            annotation(
                "VOC alerts 告警",
                'SELECT "message", "plant", "kind", "state" FROM "alert_event" '
                'WHERE "kind" =~ /^voc_/ AND "plant" =~ /^$plant$/ AND $timeFilter',
                "message",
                "plant,kind,state",
                "red",
            )
        ],
        time_from="now-2d",
    )


def plant_drilldown() -> Json:
    """One firm: fuel use, gas fraction, registers, VOC against limits, electricity, alerts."""
    plant = '"plant" =~ /^$plant$/'
    hourly_by_kind = (
        'SELECT sum("{field}") FROM "fuel_hourly" WHERE "kind" = \'{kind}\' AND '
        + plant
        + ' AND $timeFilter GROUP BY time($__interval), "meter" fill(0)'
    )
    voc_pct = [
        target(
            _rollup_hourly(
                field,
                plant,
                "valid_sum",
                "valid_minutes",
                MIN_VALID_MINUTES,
                outer=f'"v" / {limit!r} * 100 AS "{label.split()[0]}"',
                by='"meter"',
            ),
            ref=chr(ord("A") + i),
            alias="$tag_meter $col",
        )
        for i, (field, label, limit) in enumerate(POLLUTANTS)
    ]
    panels = [
        panel(
            "stat",
            "燃气占比 · Gas fraction (30 d)",
            [
                target(
                    'SELECT last("gas_fraction") AS "gas fraction" FROM "kpi_firm_status" '
                    f"WHERE {plant} AND time > now() - 2d"
                )
            ],
            6,
            5,
            description="gas kgce ÷ (gas + coal kgce) over the trailing 30 days: the API's "
            "KPI row for this firm (`kpi_firm_status`).",
            unit="percentunit",
            decimals=1,
            steps=thresholds(("#5a5a5a", None), ("orange", 0.1), ("#2f7ed8", 0.9)),
            options=stat_options(color_mode="background"),
        ),
        panel(
            "stat",
            "用量 · Fuel used (time range)",
            [
                target(
                    f'SELECT sum("consumption") FROM "fuel_hourly" WHERE {plant} AND $timeFilter '
                    'GROUP BY "kind"',
                    alias="$tag_kind",
                )
            ],
            9,
            5,
            description="gas in m³ (standard), coal in kg.",
            unit="short",
            options=stat_options(),
            overrides=[_color("gas", GAS_COLOR), _color("coal", COAL_COLOR)],
        ),
        panel(
            "stat",
            "排放 · CO₂ emitted (time range)",
            [
                target(
                    f'SELECT sum("co2_kg") / 1000 AS "CO₂" FROM "fuel_hourly" WHERE {plant} '
                    "AND $timeFilter"
                )
            ],
            9,
            5,
            unit="masst",
            decimals=1,
            options=stat_options(),
        ),
        panel(
            "timeseries",
            "能耗 · Energy by fuel (kgce per interval)",
            [
                target(
                    f'SELECT sum("kgce") FROM "fuel_hourly" WHERE {plant} AND $timeFilter '
                    'GROUP BY time($__interval), "kind" fill(0)',
                    alias="$tag_kind",
                )
            ],
            12,
            8,
            unit="suffix: kgce",
            custom=timeseries_custom(bars=True, stacked=True),
            options=TIMESERIES_OPTIONS,
            interval="1h",
            overrides=[_color("gas", GAS_COLOR), _color("coal", COAL_COLOR)],
        ),
        panel(
            "timeseries",
            "燃气占比 · Gas fraction per day",
            [
                target(
                    'SELECT sum(gas) / sum(total) AS "gas fraction" FROM '
                    f"(SELECT sum(kgce) AS gas FROM fuel_daily WHERE kind = 'gas' AND {plant} "
                    f"AND $timeFilter GROUP BY time(1d) {TZ_CLAUSE}), "
                    f"(SELECT sum(kgce) AS total FROM fuel_daily WHERE {plant} AND $timeFilter "
                    f"GROUP BY time(1d) {TZ_CLAUSE}) WHERE $timeFilter GROUP BY time(1d) {TZ_CLAUSE}"
                ),
                target(
                    'SELECT last("gas_fraction") AS "trailing 30 d (KPI)" FROM "kpi_firm_status" '
                    f"WHERE {plant} AND $timeFilter GROUP BY time(1d) {TZ_CLAUSE}",
                    ref="B",
                ),
            ],
            12,
            8,
            description="Dashed lines: 0.9 (gas) and 0.1 (coal) status thresholds.",
            unit="percentunit",
            minimum=0,
            maximum=1,
            steps=thresholds(("#5a5a5a", None), ("orange", 0.1), ("#2f7ed8", 0.9)),
            custom=timeseries_custom(threshold_style="dashed"),
            options=TIMESERIES_OPTIONS,
        ),
        panel(
            "timeseries",
            "天然气 · Gas used (m³ per interval)",
            [target(hourly_by_kind.format(field="consumption", kind="gas"), alias="$tag_meter")],
            12,
            7,
            unit="suffix: m³",
            custom=timeseries_custom(bars=True),
            options=TIMESERIES_OPTIONS,
            interval="1h",
        ),
        panel(
            "timeseries",
            "煤 · Coal used (kg per interval)",
            [target(hourly_by_kind.format(field="consumption", kind="coal"), alias="$tag_meter")],
            12,
            7,
            unit="masskg",
            custom=timeseries_custom(bars=True),
            options=TIMESERIES_OPTIONS,
            interval="1h",
        ),
        panel(
            "timeseries",
            "表底数 · Meter registers (raw, shows resets)",
            [
                target(
                    f'SELECT last("volume_m3") FROM "gas" WHERE {plant} AND $timeFilter '
                    'GROUP BY time($__interval), "meter" fill(none)',
                    alias="$tag_meter m³",
                ),
                target(
                    f'SELECT last("mass_kg") FROM "coal" WHERE {plant} AND $timeFilter '
                    'GROUP BY time($__interval), "meter" fill(none)',
                    ref="B",
                    alias="$tag_meter kg",
                ),
            ],
            12,
            7,
            unit="short",
            custom=timeseries_custom(fill=0),
            options=TIMESERIES_OPTIONS,
            interval="15m",
        ),
        panel(
            "timeseries",
            "VOC · Hourly means as % of the default limit",
            voc_pct,
            12,
            7,
            description="Valid hourly means (VOC hourly rollup, ≥ 45 valid minutes) ÷ GB 21902-2008 "
            "default limit. 100 % = limit.",
            unit="percent",
            minimum=0,
            steps=thresholds(("green", None), ("red", 100)),
            custom=timeseries_custom(threshold_style="line+area"),
            options=TIMESERIES_OPTIONS,
        ),
        panel(
            "timeseries",
            "电 · Electricity (kWh per interval)",
            [
                target(
                    f'SELECT non_negative_difference(last("energy_kwh")) FROM "electricity" '
                    f'WHERE {plant} AND $timeFilter GROUP BY time($__interval), "meter" fill(none)',
                    alias="$tag_meter",
                )
            ],
            12,
            7,
            unit="kwatth",
            custom=timeseries_custom(bars=True),
            options=TIMESERIES_OPTIONS,
            interval="1h",
        ),
        panel(
            "table",
            "告警 · Alert events",
            [
                target(
                    'SELECT "kind", "state", "meter", "pollutant", "value", "limit", "message" '
                    f'FROM "alert_event" WHERE {plant} AND $timeFilter ORDER BY time DESC LIMIT 100',
                    table=True,
                )
            ],
            12,
            7,
            options={"showHeader": True},
        ),
    ]
    return dashboard(
        UIDS["plant"],
        "企业详情 · Plant drill-down",
        "One firm: fuel use, gas fraction, meter registers, VOC against limits, electricity, alerts.",
        panels,
        variables=[
            custom_variable(
                "sector",
                "行业 Sector",
                [("不锈钢 stainless steel", "ss"), ("合成革 synthetic leather", "sl")],
                all_value=".*",
            ),
            query_variable(
                "plant",
                "企业 Plant",
                'SHOW TAG VALUES FROM "gas", "coal", "voc", "electricity" WITH KEY = "plant" '
                'WHERE "plant" =~ /^$sector-/',
            ),
        ],
        annotations=[
            annotation(
                "Alerts 告警",
                'SELECT "message", "kind", "state" FROM "alert_event" '
                'WHERE "plant" =~ /^$plant$/ AND $timeFilter',
                "message",
                "kind,state",
                "orange",
            )
        ],
        time_from="now-7d",
    )


def _rate(field: str, per: str, label: str, ref: str) -> Json:
    return target(
        f'SELECT non_negative_derivative(max("{field}"), {per}) AS "{label}" FROM "ingest_stats" '
        'WHERE "collector" =~ /^$collector$/ AND $timeFilter '
        'GROUP BY time($__interval), "collector" fill(none)',
        ref=ref,
        alias="$tag_collector $col",
    )


def ingest_health() -> Json:
    """Collectors' throughput, refusals, spool and lag; dead letters; newest readings."""
    collectors = '"collector" =~ /^$collector$/'
    panels = [
        panel(
            "timeseries",
            "接收 · Messages received and points written per second",
            [
                _rate("received", "1s", "received", "A"),
                _rate("points_written", "1s", "written", "B"),
            ],
            12,
            8,
            description="Counters are cumulative per collector process; the rate ignores a "
            "restart's drop to zero (non_negative_derivative).",
            unit="ops",
            custom=timeseries_custom(),
            options=TIMESERIES_OPTIONS,
            interval="30s",
        ),
        panel(
            "timeseries",
            "延迟 · Lag (broker to InfluxDB)",
            [
                target(
                    f'SELECT max("lag_seconds") FROM "ingest_stats" WHERE {collectors} AND '
                    '$timeFilter GROUP BY time($__interval), "collector" fill(none)',
                    alias="$tag_collector",
                )
            ],
            12,
            8,
            unit="s",
            steps=thresholds(("green", None), ("orange", 10), ("red", 60)),
            custom=timeseries_custom(threshold_style="dashed"),
            options=TIMESERIES_OPTIONS,
            interval="30s",
        ),
        panel(
            "timeseries",
            "拒收与缓存 · Refused, spooled, replayed per minute",
            [
                _rate("refused", "1m", "refused", "A"),
                _rate("spooled", "1m", "spooled", "B"),
                _rate("replayed", "1m", "replayed", "C"),
            ],
            12,
            8,
            description="Spooled: readings kept on local disk while InfluxDB was unreachable; "
            "replayed: written once it was back.",
            unit="short",
            custom=timeseries_custom(),
            options=TIMESERIES_OPTIONS,
            interval="30s",
        ),
        panel(
            "timeseries",
            "缓存 · Spool size",
            [
                target(
                    f'SELECT max("spool_bytes") FROM "ingest_stats" WHERE {collectors} AND '
                    '$timeFilter GROUP BY time($__interval), "collector" fill(none)',
                    alias="$tag_collector",
                )
            ],
            12,
            8,
            unit="bytes",
            custom=timeseries_custom(fill=30),
            options=TIMESERIES_OPTIONS,
            interval="30s",
        ),
        panel(
            "timeseries",
            "死信 · Dead letters by reason code",
            [
                target(
                    'SELECT count("seq") FROM "dead_letter" WHERE $timeFilter '
                    'GROUP BY time($__interval), "code" fill(none)',
                    alias="$tag_code",
                )
            ],
            12,
            8,
            unit="short",
            custom=timeseries_custom(bars=True, stacked=True),
            options=TIMESERIES_OPTIONS,
            interval="10m",
        ),
        panel(
            "table",
            "死信 · Dead letters by plant",
            [
                target(
                    'SELECT count("seq") AS "refused" FROM "dead_letter" WHERE $timeFilter '
                    'GROUP BY "plant", "code"',
                    table=True,
                )
            ],
            12,
            8,
            options={"showHeader": True, "sortBy": [{"displayName": "refused", "desc": True}]},
        ),
        panel(
            "table",
            "最近死信 · Latest dead letters",
            [
                target(
                    'SELECT "plant", "code", "reason", "topic" FROM "dead_letter" '
                    "WHERE $timeFilter ORDER BY time DESC LIMIT 50",
                    table=True,
                )
            ],
            14,
            9,
            options={"showHeader": True},
        ),
        panel(
            "table",
            "最新读数 · Newest reading per meter (7 d)",
            [
                target(
                    f'SELECT last("{field}") AS "{field}" FROM "{kind}" WHERE time > now() - 7d '
                    'GROUP BY "plant", "meter"',
                    ref=chr(ord("A") + i),
                    table=True,
                )
                for i, (kind, field) in enumerate(
                    (
                        ("gas", "volume_m3"),
                        ("coal", "mass_kg"),
                        ("voc", "nmhc_mgm3"),
                        ("electricity", "energy_kwh"),
                        ("voc_minute", "nmhc_mgm3"),  # loggers sending only CN 2051/2061
                    )
                )
            ],
            10,
            9,
            description="The time column is each meter's newest reading: an old one is a silent meter.",
            options={"showHeader": True},
        ),
    ]
    return dashboard(
        UIDS["ingest"],
        "采集健康 · Ingest health",
        "Collectors' throughput, refusals, spool and lag; dead letters; newest readings.",
        panels,
        variables=[
            query_variable(
                "collector",
                "采集器 Collector",
                'SHOW TAG VALUES FROM "ingest_stats" WITH KEY = "collector"',
                multi=True,
                include_all=True,
            )
        ],
        time_from="now-6h",
        refresh="30s",
    )


BOARDS = {
    "county-overview.json": county_overview,
    "voc-monitoring.json": voc_monitoring,
    "plant-drilldown.json": plant_drilldown,
    "ingest-health.json": ingest_health,
}
