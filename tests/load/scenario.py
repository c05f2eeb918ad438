"""The server side of the load run, through the ORM on the scratch database: the organisation,
waves and invitations before the run, closing a wave during it, and the checks after it.

Import only after django.setup() with DATABASE_URL pointing at the scratch database.
"""

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django.core.management import call_command
from django.db import connections
from django.utils import timezone

from surveys import services
from surveys.models import (
    Answer,
    Comment,
    FormNonce,
    Invitation,
    Question,
    Response,
    RoleLevel,
    TenureBand,
    Unit,
    Wave,
    hash_token,
)
from tests.load.client import Outcome, QuestionSpec

TEAMS = 4


@dataclass
class Scenario:
    wave_id: int
    open_key: str
    closing_wave_id: int
    closing_open_key: str
    tokens: list[str]
    race_tokens: list[str]
    closing_tokens: list[str]
    probe_token: str
    staff_cookie: str
    questions: list[QuestionSpec] = field(default_factory=list)


def _wave(name: str, instrument, root: Unit) -> Wave:
    now = timezone.now()
    wave = Wave.objects.create(
        name=name,
        instrument=instrument,
        opens_at=now - dt.timedelta(hours=1),
        closes_at=now + dt.timedelta(days=7),
        state=Wave.State.OPEN,
        k=5,
        k_comments=10,
    )
    wave.units.set([root])
    return wave


