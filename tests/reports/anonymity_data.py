"""Builders for the anonymity, publication and aggregation tests: a small instrument with two
demographic questions, and random organisations stored through the real services.

Not a test module: imported by tests/reports/test_adversary.py, test_publication.py and
test_guard.py.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone
from hypothesis import strategies as st

from reports.access import HR_GROUP
from reports.models import LeaderGrant
from reports.publication import publish
from surveys import services
from surveys.models import Dimension, Instrument, Question, RoleLevel, TenureBand, Unit, Wave
from tests.factories import SectionFactory, UnitFactory, WaveFactory

# Demographic questions of `demographic_instrument` and their answers (99: prefer not to say).
GENDER_VALUES = (1, 2, 3, 99)
CARER_VALUES = (1, 2, 99)


def demographic_instrument() -> Instrument:
    """Two items of one dimension (one reverse-scored) and two demographic questions:
    GENDER (1, 2, 3, 99) and CARER (1, 2, 99)."""
    section = SectionFactory()
    instrument = section.instrument
    dimension = Dimension.objects.create(instrument=instrument, code="voice", name="Voice")
    common = {"instrument": instrument, "section": section}
    Question.objects.create(
        **common, code="V1", kind="agree5", purpose="scale", dimension=dimension, order=1,
        text="I can speak up.",
    )  # fmt: skip
    Question.objects.create(
        **common, code="V2", kind="agree5", purpose="scale", dimension=dimension, order=2,
        reverse_scored=True, text="Speaking up is risky here.",
    )  # fmt: skip
    Question.objects.create(
        **common, code="GENDER", kind="single", purpose="demographic", order=3,
        text="Gender?", choices=[{"value": v, "label": f"G{v}"} for v in GENDER_VALUES],
    )  # fmt: skip
    Question.objects.create(
        **common, code="CARER", kind="single", purpose="demographic", order=4,
        text="Carer?", choices=[{"value": v, "label": f"C{v}"} for v in CARER_VALUES],
    )  # fmt: skip
    return instrument


@dataclass(frozen=True)
class Person:
    """One roster row; `responds` says whether they answer, `answers` maps a question code to
    a value (None: skipped)."""

    unit: int  # index into Organisation.parents
    role: int  # role-level rank 1..5
    tenure: int | None  # tenure-band rank 1..4, or None when the roster has none
    responds: bool
    answers: dict[str, int | None] = field(default_factory=dict)


@dataclass(frozen=True)
class Organisation:
    parents: list[int | None]  # parents[i] < i; parents[0] is None
    people: list[Person]
    k: int


@st.composite
def organisations(
    draw: st.DrawFn,
    *,
    units: tuple[int, int] = (2, 8),
    respondents: tuple[int, int] = (10, 80),
    k: tuple[int, int] = (3, 6),
) -> Organisation:
    """A random tree of units with a roster: people anywhere in the tree (most in the lower
    units, a few leaders higher up), random role levels, tenure and demographic answers."""
    size = draw(st.integers(*units))
    parents: list[int | None] = [None]
    parents += [draw(st.integers(0, u - 1)) for u in range(1, size)]
    count = draw(st.integers(*respondents))
    people = []
    for _ in range(count):
        unit = draw(st.integers(0, size - 1))
        role = draw(st.sampled_from([1, 1, 1, 1, 2, 2, 3, 4, 5]))
        tenure = draw(st.one_of(st.none(), st.integers(1, 4)))
        answers = {
            "V1": draw(st.one_of(st.none(), st.integers(1, 5))),
            "V2": draw(st.integers(1, 5)),
            "GENDER": draw(st.one_of(st.none(), st.sampled_from(GENDER_VALUES))),
            "CARER": draw(st.one_of(st.none(), st.sampled_from(CARER_VALUES))),
        }
        people.append(Person(unit=unit, role=role, tenure=tenure, responds=True, answers=answers))
    # Some of the roster does not answer: coarsening sees them, the figures do not.
    silent = draw(st.integers(0, max(1, count // 5)))
    for _ in range(silent):
        unit = draw(st.integers(0, size - 1))
        role = draw(st.sampled_from([1, 1, 2, 3, 4, 5]))
        people.append(Person(unit=unit, role=role, tenure=None, responds=False))
    return Organisation(parents=parents, people=people, k=draw(st.integers(*k)))


@dataclass
class Stored:
    """An organisation stored in the database, with one or more waves."""

    units: list[Unit]
    instrument: Instrument
    waves: list[Wave] = field(default_factory=list)


def create_units(parents: Sequence[int | None]) -> list[Unit]:
    units: list[Unit] = []
    for parent in parents:
        units.append(UnitFactory(parent=None if parent is None else units[parent]))
    return units


def new_wave(*, instrument: Instrument, root: Unit, k: int, **kwargs) -> Wave:
    return WaveFactory(instrument=instrument, units=[root], k=k, k_comments=max(k, 10), **kwargs)


def store_wave(*, org: Organisation, stored: Stored, k: int | None = None) -> Wave:
    """Invite the roster of `org` to a new wave of the stored organisation, store the answers
    of those who respond and publish the wave."""
    wave = new_wave(instrument=stored.instrument, root=stored.units[0], k=k or org.k)
    services.create_invitations(wave=wave, roster=_roster(org, stored))
    store_responses(org=org, stored=stored, wave=wave)
    publish(wave=wave, force=True)
    stored.waves.append(wave)
    return wave


def _roster(org: Organisation, stored: Stored) -> list[services.RosterRow]:
    roles = {r.rank: r for r in RoleLevel.objects.all()}
    tenures = {t.rank: t for t in TenureBand.objects.all()}
    return [
        services.RosterRow(
            unit=stored.units[p.unit],
            role_level=roles[p.role],
            tenure_band=tenures.get(p.tenure) if p.tenure else None,
        )
        for p in org.people
    ]


def store_responses(*, org: Organisation, stored: Stored, wave: Wave) -> int:
    """Store the answers of the people of `org` who respond, unpublished, with their attributes
    coarsened against the wave's roster as `submit_response` does."""
    questions = {q.code: q.pk for q in Question.objects.filter(instrument=stored.instrument)}
    batch = []
    for person, row in zip(org.people, _roster(org, stored), strict=True):
        if not person.responds:
            continue
        attributes = services.coarsen(
            wave=wave,
            attributes=services.Attributes(
                unit=row.unit, role_level=row.role_level, tenure_band=row.tenure_band
            ),
        )
        pairs = [(questions[c], v) for c, v in person.answers.items() if v is not None]
        batch.append((attributes, pairs))
    return services.bulk_store_responses(wave=wave, responses=batch)


def store(org: Organisation) -> Stored:
    stored = Stored(units=create_units(org.parents), instrument=demographic_instrument())
    store_wave(org=org, stored=stored)
    return stored


@contextmanager
def rolled_back():
    """Run one hypothesis example inside a transaction that is rolled back afterwards, so
    every example starts from the same database."""
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


def closed(wave: Wave) -> None:
    """Close a wave (its remaining responses may then be published)."""
    wave.state = Wave.State.CLOSED
    wave.closes_at = timezone.now() - dt.timedelta(minutes=1)
    wave.save()


def hr_user():
    """An HR admin (no password: hashing one is slow and these tests never log in)."""
    user = get_user_model().objects.create(username=f"hr-{get_user_model().objects.count()}")
    user.groups.add(Group.objects.get(name=HR_GROUP))
    return user


def leader_of(*units: Unit):
    """A leader of the given units (no password, as `hr_user`)."""
    user = get_user_model().objects.create(username=f"lead-{get_user_model().objects.count()}")
    for unit in units:
        LeaderGrant.objects.create(user=user, unit=unit)
    return user
