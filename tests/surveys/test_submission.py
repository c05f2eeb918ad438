"""The respondent's pages: one response per link or form, clear pages when something is off,
nothing lost on an error, and nothing left behind (no cookie, no cache, no referrer)."""

import datetime as dt
import html
import json
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from reports.access import HR_GROUP
from surveys import services, views
from surveys.models import Answer, Comment, FormNonce, Invitation, Response, Wave
from tests.factories import UnitFactory, UserFactory, WaveFactory, level, make_hr

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def wave():
    root = UnitFactory(name="Company")
    UnitFactory(name="Sales", parent=root)
    return WaveFactory(
        instrument=services.load_default_instrument(),
        units=[root],
        support_resources="Call the helpline: 0800 123 456\n<b>HR</b>: hr@example.org",
    )


@pytest.fixture
def token(wave):
    roster = [services.RosterRow(wave.units.first(), level("individual-contributor"), None)] * 6
    return services.create_invitations(wave=wave, roster=roster)[0]


def answer_url(token):
    return reverse("surveys:invitation_survey", args=[token])


def open_answer_url(wave):
    return reverse("surveys:open_survey", args=[wave.open_link_key])


def nonce_from(response) -> str:
    return re.search(rb'name="about-nonce" value="([^"]+)"', response.content).group(1).decode()


def stored_answers() -> dict[str, set[int]]:
    result: dict[str, set[int]] = {}
    for code, value in Answer.objects.values_list("question__code", "value"):
        result.setdefault(code, set()).add(value)
    return result


# --- Invitation links -------------------------------------------------------------------------


def test_invitation_privacy_page_says_what_is_stored(client, wave, token):
    response = client.get(reverse("surveys:invitation", args=[token]))
    assert response.status_code == 200
    text = response.content.decode()
    assert "What is stored" in text and "What is not stored" in text
    assert f"fewer than {wave.k} people" in text
    assert f"at least {wave.k_comments} people" in text
    assert "not a way to report" in text
    assert "Company" in text  # the group the answers will count towards
    assert answer_url(token) in text
    assert "Log in" not in text


def test_double_submit_with_an_invitation_stores_one_response(client, token):
    first = client.post(answer_url(token), {"VOICE_RAISE": "4"})
    assert first.status_code == 302
    assert first["Location"] == reverse("surveys:invitation_thanks", args=[token])
    second = client.post(answer_url(token), {"VOICE_RAISE": "1"})
    assert second.status_code == 200
    assert "already recorded" in second.content.decode()
    assert Response.objects.count() == 1
    assert stored_answers() == {"VOICE_RAISE": {4}}


def test_two_tabs_with_the_same_link_store_one_response(client, token):
    assert client.get(answer_url(token)).status_code == 200
    assert client.get(answer_url(token)).status_code == 200
    client.post(answer_url(token), {"VOICE_RAISE": "2", "COMMENT_CHANGE": "Tab one"})
    other = client.post(answer_url(token), {"VOICE_RAISE": "5", "COMMENT_CHANGE": "Tab two"})
    assert "already recorded" in other.content.decode()
    assert Response.objects.count() == 1
    assert list(Comment.objects.values_list("text", flat=True)) == ["Tab one"]


def test_used_link_shows_already_recorded_page(client, token):
    client.post(answer_url(token), {"VOICE_RAISE": "4"})
    for url in (reverse("surveys:invitation", args=[token]), answer_url(token)):
        response = client.get(url)
        assert response.status_code == 200
        assert "already recorded" in response.content.decode()


def test_unknown_link_is_a_404_page(client, wave):
    response = client.get(reverse("surveys:invitation", args=["not-a-real-token"]))
    assert response.status_code == 404
    assert "not valid" in response.content.decode()
    response = client.post(answer_url("not-a-real-token"), {"VOICE_RAISE": "4"})
    assert response.status_code == 404
    assert Response.objects.count() == 0


def test_expired_link_is_a_410_page_and_stores_nothing(client, wave):
    roster = [services.RosterRow(wave.units.first(), level("manager"), None)]
    [token] = services.create_invitations(
        wave=wave, roster=roster, expires_at=timezone.now() - dt.timedelta(minutes=1)
    )
    assert client.get(reverse("surveys:invitation", args=[token])).status_code == 410
    response = client.post(answer_url(token), {"VOICE_RAISE": "4"})
    assert response.status_code == 410
    assert "expired" in response.content.decode()
    assert Response.objects.count() == 0


