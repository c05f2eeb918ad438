"""A small published organisation for the dashboard, export and browser tests.

Acme (root) -> Sales (Sales North, Sales South) and Tech. Two waves of the default instrument,
with answers generated as in the demo data (higher role levels rate the climate better); in the
current wave Sales has only 2 executive respondents out of 6 invited, so its executive cell is
suppressed ("fewer than k responses"), and Sales has enough comments to show them.
"""

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pytest
from django.db import transaction
from django.utils import timezone

from reports.management.commands.seed_demo import ROLE_SHIFT, _answers
from reports.publication import publish
from surveys import services
from surveys.models import (
    Comment,
    Instrument,
    Invitation,
    Question,
    RoleLevel,
    TenureBand,
    Unit,
    Wave,
)
from tests.factories import UnitFactory

# (unit key, role rank, invited, responded) per wave: (previous, current).
PEOPLE = [
    ("north", 1, 14, (11, 12)),
    ("north", 2, 7, (6, 6)),
    ("south", 1, 12, (10, 10)),
    ("south", 3, 6, (5, 5)),
    ("sales", 5, 6, (5, 2)),
    ("tech", 1, 16, (12, 14)),
    ("tech", 3, 7, (6, 6)),
]
COMMENTS = [
    "Call Anna Berg on 07700 900123 about the rota.",
    "I was shouted at in front of the team and nobody did anything.",
    "Good team, respectful people.",
    "Please make it safe to disagree.",
    "Reviews feel arbitrary.",
    "More training for managers please.",
    "Our lead checks in every week.",
    "Remote colleagues are left out.",
    "Rules apply to some and not others.",
    '=HYPERLINK("http://evil.example")',
    "Thanks for asking.",
]


@dataclass
class Org:
    instrument: Instrument
    root: Unit
    sales: Unit
    north: Unit
    south: Unit
    tech: Unit
    previous: Wave
    current: Wave


def build_org(*, root_name: str = "Acme", sales_name: str = "Sales", seed: int = 7) -> Org:
    """Create the organisation, two published waves and comments; return the handles."""
    instrument = services.load_default_instrument()
    root = UnitFactory(name=root_name)
    sales = UnitFactory(name=sales_name, parent=root)
    units = {
        "sales": sales,
        "north": UnitFactory(name="Sales North", parent=sales),
        "south": UnitFactory(name="Sales South", parent=sales),
        "tech": UnitFactory(name="Tech", parent=root),
    }
    roles = {r.rank: r for r in RoleLevel.objects.all()}
    tenure = TenureBand.objects.order_by("rank").first()
    questions = list(
        Question.objects.filter(instrument=instrument).order_by("section__order", "order")
    )
    comment_question = next(q for q in questions if q.purpose == Question.Purpose.COMMENT)
    rng = np.random.default_rng(seed)
    now = timezone.now()
    waves = []
    for index, (name, opens, closes) in enumerate((("Spring", -200, -170), ("Autumn", -10, 20))):
        wave = Wave.objects.create(
            name=f"{name} {root_name}",
            instrument=instrument,
            opens_at=now + dt.timedelta(days=opens),
            closes_at=now + dt.timedelta(days=closes),
            state=Wave.State.CLOSED if closes < 0 else Wave.State.OPEN,
            live_results=True,  # the current wave's figures are read while it is open
        )
        wave.units.add(root)
        roster, batch, comments = [], [], []
        for key, rank, invited, responded in PEOPLE:
            unit = units[key]
            roster += [services.RosterRow(unit=unit, role_level=roles[rank], tenure_band=tenure)]
            roster[-1:] = roster[-1:] * invited
            attributes = services.Attributes(unit=unit, role_level=roles[rank])
            for _ in range(responded[index]):
                shift = ROLE_SHIFT[rank] + (0.1 * index)
                batch.append((attributes, _answers(rng, questions, shift, key == "north")))
        services.create_invitations(wave=wave, roster=roster)
        services.bulk_store_responses(wave=wave, responses=batch)
        used = list(Invitation.objects.filter(wave=wave).order_by("pk")[: len(batch)])
        Invitation.objects.filter(pk__in=[i.pk for i in used]).update(used=True)
        if index == 1:
            comments = [
                Comment(
                    wave=wave,
                    question=comment_question,
                    unit=units["north"] if i % 2 else units["south"],
                    role_level=roles[1],
                    text=text,
                )
                for i, text in enumerate(COMMENTS)
            ]
            Comment.objects.bulk_create(comments)
        publish(wave=wave, force=True)
        waves.append(wave)
    return Org(
        instrument=instrument,
        root=root,
        sales=sales,
        north=units["north"],
        south=units["south"],
        tech=units["tech"],
        previous=waves[0],
        current=waves[1],
    )


@pytest.fixture(scope="module")
def published_org(django_db_setup, django_db_blocker):
    """`build_org()` once per test module, inside a transaction rolled back at its end (each
    test still runs in its own savepoint)."""
    with django_db_blocker.unblock(), transaction.atomic():
        yield build_org()
        transaction.set_rollback(True)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Users are created in nearly every test here: hash their passwords with MD5 (tests only)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
