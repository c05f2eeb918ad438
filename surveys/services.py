"""Writes of the surveys app: each a keyword-only function with one transaction.

The anonymity invariants of collection (DESIGN points 1-3) live here: a response stores only
its group attributes, coarsened against the roster; an invitation is marked used in the same
transaction that stores the response, and nothing records which response it produced.
"""

import json
import secrets
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

from django.db import IntegrityError, connection, transaction
from django.db.models import F, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from surveys.models import (
    Answer,
    Comment,
    Dimension,
    FormNonce,
    Headcount,
    Instrument,
    Invitation,
    Question,
    Response,
    RoleLevel,
    Section,
    TenureBand,
    Unit,
    Wave,
    hash_token,
)
from surveys.signals import response_submitted

DEFAULT_INSTRUMENT = Path(__file__).resolve().parent / "instruments" / "power_climate.json"
MAX_COMMENT_CHARS = 5000

KIND_VALUES = {
    Question.Kind.AGREE5: frozenset(range(1, 6)),
    Question.Kind.FREQ5: frozenset(range(1, 6)),
    Question.Kind.YESNO: frozenset({1, 2, 9}),
    Question.Kind.SCALE11: frozenset(range(0, 11)),
}


# --- Errors a respondent can meet: each carries a message for the page ----------------------


class SubmissionRefused(Exception):
    """The submission was not stored; `message` says why in words for the respondent, and
    `wave` is the wave concerned when it is known (for the page's support resources)."""

    status = 400

    def __init__(self, message: str, *, wave: Wave | None = None):
        self.message = message
        self.wave = wave
        super().__init__(message)


class WaveNotOpen(SubmissionRefused):
    status = 410


class InvitationInvalid(SubmissionRefused):
    status = 404


class InvitationExpired(InvitationInvalid):
    """The link is genuine but past its expiry date: gone, not unknown."""

    status = 410


class AlreadySubmitted(SubmissionRefused):
    """The link or form was already used: the earlier submission stands, nothing new is stored."""

    status = 200


class InvalidAnswers(SubmissionRefused):
    def __init__(self, errors: Mapping[str, str]):
        self.errors = dict(errors)
        super().__init__(_("Some answers need your attention."))


# --- The instrument ---------------------------------------------------------------------------


@transaction.atomic
def load_instrument(*, data: Mapping, slug: str | None = None) -> Instrument:
    """Create or update an instrument from its data-file form (see
    surveys/instruments/power_climate.json). Idempotent: loading the same data twice changes
    nothing; questions are matched by code, so waves that used them keep their answers."""
    slug = slug or data["slug"]
    instrument, _created = Instrument.objects.update_or_create(
        slug=slug,
        defaults={
            "name": data["name"],
            "description": data.get("description", ""),
            "language": data.get("language", "en"),
        },
    )
    dimensions = {}
    for order, item in enumerate(data.get("dimensions", []), start=1):
        dimensions[item["code"]], _ = Dimension.objects.update_or_create(
            instrument=instrument,
            code=item["code"],
            defaults={
                "name": item["name"],
                "description": item.get("description", ""),
                "order": item.get("order", order),
            },
        )
    seen_codes: set[str] = set()
    for section_order, section_data in enumerate(data["sections"], start=1):
        section, _ = Section.objects.update_or_create(
            instrument=instrument,
            order=section_order,
            defaults={"title": section_data["title"], "intro": section_data.get("intro", "")},
        )
        for order, item in enumerate(section_data["questions"], start=1):
            for condition in item.get("show_if", []):
                if condition["question"] not in seen_codes:
                    raise ValueError(f"{item['code']}: show_if refers to a later or unknown code")
            seen_codes.add(item["code"])
            Question.objects.update_or_create(
                instrument=instrument,
                code=item["code"],
                defaults={
                    "section": section,
                    "order": order,
                    "kind": item["kind"],
                    "purpose": item.get("purpose", Question.Purpose.OTHER),
                    "topic": item.get("topic", ""),
                    "text": item["text"],
                    "help_text": item.get("help_text", ""),
                    "dimension": dimensions.get(item.get("dimension")),
                    "reverse_scored": item.get("reverse", False),
                    "choices": item.get("choices", []),
                    "show_if": item.get("show_if", []),
                },
            )
    return instrument


def load_default_instrument() -> Instrument:
    """The shipped "Power Climate" instrument, loaded or refreshed."""
    return load_instrument(data=json.loads(DEFAULT_INSTRUMENT.read_text(encoding="utf-8")))


