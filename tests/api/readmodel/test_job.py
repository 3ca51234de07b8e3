"""The read model's loop: each domain passes on its own, so one long roll holds up no other."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any, cast

from api.readmodel.job import ReadModelJob
from tests.support import wait_until


def test_a_long_roll_of_one_domain_does_not_hold_up_another() -> None:
    """make run: a month of VOC minutes back-filled kept the one loop in VOC's roll while the
    officer's KPI stayed all `unknown`; fuel passes must go on meanwhile."""
    voc, fuel = SimpleNamespace(name="voc"), SimpleNamespace(name="fuel")
    job = ReadModelJob(cast(Any, None), cast(Any, [voc, fuel]), "Asia/Shanghai")
    release = threading.Event()
    fuel_passes: list[int] = []

    def pass_domain(domain: Any) -> None:
        if domain is voc:
            release.wait(30)  # a roll that lasts until released
        else:
            fuel_passes.append(1)

    job.pass_domain = pass_domain  # type: ignore[method-assign,assignment]
    stop = threading.Event()
    loop = threading.Thread(target=job.run_forever, args=(stop, 0.01))
    loop.start()
    try:
        assert wait_until(lambda: len(fuel_passes) >= 3, 10), fuel_passes
    finally:
        stop.set()
        release.set()
        loop.join(10)
    assert not loop.is_alive()
