"""Fuzzing the respondent's pages: any POST to an invitation or open link, with random field
names (real question codes among them), values of every type, unicode, NUL, huge strings,
repeated keys, a missing, forged or used nonce, in either form encoding.

Properties: never a 5xx; a refusal explains itself; and nothing is partially stored: either no
row changed, or exactly one response with every answer the survey accepted (and the comments,
and the link or nonce marked used).
"""

from urllib.parse import quote, urlencode

import pytest
from django.http import QueryDict
from hypothesis import given
from hypothesis import strategies as st

from surveys import services
from surveys.forms import SurveyForm, answers_from_data
from surveys.models import (
    Answer,
    Comment,
    FormNonce,
    Invitation,
    Response,
    RoleLevel,
    TenureBand,
)
from tests.factories import WaveFactory
from tests.fuzz.support import (
    assert_clear_html,
    assert_unchanged_or,
    compact_instrument_data,
    counted,
    default_instrument_data,
    examples,
    field_values,
    hostile_short,
    payloads,
    question_codes,
    rolled_back,
    row_counts,
    unicode_text,
)

pytestmark = pytest.mark.django_db

COUNTED = (Response, Answer, Comment, Invitation, FormNonce)


@pytest.fixture(scope="module")
def compact_wave(fuzzed, django_db_blocker):
    """An open wave of the compact survey over the published organisation (rolled back with
    the organisation at the end of the module)."""
    with django_db_blocker.unblock():
        instrument = services.load_instrument(data=compact_instrument_data())
        wave = WaveFactory(instrument=instrument, units=[fuzzed.org.root], k=5)
        roster = [
            services.RosterRow(unit, RoleLevel.objects.get(rank=1), None)
            for unit in (fuzzed.org.north, fuzzed.org.south, fuzzed.org.tech)
            for _ in range(6)
        ]
        services.create_invitations(wave=wave, roster=roster)
    return wave


_QUESTIONS: dict[int, list] = {}


def questions_of(wave) -> list:
    """The wave's questions, read once per module (they never change here)."""
    if wave.pk not in _QUESTIONS:
        _QUESTIONS[wave.pk] = services.questions_of(wave)
    return _QUESTIONS[wave.pk]


def _plausible(kind: str, offered: list[int]) -> st.SearchStrategy:
    if kind == "text":
        return st.one_of(unicode_text, payloads)
    one = st.sampled_from(offered).map(str)
    if kind == "multi":
        return st.lists(one, min_size=1, max_size=4)
    return one


def answers_for(codes: dict[str, tuple[str, list[int]]]) -> st.SearchStrategy[dict]:
    """Mostly answers a respondent could give, with hostile keys and values mixed in: the
    stored path and the refused path are both exercised."""
    plausible = st.fixed_dictionaries(
        {}, optional={code: _plausible(kind, offered) for code, (kind, offered) in codes.items()}
    )
    hostile = st.dictionaries(
        keys=st.one_of(st.sampled_from(sorted(codes)), unicode_text, payloads),
        values=field_values,
        max_size=8,
    )
    return st.builds(
        lambda good, bad, mix: {**good, **bad} if mix else good, plausible, hostile, st.booleans()
    )


FULL = answers_for(question_codes(default_instrument_data()))
COMPACT = answers_for(question_codes(compact_instrument_data()))
encodings = st.sampled_from(["multipart", "urlencoded"])


def post(client, path: str, data: dict, encoding: str):
    if encoding == "multipart":
        return client.post(path, data)
    body = urlencode(data, doseq=True)
    return client.post(path, body, content_type="application/x-www-form-urlencoded")


def _new_response() -> Response:
    # Every response of the organisation is published; a new one waits for its batch.
    [response] = Response.objects.filter(published=False)
    return response