@transaction.atomic
def copy_instrument(
    *, instrument: Instrument, slug: str | None = None, name: str | None = None
) -> Instrument:
    """A new, editable instrument with the same dimensions, sections and questions."""
    base = slug or f"{instrument.slug}-copy"
    slug, number = base, 1
    while Instrument.objects.filter(slug=slug).exists():
        number += 1
        slug = f"{base}-{number}"
    copy = Instrument.objects.create(
        slug=slug,
        name=name or _("Copy of %(name)s") % {"name": instrument.name},
        description=instrument.description,
        language=instrument.language,
        copied_from=instrument,
    )
    dimension_map = {}
    for dimension in instrument.dimensions.all():
        old_pk = dimension.pk
        dimension.pk, dimension.instrument = None, copy
        dimension.save()
        dimension_map[old_pk] = dimension
    section_map = {}
    for section in instrument.sections.all():
        old_pk = section.pk
        section.pk, section.instrument = None, copy
        section.save()
        section_map[old_pk] = section
    Question.objects.bulk_create(
        [
            Question(
                instrument=copy,
                section=section_map[q.section_id],
                dimension=dimension_map.get(q.dimension_id),
                code=q.code,
                kind=q.kind,
                purpose=q.purpose,
                topic=q.topic,
                text=q.text,
                help_text=q.help_text,
                order=q.order,
                reverse_scored=q.reverse_scored,
                choices=q.choices,
                show_if=q.show_if,
                translations=q.translations,
            )
            for q in instrument.questions.all()
        ]
    )
    # bulk_create sends no post_save: renew the revision for the question caches by hand.
    Instrument.objects.filter(pk=copy.pk).update(revision=uuid.uuid4())
    return copy


# --- Roster, invitations and coarsening -------------------------------------------------------


@dataclass(frozen=True)
class Attributes:
    """The group attributes stored with a response (after coarsening)."""

    unit: Unit
    role_level: RoleLevel
    role_level_to: RoleLevel | None = None
    tenure_band: TenureBand | None = None


@dataclass(frozen=True)
class RosterRow:
    unit: Unit
    role_level: RoleLevel
    tenure_band: TenureBand | None


@transaction.atomic
def create_invitations(*, wave: Wave, roster: Sequence[RosterRow], expires_at=None) -> list[str]:
    """One single-use token per roster row, in roster order; only their hashes are stored.
    The roster also sets the wave's headcounts (response rates, coarsening). Returns the raw
    tokens, which exist nowhere else: the caller hands them out and forgets them."""
    tokens = [secrets.token_urlsafe(24) for _row in roster]
    invitations = [
        Invitation(
            wave=wave,
            token_hash=hash_token(token),
            unit=row.unit,
            role_level=row.role_level,
            tenure_band=row.tenure_band,
            expires_at=expires_at,
        )
        for token, row in zip(tokens, roster, strict=True)
    ]
    # Stored in random order: sequential ids in roster order would tell anyone holding the
    # roster which line (which person) an invitation row belongs to.
    secrets.SystemRandom().shuffle(invitations)
    Invitation.objects.bulk_create(invitations)
    counts: dict[tuple[int, int, int | None], int] = {}
    for row in roster:
        key = (row.unit.pk, row.role_level.pk, row.tenure_band.pk if row.tenure_band else None)
        counts[key] = counts.get(key, 0) + 1
    for (unit_id, role_id, tenure_id), people in counts.items():
        updated = Headcount.objects.filter(
            wave=wave, unit_id=unit_id, role_level_id=role_id, tenure_band_id=tenure_id
        ).update(people=F("people") + people)
        if not updated:
            Headcount.objects.create(
                wave=wave,
                unit_id=unit_id,
                role_level_id=role_id,
                tenure_band_id=tenure_id,
                people=people,
            )
    # Coarsening read the old headcounts: results kept under the old revision are forgotten.
    Wave.objects.filter(pk=wave.pk).update(roster_revision=uuid.uuid4())
    return tokens


# The roster index of a wave per process, for the submission path: its headcounts summed per
# unit subtree, read once per (wave, roster revision). A wave's headcounts change only with a
# new roster revision (create_invitations); the organisation tree can change under an open
# wave, so an index is also kept for a minute at most.
_ROSTERS: dict[tuple, tuple[float, "_RosterIndex"]] = {}
_ROSTERS_KEPT = 8
COARSENED_SECONDS = 60.0


