"""`summarize` against figures computed by hand on six explicit respondents, and its cost: a
fixed number of queries, whatever the number of responses."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from reports.aggregation import summarize
from reports.publication import publish
from surveys import services
from surveys.models import Dimension, Question, RoleLevel, TenureBand
from tests.factories import SectionFactory
from tests.reports.anonymity_data import Organisation, Person, create_units, new_wave, store

pytestmark = pytest.mark.django_db

approx = pytest.approx


def hand_instrument():
    """A dimension of two items (V2 reverse-scored), one behaviour experienced, did you
    report it, why not, and the 0-10 safe-place item."""
    section = SectionFactory()
    instrument = section.instrument
    voice = Dimension.objects.create(instrument=instrument, code="voice", name="Voice")
    common = {"instrument": instrument, "section": section}
    rows = [
        ("V1", "agree5", "scale", {"dimension": voice}),
        ("V2", "agree5", "scale", {"dimension": voice, "reverse_scored": True}),
        ("E1", "freq5", "experienced", {"topic": "humiliation"}),
        ("REP", "yesno", "reported", {}),
        ("WHY", "multi", "why_not_reported", {"choices": [{"value": v} for v in (1, 2, 3)]}),
        ("SAFE", "scale11", "safe_place", {}),
    ]
    for order, (code, kind, purpose, extra) in enumerate(rows, start=1):
        Question.objects.create(
            **common, code=code, kind=kind, purpose=purpose, order=order, text=code, **extra
        )
    return instrument


# Six people: three individual contributors (rank 1) and three managers (rank 3).
#   voice means (V2 turned round: 6 - V2): 4, 5, 3 | 2, 1, 4 (R6 answered V1 only, which is
#   half the items: enough)
SIX = [
    (1, {"V1": 4, "V2": 2, "E1": 1, "SAFE": 10}),
    (1, {"V1": 5, "V2": 1, "E1": 2, "REP": 2, "WHY": [1], "SAFE": 9}),
    (1, {"V1": 3, "V2": 3, "E1": 1, "SAFE": 7}),
    (3, {"V1": 2, "V2": 4, "E1": 3, "REP": 1, "SAFE": 3}),
    (3, {"V1": 1, "V2": 5, "E1": 1, "SAFE": 6}),
    (3, {"V1": 4}),
]


def six_respondents(people=SIX, *, k: int = 3):
    (unit,) = create_units([None])
    wave = new_wave(instrument=hand_instrument(), root=unit, k=k)
    roles = {r.rank: r for r in RoleLevel.objects.all()}
    tenure = TenureBand.objects.get(rank=2)
    roster = [
        services.RosterRow(unit=unit, role_level=roles[rank], tenure_band=tenure)
        for rank, _ in people
    ]
    tokens = services.create_invitations(wave=wave, roster=roster)
    for token, (_rank, answers) in zip(tokens, people, strict=True):
        services.submit_response(wave=wave, answers=answers, invitation_token=token)
    publish(wave=wave, force=True)
    return wave, unit


def test_dimension_score_and_favourable_share_match_the_hand_computation():
    wave, unit = six_respondents()
    total = summarize(wave=wave, unit=unit).total
    assert total.n == 6
    voice = total.measures.dimensions["voice"]
    # Mean of the respondent means 19/6 = 3.1667 -> (3.1667 - 1) / 4 * 100 = 54.17; sample
    # sd 1.4720, se 0.6009, t(0.975, 5) = 2.5706 -> means 1.6219..4.7114 -> 15.55..92.78.
    assert voice.score.value == approx(54.166667, abs=1e-4)
    assert voice.score.low == approx(15.548481, abs=1e-4)
    assert voice.score.high == approx(92.784853, abs=1e-4)
    assert voice.score.n == 6
    # Favourable answers: V1 in (4, 5) three times, V2 in (1, 2) twice: 5 of 11 answers;
    # Wilson interval on 5/11 with the effective n of 6 respondents.
    assert voice.favourable.value == approx(45.454545, abs=1e-4)
    assert voice.favourable.low == approx(16.069220, abs=1e-4)
    assert voice.favourable.high == approx(78.388364, abs=1e-4)


def test_prevalence_safe_place_and_a_funnel_below_k_match_the_hand_computation():
    wave, unit = six_respondents()
    measures = summarize(wave=wave, unit=unit).total.measures
    # E1 answered by 5: two of them at least "once or twice" -> 40%, Wilson 11.76..76.93.
    humiliation = measures.experienced["humiliation"]
    assert (humiliation.value, humiliation.n) == (approx(40.0), 5)
    assert humiliation.low == approx(11.762077, abs=1e-4)
    assert humiliation.high == approx(76.927572, abs=1e-4)
    # Safe place, 5 answers 10, 9, 7, 3, 6: 40% promoters - 40% detractors = 0, Wald
    # half-width 1.96 * sqrt(0.8 / 5) = 78.40.
    safe = measures.safe_place
    assert (safe.value, safe.n) == (approx(0.0), 5)
    assert safe.low == approx(-78.398559, abs=1e-4)
    assert safe.high == approx(78.398559, abs=1e-4)
    # Only two people experienced something: under k = 3, so no funnel describes them.
    assert measures.funnel is None


def test_funnel_is_shown_once_its_base_reaches_k():
    people = list(SIX)
    people[2] = (1, {"V1": 3, "V2": 3, "E1": 4, "REP": 2, "WHY": [1, 2], "SAFE": 7})
    wave, unit = six_respondents(people)
    funnel = summarize(wave=wave, unit=unit).total.measures.funnel
    assert (funnel.experienced, funnel.reported, funnel.not_reported) == (3, 1, 2)
    assert funnel.reported_share.value == approx(100 / 3)
    assert {reason.value: reason.count for reason in funnel.reasons} == {1: 2, 2: 1}


def test_power_gap_is_highest_role_level_minus_lowest_with_its_interval():
    wave, unit = six_respondents()
    summary = summarize(wave=wave, unit=unit, by=["role_level"])
    scores = {
        g.attrs["role_level"]["lo"]: g.measures.dimensions["voice"].score for g in summary.groups
    }
    # Contributors: means 4, 5, 3 -> 75 (t-interval 12.90..100, clipped); managers: 2, 1, 4
    # -> 33.33 (0..100). Gap 33.33 - 75 = -41.67; SEs from the larger side of each interval
    # over 1.96: 31.686 and 34.014 -> +-1.96 * 46.487 = +-91.11.
    assert scores[1].value == approx(75.0) and scores[3].value == approx(100 / 3)
    gap = summary.power_gaps["voice"]
    assert gap.value == approx(-41.666667, abs=1e-4)
    assert gap.low == approx(-132.778038, abs=1e-3)
    assert gap.high == approx(49.444705, abs=1e-3)
    assert not gap.significant
    assert summary.headline_gap == ("voice", gap)


def _organisation(respondents: int) -> Organisation:
    people = [
        Person(
            unit=1 + i % 2,
            role=1 + (i % 3 == 0),
            tenure=1 + i % 4,
            responds=True,
            answers={
                "V1": 1 + i % 5,
                "V2": 1 + (i * 3) % 5,
                "GENDER": (1, 2, 3, 99)[i % 4],
                "CARER": (1, 2, 99)[i % 3],
            },
        )  # fmt: skip
        for i in range(respondents)
    ]
    return Organisation(parents=[None, 0, 0], people=people, k=5)


def _queries(wave, unit, by) -> int:
    with CaptureQueriesContext(connection) as context:
        summarize(wave=wave, unit=unit, by=by)
    return len(context.captured_queries)


@pytest.mark.parametrize("by", [[], ["role_level"], ["child_units"], ["role_level", "gender"]])
def test_summarize_reads_a_fixed_number_of_queries_whatever_the_number_of_responses(
    by, django_assert_max_num_queries
):
    counts = []
    for respondents in (20, 200):
        stored = store(_organisation(respondents))
        wave, root = stored.waves[0], stored.units[0]
        with django_assert_max_num_queries(12):
            summary = summarize(wave=wave, unit=root, by=by)
        assert summary.total.n == respondents
        counts.append(_queries(wave, root, by))
    assert counts[0] == counts[1]
