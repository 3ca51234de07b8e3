"""Builders for Grafana dashboard JSON (schema 39, Grafana 10/11) over one InfluxQL datasource.

Pure functions returning plain dicts; `dashboards.grafana_boards` composes them and
`python -m dashboards` writes the JSON that Grafana provisions.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

DATASOURCE_UID = "plantwatch-influxdb"
DATASOURCE = {"type": "influxdb", "uid": DATASOURCE_UID}
GRID_COLUMNS = 24
SCHEMA_VERSION = 39
# The zone the builders write; `localize` moves a built dashboard to the settings' zone
# (`python -m dashboards` does, from PLANTWATCH_TIMEZONE).
TIMEZONE = "Asia/Shanghai"
# Grafana's InfluxQL `tz()` clause: daily buckets start at local midnight, not 08:00.
TZ_CLAUSE = f"tz('{TIMEZONE}')"

Json = dict[str, Any]


def target(query: str, ref: str = "A", alias: str = "", table: bool = False) -> Json:
    """One raw InfluxQL query of a panel."""
    out: Json = {
        "refId": ref,
        "datasource": DATASOURCE,
        "rawQuery": True,
        "query": " ".join(query.split()),
        "resultFormat": "table" if table else "time_series",
    }
    if alias:
        out["alias"] = alias
    return out


def thresholds(*steps: tuple[str, float | None]) -> Json:
    """Absolute thresholds: the first step's value must be None (the base colour)."""
    return {"mode": "absolute", "steps": [{"color": c, "value": v} for c, v in steps]}


def panel(
    kind: str,
    title: str,
    targets: Sequence[Json],
    width: int,
    height: int,
    *,
    description: str = "",
    unit: str = "",
    decimals: int | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    steps: Json | None = None,
    custom: Json | None = None,
    options: Json | None = None,
    interval: str = "",
    overrides: Sequence[Json] = (),
    transformations: Sequence[Json] = (),
) -> Json:
    """A panel; `gridPos` x/y and `id` are filled in by `dashboard`."""
    defaults: Json = {}
    if unit:
        defaults["unit"] = unit
    if decimals is not None:
        defaults["decimals"] = decimals
    if minimum is not None:
        defaults["min"] = minimum
    if maximum is not None:
        defaults["max"] = maximum
    if steps is not None:
        defaults["thresholds"] = steps
        defaults["color"] = {"mode": "thresholds"}
    if custom is not None:
        defaults["custom"] = custom
    out: Json = {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "gridPos": {"w": width, "h": height},
        "targets": list(targets),
        "fieldConfig": {"defaults": defaults, "overrides": list(overrides)},
        "options": options or {},
    }
    if interval:
        out["interval"] = interval
    if transformations:
        out["transformations"] = list(transformations)
    return out


def timeseries_custom(
    *, bars: bool = False, stacked: bool = False, threshold_style: str = "off", fill: int = 10
) -> Json:
    """`fieldConfig.defaults.custom` of a time-series panel."""
    return {
        "drawStyle": "bars" if bars else "line",
        "lineWidth": 2,
        "fillOpacity": 80 if bars else fill,
        "showPoints": "never",
        "spanNulls": False,
        "stacking": {"mode": "normal" if stacked else "none", "group": "A"},
        "thresholdsStyle": {"mode": threshold_style},
    }


TIMESERIES_OPTIONS: Json = {
    "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
    "tooltip": {"mode": "multi", "sort": "desc"},
}


def stat_options(calc: str = "lastNotNull", color_mode: str = "value", graph: bool = False) -> Json:
    return {
        "reduceOptions": {"calcs": [calc], "fields": "", "values": False},
        "colorMode": color_mode,
        "graphMode": "area" if graph else "none",
        "textMode": "value_and_name",
        "justifyMode": "auto",
        "orientation": "auto",
    }


def text_panel(title: str, markdown: str, width: int, height: int) -> Json:
    """A markdown note (no query)."""
    return {
        "type": "text",
        "title": title,
        "gridPos": {"w": width, "h": height},
        "options": {"mode": "markdown", "content": markdown},
    }


