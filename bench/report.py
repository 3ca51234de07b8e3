"""Ratios between the figures, and the results files (`<timestamp>.json`, `latest.md`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.stats import ratio

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def _get(results: dict[str, Any], *keys: str) -> Any:
    node: Any = results
    for key in keys:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def ratios(benchmarks: dict[str, Any]) -> dict[str, float | None]:
    """The collector's readings/s against the broker, InfluxDB and the naive baseline.

    Every message carries one reading, so messages/s, readings/s and points/s compare directly.
    """
    broker = _get(benchmarks, "broker_ceiling", "messages_per_s")
    influx = _get(benchmarks, "influx_ceiling", "points_per_s")
    naive = _get(benchmarks, "naive_baseline", "sustained_per_s")
    out: dict[str, float | None] = {}
    single = None
    for name, result in sorted(benchmarks.items()):
        if not name.startswith("collector_x"):
            continue
        rate = _get(result, "sustained_per_s")
        n = name.removeprefix("collector_x")
        out[f"collector_x{n}_of_broker_ceiling"] = ratio(rate, broker)
        out[f"collector_x{n}_of_influx_ceiling"] = ratio(rate, influx)
        out[f"collector_x{n}_times_naive"] = ratio(rate, naive)
        if n == "1":
            single = rate
        elif single:
            out[f"collector_x{n}_over_x1"] = ratio(rate, single)
    return out


def write(results: dict[str, Any], stamp: str, directory: Path = RESULTS_DIR) -> Path:
    """Write `<stamp>.json` and `latest.md`; returns the JSON path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{stamp}.json"
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    (directory / "latest.md").write_text(markdown(results, path.name))
    return path


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float) and value < 10:
        return f"{value:.3g}{unit}"
    if isinstance(value, int | float):
        return f"{value:,.0f}{unit}"
    return str(value)


def _errors(phase: dict[str, Any]) -> str:
    errors = phase.get("errors") or {}
    return (" errors: " + ", ".join(f"{k} x{v}" for k, v in errors.items())) if errors else ""


