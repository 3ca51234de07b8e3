"""DingTalk and WeCom robots: payloads and signatures checked by a local receiver that follows
the robots' documented formats, filters, quiet hours and retries through the real outbox."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from api.alerts.lifecycle import Plan, Raise
from api.alerts.model import AlertKey, Condition
from api.alerts.notify import Dispatcher
from api.alerts.repo import AlertRepo
from api.alerts.texts import render as render_alert
from api.db import connect
from api.robots.channel import RobotChannel
from api.robots.filters import EventFilter, QuietHours, decide
from api.robots.formats import dingtalk_sign, read_answer, redact
from api.robots.message import render
from tests.builders import RegistryBuilder

T = datetime(2026, 3, 2, 2, 7, tzinfo=UTC)  # 10:07 in Songyang
TZ = ZoneInfo("Asia/Shanghai")
SECRET = "SECtest0123456789abcdef"
TOKEN = "tok-123"
WECOM_KEY = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"
NAMES = {"sl-001": "松阳某合成革有限公司", "ss-004": "松阳某不锈钢制品有限公司"}
REGISTRY = (
    RegistryBuilder(county="松阳县")
    .plant("sl-001", "synthetic_leather", [("stack-1", "voc")], name=NAMES["sl-001"])
    .plant("ss-004", name=NAMES["ss-004"])
    .registry()
)
CONDITIONS = [
    Condition(
        AlertKey("voc_hourly_exceedance", "sl-001", "stack-1", "dmf_mgm3"),
        62.5,
        50.0,
        "dmf_mgm3 hourly mean 62.50 mg/m³",
    ),
    Condition(AlertKey("meter_offline", "ss-004", "gas-1"), 75.0, 60.0, "gas meter silent"),
]


class Receiver:
    """A robot endpoint: checks each request like DingTalk/WeCom would, answers like them."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.refusals: list[str] = []
        self.answers: list[dict[str, Any]] = []  # queued answers, then errcode 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                query = urllib.parse.parse_qs(url.query)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                problem = receiver.check(url.path, query, body, self.headers["Content-Type"])
                if problem:
                    receiver.refusals.append(problem)
                    answer = {"errcode": 310000, "errmsg": problem}
                else:
                    receiver.received.append({"path": url.path, "query": query, "body": body})
                    answer = (
                        receiver.answers.pop(0)
                        if receiver.answers
                        else {"errcode": 0, "errmsg": "ok"}
                    )
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def check(
        self, path: str, query: dict[str, list[str]], body: dict[str, Any], ctype: str
    ) -> str:
        if not ctype.startswith("application/json"):
            return "content type must be JSON"
        if path == "/robot/send":  # DingTalk
            if query.get("access_token") != [TOKEN]:
                return "bad access_token"
            ts = query.get("timestamp", [""])[0]
            if not ts.isdigit() or abs(int(ts) / 1000 - T.timestamp()) > 3600:
                return "timestamp missing or more than an hour off"
            # The documented recipe: HMAC-SHA256 over "timestamp\nsecret" keyed by the secret,
            # base64; parse_qs has already undone the URL encoding.
            expected = base64.b64encode(
                hmac.new(SECRET.encode(), f"{ts}\n{SECRET}".encode(), hashlib.sha256).digest()
            ).decode()
            if query.get("sign") != [expected]:
                return "sign mismatch"
            md = body.get("markdown", {})
            if body.get("msgtype") != "markdown" or not md.get("title") or not md.get("text"):
                return "markdown needs title and text"
        elif path == "/cgi-bin/webhook/send":  # WeCom
            if query.get("key") != [WECOM_KEY]:
                return "bad key"
            content = body.get("markdown", {}).get("content", "")
            if body.get("msgtype") != "markdown" or not content or len(content.encode()) > 4096:
                return "markdown content missing or over 4096 bytes"
        else:
            return f"unknown path {path}"
        return ""

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def repo(tmp_path: Path) -> AlertRepo:
    repo = AlertRepo(connect(f"sqlite:///{tmp_path}/alerts.db"))
    repo.cursor("robot-ding"), repo.cursor("robot-wecom")
    assert repo.try_lease("engine", T, 60)
    repo.apply(Plan(tuple(Raise(c) for c in CONDITIONS)), T, "engine", 60)
    return repo


ALL = EventFilter()


def channel(kind: str, url: str, secret: str, f: EventFilter = ALL) -> RobotChannel:
    return RobotChannel(
        "robot-ding" if kind == "dingtalk" else "robot-wecom",
        kind,
        url,
        secret,
        f,
        NAMES,
        "松阳县",
        TZ,
        "https://plantwatch.example.cn",
        5.0,
        4,
        clock=lambda: T.timestamp(),
        sentence=lambda alert: render_alert(alert, "zh", REGISTRY, TZ).text,
    )