class _RosterIndex:
    """A wave's roster summed per unit over its subtree: {unit id: {(rank, tenure id): people}},
    with the units (for their parents) and role levels, from three reads."""

    def __init__(self, wave: Wave):
        self.units = {unit.pk: unit for unit in Unit.objects.all()}
        self.levels = list(RoleLevel.objects.order_by("rank"))
        self.tenures = {band.pk: band for band in TenureBand.objects.all()}
        ranks = {level.pk: level.rank for level in self.levels}
        self.subtree: dict[int, dict[tuple[int, int | None], int]] = {}
        for unit_id, role_id, tenure_id, people in Headcount.objects.filter(wave=wave).values_list(
            "unit_id", "role_level_id", "tenure_band_id", "people"
        ):
            cell = (ranks[role_id], tenure_id)
            while unit_id is not None:
                counts = self.subtree.setdefault(unit_id, {})
                counts[cell] = counts.get(cell, 0) + people
                unit_id = self.units[unit_id].parent_id

    def people(self, unit: Unit, ranks: tuple[int, int], tenure_id: int | None) -> int:
        return sum(
            count
            for (rank, tenure), count in self.subtree.get(unit.pk, {}).items()
            if ranks[0] <= rank <= ranks[1] and (tenure_id is None or tenure == tenure_id)
        )


def coarsen_invitation(*, wave: Wave, invitation: Invitation) -> Attributes:
    """`coarsen` for an invitation's roster cell, from the process's roster index of the wave
    (no query once the index is read)."""
    key = (wave.pk, wave.roster_revision)
    now = time.monotonic()
    kept = _ROSTERS.get(key)
    if kept is None or now - kept[0] >= COARSENED_SECONDS:
        if len(_ROSTERS) >= _ROSTERS_KEPT:
            _ROSTERS.clear()
        kept = _ROSTERS[key] = (now, _RosterIndex(wave))
    roster = kept[1]
    if not roster.subtree:
        # No roster for this wave: nothing is known about group sizes (as in `coarsen`).
        return Attributes(
            unit=invitation.unit,
            role_level=invitation.role_level,
            tenure_band=invitation.tenure_band,
        )
    levels = {level.pk: level for level in roster.levels}
    return _coarsened(
        k=wave.k,
        attributes=Attributes(
            unit=roster.units[invitation.unit_id],
            role_level=levels[invitation.role_level_id],
            tenure_band=roster.tenures.get(invitation.tenure_band_id),
        ),
        people=roster.people,
        parent=lambda unit: roster.units[unit.parent_id],
        levels=lambda: roster.levels,
    )


def coarsen(*, wave: Wave, attributes: Attributes) -> Attributes:
    """Coarsen a respondent's attributes until the roster shows at least k people sharing them
    (DESIGN point 3): drop the tenure band first, then replace the unit by its parent, then
    merge the role level with its neighbour. Without a roster for the wave nothing is known
    about group sizes, so the attributes are kept (the wave page warns HR)."""
    # Rows are read per subtree, only as far up as coarsening has to go: a typical
    # respondent's group is large enough at their own unit, which is one small indexed read.
    loaded: dict[str, list[tuple[int, int | None, int]]] = {}

    def people(unit: Unit, ranks: tuple[int, int], tenure_id: int | None) -> int:
        if unit.path not in loaded:
            loaded[unit.path] = list(
                Headcount.objects.filter(wave=wave, unit__path__startswith=unit.path).values_list(
                    "role_level__rank", "tenure_band_id", "people"
                )
            )
        return sum(
            count
            for rank, tenure, count in loaded[unit.path]
            if ranks[0] <= rank <= ranks[1] and (tenure_id is None or tenure == tenure_id)
        )

    unit = attributes.unit
    people(unit, (attributes.role_level.rank,) * 2, None)  # reads the unit's subtree
    if not loaded[unit.path] and not Headcount.objects.filter(wave=wave).exists():
        return attributes  # no roster for this wave at all
    return _coarsened(
        k=wave.k,
        attributes=attributes,
        people=people,
        parent=lambda unit: unit.parent,
        levels=lambda: list(RoleLevel.objects.order_by("rank")),
    )


