"""The audit log page: HR reads and filters it; nobody can write or delete an event."""

import datetime as dt

import pytest
from django.contrib.admin.sites import site
from django.core.exceptions import PermissionDenied
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from reports.models import AuditEvent
from reports.views import AUDIT_PAGE_SIZE
from tests.factories import UnitFactory, make_hr, make_leader
from tests.reports.dashboard_data import fast_password_hashing  # noqa: F401

pytestmark = pytest.mark.django_db


def _event(username, action, path, days_ago=0):
    event = AuditEvent.objects.create(username=username, action=action, path=path)
    AuditEvent.objects.filter(pk=event.pk).update(at=timezone.now() - dt.timedelta(days=days_ago))
    return event


@pytest.fixture
def events():
    return [
        _event("maria", AuditEvent.Action.VIEW, "/reports/dashboard/", days_ago=10),
        _event("maria", AuditEvent.Action.EXPORT, "/reports/export/csv/", days_ago=2),
        _event("tom", AuditEvent.Action.API, "/api/v1/waves/", days_ago=1),
    ]


def _page(client, **filters):
    response = client.get(reverse("reports:audit"), filters)
    assert response.status_code == 200, response.content
    return [e for e in response.context["page"] if not e.path.startswith("/reports/audit/")]


def test_hr_reads_and_filters_the_log(client, events):
    client.force_login(make_hr(username="auditor"))
    assert len(_page(client)) == 3
    assert {e.username for e in _page(client, user="MARIA")} == {"maria"}
    assert [e.action for e in _page(client, action="api")] == ["api"]
    assert [e.path for e in _page(client, path="export")] == ["/reports/export/csv/"]
    since = (timezone.localdate() - dt.timedelta(days=3)).isoformat()
    until = (timezone.localdate() - dt.timedelta(days=2)).isoformat()
    assert [e.path for e in _page(client, since=since, until=until)] == ["/reports/export/csv/"]
    html = client.get(reverse("reports:audit")).content.decode()
    assert "maria" in html and "/api/v1/waves/" in html


def test_reading_the_log_is_itself_logged(client, events):
    hr = make_hr()
    client.force_login(hr)
    client.get(reverse("reports:audit"), {"user": "tom"})
    event = AuditEvent.objects.get(user=hr)
    assert event.detail["params"] == {"user": ["tom"]} and event.detail["page"] == "audit"


def test_the_log_is_paginated(client):
    AuditEvent.objects.bulk_create(
        AuditEvent(username="bulk", action=AuditEvent.Action.VIEW, path=f"/p/{i}")
        for i in range(AUDIT_PAGE_SIZE + 5)
    )
    client.force_login(make_hr())
    first = client.get(reverse("reports:audit"), {"user": "bulk"})
    assert len(first.context["page"]) == AUDIT_PAGE_SIZE
    assert "page=2" in first.content.decode() and "user=bulk" in first.content.decode()
    second = client.get(reverse("reports:audit"), {"user": "bulk", "page": 2})
    assert len(second.context["page"]) == 5
    assert client.get(reverse("reports:audit"), {"page": "999"}).status_code == 200


def test_bad_filters_get_a_clear_message(client, events):
    client.force_login(make_hr())
    response = client.get(reverse("reports:audit"), {"since": "2026-05-01", "until": "2026-04-01"})
    assert response.status_code == 400
    assert "The start date is after the end date." in response.content.decode()
    assert client.get(reverse("reports:audit"), {"since": "yesterday"}).status_code == 400
    assert client.get(reverse("reports:audit"), {"action": "delete"}).status_code == 400


def test_nobody_writes_through_the_page(client, events):
    client.force_login(make_hr())
    html = client.get(reverse("reports:audit")).content.decode()
    form = html[html.index('<form method="get"') :]
    assert 'method="post"' not in form[: form.index("</form>")]
    assert client.post(reverse("reports:audit"), {"user": "x"}).status_code == 405
    assert client.delete(reverse("reports:audit")).status_code == 405
    assert AuditEvent.objects.count() == 4  # the three events and this page's one view


def test_leaders_cannot_read_the_log(client, events):
    client.force_login(make_leader(UnitFactory()))
    assert client.get(reverse("reports:audit")).status_code == 403


def test_events_cannot_be_changed_or_deleted(events):
    event = events[0]
    event.path = "/elsewhere/"
    with pytest.raises(PermissionDenied):
        event.save()
    with pytest.raises(PermissionDenied):
        event.delete()
    assert AuditEvent.objects.get(pk=event.pk).path == "/reports/dashboard/"


def test_admin_offers_no_way_to_write(events):
    admin = site._registry[AuditEvent]
    request = RequestFactory().get("/admin/")
    request.user = make_hr()
    assert not admin.has_add_permission(request)
    assert not admin.has_change_permission(request, events[0])
    assert not admin.has_delete_permission(request, events[0])