def test_thanks_page_shows_support_resources_escaped_with_line_breaks(client, token):
    response = client.post(answer_url(token), {"VOICE_RAISE": "4"}, follow=True)
    text = response.content.decode()
    assert "Thank you" in text
    assert "Call the helpline: 0800 123 456<br>&lt;b&gt;HR&lt;/b&gt;: hr@example.org" in text
    assert "not a way to report" in text
    assert 'data-clear-draft="powerclimate-draft-' in text


def test_thanks_page_of_an_unused_link_sends_back_to_the_start(client, token):
    response = client.get(reverse("surveys:invitation_thanks", args=[token]))
    assert response.status_code == 302
    assert response["Location"] == reverse("surveys:invitation", args=[token])


def test_a_link_without_its_final_slash_still_works(client, token):
    response = client.get(f"/s/i/{token}")
    assert response.status_code == 302
    assert response["Location"] == f"/s/i/{token}/"


# --- Waves that are not open ------------------------------------------------------------------

NOT_OPEN = {
    "draft": {"state": Wave.State.DRAFT},
    "closed": {"state": Wave.State.CLOSED},
    "not yet open": {"opens_at": timezone.now() + dt.timedelta(days=1)},
    "past closing": {
        "opens_at": timezone.now() - dt.timedelta(days=10),
        "closes_at": timezone.now() - dt.timedelta(days=1),
    },
}


@pytest.mark.parametrize("change", NOT_OPEN.values(), ids=NOT_OPEN.keys())
def test_a_wave_that_is_not_open_gets_a_410_page(client, wave, token, change):
    Wave.objects.filter(pk=wave.pk).update(**change)
    for url in (
        reverse("surveys:open_link", args=[wave.open_link_key]),
        open_answer_url(wave),
        reverse("surveys:invitation", args=[token]),
        answer_url(token),
    ):
        response = client.get(url)
        assert response.status_code == 410, url
        assert "not open" in response.content.decode()
    assert client.post(answer_url(token), {"VOICE_RAISE": "3"}).status_code == 410
    assert Response.objects.count() == 0


def test_wave_closing_mid_survey_refuses_the_post_and_stores_nothing(client, wave, token):
    invitation_page = client.get(answer_url(token))
    open_page = client.get(open_answer_url(wave))
    assert invitation_page.status_code == open_page.status_code == 200
    Wave.objects.filter(pk=wave.pk).update(state=Wave.State.CLOSED)
    response = client.post(answer_url(token), {"VOICE_RAISE": "3", "COMMENT_CHANGE": "late"})
    assert response.status_code == 410
    assert "not stored" in response.content.decode()
    response = client.post(
        open_answer_url(wave),
        {
            "about-nonce": nonce_from(open_page),
            "about-unit": wave.units.first().pk,
            "about-role_level": level("manager").pk,
            "VOICE_RAISE": "3",
        },
    )
    assert response.status_code == 410
    assert (Response.objects.count(), Comment.objects.count(), Answer.objects.count()) == (0, 0, 0)
    assert not Invitation.objects.filter(used=True).exists()


def test_wave_closing_between_check_and_store_stores_nothing(client, wave, token, monkeypatch):
    # The view saw an open wave; the wave closes before the submission claims the link: the
    # claim checks the wave again in the same statement, so nothing is stored.
    real = services.check_wave_open

    def close_after_check(checked):
        real(checked)
        Wave.objects.filter(pk=checked.pk).update(state=Wave.State.CLOSED)

    monkeypatch.setattr(services, "check_wave_open", close_after_check)
    response = client.post(answer_url(token), {"VOICE_RAISE": "3"})
    assert response.status_code == 410
    assert b"not open" in response.content
    assert Response.objects.count() == 0
    assert not Invitation.objects.filter(used=True).exists()


# --- Open link --------------------------------------------------------------------------------


def open_post(wave, nonce, **answers):
    return {
        "about-nonce": nonce,
        "about-unit": wave.units.first().pk,
        "about-role_level": level("team-lead").pk,
        "about-tenure_band": "",
        **answers,
    }


def test_open_link_starts_with_the_privacy_page(client, wave):
    response = client.get(wave.get_absolute_url())
    assert response.status_code == 200
    text = response.content.decode()
    assert "What is stored" in text and "choose on the next page" in text
    assert open_answer_url(wave) in text


