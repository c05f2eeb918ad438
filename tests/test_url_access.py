"""Every URL of the project, visited as anonymous, a leader in scope, a leader out of scope and
HR. The list of URLs comes from the URL configuration itself: a URL added without a rule here
fails `test_every_url_has_an_access_rule`."""

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from reports.models import ActionPlan, ApiToken
from surveys import services
from surveys.models import RoleLevel
from tests.factories import make_hr, make_leader
from tests.reports.dashboard_data import fast_password_hashing, published_org  # noqa: F401

pytestmark = pytest.mark.django_db

WHO = ("anonymous", "leader_in", "leader_out", "hr")
LOGIN = 302  # anonymous users are sent to the log-in page


@dataclass(frozen=True)
class Rule:
    """How to request a URL and the status each kind of user must get."""

    path: Callable  # (ctx) -> path with query string
    expect: tuple[int, int, int, int]  # anonymous, leader in scope, leader out of scope, HR
    method: str = "get"
    data: Callable | None = None


def _q(ctx, unit="sales") -> str:
    return f"?wave={ctx['org'].current.pk}&unit={getattr(ctx['org'], unit).pk}"


PUBLIC = (200, 200, 200, 200)
STAFF_PAGE = (LOGIN, 200, 403, 200)
HR_PAGE = (LOGIN, 403, 403, 200)
API = (401, 200, 200, 200)
API_SCOPED = (401, 200, 403, 200)

# Keyed by the route as written in the URL configuration.
RULES: dict[str, Rule] = {
    "": Rule(lambda c: "/", PUBLIC),
    "login/": Rule(lambda c: "/login/", (200, 302, 302, 302)),
    "logout/": Rule(lambda c: "/logout/", (302, 302, 302, 302), method="post"),
    "s/w/<str:key>/": Rule(lambda c: f"/s/w/{c['org'].current.open_link_key}/", PUBLIC),
    "s/w/<str:key>/answer/": Rule(
        lambda c: f"/s/w/{c['org'].current.open_link_key}/answer/", PUBLIC
    ),
    "s/w/<str:key>/thanks/": Rule(
        lambda c: f"/s/w/{c['org'].current.open_link_key}/thanks/", PUBLIC
    ),
    "s/i/<str:token>/": Rule(lambda c: f"/s/i/{c['token']}/", PUBLIC),
    "s/i/<str:token>/answer/": Rule(lambda c: f"/s/i/{c['token']}/answer/", PUBLIC),
    # Before the link is used its thank-you page sends the respondent back to the survey.
    "s/i/<str:token>/thanks/": Rule(lambda c: f"/s/i/{c['token']}/thanks/", (302, 302, 302, 302)),
    "s/preview/<slug:slug>/": Rule(
        lambda c: f"/s/preview/{c['org'].instrument.slug}/", (LOGIN, 403, 403, 200)
    ),
    r"s/^(?P<rest>[\s\S]*)$": Rule(lambda c: "/s/nothing-here/", (404, 404, 404, 404)),
    "reports/": Rule(lambda c: "/reports/", (LOGIN, 200, 200, 200)),
    "reports/units/<int:unit_id>/": Rule(
        lambda c: f"/reports/units/{c['org'].sales.pk}/", STAFF_PAGE
    ),
    "reports/dashboard/": Rule(lambda c: "/reports/dashboard/" + _q(c), STAFF_PAGE),
    "reports/actions/new/": Rule(
        lambda c: "/reports/actions/new/",
        (LOGIN, 302, 403, 302),
        method="post",
        data=lambda c: {
            "wave": c["org"].current.pk,
            "unit": c["org"].sales.pk,
            "dimension_code": "voice",
            "what": "Listen first",
            "owner": "Ann",
            "status": "planned",
        },
    ),
    "reports/actions/<int:plan_id>/edit/": Rule(
        lambda c: f"/reports/actions/{c['plan'].pk}/edit/", STAFF_PAGE
    ),
    "reports/actions/<int:plan_id>/delete/": Rule(
        lambda c: f"/reports/actions/{c['plan'].pk}/delete/", STAFF_PAGE
    ),
    "reports/waves/": Rule(lambda c: "/reports/waves/", HR_PAGE),
    "reports/waves/<int:wave_id>/": Rule(
        lambda c: f"/reports/waves/{c['org'].current.pk}/", HR_PAGE
    ),
    "reports/waves/<int:wave_id>/open/": Rule(
        lambda c: f"/reports/waves/{c['org'].current.pk}/open/",
        (LOGIN, 403, 403, 302),
        method="post",
    ),
    "reports/waves/<int:wave_id>/close/": Rule(
        lambda c: f"/reports/waves/{c['org'].previous.pk}/close/",
        (LOGIN, 403, 403, 302),
        method="post",
    ),
    "reports/audit/": Rule(lambda c: "/reports/audit/", HR_PAGE),
    "reports/export/csv/": Rule(lambda c: "/reports/export/csv/" + _q(c), STAFF_PAGE),
    "reports/export/xlsx/": Rule(lambda c: "/reports/export/xlsx/" + _q(c), STAFF_PAGE),
    "reports/export/report/": Rule(lambda c: "/reports/export/report/" + _q(c), STAFF_PAGE),
    "reports/tokens/": Rule(lambda c: "/reports/tokens/", HR_PAGE),
    "reports/tokens/new/": Rule(lambda c: "/reports/tokens/new/", HR_PAGE),
    "reports/tokens/<int:token_id>/revoke/": Rule(
        lambda c: f"/reports/tokens/{c['api_token'].pk}/revoke/", HR_PAGE
    ),
    "api/v1/waves/": Rule(lambda c: "/api/v1/waves/", API),
    "api/v1/waves": Rule(lambda c: "/api/v1/waves", API),
    "api/v1/units/": Rule(lambda c: "/api/v1/units/", API),
    "api/v1/units": Rule(lambda c: "/api/v1/units", API),
    "api/v1/waves/<str:wave_id>/summary": Rule(
        lambda c: f"/api/v1/waves/{c['org'].current.pk}/summary?unit={c['org'].sales.pk}",
        API_SCOPED,
    ),
    "api/v1/waves/<str:wave_id>/summary/": Rule(
        lambda c: f"/api/v1/waves/{c['org'].current.pk}/summary/?unit={c['org'].sales.pk}",
        API_SCOPED,
    ),
    "api/v1/waves/<str:wave_id>/trend": Rule(
        lambda c: f"/api/v1/waves/{c['org'].current.pk}/trend?unit={c['org'].sales.pk}",
        API_SCOPED,
    ),
    "api/v1/waves/<str:wave_id>/trend/": Rule(
        lambda c: f"/api/v1/waves/{c['org'].current.pk}/trend/?unit={c['org'].sales.pk}",
        API_SCOPED,
    ),
    r"api/v1/^[\s\S]*$": Rule(lambda c: "/api/v1/nothing-here", (401, 404, 404, 404)),
}