def _coarsened(*, k: int, attributes: Attributes, people, parent, levels) -> Attributes:
    """The coarsening steps of `coarsen`, over any source of roster counts: `people(unit,
    (low rank, high rank), tenure id or None)`, `parent(unit)`, and `levels()` in rank order."""
    unit = attributes.unit
    tenure = attributes.tenure_band
    low = high = attributes.role_level
    ranks = (low.rank, high.rank)
    if tenure is not None and people(unit, ranks, tenure.pk) < k:
        tenure = None
    while people(unit, ranks, None) < k and unit.parent_id is not None:
        unit = parent(unit)
    if people(unit, ranks, None) >= k:  # the usual case: no level to merge
        return Attributes(unit=unit, role_level=low, role_level_to=None, tenure_band=tenure)
    ordered = levels()
    while people(unit, ranks, None) < k and (
        ordered[0].rank < low.rank or high.rank < ordered[-1].rank
    ):
        # Merge with the smaller neighbour band, preferring the one above at equal size.
        below = [level for level in ordered if level.rank < low.rank]
        above = [level for level in ordered if level.rank > high.rank]
        candidates = []
        if above:
            candidates.append((people(unit, (above[0].rank, above[0].rank), None), 0, above[0]))
        if below:
            candidates.append((people(unit, (below[-1].rank, below[-1].rank), None), 1, below[-1]))
        _count, _order, neighbour = min(candidates, key=lambda c: (c[0], c[1]))
        if neighbour.rank > high.rank:
            high = neighbour
        else:
            low = neighbour
        ranks = (low.rank, high.rank)
    return Attributes(
        unit=unit,
        role_level=low,
        role_level_to=high if high.pk != low.pk else None,
        tenure_band=tenure,
    )


# --- Answers ----------------------------------------------------------------------------------


@dataclass
class CleanAnswers:
    values: list[tuple[Question, int]] = field(default_factory=list)
    texts: list[tuple[Question, str]] = field(default_factory=list)


def visible_questions(questions: Sequence[Question], raw: Mapping[str, object]) -> list[Question]:
    """The questions a respondent is shown, given their answers so far (show_if conditions
    refer only to earlier questions)."""
    # Only the answers a condition refers to are needed: a few of an instrument's questions.
    referred = {c["question"] for question in questions for c in question.show_if or ()}
    chosen: dict[str, set[int]] = {}
    shown = []
    for question in questions:
        if question.show_if and not any(
            chosen.get(condition["question"], set()) & set(condition["values"])
            for condition in question.show_if
        ):
            continue
        shown.append(question)
        if question.code in referred:
            value = raw.get(question.code)
            values = value if isinstance(value, list | tuple) else [value]
            chosen[question.code] = {v for v in values if isinstance(v, int)}
    return shown


def clean_answers(*, questions: Sequence[Question], raw: Mapping[str, object]) -> CleanAnswers:
    """Check every answer against its question; raise InvalidAnswers with one message per bad
    question code. Answers to questions the respondent was not shown are dropped. Every
    question may be skipped."""
    errors: dict[str, str] = {}
    known = {q.code for q in questions}
    unknown = [code for code in raw if code not in known]
    for code in unknown[:5]:
        errors[code] = _("This question is not part of the survey.")
    result = CleanAnswers()
    for question in visible_questions(questions, raw):
        value = raw.get(question.code)
        if value is None or value == "" or value == []:
            continue
        if question.kind == Question.Kind.TEXT:
            if not isinstance(value, str):
                errors[question.code] = _("Please write text here.")
            elif len(value) > MAX_COMMENT_CHARS:
                errors[question.code] = _(
                    "Please keep this answer under %(max)s characters (it has %(n)s)."
                ) % {"max": MAX_COMMENT_CHARS, "n": len(value)}
            elif value.strip():
                result.texts.append((question, value.strip()))
            continue
        allowed = KIND_VALUES.get(question.kind) or frozenset(
            int(choice["value"]) for choice in question.choices
        )
        values = value if isinstance(value, list | tuple) else [value]
        if question.kind != Question.Kind.MULTI and len(values) != 1:
            errors[question.code] = _("Please choose one answer.")
            continue
        if (
            not all(isinstance(v, int) and not isinstance(v, bool) for v in values)
            or not set(values) <= allowed
        ):
            errors[question.code] = _("Please choose one of the answers offered.")
            continue
        result.values.extend((question, v) for v in sorted(set(values)))
    if errors:
        raise InvalidAnswers(errors)
    return result


# An instrument's questions per (instrument, revision), for the survey pages: read once per
# process until the instrument is edited (its revision is renewed then). A few instruments.
_QUESTIONS: dict[tuple[int, uuid.UUID], list[Question]] = {}
_QUESTIONS_KEPT = 16


def questions_of(wave: Wave) -> list[Question]:
    """The wave's questions in order. Read from the database once per instrument revision
    (load the wave with `select_related("instrument")` to save the revision's read); the
    Question objects are shared, so callers must not change them."""
    instrument = wave.instrument
    key = (instrument.pk, instrument.revision)
    questions = _QUESTIONS.get(key)
    if questions is None:
        questions = instrument_questions(instrument_id=instrument.pk)
        if len(_QUESTIONS) >= _QUESTIONS_KEPT:
            _QUESTIONS.clear()
        _QUESTIONS[key] = questions
    return list(questions)