def test_open_link_asks_for_unit_role_and_tenure(client, wave):
    response = client.get(open_answer_url(wave))
    text = response.content.decode()
    assert 'name="about-unit"' in text and "Company › Sales" in text
    assert 'name="about-role_level"' in text and 'name="about-tenure_band"' in text
    assert FormNonce.objects.filter(wave=wave, used=False).count() == 1


def test_open_link_retry_with_the_same_nonce_stores_one_response(client, wave):
    nonce = nonce_from(client.get(open_answer_url(wave)))
    first = client.post(open_answer_url(wave), open_post(wave, nonce, VOICE_RAISE="5"))
    assert first.status_code == 302
    assert first["Location"] == reverse("surveys:open_thanks", args=[wave.open_link_key])
    again = client.post(open_answer_url(wave), open_post(wave, nonce, VOICE_RAISE="5"))
    assert again.status_code == 200
    assert "already recorded" in again.content.decode()
    assert Response.objects.count() == 1
    stored = Response.objects.get()
    assert (stored.unit, stored.role_level, stored.tenure_band) == (
        wave.units.first(),
        level("team-lead"),
        None,
    )


def test_open_link_needs_unit_and_role_and_keeps_the_answers(client, wave):
    nonce = nonce_from(client.get(open_answer_url(wave)))
    response = client.post(
        open_answer_url(wave),
        {"about-nonce": nonce, "VOICE_RAISE": "2", "COMMENT_CHANGE": "Keep me"},
    )
    assert response.status_code == 200
    text = response.content.decode()
    assert "Please choose your unit." in text and "Please choose your role level." in text
    assert 'href="#about-unit"' in text
    assert nonce_from(response) == nonce  # still unused: the same form can be sent again
    assert re.search(r'id="VOICE_RAISE-2" value="2"[^>]* checked', text)
    assert "Keep me</textarea>" in text
    assert Response.objects.count() == 0


def test_open_link_unit_outside_the_wave_is_refused(client, wave):
    outsider = UnitFactory(name="Elsewhere")
    nonce = nonce_from(client.get(open_answer_url(wave)))
    data = {**open_post(wave, nonce), "about-unit": outsider.pk}
    response = client.post(open_answer_url(wave), data)
    assert response.status_code == 200
    assert "Please choose one of the units offered." in response.content.decode()
    assert Response.objects.count() == 0


def test_open_link_with_a_forged_nonce_stores_nothing(client, wave):
    response = client.post(open_answer_url(wave), open_post(wave, "forged", VOICE_RAISE="3"))
    assert response.status_code == 200
    assert "already recorded" in response.content.decode()
    assert Response.objects.count() == 0


def test_a_nonce_of_another_survey_is_refused_and_stays_usable_in_its_own(client, wave):
    other = WaveFactory(instrument=wave.instrument, units=[wave.units.first()])
    theirs = nonce_from(client.get(open_answer_url(other)))
    refused = client.post(open_answer_url(wave), open_post(wave, theirs, VOICE_RAISE="3"))
    assert refused.status_code == 200
    assert "already recorded" in refused.content.decode()
    assert Response.objects.count() == 0
    stored = client.post(open_answer_url(other), open_post(other, theirs, VOICE_RAISE="3"))
    assert stored.status_code == 302
    assert Response.objects.filter(wave=other).count() == 1


def test_unknown_open_link_is_a_404_page(client, wave):
    assert client.get(reverse("surveys:open_link", args=["nope"])).status_code == 404
    assert client.post(reverse("surveys:open_survey", args=["nope"]), {}).status_code == 404


# --- Answers ----------------------------------------------------------------------------------


def test_validation_errors_keep_everything_typed(client, token):
    response = client.post(
        answer_url(token),
        {
            "VOICE_RAISE": "7",  # not offered
            "VOICE_MISTAKE": "2",
            "WHY_NOT": ["1", "3"],
            "COMMENT_CHANGE": "Fewer meetings <please>",
            "SAFE_PLACE": "8",
            "EXP_THREAT": "3",
            "REPORTED": "2",
        },
    )
    assert response.status_code == 200
    text = response.content.decode()
    assert 'role="alert"' in text and 'href="#VOICE_RAISE-1"' in text
    assert 'id="VOICE_RAISE-error"' in text
    assert "Please choose one of the answers offered." in text
    for input_id in ("VOICE_MISTAKE-2", "WHY_NOT-1", "WHY_NOT-3", "SAFE_PLACE-8", "REPORTED-2"):
        assert re.search(rf'id="{input_id}" value="\d+"[^>]* checked', text), input_id
    assert "Fewer meetings &lt;please&gt;</textarea>" in text
    assert Response.objects.count() == 0
    assert not Invitation.objects.filter(used=True).exists()