def _roster(units: list[Unit], count: int) -> list[services.RosterRow]:
    levels = list(RoleLevel.objects.order_by("rank"))
    tenures = list(TenureBand.objects.order_by("rank"))
    return [
        services.RosterRow(
            unit=units[i % len(units)],
            role_level=levels[(i // len(units)) % len(levels)],
            tenure_band=tenures[(i // (len(units) * len(levels))) % len(tenures)],
        )
        for i in range(count)
    ]


def build(*, invitations: int, race_pairs: int, closing_invitations: int) -> Scenario:
    """Migrate the empty scratch database and create a small organisation (a root and four
    teams), an open wave with `invitations + race_pairs + 1` invitations, a second open wave
    that will be closed mid-survey, and a logged-in staff session (to check that a 503 page
    never needs the session)."""
    call_command("migrate", verbosity=0, interactive=False)
    instrument = services.load_default_instrument()
    root = Unit.objects.create(external_id="load", name="Load test organisation")
    teams = [
        Unit.objects.create(external_id=f"load-{i}", name=f"Team {i}", parent=root)
        for i in range(1, TEAMS + 1)
    ]
    wave = _wave("Load run", instrument, root)
    tokens = services.create_invitations(
        wave=wave, roster=_roster(teams, invitations + race_pairs + 1)
    )
    closing = _wave("Closes mid-survey", instrument, root)
    closing_tokens = services.create_invitations(
        wave=closing, roster=_roster(teams, closing_invitations)
    )
    user = get_user_model().objects.create_user(username="load-staff", password=None)
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    questions = [
        QuestionSpec(
            code=q.code,
            kind=q.kind,
            values=tuple(
                sorted(
                    services.KIND_VALUES.get(q.kind)
                    or {int(choice["value"]) for choice in q.choices}
                )
            )
            if q.kind != Question.Kind.TEXT
            else (),
        )
        for q in services.questions_of(wave)
    ]
    scenario = Scenario(
        wave_id=wave.pk,
        open_key=wave.open_link_key,
        closing_wave_id=closing.pk,
        closing_open_key=closing.open_link_key,
        tokens=tokens[:invitations],
        race_tokens=tokens[invitations : invitations + race_pairs],
        closing_tokens=closing_tokens,
        probe_token=tokens[-1],
        staff_cookie=f"sessionid={session.session_key}",
        questions=questions,
    )
    connections.close_all()
    return scenario


def close_wave(wave_id: int) -> None:
    """HR closes the wave (as the wave page does: the state changes, nothing else)."""
    Wave.objects.filter(pk=wave_id).update(state=Wave.State.CLOSED)
    connections.close_all()


# --- Checks -----------------------------------------------------------------------------------


@dataclass
class Stored:
    responses: int
    answers: int
    comments: int
    used_invitations: int
    used_nonces: int
    expected_responses: int
    expected_answers: int
    expected_comments: int
    duplicates: int  # responses stored beyond the submissions that reached their page
    lost: int  # submissions that reached their page and are not stored as sent
    half_stored: int  # stored responses whose answers are not a submission's full set
    phantom_invitations: int  # used, but no respondent was told their answers are stored
    unmarked_invitations: int  # stored, but the invitation is not marked used
    violations: list[str] = field(default_factory=list)


def _expected(questions: list[Question], answers: dict[str, object]) -> tuple[tuple, int]:
    clean = services.clean_answers(questions=questions, raw=answers)
    return tuple(sorted((q.code, v) for q, v in clean.values)), len(clean.texts)


def check_wave(*, wave_id: int, outcomes: list[Outcome]) -> Stored:
    """Compare what the database holds for a wave with what the respondents were told.

    Every respondent who reached the thank-you page ("stored") or the "already recorded" page
    after a 503 must have exactly one response with exactly the answers they sent; nothing
    else may be stored; each of their invitations or form nonces is used, and no other."""
    wave = Wave.objects.get(pk=wave_id)
    questions = services.questions_of(wave)
    done = [o for o in outcomes if o.result in ("stored", "already")]
    unknown = {o.key for o in outcomes if o.result in ("unresolved", "unexpected")}
    expected: Counter = Counter()
    expected_comments = 0
    for outcome in done:
        fingerprint, comments = _expected(questions, outcome.answers)
        expected[fingerprint] += 1
        expected_comments += comments
    by_response: dict = defaultdict(list)
    rows = Answer.objects.filter(response__wave_id=wave_id).values_list(
        "response_id", "question__code", "value"
    )
    for response_id, code, value in rows.iterator(chunk_size=20000):
        by_response[response_id].append((code, value))
    response_ids = list(Response.objects.filter(wave_id=wave_id).values_list("pk", flat=True))
    stored = Counter(tuple(sorted(by_response.get(pk, []))) for pk in response_ids)
    extra, missing = stored - expected, expected - stored
    # An extra fingerprint that is a strict part of a missing one is a half-stored response.
    missing_sets = [set(fp) for fp in missing]
    half = sum(n for fp, n in extra.items() if any(set(fp) < m for m in missing_sets))

    def hashes(kind: str) -> set[str]:
        return {hash_token(o.key) for o in done if o.kind == kind}

    unknown_hashes = {hash_token(key) for key in unknown if key}
    used = set(
        Invitation.objects.filter(wave_id=wave_id, used=True).values_list("token_hash", flat=True)
    )
    used_nonces = set(
        FormNonce.objects.filter(wave_id=wave_id, used=True).values_list("nonce_hash", flat=True)
    )
    result = Stored(
        responses=len(response_ids),
        answers=sum(len(v) for v in by_response.values()),
        comments=Comment.objects.filter(wave_id=wave_id).count(),
        used_invitations=len(used),
        used_nonces=len(used_nonces),
        expected_responses=len(done),
        expected_answers=sum(len(fp) * n for fp, n in expected.items()),
        expected_comments=expected_comments,
        duplicates=sum(extra.values()) - half,
        lost=sum(missing.values()),
        half_stored=half,
        phantom_invitations=len(
            (used | used_nonces) - hashes("invitation") - hashes("open") - unknown_hashes
        ),
        unmarked_invitations=len(hashes("invitation") - used) + len(hashes("open") - used_nonces),
    )
    v = result.violations
    if result.responses != result.expected_responses:
        v.append(f"{result.responses} responses stored, {result.expected_responses} submitted")
    if result.answers != result.expected_answers:
        v.append(f"{result.answers} answers stored, {result.expected_answers} expected")
    if result.comments != result.expected_comments:
        v.append(f"{result.comments} comments stored, {result.expected_comments} expected")
    for name in ("duplicates", "lost", "half_stored", "phantom_invitations"):
        if getattr(result, name):
            v.append(f"{getattr(result, name)} {name.replace('_', ' ')}")
    if result.unmarked_invitations:
        v.append(f"{result.unmarked_invitations} stored submissions whose link is not marked used")
    if result.used_invitations + result.used_nonces != result.responses and not unknown:
        v.append(
            f"{result.used_invitations} used invitations + {result.used_nonces} used form nonces"
            f" != {result.responses} responses"
        )
    connections.close_all()
    return result