def test_dingtalk_signed_markdown_in_chinese(repo: AlertRepo, receiver: Receiver) -> None:
    ding = channel("dingtalk", f"{receiver.url}/robot/send?access_token={TOKEN}", SECRET)
    assert Dispatcher(repo, ding, lambda: True).drain() == 2
    assert receiver.refusals == []
    assert len(receiver.received) == 2
    text = receiver.received[0]["body"]["markdown"]["text"]
    alert_id = repo.find(kind="voc_hourly_exceedance")[0].id
    for expected in (
        "松阳某合成革有限公司",
        "VOC 小时均值超标",
        "数值：62.5 mg/m³",
        "限值：50 mg/m³",
        "DMF",
        "2026-03-02 10:07",  # local time
        f"https://plantwatch.example.cn/dashboard/#/alerts/{alert_id}",
    ):
        assert expected in text, expected
    # the sentence is the one renderer's Chinese, never the English log line
    assert "说明：松阳某合成革有限公司 VOC 排口 stack-1：DMF" in text, text
    assert "hourly mean" not in text
    offline = receiver.received[1]["body"]["markdown"]["text"]
    assert "松阳某不锈钢制品有限公司" in offline and "数值：75 分钟" in offline
    assert "天然气表 gas-1" in offline and "silent" not in offline


def test_a_wrong_secret_is_refused_and_not_retried(repo: AlertRepo, receiver: Receiver) -> None:
    ding = channel("dingtalk", f"{receiver.url}/robot/send?access_token={TOKEN}", "SECwrong")
    dispatcher = Dispatcher(repo, ding, lambda: True, backoff_seconds=0.01)
    assert dispatcher.drain() == 2
    assert receiver.refusals == ["sign mismatch", "sign mismatch"]  # once each: errcode not retried
    assert dispatcher.given_up == 2 and ding.sent == 0


