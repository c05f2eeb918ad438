"""Property: any POST to a survey either stores exactly one complete response (the valid
answers to the questions the respondent was shown) or stores nothing and says why. Never a 500
(the test client re-raises any exception a view lets through)."""

import re

import pytest
from django.db import transaction
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from surveys import services
from surveys.models import Answer, Comment, Invitation, Question, Response, RoleLevel
from tests.factories import UnitFactory, WaveFactory, level, small_instrument

pytestmark = pytest.mark.django_db

PROPERTY_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

CODES = ["AGREE", "SEEN", "WHY", "SAFE", "NOTE"]
text_without_surrogates = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)
offered = st.sampled_from(["1", "2", "3", "4", "5", "9", "0", "10"])
values = st.one_of(
    offered,  # often a value some question offers
    offered,
    st.integers(min_value=-3, max_value=12).map(str),
    st.sampled_from(["", " 3", "3.0", "٣", "1e1", "true", "None", "[]", "\x00"]),
    text_without_surrogates,
    st.builds(lambda n, c: c * n, st.integers(4990, 5010), st.sampled_from(["a", " ", "é"])),
)
answer_values = st.one_of(values, st.lists(values, min_size=1, max_size=4))
anything = st.builds(
    lambda known, extra: {**extra, **known},
    st.dictionaries(keys=st.sampled_from(CODES), values=answer_values, max_size=5),
    st.dictionaries(keys=text_without_surrogates.filter(bool), values=answer_values, max_size=2),
)
# Answers a respondent could give with the page, for the stored path and its conditions.
plausible = st.fixed_dictionaries(
    {},
    optional={
        "AGREE": st.sampled_from(["", "1", "2", "3", "4", "5"]),
        "SEEN": st.sampled_from(["1", "1", "2", "9"]),
        "WHY": st.lists(st.sampled_from(["1", "2", "3"]), min_size=1, max_size=3, unique=True),
        "SAFE": st.integers(0, 10).map(str),
        "NOTE": text_without_surrogates,
    },
)
payloads = st.one_of(plausible, anything)


@pytest.fixture
def wave():
    return WaveFactory(instrument=small_instrument(), units=[UnitFactory()])


def expected_outcome(questions: list[Question], data: dict) -> tuple[bool, set, list]:
    """An independent oracle: (valid, {(code, value)}, [(code, text)]) for a POST."""

    def as_list(value):
        return value if isinstance(value, list) else [value]

    valid = True
    parsed: dict[str, set[int]] = {}
    texts: dict[str, str] = {}
    for question in questions:
        if question.code not in data:
            continue
        raw = as_list(data[question.code])
        if question.kind == "text":
            text = raw[-1].strip()
            if "\x00" in text:
                valid = False
            texts[question.code] = text
            continue
        offered = {str(v) for v in services.KIND_VALUES.get(question.kind, ())} or {
            str(choice["value"]) for choice in question.choices
        }
        # A radio keeps the last value sent and "" means unanswered; a checkbox list must be
        # all offered values.
        chosen = raw if question.kind == "multi" else [v for v in raw[-1:] if v != ""]
        if not all(value in offered for value in chosen):
            valid = False
            continue
        parsed[question.code] = {int(value) for value in chosen}
    answers, comments, seen = set(), [], {}
    for question in questions:
        shown = not question.show_if or any(
            seen.get(condition["question"], set()) & set(condition["values"])
            for condition in question.show_if
        )
        if not shown:
            continue
        seen[question.code] = parsed.get(question.code, set())
        answers |= {(question.code, value) for value in parsed.get(question.code, ())}
        text = texts.get(question.code, "")
        if len(text) > services.MAX_COMMENT_CHARS:
            valid = False
        elif text:
            comments.append((question.code, text))
    return valid, answers, comments


def check(response, questions, data):
    valid, answers, comments = expected_outcome(questions, data)
    event("stored" if valid else "refused")
    if valid and answers:
        event("stored with answers")
    body = response.content.decode()
    if valid:
        assert response.status_code == 302, re.findall(r'<a href="#[^"]*">([^<]*)', body)
        assert Response.objects.count() == 1
        stored = set(Answer.objects.values_list("question__code", "value"))
        assert stored == answers
        assert sorted(Comment.objects.values_list("question__code", "text")) == sorted(comments)
    else:
        assert response.status_code == 200
        assert 'role="alert"' in body and "Some answers need your attention" in body
        assert (Response.objects.count(), Answer.objects.count(), Comment.objects.count()) == (
            0,
            0,
            0,
        )


@PROPERTY_SETTINGS
@given(data=payloads)
def test_any_invitation_post_stores_one_complete_response_or_nothing(client, wave, data):
    questions = services.questions_of(wave)
    with transaction.atomic():
        [token] = services.create_invitations(
            wave=wave, roster=[services.RosterRow(wave.units.first(), level("manager"), None)]
        )
        response = client.post(f"/s/i/{token}/answer/", data)
        check(response, questions, data)
        assert Invitation.objects.filter(used=True).count() == (response.status_code == 302)
        transaction.set_rollback(True)


about_values = st.sampled_from(["ok", "ok", "ok", "ok", None, "", "0", "x", "99999", "-1"])


@settings(PROPERTY_SETTINGS, max_examples=40)
@given(data=payloads, unit=about_values, role=about_values, band=about_values)
def test_any_open_link_post_stores_one_complete_response_or_nothing(
    client, wave, data, unit, role, band
):
    questions = services.questions_of(wave)
    with transaction.atomic():
        nonce = services.issue_form_nonce(wave=wave)
        about = {"about-nonce": nonce}
        picks = {
            "about-unit": (unit, wave.units.first().pk),
            "about-role_level": (role, RoleLevel.objects.order_by("?").first().pk),
            "about-tenure_band": (band, ""),
        }
        for name, (choice, good) in picks.items():
            if choice is not None:
                about[name] = str(good) if choice == "ok" else choice
        # Question fields first, then the form's own: a random key cannot replace them.
        response = client.post(f"/s/w/{wave.open_link_key}/answer/", {**data, **about})
        about_ok = unit == "ok" and role == "ok" and band in (None, "", "ok")
        if about_ok:
            check(response, questions, data)
        else:
            assert response.status_code == 200
            assert 'role="alert"' in response.content.decode()
            assert Response.objects.count() == 0
        transaction.set_rollback(True)
