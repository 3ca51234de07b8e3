"""Every JSON route documents its answer with a response model; errors map in one table."""

from __future__ import annotations

import dataclasses

import pytest

from api import schemas
from api.alerts.model import AlertConflict, AlertNotFound
from api.app import create_app
from api.errors import PayloadTooLarge, status_of
from api.fuel.rules import FirmRow
from api.keys import InvalidKeyRequest, UnknownKey
from api.push import PushRefused, PushUnavailable
from api.ranges import RangeError
from api.routes.kpi import fuel_totals
from api.routes.usage import usage_totals
from api.settings import ApiSettings
from ingest.kernel.errors import InvalidPayload, RegistryError, StoreRejected, StoreUnavailable
from ingest.kernel.pipeline import Refused

# Routes whose answer is not one JSON document.
NOT_JSON = {"/api/v1/alerts/stream", "/api/v1/reports/monthly"}


def test_every_json_route_documents_its_answer_and_errors() -> None:
    doc = create_app(ApiSettings(admin_key=None, database_url="sqlite:///:memory:")).openapi()
    operations = [
        (path, method, op)
        for path, methods in doc["paths"].items()
        for method, op in methods.items()
        if path not in NOT_JSON
    ]
    assert len(operations) >= 15
    for path, method, op in operations:
        ok = [s for s in op["responses"] if s.startswith("2")]
        assert len(ok) == 1, (method, path)
        schema = op["responses"][ok[0]]["content"]["application/json"]["schema"]
        # A named component: a pydantic response model, not an untyped object.
        assert schema.get("$ref", "").startswith("#/components/schemas/"), (method, path, schema)
        if path.startswith("/api/v1/"):
            assert {"401", "403", "422"} <= set(op["responses"]), (method, path)


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (AlertNotFound("no alert 3"), 404),
        (UnknownKey("no key with id 3"), 404),
        (AlertConflict("already resolved"), 409),
        (PayloadTooLarge("too big"), 413),
        (RangeError("'end' must be after 'start'"), 422),
        (InvalidKeyRequest("bad role"), 422),
        (PushRefused(Refused("ss-001", "invalid_payload", "not JSON")), 422),
        (InvalidPayload("not JSON"), 422),
        (StoreRejected("400"), 502),
        (PushUnavailable("no PUBACK"), 503),
        (StoreUnavailable("refused"), 503),
        (RegistryError("bad file"), 500),  # a server fault, never the client's
        (ValueError("a bug"), 500),
    ],
)
def test_the_table_maps_each_error_of_the_tree(exc: Exception, status: int) -> None:
    assert status_of(exc) == status


def test_a_refused_push_keeps_the_collectors_code() -> None:
    exc = PushRefused(Refused("ss-001", "unknown_source", "meter gas-9 is not registered"))
    assert (str(exc), exc.code) == ("meter gas-9 is not registered", "unknown_source")


def test_the_kpi_rows_answer_is_the_fuel_cores_row() -> None:
    """One per-firm row: the response model names exactly the fuel core's fields."""
    assert list(schemas.FirmRow.model_fields) == [f.name for f in dataclasses.fields(FirmRow)]


def test_kpi_totals_are_the_rows_sums_and_the_fraction_of_the_sums() -> None:
    rows = [
        FirmRow("ss-a", "A", "gas", 1.0, 100.0, 0.0, 121.43, 0.0, 216.22, 50.0, ""),
        FirmRow("ss-b", "B", "coal", 0.0, 0.0, 100.0, 0.0, 71.43, 190.03, 0.0, ""),
        FirmRow("ss-c", "C", "idle", None, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, "no fuel"),
    ]
    totals = fuel_totals(rows)
    assert (totals.gas_m3, totals.coal_kg, totals.co2_avoided_kg) == (100.0, 100.0, 50.0)
    assert totals.gas_fraction == pytest.approx(121.43 / (121.43 + 71.43))
    assert fuel_totals(rows[2:]).gas_fraction is None


def test_usage_totals_add_the_intervals() -> None:
    row = {
        "gas_m3": 10.0,
        "coal_kg": 5.0,
        "gas_kgce": 12.143,
        "coal_kgce": 3.5715,
        "kgce": 15.7145,
        "co2_kg": 31.1,
        "gas_readings": 4,
        "coal_readings": 4,
        "resets": 1,
        "implausible_steps": 0,
    }
    totals = usage_totals([row, row])
    assert (totals.gas_m3, totals.resets, totals.gas_readings) == (20.0, 2, 8)
    assert totals.gas_fraction == pytest.approx(12.143 / 15.7145)
