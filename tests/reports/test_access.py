import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from reports import access
from reports.models import LeaderGrant
from tests.factories import UnitFactory, UserFactory, make_hr, make_leader

pytestmark = pytest.mark.django_db


@pytest.fixture
def org():
    company = UnitFactory(name="Company")
    sales, tech = (
        UnitFactory(name="Sales", parent=company),
        UnitFactory(name="Tech", parent=company),
    )
    return {
        "company": company,
        "sales": sales,
        "tech": tech,
        "sales_team": UnitFactory(name="Sales team", parent=sales),
        "tech_team": UnitFactory(name="Tech team", parent=tech),
    }


def test_leader_reads_granted_units_and_everything_under_them(org):
    leader = make_leader(org["sales"])
    assert set(access.readable_units(leader)) == {org["sales"], org["sales_team"]}
    assert access.can_read_unit(leader, org["sales_team"])
    assert not access.can_read_unit(leader, org["company"])
    assert not access.can_read_unit(leader, org["tech_team"])


def test_leader_with_two_grants_reads_both_subtrees(org):
    leader = make_leader(org["sales_team"], org["tech"])
    assert set(access.readable_units(leader)) == {
        org["sales_team"],
        org["tech"],
        org["tech_team"],
    }


def test_nested_grants_count_once(org):
    leader = make_leader(org["sales"], org["sales_team"])
    assert access.granted_units(leader) == [org["sales"]]


def test_the_users_scope_is_read_in_one_query(org, django_assert_num_queries):
    """The HR group and the leader grants together, once per user object (one request)."""
    leader = make_leader(org["sales"], org["sales_team"])
    with django_assert_num_queries(1):
        assert not access.is_hr(leader)
        assert access.is_leader(leader)
        assert access.granted_units(leader) == [org["sales"]]
        assert access.granted_units(leader)[0].path == org["sales"].path
    hr = make_hr()
    LeaderGrant.objects.create(user=hr, unit=org["tech"])
    with django_assert_num_queries(1):
        assert access.is_hr(hr)
        assert access.is_leader(hr)
    assert access.granted_units(hr) == [org["company"]]  # HR: the roots
    plain = UserFactory()
    with django_assert_num_queries(1):
        assert not access.is_hr(plain) and not access.is_leader(plain)
        assert access.granted_units(plain) == []


def test_hr_reads_everything_and_a_plain_user_nothing(org):
    assert set(access.readable_units(make_hr())) == set(org.values())
    assert list(access.readable_units(UserFactory())) == []


def test_unit_page_is_forbidden_to_a_leader_of_a_sibling_division(client, org):
    client.force_login(make_leader(org["tech"]))
    assert client.get(reverse("reports:unit", args=[org["sales"].pk])).status_code == 403
    assert client.get(reverse("reports:unit", args=[org["sales_team"].pk])).status_code == 403
    assert client.get(reverse("reports:unit", args=[org["tech_team"].pk])).status_code == 200


@pytest.mark.parametrize("unit", ["company", "sales", "sales_team", "tech_team"])
def test_unit_page_by_role(client, org, unit):
    url = reverse("reports:unit", args=[org[unit].pk])
    assert client.get(url).status_code == 302  # anonymous: to the log-in page
    client.force_login(make_hr())
    assert client.get(url).status_code == 200


def test_grant_leader_command(org, capsys):
    user = UserFactory(username="maria")
    call_command("grant_leader", "maria", org["sales"].external_id)
    assert LeaderGrant.objects.filter(user=user, unit=org["sales"]).exists()
    call_command("grant_leader", "maria", "Sales")  # by name, idempotent
    assert LeaderGrant.objects.filter(user=user).count() == 1
    call_command("grant_leader", "maria", "Sales", "--revoke")
    assert not LeaderGrant.objects.filter(user=user).exists()


def test_grant_leader_command_explains_mistakes(org):
    UserFactory(username="maria")
    with pytest.raises(CommandError, match="no user named 'nobody'"):
        call_command("grant_leader", "nobody", "Sales")
    with pytest.raises(CommandError, match="no unit"):
        call_command("grant_leader", "maria", "Marketing")
    UnitFactory(name="Sales")
    with pytest.raises(CommandError, match="several units"):
        call_command("grant_leader", "maria", "Sales")


def test_navigation_shows_what_the_role_may_open(client, org):
    client.force_login(make_leader(org["sales"]))
    page = client.get(reverse("reports:home")).content.decode()
    assert "Dashboard" in page and "Administration" not in page
    assert "Sales" in page
    client.force_login(make_hr())
    page = client.get(reverse("reports:home")).content.decode()
    assert "Administration" in page