def assert_complete(response_row: Response, request_post, questions) -> None:
    """The stored response holds exactly what the survey accepts from this POST: every valid
    answer to a question the respondent was shown, and nothing that was not sent."""
    form = SurveyForm(request_post, questions=questions)
    assert form.is_valid(), form.errors
    clean = services.clean_answers(questions=questions, raw=form.answers())
    expected = {(q.code, v) for q, v in clean.values}
    stored = set(
        Answer.objects.filter(response=response_row).values_list("question__code", "value")
    )
    assert stored == expected
    for code, value in stored:
        assert str(value) in request_post.getlist(code)  # nothing stored that was not sent
    comments = sorted(
        Comment.objects.filter(wave=response_row.wave, published=False).values_list(
            "question__code", "text"
        )
    )
    assert sorted((q.code, text) for q, text in clean.texts) == comments


def check_outcome(response, *, before, questions, what):
    assert_clear_html(response, what)
    after = row_counts(*COUNTED)
    if response.status_code == 302:
        stored = _new_response()
        answers_stored = Answer.objects.filter(response=stored).count()

        def one_complete_response(delta):
            return (
                delta["Response"] == 1
                and delta["Answer"] == answers_stored
                and delta["Comment"] >= 0
                and delta["Invitation"] == 0
                and delta["FormNonce"] in (0, 1)
            )

        assert_unchanged_or(before, after, one_complete_response, what)
        assert after["Response"] == before["Response"] + 1
        assert_complete(stored, response.wsgi_request.POST, questions)
    else:
        # Shown again with the problems, or refused: nothing stored. (A re-shown open-link
        # form may issue a fresh nonce, which is not a response.)
        assert after["Response"] == before["Response"], what
        assert after["Answer"] == before["Answer"] and after["Comment"] == before["Comment"]
        if response.status_code == 200:
            # The form again with its problems listed, or (a missing, forged or used nonce)
            # the page saying the form was already sent.
            page = response.content.decode()
            assert 'role="alert"' in page or "already recorded" in page, what


def invitation_post(client, wave, unit, data, encoding) -> None:
    questions = questions_of(wave)
    with rolled_back():
        role = RoleLevel.objects.get(rank=1)
        [token] = services.create_invitations(
            wave=wave, roster=[services.RosterRow(unit, role, None)]
        )
        before = row_counts(*COUNTED)
        response = post(client, f"/s/i/{token}/answer/", data, encoding)
        check_outcome(response, before=before, questions=questions, what=data)
        used = Invitation.objects.for_token(token).get().used
        assert used == (response.status_code == 302)


@examples(default=40, ci=600)
@given(data=COMPACT, encoding=encodings)
def test_any_invitation_post_stores_one_complete_response_or_nothing(
    fuzzed, clients, compact_wave, data, encoding
):
    counted()
    invitation_post(clients["anonymous"], compact_wave, fuzzed.org.north, data, encoding)


@examples(default=10, ci=60)
@given(data=FULL, encoding=encodings)
def test_any_post_to_the_full_survey_stores_one_complete_response_or_nothing(
    fuzzed, clients, data, encoding
):
    counted()
    invitation_post(clients["anonymous"], fuzzed.org.current, fuzzed.org.south, data, encoding)


NONCES = st.sampled_from(["fresh", "fresh", "fresh", "missing", "used", "forged", "other-wave"])
ABOUT = st.sampled_from(["ok", "ok", "ok", "missing", "hostile"])