def markdown(results: dict[str, Any], json_name: str) -> str:
    """A human-readable summary of one run."""
    b = results["benchmarks"]
    lines = [
        f"# plantwatch benchmark results ({results['mode']} run)",
        "",
        f"Started {results['started']}, took {results['seconds']:.0f} s. Raw figures: `{json_name}`.",
    ]
    if results.get("notes"):
        lines += ["", *(f"> {note}" for note in results["notes"])]
    lines += ["", "## Machine", "", "| | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in results["machine"].items()]
    lines += ["", "## Ingest", "", "| benchmark | figure | detail |", "|---|---|---|"]
    if "broker_ceiling" in b:
        r = b["broker_ceiling"]
        lines.append(
            f"| (a) broker ceiling | {_fmt(r.get('messages_per_s'))} msg/s | {r.get('what')}; "
            f"{_fmt(r.get('messages'))} msgs of ~{r.get('payload_bytes')} B, "
            f"{r.get('publishers')} publishers |"
        )
    if "influx_ceiling" in b:
        r = b["influx_ceiling"]
        lines.append(
            f"| (b) InfluxDB ceiling | {_fmt(r.get('points_per_s'))} points/s | {r.get('what')}; "
            f"{_fmt(r.get('points'))} points, batches of {_fmt(r.get('batch_points'))} |"
        )
    if "naive_baseline" in b:
        r = b["naive_baseline"]
        lines.append(
            f"| (c) naive baseline | {_fmt(r.get('sustained_per_s'))} readings/s | {r.get('what')}; "
            f"{_fmt(r.get('landed'))} landed |"
        )
    for name in sorted(k for k in b if "collector_x" in k):
        r = b[name]
        per = r.get("readings_per_message", 1)
        lines.append(
            f"| (d) plantwatch {name.replace('_', ' ')}, {per} reading(s)/message | "
            f"{_fmt(r.get('sustained_per_s'))} readings/s | {r.get('what')}; "
            f"{_fmt(r.get('landed'))} readings landed, overall {_fmt(r.get('overall_per_s'))}/s "
            f"incl. start and tail; publishers done after {r.get('publish_seconds')} s |"
        )
    if "latency" in b:
        r = b["latency"]
        lines.append(
            f"| (d) publish-to-queryable | p50 {_fmt(r.get('p50_ms'))} ms, p99 "
            f"{_fmt(r.get('p99_ms'))} ms | {r.get('seen')}/{r.get('sent')} readings at "
            f"{r.get('rate_per_s')}/s, polled every {r.get('poll_interval_ms')} ms |"
        )
    if "hj212_gateway" in b and "error" not in b["hj212_gateway"]:
        r = b["hj212_gateway"]
        lines.append(
            f"| (e) HJ 212 gateway, {r['loggers']} TCP loggers | {_fmt(r['answered_per_s_during_send'])}"
            f" packets/s answered, p50 {r['latency_p50_ms']} ms, p99 {r['latency_p99_ms']} ms | "
            f"packet -> CN 9014 after PUBACK; gateway SIGKILLed at {r['gateway_sigkilled_at_s']} s; "
            f"{_fmt(r['points_in_influxdb'])}/{_fmt(r['packets_sent'])} points stored, peak RSS "
            f"{r['gateway_peak_rss_mb']} MB |"
        )
    lines += [
        "",
        "## Ratios (readings/s; one reading per message)",
        "",
        "| ratio | value |",
        "|---|---|",
    ]
    lines += [
        f"| {k} | {'n/a' if v is None else f'{v:.3g}'} |"
        for k, v in results.get("ratios", {}).items()
    ]
    api = b.get("api")
    if api:
        lines += ["", "## API", ""]
        if "history" in api:
            h = api["history"]
            lines.append(
                f"History: {h['firms']} firms, {h['days']:g} days at 15 min, {h['points']:,} points "
                f"(written in {h['seconds']} s)."
            )
        if "rollup" in api:
            r = api["rollup"]
            lines.append(
                f"Rollup catch-up of that history (`python -m api rollup`): {r['seconds']} s "
                f"(exit {r['exit_code']}); the endpoints then answer from `fuel_hourly`/`fuel_daily`."
            )
        if api.get("error"):
            lines.append(f"Error: {api['error']}")
        if "settle_seconds" in api:
            lines.append(
                "Measured once the API's start-up work and InfluxDB had gone idle "
                f"({api['settle_seconds']} s after the API answered)."
            )
        lines.append(
            f"Concurrent figures: {api.get('concurrency')} clients at once, each with its own "
            "officer key. Rows where `at` moves 1 h per request ask a different hour every "
            'time, none asked before in the run (an officer\'s "now"); the "one at" row '
            "repeats one `at`, so its answers are cache hits."
        )
        lines += [
            "",
            f"| endpoint | sequential p50 / p95 / p99 | {api.get('concurrency')} clients p50 / p95 / p99 | req/s |",
            "|---|---|---|---|",
        ]
        for name, e in api.get("endpoints", {}).items():
            if not e.get("available"):
                lines.append(f"| {name} | {e.get('detail')} | | |")
                continue
            s, c = e["sequential"], e["concurrent"]
            lines.append(
                f"| {name} | {_fmt(s.get('p50_ms'))} / {_fmt(s.get('p95_ms'))} / "
                f"{_fmt(s.get('p99_ms'))} ms (n={s.get('n')})"
                f"{_errors(s)} | {_fmt(c.get('p50_ms'))} / {_fmt(c.get('p95_ms'))} / "
                f"{_fmt(c.get('p99_ms'))} ms "
                f"(n={c.get('n')}){_errors(c)} | {_fmt(c.get('requests_per_s'))} |"
            )
    lines += _fuel(b)
    lines.append("")
    return "\n".join(lines)


def _fuel(b: dict[str, Any]) -> list[str]:
    """The fuel core's consistency (through a late backfill) and the KPI's growth."""
    lines: list[str] = []
    c = b.get("fuel_consistency")
    if c:
        lines += ["", "## Fuel figures: one number everywhere", ""]
        if c.get("error"):
            lines.append(f"Error: {c['error']}")
        lines.append(
            f"Month {c.get('month')}, {c.get('firms')} firms, 15-minute registers with resets, "
            "implausible jumps, gaps, a silence over 24 h and jittered times. For every firm "
            "and day: KPI (one-day window) m³/kg, sum of daily usage, sum of hourly usage, the "
            "month's KPI and the history's month, each against the pure rule over the raw "
            "readings, compared at 3 decimals."
        )
        lines += [
            "",
            "| phase | checks | mismatches | max abs difference | history counts = KPI month |",
            "|---|---|---|---|---|",
        ]
        for phase in ("before_backfill", "after_backfill"):
            p = c.get(phase) or {}
            lines.append(
                f"| {phase.replace('_', ' ')} | {p.get('checks')} | "
                f"{p.get('mismatches_at_3_decimals')} | {p.get('max_abs_difference')} | "
                f"{p.get('history_counts_equal_kpi_month')} |"
            )
        lines.append(
            f"\nFirst rollup catch-up in the API: {c.get('first_catch_up_s')} s. Rollup lag, "
            f"arrival of {c.get('late_plant')}'s 3-day-late upload to the corrected answer: "
            f"**{c.get('rollup_lag_s')} s** (rollup interval {c.get('rollup_interval_s')} s)."
        )
    g = b.get("fuel_growth")
    if g:
        lines += ["", "## KPI growth (30-day window, in-process `FuelCore.kpi`)", ""]
        if g.get("error"):
            lines.append(f"Error: {g['error']}")
        lines += [
            f"{g.get('days')} days of {g.get('step')} registers per firm, rolled up.",
            "",
            "| firms | write s | rollup catch-up s | KPI p50 / p95 ms |",
            "|---|---|---|---|",
        ]
        for n, r in (g.get("sizes") or {}).items():
            k = r.get("kpi_30d", {})
            lines.append(
                f"| {n} | {r.get('write_s')} | {r.get('rollup_catch_up_s')} | "
                f"{_fmt(k.get('p50_ms'))} / {_fmt(k.get('p95_ms'))} |"
            )
        lines.append(f"\nGrowth exponent of the p50 (log-log fit): **{g.get('exponent_p50')}**.")
    return lines