def project_routes() -> list[str]:
    """Every route of the project outside Django's own admin, as written in the URL config."""

    def walk(patterns, prefix=""):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                if pattern.namespace == "admin":
                    continue
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                yield prefix + str(pattern.pattern)

    return list(walk(get_resolver().url_patterns))


def test_every_url_has_an_access_rule():
    missing = [route for route in project_routes() if route not in RULES]
    assert not missing, f"add an access rule for {missing} in {__file__}"
    stale = [route for route in RULES if route not in project_routes()]
    assert not stale, f"rules for routes that no longer exist: {stale}"


@pytest.fixture
def ctx(published_org):  # noqa: F811
    org = published_org
    role = RoleLevel.objects.get(rank=1)
    row = services.RosterRow(unit=org.sales, role_level=role, tenure_band=None)
    token = services.create_invitations(wave=org.current, roster=[row])[0]
    plan = ActionPlan.objects.create(
        unit=org.sales, wave=org.current, dimension_code="voice", what="Listen", owner="Ann"
    )
    hr = make_hr()
    api_token, _raw = ApiToken.issue(user=hr, name="BI")
    return {
        "org": org,
        "token": token,
        "plan": plan,
        "api_token": api_token,
        "users": {
            "anonymous": None,
            "leader_in": make_leader(org.sales),
            "leader_out": make_leader(org.tech),
            "hr": hr,
        },
    }


@pytest.mark.parametrize("route", sorted(RULES))
def test_url_access_for_every_kind_of_user(client, ctx, route):
    rule = RULES[route]
    for index, who in enumerate(WHO):
        client.logout()
        if ctx["users"][who] is not None:
            client.force_login(ctx["users"][who])
        path = rule.path(ctx)
        data = rule.data(ctx) if rule.data else None
        response = (
            getattr(client, rule.method)(path, data) if data else getattr(client, rule.method)(path)
        )
        expected = rule.expect[index]
        assert response.status_code == expected, f"{who} {rule.method.upper()} {path}"
        if expected == LOGIN and who == "anonymous" and route.startswith("reports/"):
            assert response["Location"].startswith("/login/")
