"""The PostgreSQL fold (reports/fold_sql.py) adds exactly what the Python fold adds.

Two waves receive identical random responses; one is folded by `publication._fold`, the other by
`fold_sql`, and every summary table is compared row by row (counts exactly, float sums up to
the order of addition). Runs only on PostgreSQL: CI runs the suite on both engines.
"""

import pytest
from django.db import connection

from reports import fold_sql as fold_sql_module
from reports import publication
from reports.fold_sql import fold_sql, supports_sql_fold
from reports.models import SummaryGroup
from surveys.models import Response
from tests.reports.fold_data import assert_same_summaries, twin_waves

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="fold_sql is the PostgreSQL fast path; set DATABASE_URL=postgres://... to run it",
    ),
]


@pytest.mark.parametrize("seed", [1, 2])
def test_sql_fold_adds_exactly_what_the_python_fold_adds(seed):
    python_wave, sql_wave = twin_waves(seed, 100)
    questions = publication._question_info(python_wave)
    python_ids = list(Response.objects.for_wave(python_wave).values_list("pk", flat=True))
    sql_ids = list(Response.objects.for_wave(sql_wave).values_list("pk", flat=True))
    # Two batches each, so the second one adds to existing rows (ON CONFLICT, reliability).
    publication._fold(python_wave, python_ids[:50], questions)
    publication._fold(python_wave, python_ids[50:], questions)
    fold_sql(wave=sql_wave, response_ids=sql_ids[:50])
    fold_sql(wave=sql_wave, response_ids=sql_ids[50:])
    assert_same_summaries(python_wave, sql_wave)


def test_without_ids_the_sql_fold_takes_every_unpublished_response_of_the_wave():
    python_wave, sql_wave = twin_waves(4, 60)
    # Already published responses are not folded again.
    first = list(Response.objects.for_wave(sql_wave).values_list("pk", flat=True)[:20])
    fold_sql(wave=sql_wave, response_ids=first)
    Response.objects.filter(pk__in=first).update(published=True)
    fold_sql(wave=sql_wave)
    ids = list(Response.objects.for_wave(python_wave).values_list("pk", flat=True))
    publication._fold(python_wave, ids, publication._question_info(python_wave))
    assert_same_summaries(python_wave, sql_wave)


def test_an_empty_batch_changes_nothing():
    _python_wave, sql_wave = twin_waves(5, 5)
    fold_sql(wave=sql_wave, response_ids=[])
    assert not SummaryGroup.objects.filter(wave=sql_wave).exists()


def test_the_pseudo_item_is_the_publication_one():
    assert supports_sql_fold()
    assert fold_sql_module.ANY_EXPERIENCED == publication.ANY_EXPERIENCED
