"""Action plans: a leader records what will be done per dimension; the next wave's dashboard
shows it beside the trend."""

import datetime as dt

import pytest
from django.urls import reverse

from reports.models import ActionPlan, AuditEvent
from tests.factories import make_leader
from tests.reports.dashboard_data import fast_password_hashing, published_org  # noqa: F401

pytestmark = pytest.mark.django_db


def _form(org, wave=None, unit=None, **fields):
    return {
        "wave": (wave or org.current).pk,
        "unit": (unit or org.sales).pk,
        "dimension_code": "voice",
        "what": "  Monthly open forum with the division head  ",
        "owner": " Maria   Lopez ",
        "due": "2027-03-31",
        "status": "planned",
        **fields,
    }


def test_leader_records_an_action_and_sees_it_on_the_dashboard(client, published_org):  # noqa: F811
    org = published_org
    leader = make_leader(org.sales)
    client.force_login(leader)
    response = client.post(reverse("reports:action_create"), _form(org))
    assert response.status_code == 302
    assert response["Location"].endswith("#actions")
    plan = ActionPlan.objects.get()
    assert plan.unit == org.sales and plan.wave == org.current
    assert plan.what == "Monthly open forum with the division head"
    assert plan.owner == "Maria Lopez" and plan.due == dt.date(2027, 3, 31)
    assert plan.created_by == leader
    page = client.get(response["Location"]).content.decode()
    assert "Monthly open forum with the division head" in page
    assert AuditEvent.objects.filter(action=AuditEvent.Action.ADMIN).exists()


def test_invalid_action_is_refused_with_messages(client, published_org):  # noqa: F811
    org = published_org
    client.force_login(make_leader(org.sales))
    response = client.post(
        reverse("reports:action_create"),
        _form(org, what="   ", dimension_code="no-such-dimension", due="31/31/2027"),
    )
    assert response.status_code == 400
    form = response.context["form"]
    assert {"what", "dimension_code", "due"} <= set(form.errors)
    assert not ActionPlan.objects.exists()


def test_leader_edits_and_deletes_an_action(client, published_org):  # noqa: F811
    org = published_org
    client.force_login(make_leader(org.sales))
    plan = ActionPlan.objects.create(
        unit=org.north, wave=org.current, dimension_code="voice", what="Listen", owner="Ann"
    )
    url = reverse("reports:action_edit", args=[plan.pk])
    assert client.get(url).status_code == 200
    response = client.post(
        url, _form(org, what="Listen better", status="in_progress", dimension_code="civility")
    )
    assert response.status_code == 302
    plan.refresh_from_db()
    assert (plan.what, plan.status, plan.dimension_code) == (
        "Listen better",
        "in_progress",
        "civility",
    )
    assert plan.unit == org.north  # the unit and wave of an action never change
    delete = reverse("reports:action_delete", args=[plan.pk])
    assert "Delete this action?" in client.get(delete).content.decode()
    assert ActionPlan.objects.filter(pk=plan.pk).exists()  # GET only asks
    assert client.post(delete).status_code == 302
    assert not ActionPlan.objects.filter(pk=plan.pk).exists()


def test_leader_cannot_touch_actions_outside_their_scope(client, published_org):  # noqa: F811
    org = published_org
    plan = ActionPlan.objects.create(
        unit=org.sales, wave=org.current, dimension_code="voice", what="Listen", owner="Ann"
    )
    client.force_login(make_leader(org.tech))
    assert (
        client.post(reverse("reports:action_edit", args=[plan.pk]), _form(org)).status_code == 403
    )
    assert client.post(reverse("reports:action_delete", args=[plan.pk])).status_code == 403
    assert client.post(reverse("reports:action_create"), _form(org)).status_code == 403
    assert ActionPlan.objects.get().what == "Listen"


def test_next_waves_dashboard_shows_earlier_actions_beside_the_trend(client, published_org):  # noqa: F811
    org = published_org
    client.force_login(make_leader(org.sales))
    client.post(
        reverse("reports:action_create"),
        _form(org, wave=org.previous, what="Train every manager on speaking up"),
    )
    response = client.get(
        reverse("reports:dashboard"), {"wave": org.current.pk, "unit": org.sales.pk}
    )
    board = response.context["board"]
    [point] = board.earlier_plans
    assert point.wave == org.previous
    assert [p.what for p in point.plans] == ["Train every manager on speaking up"]
    html = response.content.decode()
    aside = html[html.index("Actions taken after earlier waves") :]
    assert "Train every manager on speaking up" in aside[: aside.index("</aside>")]
    # It belongs to the earlier wave, not to this wave's list.
    assert board.plans == []
    # Another unit's dashboard does not show it.
    response = client.get(
        reverse("reports:dashboard"), {"wave": org.current.pk, "unit": org.north.pk}
    )
    assert response.context["board"].earlier_plans == []