def forget_cached_questions() -> None:
    """Empty the questions and coarsening caches (tests roll the database back under them)."""
    _QUESTIONS.clear()
    _ROSTERS.clear()


def instrument_questions(*, instrument_id: int) -> list[Question]:
    """An instrument's questions in the order a respondent meets them."""
    return list(
        Question.objects.filter(instrument_id=instrument_id).order_by(
            "section__order", "order", "pk"
        )
    )


# --- Submission -------------------------------------------------------------------------------


def issue_form_nonce(*, wave: Wave) -> str:
    """A one-time token for an open-link form; its use is recorded apart from the response."""
    nonce = secrets.token_urlsafe(24)
    FormNonce.objects.create(wave=wave, nonce_hash=hash_token(nonce))
    return nonce


def form_nonce_is_usable(*, wave: Wave, nonce: str | None) -> bool:
    """Whether an open-link form nonce was issued for this wave and not used yet."""
    if not nonce or len(nonce) > 100:
        return False
    # Found by its unique hash alone, the wave compared here (see _claim_sql on why).
    waves = FormNonce.objects.filter(nonce_hash=hash_token(nonce), used=False)
    return wave.pk in waves.values_list("wave_id", flat=True)


# The survey pages' one read of an invitation with its wave and the wave's instrument, as
# `Invitation.objects.select_related("wave__instrument").for_token(token).first()` would read
# it: the statement and the columns' converters are built once per process (compiling that
# queryset cost more CPU than the rest of a submission's reads and writes together).
_JOINED = (("i", Invitation), ("w", Wave), ("n", Instrument))
_INVITATION_READ: dict[str, tuple[str, list]] = {}


def _invitation_statement() -> tuple[str, list]:
    built = _INVITATION_READ.get(connection.vendor)
    if built is None:
        quote = connection.ops.quote_name
        columns, models = [], []
        for alias, model in _JOINED:
            fields = list(model._meta.concrete_fields)
            columns += [f"{alias}.{quote(f.column)}" for f in fields]
            converters = []
            for f in fields:
                col = f.get_col(alias)
                functions = connection.ops.get_db_converters(col) + f.get_db_converters(connection)
                converters.append([(convert, col) for convert in functions])
            models.append((model, [f.attname for f in fields], converters))
        sql = (
            f"SELECT {', '.join(columns)} FROM {quote(Invitation._meta.db_table)} i "  # noqa: S608
            f"JOIN {quote(Wave._meta.db_table)} w ON w.id = i.wave_id "
            f"JOIN {quote(Instrument._meta.db_table)} n ON n.id = w.instrument_id "
            "WHERE i.token_hash = %s"
        )
        built = _INVITATION_READ[connection.vendor] = (sql, models)
    return built


def _invitation_by_hash(token_hash: str) -> Invitation | None:
    sql, models = _invitation_statement()
    with connection.cursor() as cursor:
        cursor.execute(sql, [token_hash])
        row = cursor.fetchone()
    if row is None:
        return None
    objects, start = [], 0
    for model, names, converters in models:
        values = list(row[start : start + len(names)])
        for index, functions in enumerate(converters):
            for convert, col in functions:
                values[index] = convert(values[index], col, connection)
        objects.append(model.from_db(connection.alias, names, values))
        start += len(names)
    invitation, wave, instrument = objects
    wave.instrument = instrument
    invitation.wave = wave
    return invitation


def invitation_for_token(token: str) -> Invitation:
    """The invitation a link token belongs to, or InvitationInvalid / AlreadySubmitted."""
    invitation = _invitation_by_hash(hash_token(token))
    if invitation is None:
        raise InvitationInvalid(_("This survey link is not valid. Check that it was copied whole."))
    if invitation.used:
        raise AlreadySubmitted(
            _("This link has already been used: your answers are recorded."),
            wave=invitation.wave,
        )
    if invitation.is_expired:
        raise InvitationExpired(_("This survey link has expired."), wave=invitation.wave)
    return invitation


def check_wave_open(wave: Wave) -> None:
    if not wave.is_accepting:
        raise WaveNotOpen(_("This survey is not open, so your answers were not stored."), wave=wave)


