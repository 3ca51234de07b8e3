"""VOC compliance on ClickHouse answers as on InfluxDB (issue 26: the province's VOC month
answered 502 `store_rejected` on ClickHouse: the rolled-up hours were read as "every field",
which ClickHouse does not answer).

The crafted readings of test_influx.py, written to both engines (ClickHouse: chdb in-process,
or the server `PLANTWATCH_TEST_CLICKHOUSE_URL` names), rolled up on each; the answers from
rollups equal InfluxDB's raw answer.
"""

from __future__ import annotations

import os
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from api.voc.rollup import voc_job
from ingest.kernel.clickhouse import ChdbRunner, ClickHouseStore, HttpRunner, Layout
from ingest.kernel.points import reading_lines
from ingest.kernel.registry import load_registry
from ingest.kernel.store import InfluxStore
from tests.api.voc.test_influx import (
    H0,
    _answer,
    _registry,
    crafted,
    logger_only,
    voc_store,  # noqa: F401 (the fixture)
)

pytestmark = pytest.mark.integration


def test_rolled_up_hours_on_clickhouse_answer_like_influxdb(
    voc_store: InfluxStore,  # noqa: F811
    tmp_path: Path,
) -> None:
    pytest.importorskip("chdb")
    raw = _answer(voc_store, tmp_path)
    registry = load_registry(_registry(tmp_path))
    lines = []
    for (plant_id, meter_id), readings in crafted().items():
        plant = registry.plant(plant_id)
        assert plant is not None
        meter = plant.meter(meter_id)
        assert meter is not None
        lines += reading_lines(plant, meter, readings)
    logger = registry.plant("sl-003")
    assert logger is not None
    for measurement, readings in logger_only().items():
        lines += reading_lines(logger, logger.meters[0], readings, measurement)
    url = os.environ.get("PLANTWATCH_TEST_CLICKHOUSE_URL")
    name = f"t_voc_{uuid.uuid4().hex[:8]}"
    with ClickHouseStore(HttpRunner(url) if url else ChdbRunner(), Layout(name)) as ch:
        ch.create_database()
        try:
            ch.write_lines(lines)
            assert repr(_answer(ch, tmp_path)) == repr(raw)  # raw minutes
            voc_job(ch, registry, clock=lambda: H0 + timedelta(days=1)).run_pass()
            assert repr(_answer(ch, tmp_path)) == repr(raw)  # rolled-up hours
        finally:
            ch.runner.run(f"DROP DATABASE IF EXISTS {name}")
