"""The respondent's pages: privacy notice, survey, thank-you, and HR's preview.

Every page here goes through `survey_view`: no caching, no referrer, no CSRF cookie. Views stay
thin: the rules (who may answer, what is stored, coarsening, one response per link or form) are
in `surveys.services`; validation is in `surveys.forms`.
"""

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.shortcuts import redirect, render
from django.urls import Resolver404, resolve
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from surveys import services
from surveys.forms import AboutYouForm, SurveyForm, answers_from_data
from surveys.models import Instrument, Wave
from surveys.services import AlreadySubmitted, SubmissionRefused

# The name of the HR admins' group. It mirrors reports.access.HR_GROUP (a test checks they are
# equal): surveys never imports reports, and a group check keeps "who is HR" identical in both
# apps without inventing a permission that the HR group would also have to be given.
HR_GROUP_NAME = "HR admins"


def survey_view(view):
    """Wrap a respondent page: `Cache-Control: no-store` (nothing kept by the browser or a
    proxy), `Referrer-Policy: no-referrer` (the token in the path never reaches another site),
    and no cookie at all.

    CSRF is exempt on purpose, and it is safe: CSRF protects a logged-in user's session from a
    forged request, but these pages change nothing for any user, and a forged POST needs the
    secret invitation token or the one-time form nonce, which are the anti-replay guard here.
    Exempting also means no CSRF cookie is ever set, so the survey leaves nothing in the
    browser that could show someone took part (templates here never use `{% csrf_token %}`)."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        response["Cache-Control"] = "no-store"
        response["Referrer-Policy"] = "no-referrer"
        response["X-Robots-Tag"] = "noindex, nofollow"  # a leaked link stays out of search
        return response

    return csrf_exempt(require_http_methods(["GET", "HEAD", "POST"])(wrapped))


# --- Helpers ----------------------------------------------------------------------------------


def _draft_key(wave: Wave, token: str | None = None) -> str:
    """The localStorage key of a respondent's draft. Per wave, and per link for invitations,
    so two people who share a device do not see each other's drafts. The token itself is never
    stored: only a keyed hash of it."""
    key = f"powerclimate-draft-{wave.pk}"
    if token:
        key += "-" + salted_hmac("surveys.draft", token).hexdigest()[:16]
    return key


def _page(request, template: str, context: dict, status: int = 200):
    return render(request, f"surveys/{template}", context, status=status)


def _not_found(request):
    return _page(
        request,
        "message.html",
        {
            "title": _("This survey link is not valid"),
            "message": _("Check that the whole link was copied, or ask for a new one."),
        },
        status=404,
    )


def _thanks(request, *, wave: Wave, draft_key: str, already: bool = False):
    return _page(
        request,
        "thanks.html",
        {"wave": wave, "draft_key": draft_key, "already": already},
    )


def _refused(request, error: SubmissionRefused, *, draft_key: str = ""):
    """The page for a submission or link that cannot go ahead. Nothing was stored."""
    if isinstance(error, AlreadySubmitted) and error.wave is not None:
        return _thanks(request, wave=error.wave, draft_key=draft_key, already=True)
    titles = {
        services.WaveNotOpen: _("This survey is not open"),
        services.InvitationExpired: _("This survey link has expired"),
        services.InvitationInvalid: _("This survey link is not valid"),
    }
    title = next(
        (text for kind, text in titles.items() if isinstance(error, kind)),
        _("Your answers were not stored"),
    )
    return _page(
        request,
        "message.html",
        {"title": title, "message": error.message, "wave": error.wave},
        status=error.status,
    )


def _open_wave(key: str) -> Wave:
    # A key is 32 URL-safe characters; anything else (a NUL, which PostgreSQL cannot even
    # compare, or a huge string) names no wave.
    if len(key) > 64 or "\x00" in key:
        raise services.InvitationInvalid(_("This survey link is not valid."))
    wave = Wave.objects.select_related("instrument").filter(open_link_key=key).first()
    if wave is None:
        raise services.InvitationInvalid(_("This survey link is not valid."))
    return wave


def _can_preview(user) -> bool:
    return user.is_active and (user.is_superuser or user.groups.filter(name=HR_GROUP_NAME).exists())


def _survey_context(*, form, about=None, wave=None, draft_key="", preview=False) -> dict:
    errors = (about.error_links() if about is not None and about.is_bound else []) + (
        form.error_links() if form.is_bound else []
    )
    errors += [("survey-form", _("Your answers"), message) for message in form.non_field_errors()]
    return {
        "form": form,
        "sections": form.sections(),
        "about": about,
        "about_options": about.options() if about is not None else None,
        "wave": wave,
        "error_links": errors,
        "draft_key": draft_key,
        "preview": preview,
    }


# --- Open link: /s/w/<key>/ -------------------------------------------------------------------


@survey_view
def open_link(request, key: str):
    """The privacy notice of an open link; the survey follows on the next page."""
    try:
        wave = _open_wave(key)
        services.check_wave_open(wave)
    except SubmissionRefused as error:
        return _refused(request, error) if error.wave else _not_found(request)
    return _page(
        request,
        "privacy.html",
        {
            "wave": wave,
            "start_url": redirect("surveys:open_survey", key).url,
        },
    )


@survey_view
def open_survey(request, key: str):
    try:
        wave = _open_wave(key)
        services.check_wave_open(wave)
    except SubmissionRefused as error:
        return _refused(request, error, draft_key="") if error.wave else _not_found(request)
    draft_key = _draft_key(wave)
    units = services.wave_units(wave)
    questions = services.questions_of(wave)
    if request.method != "POST":
        about = AboutYouForm(units=units)
        form = SurveyForm(questions=questions)
        nonce = services.issue_form_nonce(wave=wave)
    else:
        about = AboutYouForm(request.POST, units=units)
        nonce = request.POST.get("about-nonce", "")
        # The form is built only to show the page again (see invitation_survey).
        answers = answers_from_data(questions, request.POST)
        about_valid = about.is_valid()
        form = None
        if answers is None or not about_valid:
            form = SurveyForm(request.POST, questions=questions)
            form.is_valid()  # its errors are shown beside those about the respondent
        else:
            try:
                services.submit_response(
                    wave=wave,
                    answers=answers,
                    nonce=nonce or None,
                    unit=about.cleaned_data["unit"],
                    role_level=about.cleaned_data["role_level"],
                    tenure_band=about.cleaned_data["tenure_band"],
                    questions=questions,
                )
            except services.InvalidAnswers as error:
                form = SurveyForm(request.POST, questions=questions)
                if form.is_valid():  # else the form already says what the service said
                    _add_errors(error, form=form, about=about)
            except SubmissionRefused as error:
                return _refused(request, error, draft_key=draft_key)
            else:
                return redirect("surveys:open_thanks", key)
        # Shown again with everything typed. A nonce that is missing, forged or already used
        # is replaced, so that fixing the errors and sending again can store the response.
        if not services.form_nonce_is_usable(wave=wave, nonce=nonce):
            nonce = services.issue_form_nonce(wave=wave)
    context = _survey_context(form=form, about=about, wave=wave, draft_key=draft_key)
    context["nonce"] = nonce
    return _page(request, "survey.html", context)


@survey_view
def open_thanks(request, key: str):
    try:
        wave = _open_wave(key)
    except SubmissionRefused:
        return _not_found(request)
    return _thanks(request, wave=wave, draft_key=_draft_key(wave))


# --- Invitation: /s/i/<token>/ ----------------------------------------------------------------


@survey_view
def invitation(request, token: str):
    """The privacy notice of a personal link, showing the group the answers will be stored
    under (after coarsening against the roster)."""
    try:
        invitation = services.invitation_for_token(token)
        services.check_wave_open(invitation.wave)
    except SubmissionRefused as error:
        return _refused(request, error, draft_key=_token_draft_key(error, token))
    stored = services.coarsen(
        wave=invitation.wave,
        attributes=services.Attributes(
            unit=invitation.unit,
            role_level=invitation.role_level,
            tenure_band=invitation.tenure_band,
        ),
    )
    return _page(
        request,
        "privacy.html",
        {
            "wave": invitation.wave,
            "stored": stored,
            "start_url": redirect("surveys:invitation_survey", token).url,
        },
    )


@survey_view
def invitation_survey(request, token: str):
    try:
        invitation = services.invitation_for_token(token)
        services.check_wave_open(invitation.wave)
    except SubmissionRefused as error:
        return _refused(request, error, draft_key=_token_draft_key(error, token))
    wave = invitation.wave
    draft_key = _draft_key(wave, token)
    questions = services.questions_of(wave)
    if request.method != "POST":
        form = SurveyForm(questions=questions)
        return _page(
            request, "survey.html", _survey_context(form=form, wave=wave, draft_key=draft_key)
        )
    # The usual case, valid answers, is stored without building the form's 50 fields; the
    # form is built only to show the page again with its messages.
    answers = answers_from_data(questions, request.POST)
    form = SurveyForm(request.POST, questions=questions) if answers is None else None
    if form is None or form.is_valid():
        try:
            services.submit_response(
                wave=wave,
                answers=answers if form is None else form.answers(),
                invitation_token=token,
                invitation=invitation,
                questions=questions,
            )
        except services.InvalidAnswers as error:
            form = form or SurveyForm(request.POST, questions=questions)
            if form.is_valid():  # else the form already says what the service said
                _add_errors(error, form=form)
        except SubmissionRefused as error:
            return _refused(request, error, draft_key=draft_key)
        else:
            return redirect("surveys:invitation_thanks", token)
    return _page(request, "survey.html", _survey_context(form=form, wave=wave, draft_key=draft_key))


@survey_view
def invitation_thanks(request, token: str):
    try:
        services.invitation_for_token(token)
    except AlreadySubmitted as done:
        return _thanks(request, wave=done.wave, draft_key=_draft_key(done.wave, token))
    except SubmissionRefused as error:
        return _refused(request, error, draft_key=_token_draft_key(error, token))
    return redirect("surveys:invitation", token)  # not answered yet


def _token_draft_key(error: SubmissionRefused, token: str) -> str:
    return _draft_key(error.wave, token) if error.wave is not None else ""


def _add_errors(error: services.InvalidAnswers, *, form, about=None) -> None:
    for code, message in error.errors.items():
        if about is not None and code in about.fields:
            about.add_error(code, message)
        else:
            form.add_error(code if code in form.fields else None, message)


# --- HR preview: /s/preview/<slug>/ -----------------------------------------------------------


@survey_view
def preview(request, slug: str):
    """An instrument exactly as a respondent sees it, for HR admins. A POST only checks the
    answers and shows the page again: nothing is stored."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if not _can_preview(request.user):
        return _page(
            request,
            "message.html",
            {
                "title": _("Only HR admins can preview surveys"),
                "message": _("Ask an HR admin if you need to see this survey."),
            },
            status=403,
        )
    instrument = Instrument.objects.filter(slug=slug).first()
    if instrument is None:
        return _page(
            request,
            "message.html",
            {"title": _("No such survey"), "message": _("Check the address.")},
            status=404,
        )
    questions = services.instrument_questions(instrument_id=instrument.pk)
    form = SurveyForm(request.POST if request.method == "POST" else None, questions=questions)
    if request.method == "POST":
        form.is_valid()
    context = _survey_context(form=form, preview=True)
    context.update({"instrument": instrument, "preview_posted": request.method == "POST"})
    return _page(request, "survey.html", context)


# --- Anything else under /s/ ------------------------------------------------------------------


@survey_view
def not_found(request, rest: str = ""):
    """Unknown survey paths get the survey's own 404 page and headers. A link whose final slash
    was lost (some mail programs trim it) is sent to the right place."""
    if not request.path.endswith("/"):
        try:
            match = resolve(request.path + "/")
        except Resolver404:
            match = None
        if match is not None and match.url_name != "not_found":
            return redirect(request.path + "/")
    return _not_found(request)