def submit_response(
    *,
    wave: Wave,
    answers: Mapping[str, object],
    invitation_token: str | None = None,
    invitation: Invitation | None = None,
    nonce: str | None = None,
    unit: Unit | None = None,
    role_level: RoleLevel | None = None,
    tenure_band: TenureBand | None = None,
    questions: Sequence[Question] | None = None,
) -> Response:
    """Store one complete response, or nothing (DESIGN points 1-3).

    With an invitation token the group attributes come from the roster; with an open link
    they come from the respondent, and `nonce` makes a retried submission store nothing new.
    One transaction stores the response, its answers and comments and marks the invitation or
    nonce used; a second use of the same token or nonce raises AlreadySubmitted. Raises
    WaveNotOpen, InvitationInvalid or InvalidAnswers (with messages) and stores nothing then.
    `invitation`, the token's invitation as the caller just looked it up, saves a second
    lookup; its single use is still claimed atomically here."""
    questions = questions if questions is not None else questions_of(wave)
    clean = clean_answers(questions=questions, raw=answers)
    if invitation_token is not None:
        if invitation is None or invitation.token_hash != hash_token(invitation_token):
            invitation = invitation_for_token(invitation_token)
        if invitation.wave_id != wave.pk:
            raise InvitationInvalid(_("This link belongs to another survey."))
        stored = coarsen_invitation(wave=wave, invitation=invitation)
        if connection.vendor == "postgresql" and not clean.texts:
            # The usual submission: claim and store in one statement.
            response = _claim_and_store(
                wave=wave, invitation=invitation, stored=stored, values=clean.values
            )
            if response is None:
                _refuse_claim(wave)
            transaction.on_commit(
                lambda: response_submitted.send(sender=Response, wave=wave), robust=True
            )
            return response
    with transaction.atomic():
        if invitation_token is not None:
            # Claim the invitation atomically, and only while the wave accepts answers (as of
            # this statement): of two racing submissions exactly one updates.
            if not _claim_invitation(invitation):
                _refuse_claim(wave)
        else:
            wave = Wave.objects.get(pk=wave.pk)  # the state as of this transaction
            check_wave_open(wave)
            if unit is None or role_level is None:
                raise InvalidAnswers({"unit": _("Please choose your unit and role level.")})
            if not wave_covers_unit(wave, unit):
                raise InvalidAnswers({"unit": _("Please choose one of the units offered.")})
            if nonce is None or not _claim_nonce(wave=wave, nonce=nonce):
                raise AlreadySubmitted(
                    _("This form was already submitted: your answers are recorded."), wave=wave
                )
            attributes = Attributes(unit=unit, role_level=role_level, tenure_band=tenure_band)
            stored = coarsen(wave=wave, attributes=attributes)
        response = _store_response(wave=wave, stored=stored, values=clean.values)
        Comment.objects.bulk_create(
            [
                Comment(
                    wave=wave,
                    question=q,
                    unit=stored.unit,
                    role_level=stored.role_level,
                    role_level_to=stored.role_level_to,
                    tenure_band=stored.tenure_band,
                    text=text,
                )
                for q, text in clean.texts
            ]
        )
    # Robust: the response is committed by now, so a failure while updating the published
    # figures is logged and must not turn the respondent's stored answers into an error page
    # (they would retry and be told their link is used). The next submission publishes again.
    transaction.on_commit(lambda: response_submitted.send(sender=Response, wave=wave), robust=True)
    return response


def _claim_sql() -> tuple[str, list]:
    """The claim of an invitation: the UPDATE and its parameters after the invitation's id
    and wave id. Its conditions on the invitation row stay in the UPDATE's own WHERE, which
    PostgreSQL checks again on the row it locked, so of two racing claims one updates.

    The row is found by its primary key alone. The wave is the invitation's own (read with
    it and never changed), checked by a condition that does not refer to the row, which
    PostgreSQL evaluates once. Written as `wave_id IN (open waves)` the planner could walk the
    wave's index instead: for a wave whose invitations were created after the last ANALYZE it
    estimates one row per wave, and each claim then read every invitation of the wave
    (measured: 35,600 invitations, 3.6 ms more database CPU a claim, half the submission rate)."""
    quote = connection.ops.quote_name
    now = Wave._meta.get_field("opens_at").get_db_prep_value(timezone.now(), connection)
    sql = (
        f"UPDATE {quote(Invitation._meta.db_table)} SET used = %s "  # noqa: S608
        "WHERE id = %s AND used = %s AND EXISTS "
        f"(SELECT 1 FROM {quote(Wave._meta.db_table)} "
        "WHERE id = %s AND state = %s AND opens_at <= %s AND closes_at > %s)"
    )
    return sql, [Wave.State.OPEN, now, now]


def _claim_invitation(invitation: Invitation) -> bool:
    """Mark the invitation used if it is unused and its wave accepts answers now."""
    sql, wave_params = _claim_sql()
    with connection.cursor() as cursor:
        cursor.execute(sql, [True, invitation.pk, False, invitation.wave_id, *wave_params])
        return cursor.rowcount == 1


