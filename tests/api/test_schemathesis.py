"""Property-based run of every operation in the OpenAPI schema: no server errors, ever."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import schemathesis

# Import the OpenAPI loader now, at collection: compiling it later, deep inside a test's
# stack, trips CPython 3.11.7's "AST constructor recursion depth mismatch" (gh-106905).
import schemathesis.specs.openapi.schemas
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.app import create_app
from api.settings import ApiSettings
from scripts.devstack import Server
from tests.api.support import ADMIN
from tests.builders import FUEL_METERS, registry_toml

pytestmark = pytest.mark.integration

TOML = registry_toml(
    {"ss-a": ("stainless_steel", FUEL_METERS), "sl-b": ("synthetic_leather", [("stack-1", "voc")])}
)
EXAMPLES_PER_RUN = 15
# Random path parameters almost never name a registered plant: half the runs pin real ones.
REAL_PATH = {"plant": "ss-a", "meter": "gas-1"}


def test_no_server_errors(make_settings: Callable[..., ApiSettings], mosquitto: Server) -> None:
    # Driven by hand (not `from_fixture`, which breaks on pytest 9): Hypothesis runs per
    # operation of the live schema, valid and invalid input, against the app in-process.
    app = create_app(make_settings(TOML, mqtt_port=mosquitto.port))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    # The SSE stream never ends by design; tests/api/alerts/test_e2e.py exercises it.
    operations = [
        op
        for op in (result.ok() for result in schema.get_all_operations())
        if not op.path.endswith("/stream")
    ]
    assert len(operations) >= 10
    failures: list[str] = []
    statuses: set[int] = set()

    for operation in operations:
        names = {p.name for p in operation.path_parameters}
        pinned = {k: v for k, v in REAL_PATH.items() if k in names}
        strategies = [
            operation.as_strategy(mode, **({"path_parameters": path} if path else {}))
            for mode in schemathesis.GenerationMode
            for path in ([None, pinned] if pinned else [None])
        ]

        @given(case=st.one_of(strategies))
        @settings(
            max_examples=EXAMPLES_PER_RUN * len(strategies),
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: Any) -> None:
            response = case.call(headers={**(case.headers or {}), **ADMIN})
            statuses.add(response.status_code)
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.formatted_path} {case.query} -> "
                    f"{response.status_code} {response.text[:200]}"
                )

        run()
    assert failures == []
    # The run reached real plants, not just refusals (a 202 push needs a fully valid random
    # reading, too rare to require; tests/api/test_push.py covers it).
    assert {200, 404, 422} <= statuses
