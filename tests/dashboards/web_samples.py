"""Literal API answers the browser tests feed the page, in the shapes the API documents.

`test_web_contract.py` validates each against its OpenAPI component schema, so a sample
(and the page reading it) cannot drift from what `/docs` promises.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

TIMEZONE = "Asia/Shanghai"
GAS_KGCE_PER_M3 = 1.2143
COAL_KGCE_PER_KG = 0.7143
VOC_LIMITS_MGM3 = {
    "nmhc_mgm3": 200.0,
    "dmf_mgm3": 50.0,
    "benzene_mgm3": 2.0,
    "toluene_mgm3": 30.0,
    "xylene_mgm3": 40.0,
}
EXCEEDING_HOUR = 5  # of DMF
INSUFFICIENT_HOUR = 8  # of every pollutant


def _hour(now: datetime, hours_back: int) -> datetime:
    return now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours_back)


def usage_answer(now: datetime) -> dict[str, Any]:
    """24 hourly intervals of ss-001; the totals are the intervals' sums, as the API gives them."""
    start = _hour(now, 24)
    intervals = []
    for h in range(24):
        gas_m3, coal_kg = 400.0 + 10 * h, 50.0
        gas_kgce, coal_kgce = gas_m3 * GAS_KGCE_PER_M3, coal_kg * COAL_KGCE_PER_KG
        intervals.append(
            {
                "start": (start + timedelta(hours=h)).isoformat(),
                "end": (start + timedelta(hours=h + 1)).isoformat(),
                "gas_m3": gas_m3,
                "coal_kg": coal_kg,
                "gas_kgce": gas_kgce,
                "coal_kgce": coal_kgce,
                "kgce": gas_kgce + coal_kgce,
                "co2_kg": 1000.0,
                "gas_readings": 4,
                "coal_readings": 4,
                "resets": 0,
                "implausible_steps": 0,
            }
        )
    keys = [k for k in intervals[0] if k not in ("start", "end")]
    totals: dict[str, Any] = {k: sum(r[k] for r in intervals) for k in keys}
    totals["gas_fraction"] = totals["gas_kgce"] / totals["kgce"]
    return {
        "plant": "ss-001",
        "name": "ss-001 不锈钢有限公司",
        "sector": "stainless_steel",
        "start": start.isoformat(),
        "end": (start + timedelta(hours=24)).isoformat(),
        "every": "1h",
        "timezone": TIMEZONE,
        "units": {"gas": "m3", "coal": "kg", "kgce": "kg standard coal", "co2": "kg"},
        "intervals": intervals,
        "totals": totals,
        "sources": [{"source": "raw", "start": start.isoformat(), "end": now.isoformat()}],
    }


def voc_answer(now: datetime) -> dict[str, Any]:
    """12 hours of one stack: DMF above its limit in one hour, one hour without 45 valid minutes."""
    start = _hour(now, 12)
    pollutants = []
    for pollutant, limit in VOC_LIMITS_MGM3.items():
        hours = []
        for h in range(12):
            over = pollutant == "dmf_mgm3" and h == EXCEEDING_HOUR
            valid = h != INSUFFICIENT_HOUR
            mean = limit * (1.4 if over else 0.3 + 0.02 * h)
            hours.append(
                {
                    "start": (start + timedelta(hours=h)).isoformat(),
                    "end": (start + timedelta(hours=h + 1)).isoformat(),
                    "status": "valid" if valid else "insufficient",
                    "source": "minutes",
                    "valid_minutes": 60 if valid else 30,
                    "mean_mgm3": mean if valid else None,
                    "exceeds": over,
                    "logger_mean_mgm3": None,
                    "logger_flag": None,
                    "disagrees": False,
                    "over_range_minutes": 0,
                    "stopped_minutes": 0,
                    "fault_minutes": 0,
                    "comm_minutes": 0,
                    "transmitted_minutes": 60,
                    "emission_kgh": mean * 20_000.0 * 1e-6 if valid else None,
                    "emission_kg": mean * 20_000.0 * 1e-6 if valid else None,
                }
            )
        pollutants.append(
            {
                "pollutant": pollutant,
                "limit_mgm3": limit,
                "limit_source": "GB 21902-2008 Table 5",
                "counts": {
                    "hours": 12,
                    "running": 12,
                    "valid": 11,
                    "insufficient": 1,
                    "stopped": 0,
                    "pending": 0,
                    "exceeding": int(pollutant == "dmf_mgm3"),
                    "disagreeing": 0,
                },
                "hours": hours,
            }
        )
    return {
        "plant": "sl-001",
        "start": start.isoformat(),
        "end": (start + timedelta(hours=12)).isoformat(),
        "timezone": TIMEZONE,
        "definition": {
            "min_valid_minutes": 45,
            "valid_flag": "N",
            "hours": "whole hours covering [start, end)",
            "emission_kgh": "hourly mean mg/m³ × hourly mean flow m³/h × 1e-6",
        },
        "stacks": [{"meter": "stack-1", "pollutants": pollutants}],
    }


