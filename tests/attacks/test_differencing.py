"""Differencing: an insider subtracts published figures from each other to isolate a group of
fewer than k people (DESIGN anonymity point 4). Each test builds an organisation where the
naive subtraction would give away one person's answer, checks that the raw rows really hold
that small group, and shows that the published figures no longer isolate it, however the
insider combines them (every set of up to four disjoint figures subtracted from every figure
that contains them)."""

import pytest
from django.test import override_settings
from django.urls import reverse

from reports.access import readable_units
from surveys.models import RoleLevel, TenureBand
from tests.attacks.insider import (
    K,
    Person,
    assert_nobody_isolated,
    build_world,
    everything_readable,
    figure,
    hr_user,
    leader_of,
    true_count,
)

pytestmark = pytest.mark.django_db


def team(unit: str, size: int, *, prefix: str, rank: int = 1, **kwargs) -> list[Person]:
    return [Person(f"{prefix}{i}", unit, rank=rank, **kwargs) for i in range(size)]


DIVISION = {"acme": None, "ops": "acme", "alpha": "ops", "beta": "ops", "care": "acme"}


def test_a_unit_minus_its_children_does_not_give_away_its_own_people():
    """Dana works directly in Operations, outside its two teams: Operations - Alpha - Beta
    would be Dana alone."""
    dana = Person("Dana", "ops", voice=1)
    people = [
        *team("alpha", 6, prefix="a", voice=4),
        *team("beta", 6, prefix="b", voice=5),
        dana,
        *team("care", 7, prefix="c", voice=3),
    ]
    world = build_world(tree=DIVISION, people=people)
    ops = world.units["ops"]
    assert true_count(world.wave, unit=ops) == 1  # Dana kept her unit: the roster has 13
    figures = everything_readable(wave=world.wave, user=hr_user())
    naive = [
        figure(figures, unit=ops.pk),
        figure(figures, unit=world.units["alpha"].pk),
        figure(figures, unit=world.units["beta"].pk),
    ]
    assert not all(f.published for f in naive), "Operations, Alpha and Beta all published"
    assert_nobody_isolated(figures, k=K)


def test_a_role_level_minus_role_by_tenure_does_not_give_away_a_newcomer():
    """Seven team members share a role level; Tom alone among them joined this year (the
    roster has six newcomers, so his tenure is kept, but only he answers)."""
    people = [
        *team("alpha", 6, prefix="old", tenure=3, voice=4),
        Person("Tom", "alpha", tenure=1, voice=1),
        *team("alpha", 5, prefix="new", tenure=1, responds=False),
        *team("beta", 6, prefix="b", voice=4),
    ]
    world = build_world(tree=DIVISION, people=people)
    alpha = world.units["alpha"]
    newcomers = TenureBand.objects.get(rank=1)
    assert true_count(world.wave, unit=alpha, tenure_band=newcomers) == 1
    figures = everything_readable(wave=world.wave, user=hr_user())
    naive = [
        figure(figures, unit=alpha.pk, band=(1, 1)),
        figure(figures, unit=alpha.pk, band=(1, 1), tenure=3),
    ]
    assert not all(f.published for f in naive), "the role level and role x tenure published"
    assert_nobody_isolated(figures, k=K)


@override_settings(POWERCLIMATE_DEMOGRAPHIC_MIN=0)
def test_a_demographic_minus_role_by_demographic_does_not_give_away_the_only_woman_manager():
    """Women: six individual contributors and Wendy, the only woman among the managers.
    Women - women individual contributors would be Wendy. (Demographic breakdowns offered
    for every group of at least k, to give the insider as many figures as possible.)"""
    people = [
        *team("alpha", 6, prefix="w", rank=1, gender=1, voice=4),
        *team("alpha", 6, prefix="m", rank=1, gender=2, voice=4),
        *team("alpha", 5, prefix="mm", rank=2, gender=2, voice=5),
        Person("Wendy", "alpha", rank=2, gender=1, voice=1),
        *team("beta", 6, prefix="b", voice=3, gender=2),
    ]
    world = build_world(tree=DIVISION, people=people)
    alpha = world.units["alpha"]
    manager = RoleLevel.objects.get(rank=2)
    women_managers = true_count(
        world.wave, unit=alpha, role_level=manager, answers__question__code="DEMO_GENDER",
        answers__value=1,
    )  # fmt: skip
    assert women_managers == 1
    figures = everything_readable(wave=world.wave, user=hr_user())
    women = [f for f in figures if f.unit == alpha.pk and f.gender == 1]
    assert women, "the insider is offered the gender breakdown"
    naive = [
        figure(figures, unit=alpha.pk, gender=1),
        figure(figures, unit=alpha.pk, band=(1, 1), gender=1),
    ]
    assert not all(f.published for f in naive), "women and women contributors published"
    assert_nobody_isolated(figures, k=K)


