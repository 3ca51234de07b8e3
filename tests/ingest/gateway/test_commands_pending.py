"""One pending command per (MN, CN): a logger cannot fill the command queue (issue 22)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

from sqlalchemy import func, select

from ingest.gateway import audit, lastseen
from ingest.gateway.checks import ControlPacket
from ingest.gateway.commands import CommandDesk
from ingest.gateway.stats import Tally
from ingest.kernel import hj212
from ingest.kernel.registry import load_registry
from ingest.settings import GatewaySettings
from ingest.sql import open_engine
from tests.ingest.gateway.helpers import MN, PW, registry

REQUESTS = 3000


def test_a_thousand_time_calibration_requests_queue_one_time_setting(tmp_path: Path) -> None:
    """Failed before the fix: every CN 1013 queued a new CN 1012 and two SQL rows
    (3,000 queued for one MN)."""
    reg = load_registry(registry(tmp_path / "r.toml"))
    plant, meter = reg.stack_by_mn(MN) or (None, None)
    assert plant is not None and meter is not None
    settings = GatewaySettings(registry=tmp_path / "r.toml")
    engine = open_engine(f"sqlite:///{tmp_path}/commands.db", audit.METADATA, lastseen.METADATA)
    gateway = SimpleNamespace(  # what the desk uses of a gateway; the logger is not connected
        tally=Tally(), clock=lambda: datetime.now(UTC), by_mn={}, store=None,
        rules=SimpleNamespace(registry=reg), send_to=lambda mn, data: False,
    )  # fmt: skip
    desk = CommandDesk(gateway, settings, engine)  # type: ignore[arg-type]
    raws = [
        hj212.frame(f"QN={i};ST=31;CN=1013;PW={PW};MN={MN};Flag=5;CP=&&&&") for i in range(REQUESTS)
    ]

    async def main() -> None:
        await desk.start()
        for raw in raws:
            desk.on_control(ControlPacket(plant, meter, hj212.decode_packet(raw), raw), None)  # type: ignore[arg-type]
        await desk.stop()

    asyncio.run(main())
    with engine.connect() as conn:
        queued = conn.execute(select(func.count()).select_from(audit.commands)).scalar()
        logged = conn.execute(select(func.count()).select_from(audit.exchanges)).scalar()
    assert queued == 1
    assert logged == 1  # the first request is in the log; the rest only counted
    assert gateway.tally.get("commands_not_queued") == REQUESTS - 1