def test_conditional_answers_are_dropped_when_their_condition_is_not_met(client, token):
    client.post(
        answer_url(token),
        {
            "EXP_HUMILIATION": "1",
            "EXP_THREAT": "1",
            "REPORTED": "1",  # shown only after an experience
            "WHY_NOT": ["1", "4"],  # shown only after "no" to REPORTED
            "VOICE_RAISE": "4",
        },
    )
    assert stored_answers() == {"EXP_HUMILIATION": {1}, "EXP_THREAT": {1}, "VOICE_RAISE": {4}}


def test_conditional_answers_are_kept_when_their_condition_is_met(client, token):
    client.post(
        answer_url(token),
        {"EXP_THREAT": "2", "REPORTED": "2", "WHY_NOT": ["1", "4"]},
    )
    assert stored_answers() == {"EXP_THREAT": {2}, "REPORTED": {2}, "WHY_NOT": {1, 4}}


def test_the_long_page_explains_when_to_answer_a_conditional_question(client, token):
    text = client.get(answer_url(token)).content.decode()
    assert "Answer only if you answered" in text
    rule = re.search(r'id="q-WHY_NOT"[^>]* data-show-if="([^"]*)"', text).group(1)
    assert json.loads(html.unescape(rule)) == [{"question": "REPORTED", "values": [2]}]


def test_a_comment_over_5000_characters_is_refused_and_nothing_is_stored(client, token):
    response = client.post(answer_url(token), {"VOICE_RAISE": "4", "COMMENT_OTHER": "x" * 5001})
    assert response.status_code == 200
    text = response.content.decode()
    assert "under 5000 characters (it has 5001)" in text
    assert 'maxlength="5000"' in text
    assert Response.objects.count() == 0 and Comment.objects.count() == 0
    assert not Invitation.objects.filter(used=True).exists()


def test_a_comment_of_exactly_5000_characters_is_stored(client, token):
    client.post(answer_url(token), {"COMMENT_OTHER": "y" * 5000})
    assert Comment.objects.get().text == "y" * 5000


def test_every_question_is_optional(client, token):
    assert client.post(answer_url(token), {}).status_code == 302
    assert Response.objects.count() == 1 and Answer.objects.count() == 0


def test_survey_markup_has_fieldsets_legends_and_labels(client, wave, token):
    text = client.get(answer_url(token)).content.decode()
    questions = wave.instrument.questions.count()
    assert text.count("<fieldset") == text.count("<legend") == questions == 50
    assert text.count("<section") == 11
    inputs = re.findall(r'<(?:input|textarea|select) [^>]*id="([^"]+)"', text)
    labelled = set(re.findall(r'<label [^>]*for="([^"]+)"', text))
    for input_id in inputs:
        assert input_id in labelled or input_id.endswith("-text"), input_id
    assert text.count('aria-labelledby="COMMENT_OTHER-legend"') == 1
    assert 'aria-describedby="REPORTED-help REPORTED-condition"' in text
    assert "<script>" not in text and "onclick" not in text


# --- Headers, cookies and assets --------------------------------------------------------------


def all_survey_responses(client, wave, token):
    nonce = nonce_from(client.get(open_answer_url(wave)))
    yield client.get(wave.get_absolute_url())
    yield client.get(open_answer_url(wave))
    yield client.post(open_answer_url(wave), {"about-nonce": nonce, "VOICE_RAISE": "9"})
    yield client.post(open_answer_url(wave), open_post(wave, nonce))
    yield client.get(reverse("surveys:open_thanks", args=[wave.open_link_key]))
    yield client.get(reverse("surveys:invitation", args=[token]))
    yield client.get(answer_url(token))
    yield client.post(answer_url(token), {"VOICE_RAISE": "9"})
    yield client.post(answer_url(token), {"VOICE_RAISE": "3"})
    yield client.post(answer_url(token), {"VOICE_RAISE": "3"})  # already recorded
    yield client.get(reverse("surveys:invitation_thanks", args=[token]))
    yield client.get(reverse("surveys:invitation", args=["unknown"]))
    yield client.get("/s/nothing-here/")
    yield client.get(reverse("surveys:preview", args=[wave.instrument.slug]))
    Wave.objects.filter(pk=wave.pk).update(state=Wave.State.CLOSED)
    yield client.get(wave.get_absolute_url())