HISTORY_SHARES = [0.25, 0.25, 0.3, 0.3, 0.35, 0.375, 0.4, 0.45, 0.45, 0.5]
PROJECTED_SHARE = 0.56


def history_answer(year: int) -> dict[str, Any]:
    """Ten months of share and a year-end projection of 56 %."""
    firms = 40
    months = []
    for m, share in enumerate(HISTORY_SHARES, start=1):
        gas = round(share * firms)
        counts = {"gas": gas, "mixed": 4, "coal": firms - gas - 4, "idle": 0, "unknown": 0}
        months.append(
            {
                "month": f"{year}-{m:02d}",
                "start": f"{year}-{m:02d}-01T00:00:00+08:00",
                "end": f"{year}-{m + 1:02d}-01T00:00:00+08:00",
                "complete": True,
                "has_data": True,
                "firms": firms,
                "counts": counts,
                "share": share,
                "share_upper": share,
                "firms_needed": max(0, firms // 2 - gas),
            }
        )
    return {
        "year": year,
        "goal": 0.5,
        "timezone": TIMEZONE,
        "months": months,
        "projection": {
            "gas_firms": PROJECTED_SHARE * firms,
            "gas_firms_low": 0.5 * firms,
            "gas_firms_high": 0.62 * firms,
            "slope_firms_per_month": 1.0,
            "months_used": len(months),
            "method": "least squares",
            "active_firms": firms,
            "share": PROJECTED_SHARE,
            "share_low": 0.5,
            "share_high": 0.62,
        },
        "on_track": True,
        "firms_needed": 0,
        "candidates": [],
        "definition": {
            "month_window": "calendar month in local time; the current month to date",
            "timezone": TIMEZONE,
            "source": "fuel_daily / fuel_hourly rollups, raw readings for the rest",
            "coverage": "reported hours / hours in the month",
        },
    }


def alert(alert_id: int, kind: str, plant: str, opened: datetime, **fields: Any) -> dict[str, Any]:
    """One alert as `GET /alerts` lists it."""
    at = opened.isoformat()
    return {
        "id": alert_id,
        "kind": kind,
        "plant": plant,
        "meter": None,
        "pollutant": None,
        "status": "open",
        "message": "",
        "value": None,
        "limit": None,
        "opened_at": at,
        "last_seen_at": at,
        "updated_at": at,
        "cleared_since": None,
        "acknowledged_by": None,
        "acknowledged_at": None,
        "ack_comment": None,
        "resolved_at": None,
        "resolved_by": None,
        "resolve_comment": None,
        "reopen_count": 0,
        "unit": None,
        "limit_unit": None,
        "since": None,
        "late": False,
        "details": {},
        "firm": plant,
        "lang": "zh",
        "title": "",
        "text": "",
        **fields,
    }


def alerts(now: datetime) -> list[dict[str, Any]]:
    """A DMF exceedance and an offline gas meter, both open."""
    return [
        alert(
            41,
            "voc_hourly_exceedance",
            "sl-001",
            now,
            meter="stack-1",
            pollutant="dmf_mgm3",
            message="DMF hourly mean 72.4 mg/m³ above 50",
            value=72.4,
            limit=50.0,
            unit="mg/m³",
            limit_unit="mg/m³",
            firm="松阳某合成革有限公司",
            title="VOC 小时均值超标",
            text="松阳某合成革有限公司 VOC 排口 stack-1：DMF 小时均值 72.4 mg/m³，超过限值 50 mg/m³",
        ),
        alert(
            42,
            "meter_offline",
            "ss-008",
            now - timedelta(hours=1),
            meter="gas-1",
            message="no data for 75 min",
            value=75.0,
            limit=60.0,
            unit="min",
            limit_unit="min",
            firm="松阳某不锈钢有限公司",
            title="仪表离线",
            text="松阳某不锈钢有限公司 天然气表 gas-1 已 1 小时 15 分钟没有数据（允许 60 分钟）",
        ),
    ]


def alert_list(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"alerts": rows}


# Each sample and the OpenAPI component schema it must satisfy.
def samples(now: datetime) -> list[tuple[str, str, dict[str, Any]]]:
    """(name, component schema, answer) for every literal answer the browser tests use."""
    return [
        ("usage", "UsageAnswer", usage_answer(now)),
        ("voc", "VocAnswer", voc_answer(now)),
        ("history", "GasShareHistoryAnswer", history_answer(now.year)),
        ("alerts", "AlertList", alert_list(alerts(now))),
        ("alert", "AlertView", alerts(now)[0]),
    ]