def test_wecom_key_rate_limit_retried_and_logged(
    repo: AlertRepo, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.answers = [{"errcode": 45009, "errmsg": "api freq out of limit"}]
    wecom = channel("wecom", f"{receiver.url}/cgi-bin/webhook/send", WECOM_KEY)
    dispatcher = Dispatcher(repo, wecom, lambda: True, backoff_seconds=0.01)
    with caplog.at_level("INFO"):
        assert dispatcher.drain() == 2
    assert receiver.refusals == []
    # the rate-limited first message was sent again: 3 requests, 2 delivered
    assert len(receiver.received) == 3 and wecom.sent == 2
    assert receiver.received[0]["body"] == receiver.received[1]["body"]
    assert "松阳某合成革有限公司" in receiver.received[0]["body"]["markdown"]["content"]
    assert any("retrying" in r.message for r in caplog.records)


def test_filters_and_quiet_hours_skip_events(repo: AlertRepo, receiver: Receiver) -> None:
    only_voc = EventFilter(kinds=frozenset({"voc_hourly_exceedance"}))
    wecom = channel("wecom", f"{receiver.url}/cgi-bin/webhook/send", WECOM_KEY, only_voc)
    assert Dispatcher(repo, wecom, lambda: True).drain() == 2
    assert len(receiver.received) == 1 and wecom.skipped == 1
    assert "合成革" in receiver.received[0]["body"]["markdown"]["content"]


@pytest.mark.parametrize(
    ("f", "kind", "plant", "event", "local", "skipped"),
    [
        (EventFilter(), "meter_offline", "ss-1", "raised", time(10), None),
        (EventFilter(), "meter_offline", "ss-1", "acknowledged", time(10), "event"),
        (
            EventFilter(plants=frozenset({"ss-2"})),
            "meter_offline",
            "ss-1",
            "raised",
            time(10),
            "plant",
        ),
        (
            EventFilter(min_severity="critical"),
            "meter_offline",
            "ss-1",
            "raised",
            time(10),
            "severity",
        ),
        (
            EventFilter(min_severity="critical"),
            "voc_hourly_exceedance",
            "sl-1",
            "raised",
            time(10),
            None,
        ),
        (
            EventFilter(quiet_hours=QuietHours.parse("22:00-07:00")),
            "meter_offline",
            "ss-1",
            "raised",
            time(23),
            "quiet",
        ),
        (
            EventFilter(quiet_hours=QuietHours.parse("22:00-07:00")),
            "meter_offline",
            "ss-1",
            "raised",
            time(6, 59),
            "quiet",
        ),
        (
            EventFilter(quiet_hours=QuietHours.parse("22:00-07:00")),
            "meter_offline",
            "ss-1",
            "raised",
            time(7),
            None,
        ),
        # critical alerts go out even in quiet hours
        (
            EventFilter(quiet_hours=QuietHours.parse("22:00-07:00")),
            "voc_hourly_exceedance",
            "sl-1",
            "raised",
            time(2),
            None,
        ),
        (
            EventFilter(quiet_hours=QuietHours.parse("12:00-13:30")),
            "sensor_stuck",
            "sl-1",
            "raised",
            time(13),
            "quiet",
        ),
    ],
)
def test_decide(
    f: EventFilter, kind: str, plant: str, event: str, local: time, skipped: str | None
) -> None:
    at = datetime.combine(datetime(2026, 3, 2).date(), local, TZ)
    reason = decide(f, event, {"kind": kind, "plant": plant}, at)
    assert (reason is None) == (skipped is None)
    if skipped:
        assert skipped in str(reason)


def test_dingtalk_sign_matches_the_documented_recipe() -> None:
    ts = 1_700_000_000_000
    digest = hmac.new(SECRET.encode(), f"{ts}\n{SECRET}".encode(), hashlib.sha256).digest()
    assert dingtalk_sign(SECRET, ts) == urllib.parse.quote_plus(base64.b64encode(digest))


@pytest.mark.parametrize(
    ("status", "body", "ok", "retry"),
    [
        (200, {"errcode": 0, "errmsg": "ok"}, True, False),
        (200, {"errcode": 130101, "errmsg": "send too fast"}, False, True),
        (200, {"errcode": 310000, "errmsg": "sign not match"}, False, False),
        (200, None, False, True),
        (502, None, False, True),
        (404, None, False, False),
    ],
)
def test_read_answer(status: int, body: Any, ok: bool, retry: bool) -> None:
    assert read_answer(status, body)[:2] == (ok, retry)


def test_quiet_hours_need_a_range() -> None:
    with pytest.raises(ValueError, match="22:00-07:00"):
        QuietHours.parse("22:00")


def test_robots_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from api.robots.channel import robot_channels
    from api.settings import ApiSettings
    from ingest.kernel.registry import parse_registry

    robots = [
        {
            "name": "bureau",
            "kind": "dingtalk",
            "webhook": "https://oapi.dingtalk.com/robot/send?access_token=t",
            "secret": SECRET,
            "kinds": ["voc_hourly_exceedance"],
            "quiet_hours": "22:00-07:00",
        },
        {
            "name": "plants",
            "kind": "wecom",
            "webhook": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send",
            "secret": WECOM_KEY,
            "plants": ["sl-001"],
            "min_severity": "warning",
        },
    ]
    monkeypatch.setenv("PLANTWATCH_ROBOTS", json.dumps(robots))
    settings = ApiSettings(_env_file=None)  # type: ignore[call-arg]
    registry = parse_registry({"county": {"name": "松阳县"}, "plants": []})
    ding, wecom = robot_channels(settings, registry)
    assert (ding.name, ding.kind, ding.secret) == ("robot-bureau", "dingtalk", SECRET)
    assert ding.filter.quiet_hours == QuietHours(time(22), time(7))
    assert ding.filter.kinds == {"voc_hourly_exceedance"}
    assert wecom.url() == f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={WECOM_KEY}"
    assert wecom.filter.plants == {"sl-001"} and wecom.filter.min_severity == "warning"
    monkeypatch.setenv("PLANTWATCH_ROBOTS", json.dumps([{**robots[0], "quiet_hours": "22h"}]))
    with pytest.raises(ValueError, match="22:00-07:00"):
        ApiSettings(_env_file=None)  # type: ignore[call-arg]


def test_robot_credentials_never_reach_the_log(
    repo: AlertRepo, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    """Failed before the fix: httpx logged each request's URL, token and key in it, at INFO."""
    ding = channel("dingtalk", f"{receiver.url}/robot/send?access_token={TOKEN}", SECRET)
    with caplog.at_level("DEBUG"):
        assert Dispatcher(repo, ding, lambda: True).drain() == 2
        RobotChannel.close(ding)
    assert len(receiver.received) == 2
    assert "/robot/send?access_token=***" in caplog.text
    sign = receiver.received[0]["query"]["sign"][0]
    for secret in (TOKEN, SECRET, urllib.parse.quote_plus(sign)):
        assert secret not in caplog.text


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        ("POST https://oapi.dingtalk.com/robot/send?access_token=abc123 200", "access_token=***"),
        ("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a-91f6&x=1", "key=***&x=1"),
        ("?access_token=t&timestamp=17&sign=a%2Bb%3D", "access_token=***&timestamp=17&sign=***"),
        ("no url here", "no url here"),
    ],
)
def test_redact(text: str, redacted: str) -> None:
    assert redacted in redact(text)
    assert "abc123" not in redact(text) and "693a" not in redact(text)


def test_an_officers_comment_is_shown_as_written_never_as_markup() -> None:
    """Failed before the fix: the comment went into the group chat's markdown as it was."""
    event = {
        "event": "acknowledged",
        "at": T.isoformat(),
        "actor": "olga#2",
        "comment": "已处理 [点我](http://evil.example) @all\n### 假标题 <font color=red>x</font>",
        "alert": {"id": 7, "kind": "meter_offline", "plant": "ss-004", "meter": "gas-1"},
    }
    _, text = render(event, NAMES, "松阳县", TZ, "https://plantwatch.example.cn")
    line = next(line for line in text.splitlines() if line.startswith("- 处理人"))
    assert line == (
        "- 处理人：olga＃2，备注：已处理 ［点我］（http://evil.example） ＠all "
        "＃＃＃ 假标题 ＜font color=red＞x＜/font＞"
    )
    assert "http://evil.example)" not in text and "\n###" not in text