def query_variable(
    name: str,
    label: str,
    query: str,
    *,
    multi: bool = False,
    include_all: bool = False,
    all_value: str | None = None,
) -> Json:
    """A variable filled by an InfluxQL `SHOW ...` query, refreshed when the time range changes."""
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DATASOURCE,
        "query": query,
        "definition": query,
        "refresh": 2,
        "multi": multi,
        "includeAll": include_all,
        "allValue": all_value,
        "sort": 1,
        "hide": 0,
        "current": {},
        "options": [],
    }


def custom_variable(
    name: str, label: str, choices: Sequence[tuple[str, str]], *, all_value: str
) -> Json:
    """A fixed list of `text : value` choices, with an All option meaning `all_value`."""
    return {
        "name": name,
        "label": label,
        "type": "custom",
        "query": ",".join(f"{text} : {value}" for text, value in choices),
        "multi": False,
        "includeAll": True,
        "allValue": all_value,
        "hide": 0,
        "current": {"text": "All", "value": "$__all"},
        "options": [{"text": "All", "value": "$__all", "selected": True}]
        + [{"text": t, "value": v, "selected": False} for t, v in choices],
    }


def constant(name: str, value: float, description: str) -> Json:
    """A hidden constant used inside queries (a definition factor or threshold)."""
    text = repr(value)
    return {
        "name": name,
        "type": "constant",
        "description": description,
        "query": text,
        "hide": 2,
        "current": {"text": text, "value": text},
        "options": [{"text": text, "value": text, "selected": True}],
    }


def annotation(name: str, query: str, text_column: str, tags_columns: str, color: str) -> Json:
    """Annotations from an InfluxQL query (events drawn on every time-series panel)."""
    return {
        "name": name,
        "datasource": DATASOURCE,
        "enable": True,
        "hide": False,
        "iconColor": color,
        "query": " ".join(query.split()),
        "textColumn": text_column,
        "tagsColumn": tags_columns,
        "titleColumn": "",
    }


BUILTIN_ANNOTATION: Json = {
    "builtIn": 1,
    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
    "enable": True,
    "hide": True,
    "iconColor": "rgba(0, 211, 255, 1)",
    "name": "Annotations & Alerts",
    "type": "dashboard",
}


def _place(panels: Iterable[Json]) -> list[Json]:
    """Flow panels left to right in rows of 24 columns; ids in reading order."""
    x = y = row_height = 0
    placed = []
    for panel_id, item in enumerate(panels, start=1):
        grid = item["gridPos"]
        if x + grid["w"] > GRID_COLUMNS:
            x, y, row_height = 0, y + row_height, 0
        item = {"id": panel_id, **item, "gridPos": {"x": x, "y": y, **grid}}
        x += grid["w"]
        row_height = max(row_height, grid["h"])
        placed.append(item)
    return placed


def dashboard(
    uid: str,
    title: str,
    description: str,
    panels: Iterable[Json],
    *,
    variables: Sequence[Json] = (),
    annotations: Sequence[Json] = (),
    time_from: str = "now-24h",
    refresh: str = "1m",
    links: Sequence[Json] = (),
) -> Json:
    """A whole dashboard with a stable `uid`."""
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["plantwatch"],
        "timezone": TIMEZONE,
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "time": {"from": time_from, "to": "now"},
        "refresh": refresh,
        "links": [
            {
                "type": "dashboards",
                "tags": ["plantwatch"],
                "asDropdown": True,
                "title": "plantwatch",
                "includeVars": False,
                "keepTime": True,
            },
            *links,
        ],
        "templating": {"list": list(variables)},
        "annotations": {"list": [BUILTIN_ANNOTATION, *annotations]},
        "panels": _place(panels),
    }


def localize(board: Json, timezone: str) -> Json:
    """`board` in `timezone`: the dashboard's own zone and every query's `tz()` clause."""
    if "'" in timezone or "\\" in timezone:
        raise ValueError(f"not a time zone name: {timezone!r}")
    clause = f"tz('{timezone}')"

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        if isinstance(node, str):
            return node.replace(TZ_CLAUSE, clause)
        return node

    out: Json = walk(board)
    out["timezone"] = timezone
    return out
