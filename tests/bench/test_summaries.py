"""The benchmark's numpy summaries (bench/summaries.py) count exactly what the app's fold counts.

The generator writes its waves' summary rows itself instead of folding them; these tests hold
it to the Python fold (`reports.publication._fold`) on random responses across a three-level
tree: multiple-choice items, half-answered dimensions, reverse-scored items, merged role levels
and unrecorded tenure included.
"""

import numpy as np
import pytest
from django.db import connection

from bench import summaries
from reports import publication
from reports.models import SummaryDimension, SummaryGroup, SummaryItem
from surveys import services
from surveys.models import Answer, Response, Unit, Wave
from tests.reports.fold_data import KEY, assert_same_summaries, rows, twin_waves

pytestmark = pytest.mark.django_db

TABLES = (
    ("groups", SummaryGroup, [], ["respondents"]),
    ("items", SummaryItem, ["question_id", "value"], ["count"]),
    ("dimensions", SummaryDimension, ["dimension_id"], ["n", "total", "total_sq"]),
)


def _counted(wave: Wave) -> summaries.Summaries:
    """The wave's responses as the generator holds them, counted by numpy."""
    units = list(Unit.objects.order_by("pk").values_list("pk", "parent_id"))
    index = {pk: i for i, (pk, _parent) in enumerate(units)}
    tree = summaries.Tree(
        ids=np.array([pk for pk, _ in units]),
        parent=np.array([index.get(parent, -1) for _, parent in units]),
    )
    responses = list(
        Response.objects.for_wave(wave).values_list(
            "pk", "unit_id", "role_level__rank", "role_level_to__rank", "tenure_band__rank"
        )
    )
    position = {row[0]: i for i, row in enumerate(responses)}
    answers = list(
        Answer.objects.filter(response__wave=wave).values_list(
            "response_id", "question_id", "value"
        )
    )
    return summaries.summarise(
        tree,
        summaries.Responses(
            unit=np.array([index[row[1]] for row in responses]),
            role_lo=np.array([row[2] for row in responses]),
            role_hi=np.array([row[3] or row[2] for row in responses]),
            tenure=np.array([row[4] or 0 for row in responses]),
            person=np.array([position[a[0]] for a in answers]),
            question=np.array([a[1] for a in answers]),
            value=np.array([a[2] for a in answers]),
        ),
        services.instrument_questions(instrument_id=wave.instrument_id),
    )


def _python_folded(seed: int, n: int) -> tuple[Wave, Wave]:
    python_wave, other = twin_waves(seed, n)
    ids = list(Response.objects.for_wave(python_wave).values_list("pk", flat=True))
    publication._fold(python_wave, ids, publication._question_info(python_wave))
    return python_wave, other


def test_the_numpy_counts_are_the_python_folds_rows():
    python_wave, other = _python_folded(11, 120)
    counted = _counted(other)
    for attribute, model, extra, values in TABLES:
        table = getattr(counted, attribute).columns
        columns = [table[name][1].tolist() for name in [*KEY, *extra, *values]]
        got = {
            tuple(row[: -len(values)]): row[-len(values) :] for row in zip(*columns, strict=True)
        }
        want = rows(model, python_wave, extra, values)
        assert want and set(got) == set(want), model.__name__
        for key, expected in want.items():
            assert got[key][0] == expected[0], (model.__name__, key)
            assert got[key][1:] == pytest.approx(list(expected[1:]), rel=1e-12)


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="binary COPY is PostgreSQL's; CI runs both engines"
)
def test_stored_counts_equal_the_folded_wave_in_every_table():
    python_wave, other = _python_folded(13, 80)
    with connection.cursor() as cursor:
        # Several COPY statements a table, the last one short.
        summaries.store(cursor, other.pk, _counted(other), chunk=7)
    assert_same_summaries(python_wave, other)


def test_answers_outside_the_instrument_are_refused():
    tree = summaries.Tree(ids=np.array([1]), parent=np.array([-1]))
    one = np.array([0])
    responses = summaries.Responses(
        unit=one,
        role_lo=one + 1,
        role_hi=one + 1,
        tenure=one,
        person=one,
        question=np.array([999_999]),
        value=one + 3,
    )
    with pytest.raises(ValueError, match="outside the instrument"):
        summaries.summarise(
            tree,
            responses,
            services.instrument_questions(instrument_id=services.load_default_instrument().pk),
        )