SIBLINGS = {"acme": None, "ops": "acme", "alpha": "ops", "beta": "ops", "gamma": "ops"}


def test_a_leader_of_two_sibling_teams_cannot_isolate_the_third_through_their_parent(client):
    """Lee leads Alpha and Beta; Olga leads Operations, which also holds Gamma, where only two
    of six people answered. Together (they compare notes) Operations - Alpha - Beta would be
    Gamma's two."""
    people = [
        *team("alpha", 6, prefix="a", voice=4),
        *team("beta", 7, prefix="b", voice=4),
        Person("g1", "gamma", voice=1),
        Person("g2", "gamma", voice=1),
        *team("gamma", 4, prefix="gs", responds=False),
    ]
    world = build_world(tree=SIBLINGS, people=people)
    units = world.units
    assert true_count(world.wave, unit=units["gamma"]) == 2
    lee = leader_of(units["alpha"], units["beta"])
    olga = leader_of(units["ops"])
    assert units["ops"] not in readable_units(lee)
    client.force_login(lee)
    api = client.get(
        reverse("reports:api_summary", args=[world.wave.pk]), {"unit": units["ops"].pk}
    )
    assert api.status_code == 403  # Lee cannot read the parent himself
    together = everything_readable(wave=world.wave, user=lee) | everything_readable(
        wave=world.wave, user=olga
    )
    naive = [figure(together, unit=units[key].pk) for key in ("ops", "alpha", "beta")]
    assert not all(f.published for f in naive), "Operations, Alpha and Beta all published"
    assert_nobody_isolated(together, k=K)


def test_two_children_under_k_are_not_recovered_from_their_parent_and_a_sibling():
    """Gamma (3) and Delta (3) are each under k; Operations (6 + 3 + 3) is published. Without
    complementary suppression, Operations - Alpha would give Gamma and Delta together (6),
    which is fine, but each alone stays hidden however the rest is combined."""
    tree = {**SIBLINGS, "delta": "ops"}
    people = [
        *team("alpha", 6, prefix="a", voice=4),
        *team("beta", 6, prefix="b", voice=4),
        *team("gamma", 3, prefix="g", voice=1),
        *team("gamma", 3, prefix="gs", responds=False),
        *team("delta", 3, prefix="d", voice=2),
        *team("delta", 3, prefix="ds", responds=False),
    ]
    world = build_world(tree=tree, people=people)
    figures = everything_readable(wave=world.wave, user=hr_user())
    for key in ("gamma", "delta"):
        assert not figure(figures, unit=world.units[key].pk).published
    assert_nobody_isolated(figures, k=K)


def test_every_leader_together_sees_nothing_hr_could_not_and_isolates_nobody():
    """All leaders of a division pool what they see: the union is a subset of HR's figures
    and still isolates no one."""
    people = [
        *team("alpha", 6, prefix="a", voice=4),
        *team("alpha", 2, prefix="am", rank=3, voice=1),
        *team("alpha", 3, prefix="ams", rank=3, responds=False),
        *team("beta", 7, prefix="b", voice=2, tenure=2),
        Person("Dana", "ops", voice=5),
        *team("care", 5, prefix="c", voice=3),
    ]
    world = build_world(tree=DIVISION, people=people)
    hr = everything_readable(wave=world.wave, user=hr_user())
    union = set()
    for unit in world.units.values():
        union |= everything_readable(wave=world.wave, user=leader_of(unit))
    assert union <= hr
    assert_nobody_isolated(union, k=K)
    assert_nobody_isolated(hr, k=K)
