"""Fuzzing every form and query of the report pages: log-in, action plans (create, edit,
delete), API token creation and revocation, the audit log filters, the dashboard, printable
report and export parameters, and every id in a path.

Properties: never a 5xx; a refusal explains itself; nothing partially stored (an action plan
or token is created or changed whole, with normalised values, or not at all).
"""

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from hypothesis import given
from hypothesis import strategies as st

from reports.models import ActionPlan, ApiToken, AuditEvent
from tests.fuzz.support import (
    REDIRECTS,
    assert_clear_html,
    body_of,
    counted,
    examples,
    field_values,
    hostile,
    hostile_id,
    hostile_short,
    payloads,
    rolled_back,
    row_counts,
    unicode_text,
)

pytestmark = pytest.mark.django_db


users = st.sampled_from(["anonymous", "hr", "leader", "outsider"])
staff = st.sampled_from(["hr", "leader", "outsider"])
extra_params = st.dictionaries(st.one_of(unicode_text, payloads), field_values, max_size=3)
dates = st.one_of(
    st.dates(min_value=dt.date(1, 1, 1), max_value=dt.date(9999, 12, 31)).map(str),
    st.sampled_from(["2027-02-30", "31/12/2027", "0000-00-00", "2027-13-01", "99999-01-01"]),
    hostile_short,
)


# --- Log-in -------------------------------------------------------------------------------------


@examples(default=25, ci=350)
@given(
    username=st.one_of(st.just("fuzz-hr"), hostile),
    password=hostile,
    extra=extra_params,
    next_url=st.one_of(st.none(), payloads, st.just("https://evil.example/")),
)
def test_log_in_form_refuses_anything_with_a_message(
    fuzzed, clients, username, password, extra, next_url
):
    counted()
    client = clients["anonymous"]
    with rolled_back():
        path = "/login/" + (f"?next={next_url}" if next_url else "")
        response = client.post(path, {**extra, "username": username, "password": password})
        assert_clear_html(response, (username, password))
        assert response.status_code != 302  # nobody logs in without the password
        if response.status_code == 200:
            page = body_of(response).decode()
            assert "alert" in page or "invalid-feedback" in page


# --- Action plans -------------------------------------------------------------------------------


def plan_fields(fuzzed) -> st.SearchStrategy[dict]:
    org = fuzzed.org
    plausible = st.fixed_dictionaries(
        {
            "wave": st.sampled_from([org.current.pk, org.previous.pk]).map(str),
            "unit": st.sampled_from([org.sales.pk, org.north.pk, org.tech.pk]).map(str),
            "dimension_code": st.sampled_from(["voice", "consequences", "nope", ""]),
            "what": st.one_of(st.just("Hold a monthly open forum"), hostile),
            "owner": st.one_of(st.just("Maria Lopez"), hostile),
            "due": st.one_of(st.just(""), dates),
            "status": st.sampled_from(["planned", "doing", "done", "nope", ""]),
        }
    )
    noise = st.dictionaries(
        st.sampled_from(["wave", "unit", "dimension_code", "what", "owner", "due", "status"]),
        field_values,
        max_size=3,
    )
    return st.builds(lambda good, bad: {**good, **bad}, plausible, noise)


def assert_plan_is_whole(plan: ActionPlan, dimensions: set[str]) -> None:
    assert plan.dimension_code in dimensions
    assert plan.what and plan.what == plan.what.strip() and "\x00" not in plan.what
    assert plan.owner and plan.owner == " ".join(plan.owner.split())
    assert plan.status in ActionPlan.Status.values
    assert plan.due is None or isinstance(plan.due, dt.date)


@pytest.fixture
def dimensions(fuzzed):
    return set(fuzzed.org.instrument.dimensions.values_list("code", flat=True))


@examples(default=25, ci=250)
@given(data=st.data(), who=staff)
def test_action_plan_is_created_whole_or_refused_with_messages(
    fuzzed, clients, dimensions, data, who
):
    counted()
    fields = data.draw(plan_fields(fuzzed))
    with rolled_back():
        before = row_counts(ActionPlan)
        response = clients[who].post("/reports/actions/new/", fields)
        assert_clear_html(response, fields)
        created = ActionPlan.objects.count() - before["ActionPlan"]
        if response.status_code in REDIRECTS:
            assert created == 1
            assert_plan_is_whole(ActionPlan.objects.latest("pk"), dimensions)
        else:
            assert created == 0
            page = body_of(response).decode()
            if "Save the action" in page:  # the form again: each problem next to its field
                assert "invalid-feedback" in page


@examples(default=25, ci=200)
@given(data=st.data(), who=staff, method=st.sampled_from(["get", "post"]))
def test_action_plan_is_edited_whole_or_left_as_it_was(
    fuzzed, clients, dimensions, data, who, method
):
    counted()
    fields = data.draw(plan_fields(fuzzed))
    plan = fuzzed.plan
    with rolled_back():
        before = ActionPlan.objects.filter(pk=plan.pk).values().get()
        send = getattr(clients[who], method)
        response = send(f"/reports/actions/{plan.pk}/edit/", fields)
        assert_clear_html(response, fields)
        after = ActionPlan.objects.filter(pk=plan.pk).values().get()
        if method == "post" and response.status_code in REDIRECTS:
            assert_plan_is_whole(ActionPlan.objects.get(pk=plan.pk), dimensions)
        else:
            assert after == before


# --- Ids in paths -------------------------------------------------------------------------------

