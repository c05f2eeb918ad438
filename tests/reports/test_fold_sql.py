"""The PostgreSQL fold (reports/fold_sql.py) adds exactly what the Python fold adds.

Two waves receive identical random responses; one is folded by `publication._fold`, the other by
`fold_sql`, and every summary table is compared row by row (counts exactly, float sums up to
the order of addition). Runs only on PostgreSQL: CI runs the suite on both engines.
"""

import datetime as dt
import random

import pytest
from django.db import connection
from django.utils import timezone

from reports import fold_sql as fold_sql_module
from reports import publication
from reports.fold_sql import fold_sql, supports_sql_fold
from reports.models import ReliabilitySum, SummaryDimension, SummaryGroup, SummaryItem
from surveys import services
from surveys.models import Question, Response, RoleLevel, TenureBand, Wave
from tests.factories import build_tree

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="fold_sql is the PostgreSQL fast path; set DATABASE_URL=postgres://... to run it",
    ),
]

KEY = ["unit_id", "role_lo", "role_hi", "tenure", "demo_question", "demo_value"]


def _random_answer(rng: random.Random, question: Question):
    """Any stored value a question can hold, skipped now and then: half-answered dimensions,
    reverse-scored items, 'prefer not to say', several choices of a multiple-choice item."""
    if rng.random() < 0.25:
        return None
    if question.kind in ("agree5", "freq5"):
        return rng.randint(1, 5)
    if question.kind == "yesno":
        return rng.choice([1, 2, 9])
    if question.kind == "scale11":
        return rng.randint(0, 10)
    values = [int(c["value"]) for c in question.choices]
    if question.kind == "multi":
        return rng.sample(values, rng.randint(1, min(3, len(values))))
    if question.kind == "single":
        return rng.choice(values)
    return None


def _respondents(rng: random.Random, units, questions, n: int):
    roles = list(RoleLevel.objects.order_by("rank"))
    tenures = [None, *TenureBand.objects.order_by("rank")]
    people = []
    for _ in range(n):
        low = rng.randrange(len(roles))
        high = low + 1 if rng.random() < 0.15 and low + 1 < len(roles) else low
        attributes = services.Attributes(
            unit=rng.choice(units),
            role_level=roles[low],
            role_level_to=roles[high] if high != low else None,
            tenure_band=rng.choice(tenures),
        )
        pairs = []
        for question in questions:
            value = _random_answer(rng, question)
            for v in value if isinstance(value, list) else [value]:
                if v is not None:
                    pairs.append((question.pk, v))
        people.append((attributes, pairs))
    return people


def _wave(instrument, root, name: str) -> Wave:
    now = timezone.now()
    wave = Wave.objects.create(
        name=name,
        instrument=instrument,
        opens_at=now - dt.timedelta(days=1),
        closes_at=now + dt.timedelta(days=10),
        state=Wave.State.OPEN,
    )
    wave.units.add(root)
    return wave


def _rows(model, wave: Wave, extra: list[str], values: list[str]) -> dict:
    return {
        tuple(row[: -len(values)]): row[-len(values) :]
        for row in model.objects.filter(wave=wave).values_list(*KEY, *extra, *values)
    }


def _assert_same_summaries(python_wave: Wave, sql_wave: Wave) -> None:
    for model, extra, values in (
        (SummaryGroup, [], ["respondents"]),
        (SummaryItem, ["question_id", "value"], ["count"]),
        (SummaryDimension, ["dimension_id"], ["n", "total", "total_sq"]),
    ):
        expected = _rows(model, python_wave, extra, values)
        actual = _rows(model, sql_wave, extra, values)
        assert expected, f"no {model.__name__} rows: the test data is empty"
        assert set(actual) == set(expected), model.__name__
        for key, want in expected.items():
            got = actual[key]
            assert got[0] == want[0], (model.__name__, key)  # counts: exactly
            assert list(got[1:]) == pytest.approx(list(want[1:]), rel=1e-12), key
    expected = {
        r.dimension_id: r for r in ReliabilitySum.objects.filter(wave=python_wave).order_by("pk")
    }
    actual = {r.dimension_id: r for r in ReliabilitySum.objects.filter(wave=sql_wave)}
    assert set(actual) == set(expected) and expected
    for dimension_id, want in expected.items():
        got = actual[dimension_id]
        assert got.n == want.n
        assert got.item_sums == pytest.approx(want.item_sums)
        assert got.item_sumsq == pytest.approx(want.item_sumsq)
        assert (got.total_sum, got.total_sumsq) == pytest.approx((want.total_sum, want.total_sumsq))


def _twin_waves(seed: int, n: int):
    """Two waves holding the same random responses across a three-level tree."""
    rng = random.Random(seed)
    instrument = services.load_default_instrument()
    units = build_tree(3, 3, prefix=f"F{seed}")
    questions = [
        q
        for q in services.instrument_questions(instrument_id=instrument.pk)
        if q.kind != Question.Kind.TEXT
    ]
    people = _respondents(rng, units, questions, n)
    python_wave = _wave(instrument, units[0], "python")
    sql_wave = _wave(instrument, units[0], "sql")
    for wave in (python_wave, sql_wave):
        services.bulk_store_responses(wave=wave, responses=people)
    return python_wave, sql_wave


@pytest.mark.parametrize("seed", [1, 2])
def test_sql_fold_adds_exactly_what_the_python_fold_adds(seed):
    python_wave, sql_wave = _twin_waves(seed, 100)
    questions = publication._question_info(python_wave)
    python_ids = list(Response.objects.for_wave(python_wave).values_list("pk", flat=True))
    sql_ids = list(Response.objects.for_wave(sql_wave).values_list("pk", flat=True))
    # Two batches each, so the second one adds to existing rows (ON CONFLICT, reliability).
    publication._fold(python_wave, python_ids[:50], questions)
    publication._fold(python_wave, python_ids[50:], questions)
    fold_sql(wave=sql_wave, response_ids=sql_ids[:50])
    fold_sql(wave=sql_wave, response_ids=sql_ids[50:])
    _assert_same_summaries(python_wave, sql_wave)


def test_without_ids_the_sql_fold_takes_every_unpublished_response_of_the_wave():
    python_wave, sql_wave = _twin_waves(4, 60)
    # Already published responses are not folded again.
    first = list(Response.objects.for_wave(sql_wave).values_list("pk", flat=True)[:20])
    fold_sql(wave=sql_wave, response_ids=first)
    Response.objects.filter(pk__in=first).update(published=True)
    fold_sql(wave=sql_wave)
    ids = list(Response.objects.for_wave(python_wave).values_list("pk", flat=True))
    publication._fold(python_wave, ids, publication._question_info(python_wave))
    _assert_same_summaries(python_wave, sql_wave)


def test_an_empty_batch_changes_nothing():
    _python_wave, sql_wave = _twin_waves(5, 5)
    fold_sql(wave=sql_wave, response_ids=[])
    assert not SummaryGroup.objects.filter(wave=sql_wave).exists()


def test_the_pseudo_item_is_the_publication_one():
    assert supports_sql_fold()
    assert fold_sql_module.ANY_EXPERIENCED == publication.ANY_EXPERIENCED
