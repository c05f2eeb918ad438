"""The respondent's side in a real browser: the whole default survey through an invitation link
at desktop and phone width, with JavaScript off, axe-core on every page type, and no request
to any host but the app's."""

import pytest
from django.urls import reverse

from surveys import services
from surveys.models import Answer, Comment, Question, Response
from tests.factories import UnitFactory, WaveFactory, level

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Answers that open both conditional reporting questions.
TRIGGERS = {"EXP_THREAT": 3, "EXP_SEXUAL": 2, "REPORTED": 2, "WHY_NOT": [1, 4], "SAFE_PLACE": 7}


@pytest.fixture
def survey_wave():
    company = UnitFactory(name="Company")
    team = UnitFactory(name="Warehouse team", parent=company)
    wave = WaveFactory(
        instrument=services.load_default_instrument(),
        units=[company],
        support_resources=(
            "Confidential helpline: 0800 000 000\nReport formally: ethics@example.org"
        ),
    )
    roster = [services.RosterRow(team, level("individual-contributor"), None)] * 8
    tokens = services.create_invitations(wave=wave, roster=roster)
    return wave, tokens


def plan(questions: list[Question]) -> dict[str, object]:
    """One answer for every question, the conditional ones triggered."""
    answers: dict[str, object] = {}
    for index, question in enumerate(questions):
        if question.code in TRIGGERS:
            answers[question.code] = TRIGGERS[question.code]
        elif question.kind in ("agree5", "freq5"):
            answers[question.code] = 1 + index % 5
        elif question.kind == "yesno":
            answers[question.code] = 1
        elif question.kind == "scale11":
            answers[question.code] = index % 11
        elif question.kind == "single":
            answers[question.code] = question.choices[-1]["value"]
        elif question.kind == "multi":
            answers[question.code] = [question.choices[0]["value"]]
        else:
            answers[question.code] = f"Comment for {question.code}: more respect, please."
    return answers


def answer(page, code: str, value) -> None:
    if isinstance(value, str):
        page.fill(f"#{code}-text", value)
    else:
        for choice in value if isinstance(value, list) else [value]:
            page.click(f"label[for='{code}-{choice}']")


def visible_unanswered(page, answered: set[str]) -> list[str]:
    codes = page.eval_on_selector_all(
        "[data-section]:not([hidden]) fieldset[data-question]:not([hidden])",
        "nodes => nodes.map(node => node.dataset.question)",
    )
    return [code for code in codes if code not in answered]


def fill_paged_survey(page, answers: dict[str, object], *, check_width: bool = False) -> int:
    """Answer every visible question page by page; returns the number of pages seen."""
    answered: set[str] = set()
    pages = 0
    while True:
        pages += 1
        heading = page.locator("[data-section]:not([hidden]) .section-title")
        assert heading.count() == 1
        if pages > 1:  # focus moved to the new section's heading
            assert page.evaluate("document.activeElement.classList.contains('section-title')")
        progress = page.get_attribute("[role=progressbar]", "aria-valuenow")
        assert progress is not None and 0 < int(progress) <= 100
        if check_width:
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), (
                f"horizontal scroll on page {pages}"
            )
        # Conditional questions appear while answering, so look again after each round.
        while todo := visible_unanswered(page, answered):
            for code in todo:
                answer(page, code, answers[code])
                answered.add(code)
        if page.is_visible("[data-action=next]"):
            page.click("[data-action=next]")
        else:
            assert page.is_visible("[data-action=submit]")
            assert page.get_attribute("[role=progressbar]", "aria-valuenow") == "100"
            page.click("[data-action=submit]")
            return pages


def assert_stored_exactly(answers: dict[str, object]) -> None:
    assert Response.objects.count() == 1
    expected_values = set()
    expected_texts = set()
    for code, value in answers.items():
        if isinstance(value, str):
            expected_texts.add((code, value))
        else:
            expected_values |= {(code, v) for v in (value if isinstance(value, list) else [value])}
    assert set(Answer.objects.values_list("question__code", "value")) == expected_values
    assert set(Comment.objects.values_list("question__code", "text")) == expected_texts


def test_whole_survey_through_an_invitation_on_desktop(
    live_server, page, survey_wave, axe_check, assert_only_own_host
):
    wave, tokens = survey_wave
    questions = services.questions_of(wave)
    answers = plan(questions)

    page.goto(live_server.url + reverse("surveys:invitation", args=[tokens[0]]))
    assert "What is stored" in page.content()
    assert page.locator("text=Log in").count() == 0
    axe_check(page, "survey-privacy-desktop")

    page.click("text=Start the survey")
    page.wait_for_selector("form.is-paged")
    assert page.is_hidden("#q-REPORTED") and page.is_hidden("#q-WHY_NOT")
    axe_check(page, "survey-form-desktop")

    # A draft survives a reload, in this browser only.
    answer(page, "VOICE_RAISE", answers["VOICE_RAISE"])
    page.wait_for_function(
        "key => (localStorage.getItem(key) || '').includes('VOICE_RAISE')",
        arg=page.get_attribute("form[data-survey]", "data-draft-key"),
    )
    page.reload()
    page.wait_for_selector("form.is-paged")
    assert page.is_checked(f"#VOICE_RAISE-{answers['VOICE_RAISE']}")

    pages = fill_paged_survey(page, answers)
    assert pages == 11
    page.wait_for_selector("text=Thank you")
    assert "Confidential helpline: 0800 000 000<br>" in page.inner_html(".support-resources")
    assert page.evaluate("Object.keys(localStorage).length") == 0
    axe_check(page, "survey-thanks-desktop")

    assert_stored_exactly(answers)
    assert_only_own_host(page, live_server.url)

    # Back and submit again: the link is used, so the page says so and nothing is added.
    page.go_back()
    page.wait_for_load_state()
    assert "already recorded" in page.content()
    assert Response.objects.count() == 1