ID_PATHS = [
    "/reports/units/{}/",
    "/reports/actions/{}/edit/",
    "/reports/actions/{}/delete/",
    "/reports/waves/{}/",
    "/reports/waves/{}/open/",
    "/reports/waves/{}/close/",
    "/reports/tokens/{}/revoke/",
]
path_ids = st.one_of(
    st.integers(min_value=0, max_value=2**80),
    st.sampled_from([1, 2, 3, 2**31 - 1, 2**31, 2**63 - 1, 2**63, 2**64]),
)


@examples(default=25, ci=500)
@given(
    template=st.sampled_from(ID_PATHS),
    number=path_ids,
    who=users,
    method=st.sampled_from(["get", "post"]),
)
def test_any_id_in_a_path_gets_a_clear_answer(fuzzed, clients, template, number, who, method):
    counted()
    path = template.format(number)
    with rolled_back():
        response = getattr(clients[who], method)(path)
        if response.status_code == 405:
            return  # a GET to a POST-only action (the browser never sends one)
        assert_clear_html(response, path)


# --- API tokens ---------------------------------------------------------------------------------


@examples(default=25, ci=250)
@given(
    user=st.one_of(st.just("hr"), st.just("leader"), hostile_id([])),
    name=st.one_of(st.just("Power BI"), hostile),
    who=st.sampled_from(["hr", "hr", "leader"]),
    extra=extra_params,
)
def test_token_is_created_whole_or_refused_with_messages(fuzzed, clients, user, name, who, extra):
    counted()
    user_id = str(getattr(fuzzed, user).pk) if user in ("hr", "leader") else user
    with rolled_back():
        before = ApiToken.objects.count()
        response = clients[who].post(
            "/reports/tokens/new/", {**extra, "user": user_id, "name": name}
        )
        assert_clear_html(response, (user, name))
        created = ApiToken.objects.count() - before
        if response.status_code == 200 and created:
            token = ApiToken.objects.latest("pk")
            assert created == 1 and who == "hr"
            assert token.name == " ".join(token.name.split()) and token.name
            assert token.user.is_active
            page = body_of(response).decode()
            assert token.token_hash not in page and "pc_" in page  # shown once, hash never
        else:
            assert created == 0


# --- Audit log filters --------------------------------------------------------------------------

audit_params = st.fixed_dictionaries(
    {},
    optional={
        "user": hostile,
        "action": st.one_of(st.sampled_from(AuditEvent.Action.values), hostile_short),
        "since": dates,
        "until": dates,
        "path": hostile,
        "page": st.one_of(st.integers(-5, 10**20).map(str), hostile_short),
    },
)


@examples(default=25, ci=300)
@given(params=audit_params, extra=extra_params, who=users)
def test_audit_filters_answer_with_the_list_or_a_message(fuzzed, clients, params, extra, who):
    counted()
    with rolled_back():
        response = clients[who].get("/reports/audit/", {**extra, **params})
        assert_clear_html(response, params)
        if who == "hr" and response.status_code == 400:
            assert (
                "invalid-feedback" in body_of(response).decode()
                or "alert" in body_of(response).decode()
            )


# --- Dashboard, printable report and exports ----------------------------------------------------

REPORT_PATHS = [
    "/reports/dashboard/",
    "/reports/dashboard/",
    "/reports/export/csv/",
    "/reports/export/csv/",
    "/reports/export/xlsx/",
    "/reports/export/report/",
]
breakdowns = st.one_of(
    st.sampled_from(
        [
            "",
            "overall",
            "role_level",
            "tenure_band",
            "child_units",
            "role_level,tenure_band",
            "role_level,demo_gender",
            "demo_age",
            "ROLE_LEVEL , Tenure_Band",
            "role_level,role_level",
            "child_units,role_level",
            "role_level,tenure_band,demo_age",
        ]
    ),
    hostile_short,
)


@examples(default=20, ci=90)
@given(data=st.data(), path=st.sampled_from(REPORT_PATHS), who=users, extra=extra_params)
def test_report_queries_answer_with_figures_or_a_message(fuzzed, clients, data, path, who, extra):
    counted()
    org = fuzzed.org
    waves = [org.current.pk, org.previous.pk]
    units = [org.root.pk, org.sales.pk, org.south.pk, org.tech.pk]
    params = data.draw(
        st.fixed_dictionaries(
            {},
            optional={
                "wave": st.one_of(hostile_id(waves), st.lists(hostile_id(waves), max_size=3)),
                "unit": st.one_of(hostile_id(units), st.lists(hostile_id(units), max_size=3)),
                "by": breakdowns,
            },
        )
    )
    with rolled_back():
        response = clients[who].get(path, {**extra, **params})
        assert_clear_html(response, (path, params))
        body_of(response)  # a streamed export is generated to the end


@examples(default=10, ci=50)
@given(who=users, extra=extra_params)
def test_pages_without_parameters_ignore_any_they_are_given(fuzzed, clients, who, extra):
    counted()
    with rolled_back():
        for path in ("/", "/reports/", "/reports/waves/", "/reports/tokens/", "/login/"):
            response = clients[who].get(path, extra)
            assert_clear_html(response, (path, extra))


def test_inactive_users_are_not_counted_as_token_holders(fuzzed, clients):
    """The token form offers active users only: an inactive user's id is refused."""
    inactive = get_user_model().objects.create(username="gone", is_active=False)
    response = clients["hr"].post("/reports/tokens/new/", {"user": inactive.pk, "name": "x"})
    assert response.status_code == 200
    assert not ApiToken.objects.filter(user=inactive).exists()
    assert "invalid-feedback" in body_of(response).decode()
