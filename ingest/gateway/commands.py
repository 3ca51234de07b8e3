"""The command desk: sends queued commands to connected loggers and follows their answers.

The queue is the `hj212_commands` table (`audit.py`): officers' requests (through the
API), back-fills after a gap, clock checks and time settings all become rows, so a
restart loses none. One command per logger is in flight at a time; it is sent again
(same QN) when no answer comes within the timeout, and given up after the retries.
Every packet in and out is logged. What each logger last sent (minute and hour DataTime)
is loaded at start and written back every `SEEN_FLUSH_SECONDS` (`lastseen.py`), so a gap
spanning a restart is still found. A CN 1011 answer whose clock is off by more than the
threshold raises `logger_clock_drift` (an `hj212_event` point in the store for the alert
engine) and queues a CN 1012 time setting. One command per (MN, CN) is pending at a time:
a logger asking for time calibration (CN 1013) a thousand times queues one CN 1012 and logs
one request, not a thousand.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from ingest.gateway import audit, lastseen, planner, protocol
from ingest.gateway.checks import ControlPacket, DataPacket
from ingest.gateway.server import Connection, Gateway
from ingest.kernel import hj212
from ingest.kernel.store import encode_point
from ingest.settings import GatewaySettings
from ingest.sql import open_engine

log = logging.getLogger(__name__)

TICK_SECONDS = 0.5
SEEN_FLUSH_SECONDS = 2.0
EVENT_MEASUREMENT = "hj212_event"
CLOCK_DRIFT = "logger_clock_drift"
BY_GATEWAY = "hj212-gateway"


@dataclass
class _InFlight:
    command_id: int
    cn: str
    qn: str
    raw: bytes
    attempts: int
    deadline: float


class CommandDesk:
    def __init__(self, gateway: Gateway, settings: GatewaySettings, engine: Engine) -> None:
        self.gateway = gateway
        self.settings = settings
        self.engine = engine
        self.tally = gateway.tally
        self._sql = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hj212-sql")
        self._inflight: dict[str, _InFlight] = {}  # mn -> the command it is working on
        self._last_seen: dict[lastseen.Key, datetime] = {}  # (mn, level) -> DataTime
        self._seen_changed: dict[lastseen.Key, datetime] = {}  # not yet written to SQL
        self._seen_flushed = time.monotonic()
        self._clock_checked: dict[str, float] = {}  # mn -> monotonic time of last 1011
        self._results: dict[int, dict[str, Any]] = {}  # command id -> what answers said
        self._pending: set[tuple[str, str]] = set()  # (mn, cn) queued or in flight
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._last_seen.update(await self._db(lastseen.load, self.engine))
        resumed = await self._db(audit.resume, self.engine)
        if resumed:
            log.warning("commands resumed after a restart", extra={"count": resumed})
        for row in await self._db(audit.requested, self.engine):
            self._pending.add((row["mn"], row["cn"]))
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self._flush_seen()
        self._sql.shutdown(wait=True)

    def _flush_seen(self) -> None:
        self._seen_flushed = time.monotonic()
        if self._seen_changed:
            changed, self._seen_changed = self._seen_changed, {}
            self._submit(lastseen.save, self.engine, changed, _ms(self.gateway.clock()))

    async def _db(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._sql, lambda: fn(*args, **kwargs))

    def _submit(self, fn: Any, *args: Any, **kwargs: Any) -> None:
        """Fire-and-forget SQL, in order, off the event loop."""
        self._sql.submit(self._guarded, fn, *args, **kwargs)

    @staticmethod
    def _guarded(fn: Any, *args: Any, **kwargs: Any) -> None:
        try:
            fn(*args, **kwargs)
        except Exception:
            log.exception("command log write failed")

    # -- what the gateway tells us -------------------------------------------------------

    def on_published(self, data: DataPacket, conn: Connection) -> None:
        packet = data.packet
        mn = packet.mn
        checked = self._clock_checked.get(mn)
        interval_s = self.settings.hj212_clock_check_interval_seconds
        if checked is None or time.monotonic() - checked >= interval_s:
            self._clock_checked[mn] = time.monotonic()
            self._queue(data.plant.id, data.meter.id, mn, protocol.CN_GET_TIME, {}, "clock check")
        level = planner.LEVEL_OF_CN.get(packet.cn)
        if level is None or packet.data_time is None:
            return
        try:
            data_time = hj212.parse_data_time(packet.data_time, self.settings.timezone)
        except hj212.Hj212Error:
            return
        key = (mn, level)
        last = self._last_seen.get(key)
        if last is None or data_time > last:
            self._last_seen[key] = self._seen_changed[key] = data_time
        fill = planner.backfill_for(
            packet.cn,
            last,
            data_time,
            timedelta(seconds=self.settings.hj212_backfill_min_gap_seconds),
            timedelta(hours=self.settings.hj212_backfill_max_hours),
        )
        if fill is not None:
            tz = self.settings.timezone
            params = {
                "BeginTime": protocol.local_text(fill.begin, tz),
                "EndTime": protocol.local_text(fill.end, tz),
            }
            reason = f"gap in CN {packet.cn} data from {params['BeginTime']} to {params['EndTime']}"
            self._queue(data.plant.id, data.meter.id, mn, fill.cn, params, reason)

    def on_control(self, control: ControlPacket, conn: Connection) -> None:
        packet, mn = control.packet, control.packet.mn
        if packet.cn == protocol.CN_HEARTBEAT:
            return
        if (
            packet.cn == protocol.CN_TIME_CALIBRATION_REQUEST
            and (mn, protocol.CN_SET_TIME) in self._pending
        ):
            self.tally.add("commands_not_queued")  # a time setting is on its way already
            return
        now_ms = _ms(self.gateway.clock())
        current = self._inflight.get(mn)
        command_id = current.command_id if current and current.qn == packet.qn else None
        self._submit(
            audit.log_packet, self.engine, command_id, mn, packet.qn, packet.cn, "in",
            control.raw, now_ms,
        )  # fmt: skip
        if packet.cn == protocol.CN_TIME_CALIBRATION_REQUEST:
            self._queue(
                control.plant.id, control.meter.id, mn, protocol.CN_SET_TIME, {},
                "the logger asked for time calibration (CN 1013)",
            )  # fmt: skip
            return
        if current is None or command_id is None:
            return
        self.tally.add("command_answers")
        cp = protocol.cp_fields(control.raw)
        if packet.cn == protocol.CN_ANSWER_REQUEST:
            if cp.get("QnRtn") == protocol.QN_RETURN_READY:
                current.deadline = time.monotonic() + self.settings.hj212_command_timeout_seconds
                self._submit(audit.mark, self.engine, command_id, status="accepted")
            else:
                self._finish(mn, "refused", {"QnRtn": cp.get("QnRtn", "")})
        elif packet.cn == protocol.CN_GET_TIME and "SystemTime" in cp:
            self._clock_answer(control, current, cp["SystemTime"])
        elif packet.cn == protocol.CN_ANSWER_RESULT:
            exe = cp.get("ExeRtn", "")
            ok = exe in (protocol.EXE_RETURN_SUCCESS, protocol.EXE_RETURN_NO_DATA)
            self._finish(mn, "done" if ok else "failed", {"ExeRtn": exe})

    def _clock_answer(self, control: ControlPacket, current: _InFlight, text: str) -> None:
        received = self.gateway.clock()
        try:
            logger_time = hj212.parse_data_time(text, self.settings.timezone)
        except hj212.Hj212Error as exc:
            self._finish(control.packet.mn, "failed", {"error": str(exc)})
            return
        drift = planner.drift_seconds(logger_time, received)
        self._results[current.command_id] = {"SystemTime": text, "drift_seconds": drift}
        threshold = self.settings.hj212_clock_drift_threshold_seconds
        if abs(drift) > threshold:
            plant, meter = control.plant.id, control.meter.id
            message = (
                f"the data logger of {plant}/{meter} (MN {control.packet.mn}) runs "
                f"{abs(drift):.0f} s {'ahead' if drift > 0 else 'behind'}; threshold {threshold:.0f} s"
            )
            log.warning(CLOCK_DRIFT, extra={"mn": control.packet.mn, "drift_seconds": drift})
            line = encode_point(
                EVENT_MEASUREMENT,
                {"plant": plant, "meter": meter, "kind": CLOCK_DRIFT},
                {
                    "drift_seconds": float(drift),
                    "threshold_seconds": float(threshold),
                    "message": message,
                },
                received,
            )
            if self.gateway.store is not None:
                self._submit(self.gateway.store.write_lines, [line])
            self._queue(
                plant, meter, control.packet.mn, protocol.CN_SET_TIME, {},
                f"clock drift {drift:+.0f} s",
            )  # fmt: skip

    # -- the queue -----------------------------------------------------------------------

    def _queue(
        self, plant: str, meter: str, mn: str, cn: str, params: dict[str, str], reason: str
    ) -> None:
        if (mn, cn) in self._pending:
            self.tally.add("commands_not_queued")
            return
        self._pending.add((mn, cn))
        self._submit(
            audit.request, self.engine, plant=plant, meter=meter, mn=mn, cn=cn, params=params,
            reason=reason, requested_by=BY_GATEWAY, now_ms=_ms(self.gateway.clock()),
        )  # fmt: skip
        loop = self._loop
        if loop is not None:  # send it as soon as the row is in
            self._sql.submit(lambda: None).add_done_callback(
                lambda _f: loop.call_soon_threadsafe(self._wake.set)
            )

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), TICK_SECONDS)
            self._wake.clear()
            try:
                self._check_timeouts()
                await self._send_requested()
                if time.monotonic() - self._seen_flushed >= SEEN_FLUSH_SECONDS:
                    self._flush_seen()
            except Exception:
                log.exception("command desk tick failed")

    async def _send_requested(self) -> None:
        for row in await self._db(audit.requested, self.engine):
            mn = row["mn"]
            if mn in self._inflight or mn not in self.gateway.by_mn:
                continue
            params = json.loads(row["params"] or "{}")
            now = self.gateway.clock()
            qn = protocol.qn_at(now, self.settings.timezone)
            pw = self._pw_of(mn)
            command = self._build(row["cn"], qn, mn, pw, params, now)
            version = self.gateway.version_of.get(mn, hj212.VERSION_2017)
            raw = replace(command, version=version).encode(self._key_of(mn))
            self._inflight[mn] = _InFlight(row["id"], row["cn"], qn, raw, row["attempts"], 0.0)
            self._results.setdefault(row["id"], {})
            self._transmit(mn)

    def _build(
        self, cn: str, qn: str, mn: str, pw: str, params: dict[str, str], now: datetime
    ) -> protocol.Command:
        if cn == protocol.CN_SET_TIME:
            return protocol.set_time(qn, mn, pw, now, self.settings.timezone)
        return protocol.Command(qn, cn, mn, pw, params)

    def _pw_of(self, mn: str) -> str:
        found = self.gateway.rules.registry.stack_by_mn(mn)
        return (found[1].hj212_pw if found else None) or "123456"

    def _key_of(self, mn: str) -> bytes | None:
        """The stack's current SM4 key: commands whose CP the standard encrypts use it."""
        found = self.gateway.rules.registry.stack_by_mn(mn)
        keys = found[1].sm4_keys if found else ()
        return keys[0] if keys else None

    def _transmit(self, mn: str) -> None:
        current = self._inflight[mn]
        current.attempts += 1
        current.deadline = time.monotonic() + self.settings.hj212_command_timeout_seconds
        now_ms = _ms(self.gateway.clock())
        if not self.gateway.send_to(mn, current.raw):
            return  # disconnected: the timeout sends it again (or gives up)
        self.tally.add("commands_sent")
        self._submit(
            audit.mark, self.engine, current.command_id, status="sent", qn=current.qn,
            attempts=current.attempts, sent_at=now_ms,
        )  # fmt: skip
        self._submit(
            audit.log_packet, self.engine, current.command_id, mn, current.qn, current.cn,
            "out", current.raw, now_ms,
        )  # fmt: skip

    def _check_timeouts(self) -> None:
        now = time.monotonic()
        for mn, current in list(self._inflight.items()):
            if now < current.deadline:
                continue
            self.tally.add("command_timeouts")
            if current.attempts > self.settings.hj212_command_retries:
                self._finish(mn, "timeout", {"attempts": current.attempts})
            else:
                self._transmit(mn)

    def _finish(self, mn: str, status: str, result: dict[str, Any]) -> None:
        current = self._inflight.pop(mn, None)
        if current is None:
            return
        self._pending.discard((mn, current.cn))
        full = self._results.pop(current.command_id, {})
        full.update(result)
        self._submit(
            audit.mark, self.engine, current.command_id, status=status, result=full,
            finished_at=_ms(self.gateway.clock()),
        )  # fmt: skip
        self._wake.set()


def _ms(ts: datetime) -> int:
    return int(ts.astimezone(UTC).timestamp() * 1000)


def attach_commands(gateway: Gateway, settings: GatewaySettings) -> CommandDesk:
    """Wire a command desk to the gateway's packet stream."""
    desk = CommandDesk(
        gateway, settings, open_engine(settings.database_url, audit.METADATA, lastseen.METADATA)
    )
    gateway.data_listeners.append(desk)
    gateway.control_listener = desk
    return desk