def _claim_nonce(*, wave: Wave, nonce: str) -> bool:
    """Mark an open-link form nonce of this wave used, if it is unused. Found by its unique
    hash alone (see _claim_sql); a nonce of another wave is claimed, then given back when the
    caller's transaction rolls back on the refusal."""
    with connection.cursor() as cursor:
        cursor.execute(_nonce_claim_sql(), [True, hash_token(nonce), False])
        return [row[0] for row in cursor.fetchall()] == [wave.pk]


def _nonce_claim_sql() -> str:
    """The claim of a form nonce; its parameters: True, the nonce's hash, False."""
    return (
        f"UPDATE {connection.ops.quote_name(FormNonce._meta.db_table)} "  # noqa: S608
        "SET used = %s WHERE nonce_hash = %s AND used = %s RETURNING wave_id"
    )


def _refuse_claim(wave: Wave) -> NoReturn:
    """Why a claim updated nothing: the wave stopped accepting answers, or the link is used."""
    wave = Wave.objects.get(pk=wave.pk)
    check_wave_open(wave)
    raise AlreadySubmitted(
        _("This link has already been used: your answers are recorded."), wave=wave
    )


def _new_response(*, wave: Wave, stored: Attributes) -> Response:
    """An unsaved response of the wave with these (already coarsened) attributes."""
    return Response(
        wave=wave,
        unit=stored.unit,
        role_level=stored.role_level,
        role_level_to=stored.role_level_to,
        tenure_band=stored.tenure_band,
    )


def _response_row(*, wave: Wave, stored: Attributes) -> tuple[Response, list]:
    """The response to store and the values of its row, as `Response.objects.create` writes
    them (the columns of _RESPONSE_COLUMNS)."""
    response = _new_response(wave=wave, stored=stored)
    values = [
        Response._meta.pk.get_db_prep_value(response.pk, connection),
        wave.pk,
        stored.unit.pk,
        stored.role_level.pk,
        stored.role_level_to.pk if stored.role_level_to else None,
        stored.tenure_band.pk if stored.tenure_band else None,
        False,
    ]
    return response, values


_RESPONSE_COLUMNS = (
    "id, wave_id, unit_id, role_level_id, role_level_to_id, tenure_band_id, published"
)
_ANSWERS_FROM_ARRAYS = "unnest(%s::integer[], %s::smallint[]) AS a (question_id, value)"


def _claim_and_store(
    *,
    wave: Wave,
    invitation: Invitation,
    stored: Attributes,
    values: Sequence[tuple[Question, int]],
) -> Response | None:
    """PostgreSQL: claim the invitation and store the response and its answers in one
    statement (one round trip, atomic by itself), or store nothing and return None when the
    claim updates nothing. A data-modifying WITH runs each part exactly once on one snapshot;
    the response is inserted only from the claimed row, and the answers only from it."""
    quote = connection.ops.quote_name
    claim, wave_params = _claim_sql()
    response, row = _response_row(wave=wave, stored=stored)
    placeholders = ", ".join(["%s"] * len(row))
    sql = (
        f"WITH claimed AS ({claim} RETURNING id), "  # noqa: S608 (tables from the models)
        f"response AS (INSERT INTO {quote(Response._meta.db_table)} ({_RESPONSE_COLUMNS}) "
        f"SELECT {placeholders} FROM claimed RETURNING id), "
        f"answers AS (INSERT INTO {quote(Answer._meta.db_table)} "
        "(response_id, question_id, value) "
        f"SELECT response.id, a.question_id, a.value FROM response, {_ANSWERS_FROM_ARRAYS}) "
        "SELECT count(*) FROM claimed"
    )
    params = [
        True,
        invitation.pk,
        False,
        invitation.wave_id,
        *wave_params,
        *row,
        [q.pk for q, _v in values],
        [v for _q, v in values],
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        claimed = cursor.fetchone()[0]
    return response if claimed == 1 else None


def _store_response(
    *, wave: Wave, stored: Attributes, values: Sequence[tuple[Question, int]]
) -> Response:
    """Insert the response and its answers: two statements, no model instance per answer.
    This is most of what a submission does, so it skips the ORM's per-object work; the rows
    are exactly what `Response.objects.create` and `Answer.objects.bulk_create` would write."""
    quote = connection.ops.quote_name
    answer_table = quote(Answer._meta.db_table)
    response, row = _response_row(wave=wave, stored=stored)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(Response._meta.db_table)} ({_RESPONSE_COLUMNS}) "  # noqa: S608
            f"VALUES ({', '.join(['%s'] * len(row))})",
            row,
        )
        if not values:
            return response
        if connection.vendor == "postgresql":
            cursor.execute(
                f"INSERT INTO {answer_table} (response_id, question_id, value) "  # noqa: S608
                f"SELECT %s, question_id, value FROM {_ANSWERS_FROM_ARRAYS}",
                [row[0], [q.pk for q, _v in values], [v for _q, v in values]],
            )
        else:
            cursor.executemany(
                f"INSERT INTO {answer_table} (response_id, question_id, value) "  # noqa: S608
                "VALUES (%s, %s, %s)",
                [(row[0], q.pk, v) for q, v in values],
            )
    return response


