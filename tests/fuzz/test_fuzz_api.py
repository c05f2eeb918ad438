"""Fuzzing the read API (/api/v1/): every endpoint with random paths, methods, credentials and
query parameters (unknown names, repeated keys, unicode, NUL, huge values).

Properties: never a 5xx; always JSON; every error carries "error" with a sentence; every call
is audited (exactly one new audit event and nothing else written); and every figure served
has passed the guard (a group is either suppressed with no n and no measures, or has n >= k).
"""

from urllib.parse import quote, urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reports.models import ActionPlan, ApiToken, AuditEvent
from surveys.models import Response
from tests.fuzz.support import (
    assert_clear_json,
    counted,
    examples,
    field_values,
    hostile_id,
    hostile_short,
    payloads,
    rolled_back,
    row_counts,
    unicode_text,
)

pytestmark = pytest.mark.django_db

ENDPOINTS = ["waves", "units", "summary", "trend", "other"]
methods = st.sampled_from(
    ["GET", "GET", "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"]
)
credentials = st.sampled_from(
    ["session-hr", "session-leader", "bearer-hr", "bearer-leader", "none", "garbage", "odd"]
)
odd_headers = st.one_of(
    st.sampled_from(["Bearer", "Bearer ", "bearer  x", "Basic dXNlcjpwYXNz", "Token abc", ""]),
    st.builds(lambda s: "Bearer " + s, st.one_of(unicode_text, payloads)),
    st.builds(lambda n: "Bearer " + "x" * n, st.sampled_from([199, 200, 201, 10_000])),
)
breakdowns = st.one_of(
    st.sampled_from(
        ["", "role_level", "tenure_band", "child_units", "role_level,tenure_band", "demo_age"]
    ),
    hostile_short,
)


def check_guarded(data: dict, k: int) -> None:
    groups = []
    if "groups" in data:
        groups = [data, *data["groups"]]
    elif "points" in data:
        groups = data["points"]
    for group in groups:
        if group["suppressed"]:
            assert group["n"] is None and group["measures"] is None, group
        else:
            assert group["n"] >= k, group


@examples(default=60, ci=1600)
@given(
    data=st.data(),
    endpoint=st.sampled_from(ENDPOINTS),
    slash=st.booleans(),
    method=methods,
    auth=credentials,
    header=odd_headers,
    extra=st.dictionaries(st.one_of(unicode_text, payloads), field_values, max_size=2),
)
def test_every_api_call_answers_json_and_serves_only_guarded_figures(
    fuzzed, clients, data, endpoint, slash, method, auth, header, extra
):
    counted()
    org = fuzzed.org
    wave_ids = [org.current.pk, org.previous.pk]
    unit_ids = [org.root.pk, org.sales.pk, org.north.pk, org.tech.pk]
    wave = data.draw(hostile_id(wave_ids))
    if endpoint in ("summary", "trend"):
        path = f"/api/v1/waves/{quote(wave, safe='')}/{endpoint}"
    elif endpoint == "other":
        path = "/api/v1/" + quote(data.draw(unicode_text), safe="/")
    else:
        path = f"/api/v1/{endpoint}"
    path += "/" if slash else ""
    params = data.draw(
        st.fixed_dictionaries(
            {},
            optional={
                "unit": st.one_of(
                    hostile_id(unit_ids), st.lists(hostile_id(unit_ids), min_size=2, max_size=3)
                ),
                "by": st.one_of(breakdowns, st.lists(breakdowns, min_size=2, max_size=3)),
            },
        )
    )
    client = clients["anonymous"]
    if auth.startswith("session-"):
        client = clients["hr" if auth.endswith("hr") else "leader"]
    headers = {}
    if auth.startswith("bearer-"):
        token = fuzzed.hr_token if auth.endswith("hr") else fuzzed.leader_token
        headers["Authorization"] = f"Bearer {token}"
    elif auth == "garbage":
        headers["Authorization"] = "Bearer pc_" + "A" * 43
    elif auth == "odd":
        headers["Authorization"] = header
    with rolled_back():
        before = row_counts(AuditEvent, Response, ActionPlan, ApiToken)
        response = client.generic(
            method, path, data="", QUERY_STRING=_query({**extra, **params}), headers=headers
        )
        body = assert_clear_json(response, (method, path, params))
        after = row_counts(AuditEvent, Response, ActionPlan, ApiToken)
        assert after == {**before, "AuditEvent": before["AuditEvent"] + 1}
        if response.status_code == 200 and method == "GET":
            check_guarded(body, org.current.k)


def _query(params: dict) -> str:
    return urlencode(params, doseq=True)