def test_whole_survey_through_an_invitation_on_a_360_px_phone(
    live_server, phone_page, survey_wave, axe_check, assert_only_own_host
):
    page = phone_page
    wave, tokens = survey_wave
    answers = plan(services.questions_of(wave))
    page.goto(live_server.url + reverse("surveys:invitation", args=[tokens[1]]))
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    axe_check(page, "survey-privacy-phone")
    page.click("text=Start the survey")
    page.wait_for_selector("form.is-paged")
    axe_check(page, "survey-form-phone")
    fill_paged_survey(page, answers, check_width=True)
    page.wait_for_selector("text=Thank you")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    axe_check(page, "survey-thanks-phone")
    assert_stored_exactly(answers)
    assert_only_own_host(page, live_server.url)


def test_double_click_on_submit_stores_one_response(live_server, page, survey_wave):
    wave, tokens = survey_wave
    page.goto(live_server.url + reverse("surveys:invitation_survey", args=[tokens[2]]))
    page.wait_for_selector("form.is-paged")
    answer(page, "VOICE_RAISE", 2)
    while page.is_visible("[data-action=next]"):
        page.click("[data-action=next]")
    page.dblclick("[data-action=submit]")
    page.wait_for_selector("text=Thank you")
    assert Response.objects.count() == 1


def test_keyboard_only_navigation_between_pages(live_server, page, survey_wave):
    wave, tokens = survey_wave
    page.goto(live_server.url + reverse("surveys:invitation_survey", args=[tokens[3]]))
    page.wait_for_selector("form.is-paged")
    page.focus("#VOICE_RAISE-1")
    page.keyboard.press("ArrowDown")  # radios: arrow keys choose
    assert page.is_checked("#VOICE_RAISE-2")
    for _ in range(4):  # one tab stop per question, then the Next button
        page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.dataset.action") == "next"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "section-2-title"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.name") == "CONS_ACTION"
    # Enter inside a field goes to the next page; it never sends the survey early.
    page.keyboard.press("Enter")
    assert Response.objects.count() == 0


def test_long_page_without_javascript_can_be_submitted(
    live_server, new_page, survey_wave, assert_only_own_host
):
    page = new_page(java_script_enabled=False)
    wave, _tokens = survey_wave
    page.goto(live_server.url + wave.get_absolute_url())
    page.click("text=Start the survey")
    # One long page: every section and every question, conditional ones with their note.
    assert page.locator("[data-section]:visible").count() == 12  # "About your role" + 11
    assert page.is_visible("#q-WHY_NOT")
    assert "Answer only if you answered" in page.inner_text("#q-WHY_NOT")
    assert page.is_hidden("[data-progress]")
    # (No axe run here: axe is a script, and scripts are off. The markup is the same page the
    # desktop test checks with scripts on.)
    page.select_option("#about-unit", label="Company › Warehouse team")
    page.check(f"#about-role_level-{level('individual-contributor').pk}")
    answer(page, "VOICE_RAISE", 5)
    answer(page, "EXP_THREAT", 1)  # never: the reporting questions do not apply...
    answer(page, "REPORTED", 2)  # ...so these answers are dropped by the server
    answer(page, "WHY_NOT", [3])
    answer(page, "COMMENT_CHANGE", "Without JavaScript")
    page.click("[data-action=submit]")
    page.wait_for_selector("text=Thank you")
    assert_only_own_host(page, live_server.url)
    response = Response.objects.get()
    # Eight individual contributors on the roster share these: stored as chosen.
    assert (response.unit.name, response.role_level, response.role_level_to) == (
        "Warehouse team",
        level("individual-contributor"),
        None,
    )
    assert set(Answer.objects.values_list("question__code", "value")) == {
        ("VOICE_RAISE", 5),
        ("EXP_THREAT", 1),
    }
    assert Comment.objects.get().text == "Without JavaScript"


def test_errors_show_the_whole_survey_with_a_summary_that_links_to_the_field(
    live_server, page, survey_wave, axe_check
):
    wave, _tokens = survey_wave
    page.goto(live_server.url + reverse("surveys:open_survey", args=[wave.open_link_key]))
    page.wait_for_selector("form.is-paged")
    # Skip the required unit and role level: Next refuses, with a message, and keeps focus.
    page.click("[data-action=next]")
    assert page.is_visible("#section-about-title")
    assert page.evaluate("document.activeElement.id") == "about-unit"
    # Send a comment that is too long (the browser's maxlength is bypassed on purpose).
    page.select_option("#about-unit", index=1)
    page.check(f"#about-role_level-{level('director').pk}")
    while page.is_visible("[data-action=next]"):
        page.click("[data-action=next]")
    page.eval_on_selector(
        "#COMMENT_OTHER-text",
        "el => { el.removeAttribute('maxlength'); el.value = 'x'.repeat(5001); }",
    )
    page.click("[data-action=submit]")
    page.wait_for_selector("#error-summary")
    assert page.evaluate("document.activeElement.id") == "error-summary"
    assert page.locator("form.is-paged").count() == 0  # the long page, so the links work
    page.click("#error-summary a")
    assert page.evaluate("document.activeElement.id") == "COMMENT_OTHER-text"
    assert page.input_value("#COMMENT_OTHER-text") == "x" * 5001  # nothing typed is lost
    axe_check(page, "survey-errors-desktop")
    assert Response.objects.count() == 0