def test_every_survey_response_sends_no_store_no_referrer_and_no_cookie(client, wave, token):
    statuses = set()
    for response in all_survey_responses(client, wave, token):
        statuses.add(response.status_code)
        assert response["Cache-Control"] == "no-store", response.request["PATH_INFO"]
        assert response["Referrer-Policy"] == "no-referrer"
        assert not response.cookies, response.cookies
        assert "Set-Cookie" not in response.headers
    assert statuses == {200, 302, 404, 410}
    assert not client.cookies


def test_a_logged_in_user_gets_no_cookie_from_the_survey_either(client, wave, token):
    client.force_login(UserFactory())
    for response in (
        client.get(reverse("surveys:invitation", args=[token])),
        client.get(answer_url(token)),
        client.post(answer_url(token), {"VOICE_RAISE": "3"}),
    ):
        assert not response.cookies
        assert "Log out" not in response.content.decode()


def test_survey_pages_load_nothing_from_another_host(client, wave, token):
    for response in all_survey_responses(client, wave, token):
        if response.status_code == 302:
            continue
        text = response.content.decode()
        for url in re.findall(r'(?:src|href|action)="([^"]*)"', text):
            assert not re.match(r"^(https?:)?//", url), url
        assert "<script>" not in text  # no inline script (CSP script-src 'self')


def test_survey_and_reports_agree_on_the_hr_group_name():
    assert views.HR_GROUP_NAME == HR_GROUP


# --- HR preview -------------------------------------------------------------------------------


def test_preview_sends_anonymous_visitors_to_log_in(client, wave):
    url = reverse("surveys:preview", args=[wave.instrument.slug])
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_preview_is_refused_to_users_who_are_not_hr(client, wave):
    client.force_login(UserFactory())
    assert client.get(reverse("surveys:preview", args=[wave.instrument.slug])).status_code == 403


def test_preview_shows_the_survey_as_respondents_see_it_and_stores_nothing(client, wave, token):
    client.force_login(make_hr())
    url = reverse("surveys:preview", args=[wave.instrument.slug])
    preview = client.get(url).content.decode()
    respondent = client.get(answer_url(token)).content.decode()

    def questions(page):
        return re.findall(r'<fieldset class="question[^>]*>.*?</fieldset>', page, re.S)

    assert questions(preview) == questions(respondent)
    response = client.post(url, {"VOICE_RAISE": "4", "COMMENT_OTHER": "test"})
    assert response.status_code == 200
    assert "Preview: nothing stored." in response.content.decode()
    assert (Response.objects.count(), Comment.objects.count()) == (0, 0)


def test_superusers_may_preview(client, wave):
    client.force_login(UserFactory(is_superuser=True))
    assert client.get(reverse("surveys:preview", args=[wave.instrument.slug])).status_code == 200


def test_preview_of_an_unknown_instrument_is_a_404(client):
    client.force_login(make_hr())
    assert client.get(reverse("surveys:preview", args=["nope"])).status_code == 404


def test_survey_pages_cost_a_fixed_number_of_queries(
    client, wave, token, django_assert_max_num_queries
):
    # However many questions the instrument has (50 here).
    with django_assert_max_num_queries(5):
        client.get(answer_url(token))
    with django_assert_max_num_queries(9):
        client.get(open_answer_url(wave))
    with django_assert_max_num_queries(15):
        client.post(answer_url(token), {"VOICE_RAISE": "3", "COMMENT_CHANGE": "x"})


def test_an_edited_question_is_shown_at_once_though_questions_are_cached(client, wave, token):
    """The survey pages keep an instrument's questions per process until it is edited: an
    edit (the admin saves the question) is on the next page served."""
    first = client.get(answer_url(token)).content.decode()
    question = wave.instrument.questions.order_by("pk").first()
    assert html.escape(question.text) in first
    question.text = "How often did someone take credit for your work?"
    question.save()
    again = client.get(answer_url(token)).content.decode()
    assert "How often did someone take credit for your work?" in again
    question.delete()
    assert "How often did someone take credit" not in client.get(answer_url(token)).content.decode()
