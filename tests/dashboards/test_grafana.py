"""Every Grafana dashboard: structure checked, and every query run against a real InfluxDB."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

from dashboards.__main__ import BOARDS_DIR, render
from dashboards.grafana_boards import BOARDS, UIDS
from tests.dashboards.grafana_query import (
    ALIAS_ONLY,
    BUILTINS,
    Selection,
    auto_interval,
    escape_regex,
    has_data,
    interpolate,
    panels_of,
    parse_relative,
    queries_of,
    references,
)
from tests.dashboards.support import CountyDb

PROVISIONING = BOARDS_DIR.parent / "provisioning"
EXPECTED_UIDS = {
    "county-overview.json": "plantwatch-county-overview",
    "voc-monitoring.json": "plantwatch-voc",
    "plant-drilldown.json": "plantwatch-plant",
    "ingest-health.json": "plantwatch-ingest",
}
# Single values tried per variable besides "All": enough to reach every sector's panels.
MAX_SINGLE_VALUES = 3


def load_boards() -> dict[str, dict[str, Any]]:
    return {
        p.name: json.loads(p.read_text(encoding="utf-8")) for p in sorted(BOARDS_DIR.glob("*.json"))
    }


def provisioned_datasources() -> list[dict[str, Any]]:
    doc = yaml.safe_load((PROVISIONING / "datasources" / "plantwatch.yaml").read_text())
    return list(doc["datasources"])


def provisioned_datasource_uids() -> set[str]:
    return {ds["uid"] for ds in provisioned_datasources()}


# --- the pure part: Grafana's interpolation, with literal expectations -------------------


@pytest.mark.parametrize(
    ("selection", "expected"),
    [
        (Selection(("ss-001",), multi_or_all=False), "ss-001"),
        (Selection(("ss-001",), multi_or_all=True), "ss-001"),
        (Selection(("sl-001", "sl-002"), multi_or_all=True), "(sl-001|sl-002)"),
        (Selection(("a.b", "c/d"), multi_or_all=True), r"(a\.b|c\/d)"),
        (Selection(("ss-001", "sl-001"), True, is_all=True, all_value=".*"), ".*"),
        (Selection(("x", "y"), True, is_all=True), "(x|y)"),
    ],
)
def test_variable_formatting_follows_grafana_influxql(selection: Selection, expected: str) -> None:
    assert selection.format() == expected


def test_interpolation_of_macros_and_variables() -> None:
    start = datetime(2026, 3, 1, tzinfo=UTC)
    end = start + timedelta(hours=1)
    query = (
        'SELECT mean("x") FROM "voc" WHERE "plant" =~ /^$plant$/ AND ${stack} = 1 '
        "AND $timeFilter GROUP BY time($__interval) LIMIT $goal"
    )
    out = interpolate(
        query,
        {"plant": Selection(("sl-001", "sl-002"), True), "stack": Selection(("s",), False)},
        {"goal": "0.5"},
        start,
        end,
        "5s",
    )
    assert out == (
        'SELECT mean("x") FROM "voc" WHERE "plant" =~ /^(sl-001|sl-002)$/ AND s = 1 AND '
        "time >= 1772323200000ms and time <= 1772326800000ms GROUP BY time(5s) LIMIT 0.5"
    )
    with pytest.raises(KeyError, match="nope"):
        interpolate("SELECT $nope", {}, {}, start, end, "1m")


@pytest.mark.parametrize(
    ("hours", "minimum", "expected"),
    [
        (1, "", "5s"),  # 3.6 s per point
        (24, "", "5m"),  # 86.4 s
        (24 * 365, "", "12h"),  # 8.76 h
        (24 * 365, "1w", "1w"),  # the panel's minimum wins
        (6, "30s", "30s"),  # 21.6 s rounds to 30 s anyway
    ],
)
def test_auto_interval(hours: int, minimum: str, expected: str) -> None:
    end = datetime(2026, 3, 1, tzinfo=UTC)
    assert auto_interval(end - timedelta(hours=hours), end, minimum) == expected


def test_escape_regex() -> None:
    assert escape_regex("a+b(c)|d") == r"a\+b\(c\)\|d"


# --- structure ----------------------------------------------------------------------------


def test_committed_json_is_what_the_code_generates() -> None:
    assert set(BOARDS) == {p.name for p in BOARDS_DIR.glob("*.json")}
    for name in BOARDS:
        assert (BOARDS_DIR / name).read_text(encoding="utf-8") == render(name), (
            f"{name} is stale: run python -m dashboards"
        )


def test_dashboards_have_their_stable_uids() -> None:
    boards = load_boards()
    assert {name: b["uid"] for name, b in boards.items()} == EXPECTED_UIDS
    assert set(UIDS.values()) == set(EXPECTED_UIDS.values())
    for board in boards.values():
        assert board["title"] and board["schemaVersion"] >= 36
        assert board["time"]["from"].startswith("now")


def test_panel_ids_are_unique_and_panels_fit_the_grid() -> None:
    for name, board in load_boards().items():
        panels = list(panels_of(board))
        ids = [p["id"] for p in panels]
        assert len(ids) == len(set(ids)), f"{name}: duplicate panel ids {ids}"
        cells: dict[tuple[int, int], int] = {}
        for p in panels:
            g = p["gridPos"]
            assert g["x"] >= 0 and g["x"] + g["w"] <= 24 and g["h"] > 0, (name, p["title"], g)
            for x in range(g["x"], g["x"] + g["w"]):
                for y in range(g["y"], g["y"] + g["h"]):
                    assert (x, y) not in cells, f"{name}: panel {p['id']} overlaps {cells[(x, y)]}"
                    cells[(x, y)] = p["id"]
            targets = p.get("targets", [])
            refs = [t["refId"] for t in targets]
            assert len(refs) == len(set(refs)), f"{name}: panel {p['id']} repeats a refId"
            assert all(t.get("query", "").strip() for t in targets), (name, p["title"])
            assert p["type"] in ("text", "row") or targets, f"{name}: {p['title']} has no query"


def _datasource_refs(board: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    out = []
    for p in panels_of(board):
        if "datasource" in p:
            out.append((f"panel {p['id']}", p["datasource"]))
        out += [
            (f"panel {p['id']} target {t['refId']}", t["datasource"]) for t in p.get("targets", [])
        ]
    for v in board["templating"]["list"]:
        if v["type"] == "query":
            out.append((f"variable {v['name']}", v["datasource"]))
    for a in board["annotations"]["list"]:
        if not a.get("builtIn"):
            out.append((f"annotation {a['name']}", a["datasource"]))
    return out


def test_every_datasource_reference_is_provisioned() -> None:
    uids = provisioned_datasource_uids()
    assert uids == {"plantwatch-influxdb"}
    for name, board in load_boards().items():
        refs = _datasource_refs(board)
        assert refs
        for where, ref in refs:
            assert ref == {"type": "influxdb", "uid": "plantwatch-influxdb"}, (name, where, ref)
            assert ref["uid"] in uids


def test_provisioning_files() -> None:
    ds = yaml.safe_load((PROVISIONING / "datasources" / "plantwatch.yaml").read_text())
    (source,) = ds["datasources"]
    assert source["type"] == "influxdb"
    assert source["jsonData"]["version"] == "InfluxQL"
    assert source["url"] == "${PLANTWATCH_INFLUX_URL}"
    assert source["jsonData"]["dbName"] == "${PLANTWATCH_INFLUX_DB}"
    providers = yaml.safe_load((PROVISIONING / "dashboards" / "plantwatch.yaml").read_text())
    (provider,) = providers["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "${PLANTWATCH_GRAFANA_DASHBOARDS}"


def test_variables_are_defined_and_used() -> None:
    for name, board in load_boards().items():
        variables = board["templating"]["list"]
        defined = [v["name"] for v in variables]
        assert len(defined) == len(set(defined)), name
        used: set[str] = set()
        texts = [q for _, q, _ in queries_of(board)] + [v.get("query", "") for v in variables]
        for text in texts:
            used |= references(text)
        undefined = used - set(defined) - BUILTINS
        assert not undefined, f"{name}: undefined variables {undefined}"
        assert set(defined) <= used, f"{name}: unused variables {set(defined) - used}"
        # A variable may only use variables defined before it (Grafana resolves in order).
        for i, v in enumerate(variables):
            assert references(v.get("query", "")) <= set(defined[:i]) | BUILTINS, (name, v["name"])
        for p in panels_of(board):
            for t in p.get("targets", []):
                aliases = references(t.get("alias", ""))
                assert all(ALIAS_ONLY.match(a) for a in aliases), (name, p["title"], aliases)


# --- every query against the filled InfluxDB -------------------------------------------


def _constants(board: Mapping[str, Any]) -> dict[str, str]:
    return {v["name"]: v["query"] for v in board["templating"]["list"] if v["type"] == "constant"}


def _choices(
    var: Mapping[str, Any],
    db: CountyDb,
    earlier: Mapping[str, Selection],
    consts: Mapping[str, str],
    span: tuple[datetime, datetime],
) -> list[Selection]:
    """The selections worth trying for `var`: All (if offered) and a few single values."""
    if var["type"] == "custom":
        values = [o["value"] for o in var["options"] if o["value"] != "$__all"]
    else:
        query = interpolate(var["query"], earlier, consts, *span, "1m")
        values = sorted({row[1] for s in db.store.query(query) for row in s.values})
    assert values, f"variable {var['name']} has no values"
    multi_or_all = bool(var.get("multi") or var.get("includeAll"))
    out = [Selection((v,), multi_or_all) for v in _spread(values)]
    if var.get("includeAll"):
        out.insert(0, Selection(tuple(values), True, is_all=True, all_value=var.get("allValue")))
    return out


def _spread(values: Sequence[str]) -> list[str]:
    """Up to MAX_SINGLE_VALUES values taken across the list (so every sector is reached)."""
    if len(values) <= MAX_SINGLE_VALUES:
        return list(values)
    step = (len(values) - 1) / (MAX_SINGLE_VALUES - 1)
    return [values[round(i * step)] for i in range(MAX_SINGLE_VALUES)]


def _selections(
    board: Mapping[str, Any], db: CountyDb, span: tuple[datetime, datetime]
) -> list[dict[str, Selection]]:
    """Every combination of the tried values, each variable resolved after the ones before it."""
    consts = _constants(board)
    partials: list[dict[str, Selection]] = [{}]
    for var in board["templating"]["list"]:
        if var["type"] == "constant":
            continue
        partials = [
            {**partial, var["name"]: choice}
            for partial in partials
            for choice in _choices(var, db, partial, consts, span)
        ]
    return partials


@pytest.mark.integration
@pytest.mark.parametrize("name", sorted(EXPECTED_UIDS))
def test_every_query_returns_data(name: str, county_db: CountyDb) -> None:
    """Each panel target and annotation query, variables substituted, returns non-null data.

    Queries run for every tried combination of variable values; none may fail, and each
    must return data for at least one combination (a VOC panel has nothing for a
    stainless-steel plant, and that is right).
    """
    board = load_boards()[name]
    now = datetime.now(UTC)
    span = (parse_relative(board["time"]["from"], now), parse_relative(board["time"]["to"], now))
    consts = _constants(board)
    # A panel's own minimum interval wins over the datasource's `timeInterval`.
    (source,) = provisioned_datasources()
    default_min = source["jsonData"]["timeInterval"]
    queries = list(queries_of(board))
    assert queries
    answered: dict[str, list[str]] = {where: [] for where, _, _ in queries}
    selections = _selections(board, county_db, span)
    assert selections
    for selection in selections:
        for where, query, min_interval in queries:
            interval = auto_interval(*span, min_interval or default_min)
            influxql = interpolate(query, selection, consts, *span, interval)
            assert not re.search(r"\$\w", influxql), influxql
            series = county_db.store.query(influxql)
            if has_data(series):
                answered[where].append(str({k: v.format() for k, v in selection.items()}))
    empty = [where for where, hits in answered.items() if not hits]
    assert not empty, f"{name}: no data for {empty}"


def _board_query(board: Mapping[str, Any], title_start: str, ref: str = "A") -> str:
    (panel,) = [p for p in panels_of(board) if p["title"].startswith(title_start)]
    (tgt,) = [t for t in panel["targets"] if t["refId"] == ref]
    return str(tgt["query"])


def _by_hour(series: Sequence[Any]) -> dict[int, float]:
    return {int(row[0]): row[1] for s in series for row in s.values if row[1] is not None}


@pytest.mark.integration
def test_a_logger_sending_only_minute_and_hourly_data_is_on_the_voc_board(
    county_db: CountyDb,
) -> None:
    """CN 2051/2061 only (no real-time data): the board shows its hours from the VOC rollup,
    with the mean, valid minutes and emission rate of its minutes, and the logger's hours."""
    assert county_db.facts.minute_only is not None
    plant, meter = county_db.facts.minute_only
    board = load_boards()["voc-monitoring.json"]
    end = county_db.facts.now
    start = end - timedelta(hours=48)
    chosen = {"plant": Selection((plant,), True), "stack": Selection((meter,), True)}

    def run(query: str) -> list[Any]:
        return county_db.store.query(interpolate(query, chosen, {}, start, end, "1m"))

    where = f"\"plant\" = '{plant}' AND \"meter\" = '{meter}' AND time >= {start.timestamp():.0f}s"
    assert not county_db.store.query(f'SELECT count("nmhc_mgm3") FROM "voc" WHERE {where}')
    # The truth, from the logger's minutes as stored: every minute valid, so the hour's mean.
    minutes = county_db.store.query(
        f'SELECT mean("nmhc_mgm3") FROM "voc_minute" WHERE {where} AND time < {end.timestamp():.0f}s '
        "GROUP BY time(1h) fill(none)"
    )
    truth = _by_hour(minutes)
    assert len(truth) == 48
    board_means = _by_hour(run(_board_query(board, "NMHC")))
    assert board_means.keys() == truth.keys()
    for hour, mean in truth.items():
        assert board_means[hour] == pytest.approx(mean, rel=1e-9), hour
    logger_hours = _by_hour(run(_board_query(board, "NMHC", "B")))
    assert logger_hours.keys() == truth.keys()
    assert max(abs(logger_hours[h] - truth[h]) for h in truth) < 0.01  # rounded to 3 decimals
    valid_minutes = _by_hour(run(_board_query(board, "有效分钟")))
    assert {valid_minutes[h] for h in truth} == {60}
    # Emission: the mean of minute concentration × flow over minutes where both are valid,
    # in hours with at least 45 of them (the flow meter faulted 10 and 20 minutes of two).
    (raw,) = county_db.store.query(
        'SELECT "nmhc_mgm3", "flow_m3h", "flow_m3h_flag" FROM "voc_minute" '
        f"WHERE {where} AND time < {end.timestamp():.0f}s"
    )
    products: dict[int, list[float]] = {}
    for ts, conc, flow, flow_flag in raw.values:
        if flow_flag == "N":
            products.setdefault(int(ts) - int(ts) % 3_600_000, []).append(conc * flow / 1e6)
    true_rates = {h: sum(p) / len(p) for h, p in products.items() if len(p) >= 45}
    assert sorted(len(p) for p in products.values())[:3] == [40, 50, 60]
    rates = _by_hour(run(_board_query(board, "排放速率")))
    assert rates.keys() == true_rates.keys() and len(rates) == 47
    for hour, rate in true_rates.items():
        assert rates[hour] == pytest.approx(rate, rel=1e-9), hour
    stacks = county_db.store.query(
        interpolate(
            next(v["query"] for v in board["templating"]["list"] if v["name"] == "stack"),
            chosen,
            {},
            start,
            end,
            "1m",
        )
    )
    # one series per measurement holding it; Grafana keeps each value once
    assert {meter} == {row[1] for s in stacks for row in s.values}
