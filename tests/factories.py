"""Test data builders shared by every test module (factory_boy, no JSON fixtures)."""

import datetime as dt

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from reports.access import HR_GROUP
from reports.models import LeaderGrant
from surveys import models


class UnitFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Unit

    external_id = factory.Sequence(lambda n: f"U{n}")
    name = factory.Sequence(lambda n: f"Unit {n}")
    parent = None


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.org")
    password = factory.django.Password("a-long-test-password")


def make_hr(**kwargs):
    user = UserFactory(**kwargs)
    user.groups.add(Group.objects.get(name=HR_GROUP))
    return user


def make_leader(*units, **kwargs):
    user = UserFactory(**kwargs)
    for unit in units:
        LeaderGrant.objects.create(user=user, unit=unit)
    return user


class InstrumentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Instrument

    slug = factory.Sequence(lambda n: f"instrument-{n}")
    name = factory.Sequence(lambda n: f"Instrument {n}")


class WaveFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Wave
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Wave {n}")
    instrument = factory.SubFactory(InstrumentFactory)
    opens_at = factory.LazyFunction(lambda: timezone.now() - dt.timedelta(days=1))
    closes_at = factory.LazyFunction(lambda: timezone.now() + dt.timedelta(days=14))
    state = models.Wave.State.OPEN
    # Most tests read the figures of an open wave; the default (figures only once the wave
    # has closed) has tests of its own.
    live_results = True

    @factory.post_generation
    def units(self, create, extracted, **kwargs):
        if create and extracted:
            self.units.set(extracted)


def build_tree(depth: int, fanout: int, prefix: str = "T") -> list[models.Unit]:
    """A complete tree; returns every unit, root first."""
    root = UnitFactory(external_id=f"{prefix}", name=f"{prefix} root")
    units, level = [root], [root]
    for _ in range(1, depth):
        next_level = []
        for parent in level:
            for i in range(fanout):
                child = UnitFactory(
                    external_id=f"{parent.external_id}.{i}",
                    name=f"{parent.name}/{i}",
                    parent=parent,
                )
                next_level.append(child)
        units += next_level
        level = next_level
    return units


class SectionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Section

    instrument = factory.SubFactory(InstrumentFactory)
    title = factory.Sequence(lambda n: f"Section {n}")
    order = factory.Sequence(lambda n: n)


class QuestionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Question

    section = factory.SubFactory(SectionFactory)
    instrument = factory.SelfAttribute("section.instrument")
    code = factory.Sequence(lambda n: f"Q{n}")
    kind = models.Question.Kind.AGREE5
    text = factory.Sequence(lambda n: f"Question {n}?")
    order = factory.Sequence(lambda n: n)


def small_instrument() -> models.Instrument:
    """Five questions, one of each main kind, one of them conditional:
    AGREE (agree5), SEEN (yesno), WHY (multi, shown when SEEN is yes), SAFE (scale11),
    NOTE (text)."""
    first = SectionFactory()
    second = SectionFactory(instrument=first.instrument)
    QuestionFactory(section=first, code="AGREE", kind="agree5")
    QuestionFactory(section=first, code="SEEN", kind="yesno")
    QuestionFactory(
        section=first,
        code="WHY",
        kind="multi",
        choices=[
            {"value": 1, "label": "One"},
            {"value": 2, "label": "Two"},
            {"value": 3, "label": "Three"},
        ],
        show_if=[{"question": "SEEN", "values": [1]}],
    )
    QuestionFactory(section=second, code="SAFE", kind="scale11")
    QuestionFactory(section=second, code="NOTE", kind="text")
    return first.instrument


def level(code: str) -> models.RoleLevel:
    return models.RoleLevel.objects.get(code=code)


def tenure(code: str) -> models.TenureBand:
    return models.TenureBand.objects.get(code=code)
