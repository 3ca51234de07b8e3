"""Every word list an answer documents (a `Literal` of api/schemas.py) is its home's list.

The schemas spell each vocabulary out so that /docs shows the words; the rules own them.
A word added to a rule and not to the answer (or the reverse) fails here, not in a
client that meets an undocumented value."""

from __future__ import annotations

import typing
from collections.abc import Iterable

import pytest

from api import auth, schemas
from api.alerts import model as alerts
from api.alerts import rules as alert_rules
from api.records import model as records
from api.voc import rules as voc
from ingest.kernel import registry
from ingest.kernel.catalogue import FIRM_STATUSES, LANGS


def words(model: type[schemas.Model], field: str) -> set[str]:
    return set(typing.get_args(model.model_fields[field].annotation))


@pytest.mark.parametrize(
    ("documented", "home"),
    [
        (set(typing.get_args(schemas.FirmStatus)), FIRM_STATUSES),
        (set(typing.get_args(schemas.Sector)), registry.SECTORS),
        (words(schemas.MeterView, "kind"), registry.METER_KINDS),
        (
            words(schemas.IngestView, "state"),
            (alert_rules.NORMAL, alert_rules.LOADING, alert_rules.STALLED),
        ),
        (words(schemas.RecordAnswer, "kind"), records.KINDS),
        (
            words(schemas.VocHour, "status"),
            (voc.VALID, voc.INSUFFICIENT, voc.STOPPED, voc.PENDING, voc.MARKED),
        ),
        (words(schemas.KeyView, "role"), auth.ROLES),
        (words(schemas.AlertView, "status"), alerts.STATUSES),
        (words(schemas.AlertView, "lang"), LANGS),
    ],
    ids=[
        "firm status",
        "sector",
        "meter kind",
        "ingest state",
        "record kind",
        "VOC hour status",
        "role",
        "alert status",
        "language",
    ],
)
def test_the_answer_documents_exactly_the_rules_words(
    documented: set[str], home: Iterable[str]
) -> None:
    assert documented == set(home)
