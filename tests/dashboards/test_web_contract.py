"""The page's sample answers satisfy the API's documented schemas (`app.openapi()`).

The browser tests feed the page literal answers (tests/dashboards/web_samples.py); if the
API's shape changes, these fail before the page silently reads a shape that no longer exists.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from api.app import create_app
from api.settings import ApiSettings
from tests.dashboards import web_samples

NOW = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


@cache
def openapi() -> dict[str, Any]:
    settings = ApiSettings(admin_key=None, database_url="sqlite:///:memory:")
    return create_app(settings).openapi()


def validator(component: str) -> Draft202012Validator:
    """A validator for one component schema, resolving its `$ref`s inside the document."""
    doc = openapi()
    schema = {"$ref": f"#/components/schemas/{component}", "components": doc["components"]}
    return Draft202012Validator(schema)


@pytest.mark.parametrize(
    ("component", "answer"),
    [(c, a) for _, c, a in web_samples.samples(NOW)],
    ids=[name for name, _, _ in web_samples.samples(NOW)],
)
def test_sample_answer_matches_the_documented_schema(component: str, answer: Any) -> None:
    errors = sorted(validator(component).iter_errors(answer), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


def test_the_samples_name_the_schemas_their_routes_document() -> None:
    """Each sample's component is what its route answers with (so the test checks the route)."""
    paths = openapi()["paths"]

    def documented(path: str, method: str = "get") -> str:
        ref = paths[path][method]["responses"]["200"]["content"]["application/json"]["schema"]
        return str(ref["$ref"]).rsplit("/", 1)[-1]

    assert documented("/api/v1/plants/{plant}/usage") == "UsageAnswer"
    assert documented("/api/v1/plants/{plant}/voc") == "VocAnswer"
    assert documented("/api/v1/kpi/gas-share/history") == "GasShareHistoryAnswer"
    assert documented("/api/v1/alerts") == "AlertList"
    assert documented("/api/v1/alerts/{alert_id}/ack", "post") == "AlertView"


@pytest.mark.parametrize(
    ("component", "guessed"),
    [
        # The shapes the page used to guess at: a bare alert list, VOC keyed by pollutant,
        # history months without start or counts, usage rows without kgce or totals.
        ("AlertList", []),
        ("VocAnswer", {"plant": "sl-001", "stacks": [{"meter": "stack-1", "pollutants": {}}]}),
        ("GasShareHistoryAnswer", {"year": 2026, "goal": 0.5, "months": [{"month": "2026-01"}]}),
        ("UsageAnswer", {"plant": "ss-001", "intervals": [{"start": "x", "gas_m3": 1.0}]}),
    ],
)
def test_a_guessed_shape_is_refused(component: str, guessed: Any) -> None:
    with pytest.raises(ValidationError):
        validator(component).validate(guessed)
