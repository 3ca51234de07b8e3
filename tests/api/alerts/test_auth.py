"""`logger_auth_failures`: the gateway's lockouts become one alert per stack (issue 22)."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime, timedelta

from api.alerts import observe, rules
from api.alerts.model import LOGGER_AUTH_FAILURES, Alert, AlertKey
from api.alerts.texts import render
from ingest.gateway.lockout import AUTH_FAILURES_KIND
from ingest.kernel.hj212 import EVENT_MEASUREMENT
from ingest.kernel.registry import parse_registry
from ingest.kernel.store import InfluxStore, encode_point
from tests.builders import MeterSpec, RegistryBuilder

AT = datetime(2026, 3, 2, 1, 7, tzinfo=UTC)  # 09:07 in Songyang
TZ = "Asia/Shanghai"


def lockout_line(minutes_ago: float, address: str, meter: str = "stack-1") -> str:
    return encode_point(
        EVENT_MEASUREMENT,
        {"plant": "sl-001", "meter": meter, "kind": AUTH_FAILURES_KIND},
        {"failures": 5.0, "lock_seconds": 60.0, "scope": "address", "address": address,
         "message": "locked"},
        AT - timedelta(minutes=minutes_ago),
    )  # fmt: skip


def test_lockouts_in_the_lookback_raise_one_alert_per_stack(store: InfluxStore) -> None:
    """Failed before the fix: the kind did not exist; lockouts raised nothing."""
    store.write_lines(
        [
            lockout_line(50, "10.0.0.9"),
            lockout_line(10, "10.0.0.8"),
            lockout_line(5, "10.0.0.9"),
            lockout_line(90, "10.0.0.7", meter="stack-2"),  # past the 1 h lookback
        ]
    )
    found = rules.auth_failures(observe.auth_lockouts(store, AT, timedelta(hours=1)))
    assert [c.key for c in found] == [AlertKey(LOGGER_AUTH_FAILURES, "sl-001", "stack-1")]
    (condition,) = found
    assert condition.value == 15.0
    assert condition.since == AT - timedelta(minutes=50)
    assert condition.details["lockouts"] == 3
    assert condition.details["addresses"] == "10.0.0.8, 10.0.0.9"


def test_the_alert_reads_in_chinese_and_english() -> None:
    registry = parse_registry(
        tomllib.loads(
            RegistryBuilder()
            .plant("sl-001", "synthetic_leather", [MeterSpec("stack-1", "voc")], name="松阳某合成革有限公司")
            .toml()
        )
    )  # fmt: skip
    alert = Alert(
        1, AlertKey(LOGGER_AUTH_FAILURES, "sl-001", "stack-1"), "open", AT, AT, AT, 15.0, None,
        "log line", since=AT,
        details={"lockouts": 3, "addresses": "10.0.0.9", "last_at": AT.isoformat()},
    )  # fmt: skip
    zh, en = render(alert, "zh", registry, TZ), render(alert, "en", registry, TZ)
    assert zh.title == "数采仪密码反复错误"
    assert "15 个密码错误或无法解密的报文（来自 10.0.0.9），网关已锁定 3 次" in zh.text
    assert en.title == "Repeated wrong data logger passwords"
    assert "15 packets with a wrong password" in en.text and "3 times" in en.text
