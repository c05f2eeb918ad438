"""API tokens: HR creates and revokes them in the UI; the secret is stored hashed and shown once;
`create_api_token` prints one."""

import hashlib
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from reports.models import ApiToken, AuditEvent
from tests.factories import UnitFactory, UserFactory, make_hr, make_leader

pytestmark = pytest.mark.django_db

LIST = reverse("reports:tokens")
CREATE = reverse("reports:token_create")
API = "/api/v1/units/"


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def hr():
    return make_hr()


@pytest.fixture
def leader():
    return make_leader(UnitFactory(name="Sales"))


def bearer(raw: str) -> dict:
    return {"Authorization": f"Bearer {raw}"}


def test_token_pages_are_for_hr_only(client, hr, leader):
    token, _ = ApiToken.issue(user=leader, name="bi")
    revoke = reverse("reports:token_revoke", args=[token.pk])
    for url in (LIST, CREATE, revoke):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))
    client.force_login(leader)
    for url in (LIST, CREATE, revoke):
        assert client.get(url).status_code == 403
    assert client.post(CREATE, {"user": leader.pk, "name": "mine"}).status_code == 403
    assert client.post(revoke).status_code == 403
    assert ApiToken.objects.count() == 1
    token.refresh_from_db()
    assert token.revoked_at is None
    client.force_login(hr)
    for url in (LIST, CREATE, revoke):
        assert client.get(url).status_code == 200


def test_list_shows_name_user_and_state_but_never_a_secret(client, hr, leader):
    active, raw = ApiToken.issue(user=leader, name="Power BI refresh")
    revoked, _ = ApiToken.issue(user=hr, name="Old script")
    ApiToken.objects.filter(pk=revoked.pk).update(revoked_at=revoked.created_at)
    client.force_login(hr)
    page = client.get(LIST).content.decode()
    assert "Power BI refresh" in page
    assert leader.username in page
    assert "Old script" in page
    assert "Revoked" in page
    assert "Never" in page
    assert raw not in page
    assert active.token_hash not in page
    assert reverse("reports:token_revoke", args=[active.pk]) in page
    assert reverse("reports:token_revoke", args=[revoked.pk]) not in page


def test_token_is_stored_hashed_and_shown_once(client, hr, leader):
    client.force_login(hr)
    response = client.post(CREATE, {"user": leader.pk, "name": "  Power   BI "})
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    raw = response.context["raw"]
    assert raw.startswith(ApiToken.PREFIX)
    assert len(raw) > 40
    assert raw in response.content.decode()
    token = ApiToken.objects.get()
    assert token.user == leader
    assert token.name == "Power BI"
    assert token.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in {token.token_hash, token.name}
    # Never again: not on the list, not on the revoke page.
    assert raw not in client.get(LIST).content.decode()
    revoke = client.get(reverse("reports:token_revoke", args=[token.pk]))
    assert raw not in revoke.content.decode()
    # It works, as its user.
    client.logout()
    assert client.get(API, headers=bearer(raw)).status_code == 200
    event = AuditEvent.objects.filter(action=AuditEvent.Action.ADMIN).latest("at")
    assert event.user == hr
    assert event.detail["event"] == "api_token_created"
    assert event.detail["for_user"] == leader.username
    assert raw not in str(event.detail)


def test_create_form_validates(client, hr):
    inactive = UserFactory(is_active=False)
    client.force_login(hr)
    response = client.post(CREATE, {"user": hr.pk, "name": "   "})
    assert response.status_code == 200
    assert response.context["form"].errors["name"]
    response = client.post(CREATE, {"user": inactive.pk, "name": "x"})
    assert response.context["form"].errors["user"]
    response = client.post(CREATE, {"user": "nonsense", "name": "x" * 500})
    assert set(response.context["form"].errors) == {"user", "name"}
    assert ApiToken.objects.count() == 0


def test_revoke_asks_for_confirmation_then_the_token_stops_working(client, hr, leader):
    token, raw = ApiToken.issue(user=leader, name="bi")
    assert client.get(API, headers=bearer(raw)).status_code == 200
    url = reverse("reports:token_revoke", args=[token.pk])
    client.force_login(hr)
    confirm = client.get(url)
    assert confirm.status_code == 200
    assert b"bi" in confirm.content
    token.refresh_from_db()
    assert token.revoked_at is None  # a GET changes nothing
    response = client.post(url)
    assert response.status_code == 302
    assert response["Location"] == LIST
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert client.post(url).status_code == 302  # twice is harmless
    client.logout()
    assert client.get(API, headers=bearer(raw)).status_code == 401
    assert AuditEvent.objects.filter(
        action=AuditEvent.Action.ADMIN, detail__event="api_token_revoked"
    ).exists()


def test_revoking_an_unknown_token_is_404(client, hr):
    client.force_login(hr)
    assert client.post(reverse("reports:token_revoke", args=[999999])).status_code == 404


def test_management_command_prints_a_working_token(client, leader):
    out, err = StringIO(), StringIO()
    call_command(
        "create_api_token", leader.username, "--name", "nightly export", stdout=out, stderr=err
    )
    raw = out.getvalue().strip()
    token = ApiToken.objects.get()
    assert token.name == "nightly export"
    assert token.user == leader
    assert token.token_hash == ApiToken.hash(raw)
    assert "shown once" in err.getvalue()
    assert client.get(API, headers=bearer(raw)).status_code == 200


def test_management_command_refuses_unknown_or_inactive_users(leader):
    with pytest.raises(CommandError, match="no user named 'nobody'"):
        call_command("create_api_token", "nobody")
    leader.is_active = False
    leader.save()
    with pytest.raises(CommandError, match="inactive"):
        call_command("create_api_token", leader.username)
    assert ApiToken.objects.count() == 0
