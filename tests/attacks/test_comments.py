"""Comments under attack (DESIGN anonymity point 5): free text is the easiest thing to
recognise, so it is shown only for groups of at least k_comments respondents, never in an
order that follows submission, and with the e-mail addresses and phone numbers of the roster
masked. The insider compares the comments of a unit with those of its children to isolate
the comments of a small group."""

import pytest
from django.urls import reverse

from reports.models import Publication
from reports.selectors import comments as shown_comments
from tests.attacks.insider import Person, build_world, hr_user, leader_of

pytestmark = pytest.mark.django_db

K_COMMENTS = 10
TREE = {"acme": None, "ops": "acme", "alpha": "ops", "beta": "ops", "care": "acme"}


def people() -> list[Person]:
    """Alpha 6, Beta 12, Care 11 respondents, everyone writes one recognisable comment; Dana
    (Operations' own) writes one too."""
    team = [("alpha", 6), ("beta", 12), ("care", 11)]
    result = [
        Person(f"{unit}{i}", unit, voice=3, comment=f"Comment from {unit} person {i}")
        for unit, size in team
        for i in range(size)
    ]
    return [*result, Person("Dana", "ops", voice=2, comment="Dana's own words")]


@pytest.fixture
def world():
    return build_world(tree=TREE, people=people(), k_comments=K_COMMENTS)


def visible(world) -> dict[str, set[str]]:
    """The comments each unit's dashboard shows (what selectors.comments hands the page)."""
    publication = Publication.objects.get(wave=world.wave)
    result = {}
    for key, unit in world.units.items():
        groups = shown_comments(wave=world.wave, unit=unit, publication=publication)
        result[key] = {c.text for g in groups or [] for c in g.comments}
    return result


def test_a_unit_with_fewer_than_k_comments_respondents_shows_no_comment(client, world):
    alpha = world.units["alpha"]
    assert visible(world)["alpha"] == set()
    for user in (hr_user(), leader_of(alpha)):
        client.force_login(user)
        for name in ("reports:dashboard", "reports:report"):
            html = client.get(
                reverse(name), {"wave": world.wave.pk, "unit": alpha.pk}
            ).content.decode()
            assert "Comment from alpha" not in html


def test_comparing_a_units_comments_with_its_childrens_isolates_no_small_group(world):
    """Operations shows Alpha's six comments among others; if Beta's twelve were shown too,
    Operations minus Beta would be Alpha's six (and Dana's)."""
    shown = visible(world)
    assert any(shown.values()), "some comments are shown"
    children = {"acme": ["ops", "care"], "ops": ["alpha", "beta"]}
    for parent, kids in children.items():
        if not shown[parent]:
            continue
        for size in range(1, len(kids) + 1):
            for subset in _subsets(kids, size):
                rest = shown[parent] - set().union(*(shown[kid] for kid in subset))
                # Every person wrote one comment: the rest is the words of len(rest) people.
                assert not rest or len(rest) >= K_COMMENTS, (parent, subset, sorted(rest))


def _subsets(items, size):
    import itertools

    return itertools.combinations(items, size)


def test_comments_are_shown_in_an_order_unrelated_to_submission(client, world):
    """The people of Care answered in roster order; their comments never come back in it,
    and two readings give two orders."""
    care = world.units["care"]
    client.force_login(hr_user())
    submitted = [f"Comment from care person {i}" for i in range(11)]
    orders = []
    for _ in range(2):
        html = client.get(
            reverse("reports:dashboard"), {"wave": world.wave.pk, "unit": care.pk}
        ).content.decode()
        order = sorted(submitted, key=html.index)
        assert order != submitted
        orders.append(order)
    assert orders[0] != orders[1]


def test_e_mail_addresses_and_phone_numbers_in_comments_are_masked(client):
    said = "Ask anna.berg@acme.example or call +44 20 7946 0958 about the night shift."
    roster = [Person(f"c{i}", "care", comment=said if i == 0 else f"Note {i}") for i in range(11)]
    world = build_world(tree=TREE, people=roster, k_comments=K_COMMENTS)
    client.force_login(hr_user())
    query = {"wave": world.wave.pk, "unit": world.units["care"].pk}
    html = client.get(reverse("reports:dashboard"), query).content.decode()
    assert "Ask [email] or call [phone] about the night shift." in html
    # The printable report carries no comments at all.
    for name in ("reports:dashboard", "reports:report"):
        html = client.get(reverse(name), query).content.decode()
        assert "anna.berg" not in html and "7946" not in html


@pytest.mark.xfail(
    strict=True,
    reason="known limitation (docs/security.md): the roster keeps no names (only e-mail "
    "addresses, which are never stored), so comments are masked without a list of names",
)
def test_names_from_the_roster_in_comments_are_masked(client):
    said = "Anna Berg shouts at the new starters."
    roster = [Person(f"c{i}", "care", comment=said if i == 0 else f"Note {i}") for i in range(10)]
    roster.append(Person("Anna Berg", "care", comment="Note from Anna"))
    world = build_world(tree=TREE, people=roster, k_comments=K_COMMENTS)
    client.force_login(hr_user())
    html = client.get(
        reverse("reports:dashboard"), {"wave": world.wave.pk, "unit": world.units["care"].pk}
    ).content.decode()
    assert "Anna Berg" not in html and "[name]" in html
