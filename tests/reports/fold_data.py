"""Random responses stored in twin waves, and the comparison of their summary rows: for the
tests that check one way of counting against another (`fold_sql`, the benchmark's numpy
summaries) with the Python fold as the reference."""

import random

import pytest

from reports.models import ReliabilitySum, SummaryDimension, SummaryGroup, SummaryItem
from surveys import services
from surveys.models import Question, RoleLevel, TenureBand, Wave
from tests.factories import WaveFactory, build_tree

KEY = ["unit_id", "role_lo", "role_hi", "tenure", "demo_question", "demo_value"]


def random_answer(rng: random.Random, question: Question):
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


def respondents(rng: random.Random, units, questions, n: int):
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
            value = random_answer(rng, question)
            for v in value if isinstance(value, list) else [value]:
                if v is not None:
                    pairs.append((question.pk, v))
        people.append((attributes, pairs))
    return people


def rows(model, wave: Wave, extra: list[str], values: list[str]) -> dict:
    return {
        tuple(row[: -len(values)]): row[-len(values) :]
        for row in model.objects.filter(wave=wave).values_list(*KEY, *extra, *values)
    }


def assert_same_summaries(python_wave: Wave, sql_wave: Wave) -> None:
    """Every summary row and reliability sum of `sql_wave` equals `python_wave`'s (counts
    exactly, float sums up to the order of addition)."""
    for model, extra, values in (
        (SummaryGroup, [], ["respondents"]),
        (SummaryItem, ["question_id", "value"], ["count"]),
        (SummaryDimension, ["dimension_id"], ["n", "total", "total_sq"]),
    ):
        expected = rows(model, python_wave, extra, values)
        actual = rows(model, sql_wave, extra, values)
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


def twin_waves(seed: int, n: int):
    """Two waves holding the same random responses across a three-level tree."""
    rng = random.Random(seed)
    instrument = services.load_default_instrument()
    units = build_tree(3, 3, prefix=f"F{seed}")
    questions = [
        q
        for q in services.instrument_questions(instrument_id=instrument.pk)
        if q.kind != Question.Kind.TEXT
    ]
    people = respondents(rng, units, questions, n)
    python_wave = WaveFactory(instrument=instrument, units=[units[0]], name="python")
    sql_wave = WaveFactory(instrument=instrument, units=[units[0]], name="sql")
    for wave in (python_wave, sql_wave):
        services.bulk_store_responses(wave=wave, responses=people)
    return python_wave, sql_wave
