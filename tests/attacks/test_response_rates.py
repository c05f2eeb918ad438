"""Response rates under attack: HR follows the response rate of each unit while a wave is
open. Rates are counted from invitations alone (nothing links an invitation to a response),
but for a unit with very few invitations the count of used ones says who took part."""

import re

import pytest
from django.urls import reverse

from reports.selectors import unit_rates
from tests.attacks.insider import K, Person, build_world, hr_user, leader_of, submit

pytestmark = pytest.mark.django_db

TREE = {"acme": None, "ops": "acme", "alpha": "ops", "solo": "ops", "care": "acme"}


@pytest.fixture
def world():
    """Solo is one person, Sam, who answers; the other units are large."""
    people = [
        *(Person(f"a{i}", "alpha", responds=i < 6) for i in range(9)),
        Person("Sam", "solo", voice=1),
        *(Person(f"c{i}", "care", responds=i < 5) for i in range(8)),
    ]
    return build_world(tree=TREE, people=people)


def test_rates_are_counted_from_invitations_and_link_no_response(world):
    """The counts come from the invitation table only (the used flag is the one trace), as
    they were at the publication; Solo's is not shown."""
    rates = {r.unit.name: (r.responded, r.invited) for r in unit_rates(
        wave=world.wave, units=list(world.units.values()), depth=None
    )}  # fmt: skip
    assert rates["Care"] == (5, 8)
    assert rates["Solo"] == (None, None)
    assert rates["Alpha"] in ((6, 9), (None, None))
    assert rates["Acme"] == (12, 18)


def shown_rates(html: str) -> dict[str, tuple[int, int] | None]:
    """Each unit's (responded, invited) on the wave page, None where not shown."""
    result = {}
    for name, row in re.findall(r'<th scope="row"[^>]*>.*?</span>(\w+)</th>(.*?)</tr>', html, re.S):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        result[name] = None if len(cells) == 1 else (int(cells[0]), int(cells[1]))
    return result


def test_a_unit_with_fewer_than_k_invitations_does_not_show_who_answered(client, world):
    client.force_login(hr_user())
    html = client.get(reverse("reports:wave_detail", args=[world.wave.pk])).content.decode()
    shown = shown_rates(html)
    assert set(shown) == {"Acme", "Ops", "Alpha", "Solo", "Care"}
    assert shown["Solo"] is None
    # Nor by subtraction: what a shown parent has beyond its shown children is no one or at
    # least k invitations.
    children = {"Acme": ["Ops", "Care"], "Ops": ["Alpha", "Solo"]}
    for parent, kids in children.items():
        if shown[parent] is None:
            continue
        rest = shown[parent][1] - sum(shown[kid][1] for kid in kids if shown[kid])
        assert rest == 0 or rest >= K, (parent, shown)


def test_the_response_rate_a_leader_sees_moves_only_with_a_publication(
    client, django_capture_on_commit_callbacks
):
    people = [Person(f"a{i}", "alpha", responds=False) for i in range(12)]
    world = build_world(tree=TREE, people=people, publish_now=False)
    client.force_login(leader_of(world.units["alpha"]))
    query = {"wave": world.wave.pk, "unit": world.units["alpha"].pk}

    def card() -> str:
        html = client.get(reverse("reports:dashboard"), query).content.decode()
        return re.search(r"response rate [^<]*", html).group()

    for person in people[:5]:
        with django_capture_on_commit_callbacks(execute=True):
            submit(world, person)
    shown = card()
    with django_capture_on_commit_callbacks(execute=True):
        submit(world, people[5])  # one more, no new batch
    assert card() == shown


def test_rates_pass_the_one_guard_even_if_a_small_one_was_stored(world):
    """Rates leave the reports app through `anonymity.guard` like every other figure: a rate
    of fewer than k invitations is withheld even if it were in the publication's list."""
    from reports.models import Publication

    publication = Publication.objects.get(wave=world.wave)
    solo = world.units["solo"]
    publication.rates[str(solo.pk)] = [1, 1]
    publication.save()
    rates = {r.unit.pk: r for r in unit_rates(wave=world.wave, units=[solo], depth=None)}
    assert rates[solo.pk].withheld and rates[solo.pk].responded is None
