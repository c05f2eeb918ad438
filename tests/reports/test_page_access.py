"""Every report page and export, for every kind of user: anonymous (to the log-in page), a
leader of the unit (allowed), a leader of another unit (403) and HR (allowed)."""

from dataclasses import dataclass

import pytest
from django.urls import reverse

from reports.models import ActionPlan
from tests.factories import make_hr, make_leader
from tests.reports.dashboard_data import fast_password_hashing, published_org  # noqa: F401

pytestmark = pytest.mark.django_db


@dataclass(frozen=True)
class Page:
    name: str
    method: str = "get"
    hr_only: bool = False
    ok: int = 200  # the status of an allowed request


PAGES = [
    Page("dashboard"),
    Page("report"),
    Page("export_csv"),
    Page("export_xlsx"),
    Page("action_create", method="post", ok=302),
    Page("action_edit"),
    Page("action_delete"),
    Page("waves", hr_only=True),
    Page("wave_detail", hr_only=True),
    Page("wave_open", method="post", hr_only=True, ok=302),
    Page("wave_close", method="post", hr_only=True, ok=302),
    Page("audit", hr_only=True),
]


def _request(client, page: Page, org):
    query = {"wave": org.current.pk, "unit": org.sales.pk}
    if page.name in ("action_edit", "action_delete"):
        plan = ActionPlan.objects.create(
            unit=org.sales, wave=org.current, dimension_code="voice", what="Listen", owner="Ann"
        )
        return client.get(reverse(f"reports:{page.name}", args=[plan.pk]))
    if page.name in ("wave_detail", "wave_open", "wave_close"):
        url = reverse(f"reports:{page.name}", args=[org.current.pk])
        return getattr(client, page.method)(url)
    url = reverse(f"reports:{page.name}")
    if page.method == "post":
        data = {**query, "dimension_code": "voice", "what": "Listen", "owner": "Ann"}
        data["status"] = "planned"
        return client.post(url, data)
    return client.get(url, query)


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
@pytest.mark.parametrize("who", ["anonymous", "leader_in_scope", "leader_out_of_scope", "hr"])
def test_page_access(client, published_org, page, who):  # noqa: F811
    org = published_org
    users = {
        "anonymous": None,
        "leader_in_scope": lambda: make_leader(org.sales),
        "leader_out_of_scope": lambda: make_leader(org.tech),
        "hr": make_hr,
    }
    if users[who] is not None:
        client.force_login(users[who]())
    response = _request(client, page, org)
    if who == "anonymous":
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))
    elif who == "hr" or (who == "leader_in_scope" and not page.hr_only):
        assert response.status_code == page.ok
    else:
        assert response.status_code == 403


def test_leader_of_a_parent_unit_reads_the_child(client, published_org):  # noqa: F811
    org = published_org
    client.force_login(make_leader(org.root))
    response = client.get(
        reverse("reports:dashboard"), {"wave": org.current.pk, "unit": org.north.pk}
    )
    assert response.status_code == 200


def test_leader_of_a_child_unit_cannot_read_the_parent(client, published_org):  # noqa: F811
    org = published_org
    client.force_login(make_leader(org.north))
    response = client.get(
        reverse("reports:dashboard"), {"wave": org.current.pk, "unit": org.sales.pk}
    )
    assert response.status_code == 403
    response = client.get(
        reverse("reports:export_csv"), {"wave": org.current.pk, "unit": org.root.pk}
    )
    assert response.status_code == 403