def rewrite_batch(*, wave: Wave, response_ids: Sequence) -> None:
    """Rewrite a published batch so that nothing the database keeps about how rows were
    written ties a response to its invitation or gives away the order of submission.

    A submission stores its response, answers and the used invitation in one transaction, so
    PostgreSQL stamps them with the same transaction id (xmin), and SQLite's hidden rowids
    follow insertion order. Publication calls this in its own transaction: the batch's
    responses, answers and comments are re-inserted in random order (as published) and the
    wave's used invitations are rewritten, so afterwards all of them carry the publication's
    stamp and an order unrelated to submission. Until its batch is published (fewer than
    max(k, batch) responses), a database superuser could still correlate them."""
    shuffle = secrets.SystemRandom().shuffle
    ids = list(response_ids)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        responses = list(Response.objects.filter(pk__in=chunk))
        answers = list(Answer.objects.filter(response_id__in=chunk))
        Answer.objects.filter(response_id__in=chunk)._raw_delete(Answer.objects.db)
        Response.objects.filter(pk__in=chunk)._raw_delete(Response.objects.db)
        shuffle(responses)
        shuffle(answers)
        for response in responses:
            response.published = True
        Response.objects.bulk_create(responses)
        Answer.objects.bulk_create(answers, batch_size=2000)
    comments = list(Comment.objects.filter(wave=wave, published=False))
    Comment.objects.filter(pk__in=[c.pk for c in comments])._raw_delete(Comment.objects.db)
    shuffle(comments)
    for comment in comments:
        comment.published = True
    Comment.objects.bulk_create(comments)
    Invitation.objects.filter(wave=wave, used=True).update(used=True)


def wave_covers_unit(wave: Wave, unit: Unit) -> bool:
    return any(unit.is_within(scope) for scope in wave.units.all())


def wave_units(wave: Wave) -> list[Unit]:
    """Every unit a respondent of the wave may belong to, in tree order."""
    return list(Unit.objects.subtrees(list(wave.units.all())).order_by("path"))


def response_rates(*, wave: Wave) -> dict[int, tuple[int, int]]:
    """(used, invited) invitations per unit id. Counted from invitations alone: nothing links
    an invitation to the response it produced."""
    rates: dict[int, tuple[int, int]] = {}
    rows = Invitation.objects.filter(wave=wave).values("unit_id", "used").annotate(n=Sum(1))
    for row in rows:
        used, invited = rates.get(row["unit_id"], (0, 0))
        rates[row["unit_id"]] = (used + (row["n"] if row["used"] else 0), invited + row["n"])
    return rates


def bulk_store_responses(
    *, wave: Wave, responses: Iterable[tuple[Attributes, Sequence[tuple[int, int]]]]
) -> int:
    """Store many generated responses at once (demo data and benchmarks): each item is the
    already-coarsened attributes and (question id, value) pairs. Returns how many were stored."""
    stored = 0
    batch_responses, batch_answers = [], []
    for attributes, pairs in responses:
        response = _new_response(wave=wave, stored=attributes)
        batch_responses.append(response)
        batch_answers.extend(Answer(response=response, question_id=q, value=v) for q, v in pairs)
        stored += 1
    with transaction.atomic():
        Response.objects.bulk_create(batch_responses, batch_size=1000)
        Answer.objects.bulk_create(batch_answers, batch_size=5000)
    return stored


__all__ = [
    "AlreadySubmitted",
    "Attributes",
    "IntegrityError",
    "InvalidAnswers",
    "InvitationExpired",
    "InvitationInvalid",
    "RosterRow",
    "SubmissionRefused",
    "WaveNotOpen",
    "bulk_store_responses",
    "coarsen",
    "copy_instrument",
    "create_invitations",
    "issue_form_nonce",
    "load_default_instrument",
    "load_instrument",
    "submit_response",
]