@examples(default=30, ci=350)
@given(
    data=COMPACT,
    encoding=encodings,
    nonce=NONCES,
    unit=ABOUT,
    role=ABOUT,
    tenure=ABOUT,
    values=st.lists(hostile_short, min_size=3, max_size=3),
)
def test_any_open_link_post_stores_one_complete_response_or_nothing(
    fuzzed, clients, compact_wave, data, encoding, nonce, unit, role, tenure, values
):
    counted()
    org = fuzzed.org
    wave = compact_wave
    questions = questions_of(wave)
    client = clients["anonymous"]
    with rolled_back():
        good = {
            "about-unit": str(org.south.pk),
            "about-role_level": str(RoleLevel.objects.get(rank=1).pk),
            "about-tenure_band": str(TenureBand.objects.order_by("rank").first().pk),
        }
        about = {}
        for (name, value), choice, bad in zip(
            good.items(), (unit, role, tenure), values, strict=True
        ):
            if choice == "ok":
                about[name] = value
            elif choice == "hostile":
                about[name] = bad
        if nonce in ("fresh", "used"):
            about["about-nonce"] = services.issue_form_nonce(wave=wave)
            if nonce == "used":
                FormNonce.objects.update(used=True)
        elif nonce == "forged":
            about["about-nonce"] = values[0]
        elif nonce == "other-wave":
            about["about-nonce"] = services.issue_form_nonce(wave=org.previous)
        before = row_counts(*COUNTED)
        # The form's own fields last: a random key must not replace them.
        response = post(client, f"/s/w/{wave.open_link_key}/answer/", {**data, **about}, encoding)
        check_outcome(response, before=before, questions=questions, what=data)
        if response.status_code == 302:
            # Stored only with a fresh nonce and a unit and role level (a "hostile" value can
            # happen to be a real id).
            assert nonce == "fresh" and unit != "missing" and role != "missing"
            nonce_hash = services.hash_token(about["about-nonce"])
            assert FormNonce.objects.get(nonce_hash=nonce_hash).used


# Paths under /s/ with hostile tokens and keys, raw or percent-encoded.
segments = st.one_of(
    unicode_text, payloads, st.text(alphabet="%0123456789ABCDEFabcdef/", max_size=12)
)
suffixes = st.sampled_from(["", "/", "/answer/", "/thanks/", "/answer", "/x/y/"])


@examples(default=30, ci=400)
@given(
    kind=st.sampled_from(["i", "w", "preview", "", "zz"]),
    segment=segments,
    suffix=suffixes,
    method=st.sampled_from(["get", "post", "head"]),
    raw=st.booleans(),
    data=st.dictionaries(unicode_text, field_values, max_size=3),
)
def test_any_survey_path_gets_a_clear_page(
    fuzzed, clients, kind, segment, suffix, method, raw, data
):
    counted()
    token = segment if raw else quote(segment, safe="")
    path = f"/s/{kind}/{token}{suffix}" if kind else f"/s/{token}{suffix}"
    client = clients["anonymous"]
    with rolled_back():
        before = row_counts(Response, Answer, Comment)
        send = getattr(client, method)
        response = send(path, data) if method == "post" else send(path)
        if method != "head":
            assert_clear_html(response, path)
        else:
            assert response.status_code < 500
        assert row_counts(Response, Answer, Comment) == before


@pytest.mark.parametrize("kind", ["i", "w"])
@pytest.mark.parametrize("suffix", ["/", "/answer/", "/thanks/"])
def test_a_nul_in_a_link_gets_the_not_valid_page(clients, kind, suffix):
    """Found by the fuzzer on PostgreSQL, which cannot compare text holding NUL."""
    response = clients["anonymous"].get(f"/s/{kind}/%00{suffix}")
    assert response.status_code == 404
    assert "This survey link is not valid" in response.content.decode()


@examples(default=60, ci=600)
@given(data=FULL)
def test_the_fast_path_reads_a_post_exactly_as_the_survey_form_does(fuzzed, data):
    """`answers_from_data` (valid posts are stored without building the form) gives the
    form's own answers whenever the form accepts the post, and None whenever it does not."""
    counted()
    questions = questions_of(fuzzed.org.current)
    posted = QueryDict(urlencode(data, doseq=True))
    form = SurveyForm(posted, questions=questions)
    fast = answers_from_data(questions, posted)
    if fast is not None:
        # The form's own checks pass; only the service's (e.g. the comment length) may not.
        assert form.is_valid() or all(
            code in {q.code for q in questions if q.kind == "text"} for code in form.errors
        ), form.errors
        if form.is_valid():
            assert fast == form.answers()
    else:
        assert not form.is_valid()
