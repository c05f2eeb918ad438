"""The read API (/api/v1/): authentication, scoping, parameters, the guard, the audit log, and
agreement of every published figure with an independent recomputation from the raw answers."""

import random
from collections import defaultdict
from dataclasses import dataclass

import pytest
from django.urls import reverse

from reports import anonymity
from reports.models import ApiToken, AuditEvent
from reports.publication import publish
from surveys import services
from surveys.models import Answer, Question, Response, RoleLevel, TenureBand, Wave
from tests.factories import UnitFactory, UserFactory, WaveFactory, make_hr, make_leader

pytestmark = pytest.mark.django_db

K = 5
QUERIES = 13  # per summary call, whatever the breakdown or the number of responses


# --- Fixtures ----------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@dataclass
class Org:
    root: object
    ops: object
    ops1: object
    ops2: object
    care: object
    other: object  # a second root, outside every leader's scope
    wave: Wave
    hr: object
    ops_leader: object
    care_leader: object


@pytest.fixture
def org():
    """A company with two divisions, no answers yet: enough for scoping and parameter tests."""
    instrument = services.load_default_instrument()
    root = UnitFactory(name="Company")
    ops = UnitFactory(name="Operations", parent=root)
    ops1 = UnitFactory(name="Ops North", parent=ops)
    ops2 = UnitFactory(name="Ops South", parent=ops)
    care = UnitFactory(name="Care", parent=root)
    other = UnitFactory(name="Elsewhere")
    wave = WaveFactory(instrument=instrument, units=[root], k=K)
    return Org(
        root=root,
        ops=ops,
        ops1=ops1,
        ops2=ops2,
        care=care,
        other=other,
        wave=wave,
        hr=make_hr(),
        ops_leader=make_leader(ops),
        care_leader=make_leader(care),
    )


# People per (unit, role rank or (lo, hi) band): some groups are under k on purpose.
POPULATION = {
    "ops1": {1: 9, 2: 6},
    "ops2": {1: 7, 3: 2},
    "care": {1: 6, 2: 5, (4, 5): 3},
    "root": {5: 5},
}


# The demographic questions answered in the agreement test (each one adds a family of small
# cells to protect at publication, which costs time).
DEMOGRAPHICS = ("DEMO_GENDER", "DEMO_AGE")


def _answers(
    rng: random.Random, questions: list[Question], rank: int, demographics=DEMOGRAPHICS
) -> list[tuple[int, int]]:
    """Random answers that lean better with rank (a power gradient), honouring the
    instrument's conditions, with a few skipped questions."""
    pairs: list[tuple[int, int]] = []
    chosen: dict[str, set[int]] = {}
    for q in questions:
        if q.purpose == "demographic" and q.code not in demographics:
            continue
        if q.show_if and not any(
            chosen.get(c["question"], set()) & set(c["values"]) for c in q.show_if
        ):
            continue
        if q.kind == "text" or (q.purpose != "demographic" and rng.random() < 0.08):
            continue
        if q.kind in ("agree5", "freq5") and q.purpose in ("scale", "report_confidence"):
            values = [min(5, max(1, round(rng.gauss(2.4 + 0.4 * rank, 1.1))))]
        elif q.kind == "freq5":
            values = [1 if rng.random() < 0.55 + 0.05 * rank else rng.randint(2, 5)]
        elif q.kind == "yesno":
            values = [rng.choice([1, 2, 2, 9])]
        elif q.kind == "multi":
            values = sorted(rng.sample([c["value"] for c in q.choices], rng.randint(1, 3)))
        elif q.kind == "scale11":
            values = [rng.randint(0, 10)]
        elif q.kind == "single":
            if rng.random() < 0.2:
                continue
            values = [rng.choice([c["value"] for c in q.choices])]
        else:
            continue
        chosen[q.code] = set(values)
        pairs.extend((q.pk, v) for v in values)
    return pairs


def _store_answers(org: Org, demographics: tuple[str, ...]) -> Org:
    """Publish answers for the POPULATION (stored already coarsened, as the roster would)."""
    rng = random.Random(4)
    questions = list(
        Question.objects.filter(instrument=org.wave.instrument).order_by("section__order", "order")
    )
    roles = {r.rank: r for r in RoleLevel.objects.all()}
    tenures = [None, *TenureBand.objects.order_by("rank")]
    batch = []
    for name, groups in POPULATION.items():
        unit = getattr(org, name)
        for band, people in groups.items():
            lo, hi = band if isinstance(band, tuple) else (band, band)
            for _ in range(people):
                attributes = services.Attributes(
                    unit=unit,
                    role_level=roles[lo],
                    role_level_to=roles[hi] if hi != lo else None,
                    tenure_band=rng.choice(tenures),
                )
                batch.append((attributes, _answers(rng, questions, lo, demographics)))
    services.bulk_store_responses(wave=org.wave, responses=batch)
    publish(wave=org.wave, force=True)
    return org


@pytest.fixture
def answered(org):
    """The org with published answers, without demographics (quick to publish)."""
    return _store_answers(org, demographics=())


@pytest.fixture
def answered_with_demographics(org):
    """The org with published answers, two demographic questions included."""
    return _store_answers(org, demographics=DEMOGRAPHICS)


def get(client, url, token=None, **params):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.get(url, params, headers=headers)


def summary_url(wave_id) -> str:
    return reverse("reports:api_summary", args=[wave_id])


def trend_url(wave_id) -> str:
    return reverse("reports:api_trend", args=[wave_id])


WAVES = "/api/v1/waves/"
UNITS = "/api/v1/units/"


# --- Authentication ----------------------------------------------------------------------------


def test_no_credentials_get_401_json_with_bearer_challenge(client, org):
    for url in (WAVES, UNITS, summary_url(org.wave.pk), trend_url(org.wave.pk)):
        response = client.get(url)
        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert response["Content-Type"] == "application/json"
        assert "error" in response.json()


def test_unknown_or_malformed_token_gets_401(client, org):
    assert get(client, WAVES, token="pc_not-a-real-token").status_code == 401
    for header in ("Basic dXNlcjpwYXNz", "Bearer", "Bearer " + "x" * 5000, "Token abc"):
        response = client.get(WAVES, headers={"Authorization": header})
        assert response.status_code == 401, header
        assert response["WWW-Authenticate"].startswith("Bearer")


def test_revoked_token_and_token_of_inactive_user_get_401(client, org):
    token, raw = ApiToken.issue(user=org.hr, name="bi")
    assert get(client, WAVES, token=raw).status_code == 200
    token.revoked_at = token.created_at
    token.save()
    assert get(client, WAVES, token=raw).status_code == 401
    _, raw2 = ApiToken.issue(user=org.ops_leader, name="bi")
    org.ops_leader.is_active = False
    org.ops_leader.save()
    assert get(client, WAVES, token=raw2).status_code == 401


def test_bad_token_is_refused_even_with_a_valid_session(client, org):
    client.force_login(org.hr)
    assert client.get(WAVES).status_code == 200
    assert get(client, WAVES, token="pc_wrong").status_code == 401


def test_session_log_in_is_accepted(client, org):
    client.force_login(org.hr)
    response = client.get(WAVES)
    assert response.status_code == 200
    assert [w["id"] for w in response.json()["waves"]] == [org.wave.pk]


def test_bearer_token_is_accepted_and_last_use_recorded_at_most_once_a_minute(client, org):
    token, raw = ApiToken.issue(user=org.hr, name="bi")
    assert get(client, WAVES, token=raw).status_code == 200
    token.refresh_from_db()
    first = token.last_used_at
    assert first is not None
    assert get(client, UNITS, token=raw).status_code == 200
    token.refresh_from_db()
    assert token.last_used_at == first


def test_leader_token_sees_only_their_units(client, org):
    _, raw = ApiToken.issue(user=org.ops_leader, name="bi")
    units = get(client, UNITS, token=raw).json()["units"]
    assert {u["id"] for u in units} == {org.ops.pk, org.ops1.pk, org.ops2.pk}
    assert get(client, summary_url(org.wave.pk), token=raw, unit=org.ops1.pk).status_code == 200
    for unit in (org.root, org.care, org.other):
        response = get(client, summary_url(org.wave.pk), token=raw, unit=unit.pk)
        assert response.status_code == 403
        assert response.json()["error"]
        assert get(client, trend_url(org.wave.pk), token=raw, unit=unit.pk).status_code == 403


def test_writes_get_405_json_even_without_csrf_token(client, org):
    _, raw = ApiToken.issue(user=org.hr, name="bi")
    headers = {"Authorization": f"Bearer {raw}"}
    for method in (client.post, client.put, client.patch, client.delete):
        response = method(WAVES, headers=headers)
        assert response.status_code == 405
        assert "GET" in response["Allow"]
        assert response.json()["error"]


def test_responses_are_never_cached(client, org):
    client.force_login(org.hr)
    for url in (WAVES, UNITS, summary_url(org.wave.pk), "/api/v1/nothing-here"):
        assert client.get(url)["Cache-Control"] == "no-store"
    assert client.logout() is None
    assert client.get(WAVES)["Cache-Control"] == "no-store"


# --- Waves and units ---------------------------------------------------------------------------


def test_waves_hr_sees_all_leader_sees_overlapping_waves(client, org):
    ops_only = WaveFactory(instrument=org.wave.instrument, units=[org.ops2], k=K)
    elsewhere = WaveFactory(instrument=org.wave.instrument, units=[org.other], k=K)
    client.force_login(org.hr)
    assert {w["id"] for w in client.get(WAVES).json()["waves"]} == {
        org.wave.pk,
        ops_only.pk,
        elsewhere.pk,
    }
    client.force_login(org.ops_leader)
    waves = client.get(WAVES).json()["waves"]
    assert {w["id"] for w in waves} == {org.wave.pk, ops_only.pk}
    client.force_login(org.care_leader)
    assert {w["id"] for w in client.get(WAVES).json()["waves"]} == {org.wave.pk}
    client.force_login(UserFactory())
    assert client.get(WAVES).json()["waves"] == []


def test_wave_fields(client, answered):
    client.force_login(answered.hr)
    (wave,) = client.get(WAVES).json()["waves"]
    assert set(wave) == {
        "id",
        "name",
        "instrument",
        "state",
        "opens_at",
        "closes_at",
        "k",
        "published_at",
        "version",
    }
    assert wave["k"] == K
    assert wave["version"] == 1
    assert wave["published_at"]
    assert wave["instrument"]["slug"] == answered.wave.instrument.slug


def test_units_hr_sees_every_unit_with_parent_and_depth(client, org):
    client.force_login(org.hr)
    units = {u["id"]: u for u in client.get(UNITS).json()["units"]}
    assert set(units) == {
        u.pk for u in (org.root, org.ops, org.ops1, org.ops2, org.care, org.other)
    }
    assert units[org.root.pk]["parent"] is None
    assert units[org.ops1.pk]["parent"] == org.ops.pk
    assert units[org.ops1.pk]["depth"] == 2
    assert units[org.ops1.pk]["external_id"] == org.ops1.external_id
    assert units[org.ops1.pk]["name"] == "Ops North"


def test_units_leader_top_unit_has_no_parent_outside_scope(client, org):
    client.force_login(org.care_leader)
    assert client.get(UNITS).json()["units"] == [
        {
            "id": org.care.pk,
            "external_id": org.care.external_id,
            "name": "Care",
            "parent": None,
            "depth": 1,
        }
    ]
    client.force_login(UserFactory())
    assert client.get(UNITS).json()["units"] == []


# --- Summary: scoping and parameters ----------------------------------------------------------


def test_summary_for_anonymous_leader_in_scope_out_of_scope_and_hr(client, answered):
    url = summary_url(answered.wave.pk)
    assert client.get(url, {"unit": answered.ops.pk}).status_code == 401
    client.force_login(answered.ops_leader)
    response = client.get(url)  # defaults to the leader's one top unit
    assert response.status_code == 200
    assert response.json()["unit"] == answered.ops.pk
    assert "reliability" not in response.json()
    assert client.get(url, {"unit": answered.care.pk}).status_code == 403
    client.force_login(answered.hr)
    assert client.get(url).status_code == 400  # two roots: HR must choose a unit
    data = client.get(url, {"unit": answered.root.pk}).json()
    assert data["unit"] == answered.root.pk
    assert data["n"] == 43
    assert set(data["reliability"]) == set(
        answered.wave.instrument.dimensions.values_list("code", flat=True)
    )


def test_hr_with_several_roots_and_leader_with_several_units_must_choose_a_unit(client, org):
    client.force_login(org.hr)  # two roots: Company and Elsewhere
    response = client.get(summary_url(org.wave.pk))
    assert response.status_code == 400
    assert "unit" in response.json()["error"]
    client.force_login(make_leader(org.ops1, org.care))
    assert client.get(summary_url(org.wave.pk)).status_code == 400
    assert client.get(summary_url(org.wave.pk), {"unit": org.care.pk}).status_code == 200


def test_hr_with_one_root_defaults_to_it(client, org):
    org.other.delete()
    client.force_login(org.hr)
    response = client.get(summary_url(org.wave.pk))
    assert response.status_code == 200
    assert response.json()["unit"] == org.root.pk
    assert response.json()["n"] is None  # nothing published yet


def test_user_without_grants_gets_403(client, org):
    client.force_login(UserFactory())
    assert client.get(summary_url(org.wave.pk)).status_code == 403
    assert client.get(summary_url(org.wave.pk), {"unit": org.ops.pk}).status_code == 403


def test_wave_outside_scope_is_403(client, org):
    elsewhere = WaveFactory(instrument=org.wave.instrument, units=[org.other], k=K)
    client.force_login(org.ops_leader)
    response = client.get(summary_url(elsewhere.pk), {"unit": org.ops.pk})
    assert response.status_code == 403
    assert client.get(trend_url(elsewhere.pk), {"unit": org.ops.pk}).status_code == 403


@pytest.mark.parametrize(
    "wave_id",
    ["999999", "99999999999999999999", "abc", "-1", "0", "1e3", "٣", "%20", "%00", "x" * 3000],
)
def test_unknown_wave_is_404_json(client, org, wave_id):
    client.force_login(org.hr)
    for url in (f"/api/v1/waves/{wave_id}/summary", f"/api/v1/waves/{wave_id}/trend/"):
        response = client.get(url, {"unit": org.root.pk})
        assert response.status_code == 404, url
        assert response.json()["error"]


def test_unknown_unit_is_404(client, org):
    client.force_login(org.hr)
    for unit in ("999999", "99999999999999999999", "9" * 30):
        response = client.get(summary_url(org.wave.pk), {"unit": unit})
        assert response.status_code == 404, unit
        assert "unit" in response.json()["error"]


@pytest.mark.parametrize(
    "params",
    [
        {"unit": "abc"},
        {"unit": "-3"},
        {"unit": "1.5"},
        {"unit": "٣"},  # an Arabic-Indic digit: int() would accept it, ids do not
        {"unit": ""},
        {"unit": "9" * 5000},
        {"unit": ["1", "2"]},
        {"by": "nonsense"},
        {"by": "role_level,role_level"},
        {"by": "role_level,tenure_band,child_units"},
        {"by": "child_units,tenure_band"},
        {"by": "tenure_band,demo_gender"},
        {"by": ["role_level", "tenure_band"]},
        {"by": "rôle_lével"},
        {"by": "x" * 100000},
        {"by": "\x00"},
        {"unexpected": "1"},
    ],
)
def test_bad_parameters_get_400_with_a_message(client, org, params):
    client.force_login(org.hr)
    params = {"unit": str(org.root.pk), **params} if "unit" not in params else params
    response = client.get(summary_url(org.wave.pk), params)
    assert response.status_code == 400, response.content[:200]
    assert response["Content-Type"] == "application/json"
    message = response.json()["error"]
    assert isinstance(message, str)
    assert message


def test_bad_breakdown_message_lists_the_allowed_ones(client, org):
    client.force_login(org.hr)
    response = client.get(summary_url(org.wave.pk), {"unit": org.root.pk, "by": "colour"})
    assert response.status_code == 400
    assert "role_level" in response.json()["error"]
    assert "demo_gender" in response.json()["error"]


def test_breakdown_names_are_case_insensitive(client, answered):
    client.force_login(answered.hr)
    response = client.get(
        summary_url(answered.wave.pk), {"unit": answered.root.pk, "by": "Role_Level,DEMO_GENDER"}
    )
    assert response.status_code == 200
    assert response.json()["by"] == ["role_level", "demo_gender"]


def test_list_endpoints_refuse_parameters_and_unknown_paths_are_json_404(client, org):
    client.force_login(org.hr)
    assert client.get(WAVES, {"page": "2"}).status_code == 400
    response = client.get("/api/v1/nothing/here")
    assert response.status_code == 404
    assert response.json()["error"]
    assert client.get("/api/v1/waves").status_code == 200
    assert (
        client.get(f"/api/v1/waves/{org.wave.pk}/summary/", {"unit": org.root.pk}).status_code
        == 200
    )


# --- Summary: content, suppression and the guard ----------------------------------------------


def test_summary_payload_shape(client, answered):
    client.force_login(answered.hr)
    data = client.get(
        summary_url(answered.wave.pk), {"unit": answered.root.pk, "by": "role_level"}
    ).json()
    assert {"wave", "unit", "by", "k", "published_at", "version", "n", "suppressed"} <= set(data)
    assert {"measures", "groups", "power_gaps", "headline_gap"} <= set(data)
    assert data["k"] == K
    assert data["version"] == 1
    measures = data["measures"]
    assert set(measures) == {
        "dimensions",
        "experienced",
        "witnessed",
        "reporting_funnel",
        "safe_place",
        "climate_index",
    }
    voice = measures["dimensions"]["voice"]
    assert set(voice["score"]) == {"value", "low", "high", "n"}
    assert voice["score"]["low"] <= voice["score"]["value"] <= voice["score"]["high"]
    assert set(measures["experienced"]) == {
        "humiliation",
        "sexual",
        "threat",
        "exclusion",
        "identity",
    }
    funnel = measures["reporting_funnel"]
    assert funnel is not None
    assert funnel["reasons_not_reported"][0]["label"]
    assert set(data["power_gaps"]) == set(measures["dimensions"])
    assert data["headline_gap"]["dimension"] in measures["dimensions"]


def test_child_units_groups_carry_the_child_unit_id(client, answered):
    client.force_login(answered.ops_leader)
    data = client.get(
        summary_url(answered.wave.pk), {"unit": answered.ops.pk, "by": "child_units"}
    ).json()
    assert [g["unit"] for g in data["groups"]] == [answered.ops1.pk, answered.ops2.pk]
    assert data["n"] == 24


def test_suppressed_groups_have_null_n_and_null_measures(client, answered):
    client.force_login(answered.hr)
    data = client.get(
        summary_url(answered.wave.pk), {"unit": answered.ops2.pk, "by": "role_level"}
    ).json()
    suppressed = [g for g in data["groups"] if g["suppressed"]]
    assert suppressed  # the two managers of Ops South, and whoever protects them
    for group in suppressed:
        assert group["n"] is None
        assert group["measures"] is None
        assert group["role_level"]


def test_a_unit_under_k_is_suppressed_as_a_whole(client, org):
    rng = random.Random(1)
    questions = list(Question.objects.filter(instrument=org.wave.instrument))
    level = RoleLevel.objects.get(rank=1)
    services.bulk_store_responses(
        wave=org.wave,
        responses=[
            (services.Attributes(unit=org.care, role_level=level), _answers(rng, questions, 1, ()))
            for _ in range(K - 1)
        ],
    )
    publish(wave=org.wave, force=True)
    client.force_login(org.care_leader)
    data = client.get(summary_url(org.wave.pk), {"by": "role_level"}).json()
    assert data["suppressed"] is True
    assert data["n"] is None
    assert data["measures"] is None
    assert all(g["n"] is None and g["measures"] is None for g in data["groups"])


def test_an_unguarded_figure_is_refused_before_serialisation(client, answered, monkeypatch):
    from reports import aggregation

    real = aggregation._summarize

    def leaky(*args):
        summary = real(*args)
        summary.groups.append(
            aggregation.Group(label="leak", attrs={}, figure=object())  # type: ignore[arg-type]
        )
        return summary

    monkeypatch.setattr(aggregation, "_summarize", leaky)
    client.force_login(answered.hr)
    with pytest.raises(anonymity.Unguarded):
        from reports.api import serialise_summary

        serialise_summary(aggregation.summarize(wave=answered.wave, unit=answered.root), {})
    response = client.get(summary_url(answered.wave.pk), {"unit": answered.root.pk})
    assert response.status_code == 500
    assert b"leak" not in response.content


def test_trend_lists_guarded_totals_per_wave_oldest_first(client, answered):
    instrument = answered.wave.instrument
    older = WaveFactory(
        instrument=instrument,
        units=[answered.root],
        k=K,
        opens_at=answered.wave.opens_at.replace(year=answered.wave.opens_at.year - 1),
        closes_at=answered.wave.closes_at.replace(year=answered.wave.closes_at.year - 1),
    )
    client.force_login(answered.ops_leader)
    data = client.get(trend_url(answered.wave.pk)).json()
    assert data["unit"] == answered.ops.pk
    assert [p["wave"] for p in data["points"]] == [older.pk, answered.wave.pk]
    before, now = data["points"]
    assert before["suppressed"] is True
    assert before["n"] is None
    assert before["measures"] is None
    assert now["n"] == 24
    assert now["measures"]["dimensions"]["voice"]["score"]["value"] is not None
    assert now["changes"] == {}  # nothing published to compare with
    assert client.get(trend_url(answered.wave.pk), {"by": "role_level"}).status_code == 400


# --- Audit -------------------------------------------------------------------------------------


def test_every_api_call_is_audited_including_refused_ones(client, answered):
    _, raw = ApiToken.issue(user=answered.ops_leader, name="bi")
    before = AuditEvent.objects.filter(action=AuditEvent.Action.API).count()
    get(client, summary_url(answered.wave.pk), token=raw, by="role_level")
    get(client, summary_url(answered.wave.pk), token=raw, unit=answered.care.pk)
    client.get(WAVES)
    client.post(WAVES, headers={"Authorization": f"Bearer {raw}"})
    events = list(AuditEvent.objects.filter(action=AuditEvent.Action.API).order_by("at", "pk"))
    assert len(events) == before + 4
    ok, refused, anonymous, post = events[-4:]
    assert ok.user == answered.ops_leader
    assert ok.detail["status"] == 200
    assert ok.detail["via"] == "token"
    assert ok.detail["params"] == {"by": ["role_level"]}
    assert ok.path == summary_url(answered.wave.pk)
    assert refused.detail["status"] == 403
    assert refused.detail["error"]
    assert anonymous.user is None
    assert anonymous.detail["status"] == 401
    assert post.detail["status"] == 405
    assert post.user == answered.ops_leader


def test_session_calls_are_audited_as_session(client, org):
    client.force_login(org.hr)
    client.get(UNITS)
    event = AuditEvent.objects.filter(action=AuditEvent.Action.API).latest("at")
    assert event.user == org.hr
    assert event.detail["via"] == "session"
    assert event.detail["status"] == 200


# --- Agreement with an independent recomputation from the raw answers --------------------------


@dataclass
class RawResponse:
    path: str
    lo: int
    hi: int
    tenure: int
    answers: dict[int, list[int]]  # question id -> values


def _raw_responses(wave: Wave) -> list[RawResponse]:
    answers: dict = defaultdict(lambda: defaultdict(list))
    for response_id, question_id, value in Answer.objects.filter(response__wave=wave).values_list(
        "response_id", "question_id", "value"
    ):
        answers[response_id][question_id].append(value)
    return [
        RawResponse(
            path=path, lo=lo, hi=hi or lo, tenure=tenure or 0, answers=dict(answers[response_id])
        )
        for response_id, path, lo, hi, tenure in Response.objects.filter(wave=wave).values_list(
            "pk", "unit__path", "role_level__rank", "role_level_to__rank", "tenure_band__rank"
        )
    ]


def _mean(xs):
    return sum(xs) / len(xs)


def _expected(members: list[RawResponse], questions: list[Question]) -> dict:
    """Recompute, in plain Python from the answers, the figures the API must show."""
    out: dict = {"n": len(members), "dimensions": {}, "experienced": {}, "witnessed": {}}
    dimensions = defaultdict(list)
    for q in questions:
        if q.dimension_id and q.kind in ("agree5", "freq5"):
            dimensions[q.dimension.code].append(q)
    for code, items in dimensions.items():
        means, favourable, answered = [], 0, 0
        for r in members:
            values = []
            for q in items:
                for v in r.answers.get(q.pk, []):
                    if 1 <= v <= 5:
                        values.append(6 - v if q.reverse_scored else v)
                        answered += 1
                        favourable += v in ((1, 2) if q.reverse_scored else (4, 5))
            if values and 2 * len(values) >= len(items):
                means.append(_mean(values))
        out["dimensions"][code] = {
            "score": (_mean(means) - 1) / 4 * 100 if means else None,
            "score_n": len(means),
            "favourable": 100 * favourable / answered if answered else None,
        }
    for q in questions:
        values = [v for r in members for v in r.answers.get(q.pk, []) if 1 <= v <= 5]
        if q.purpose in ("experienced", "witnessed"):
            share = 100 * sum(v >= 2 for v in values) / len(values) if values else None
            out[q.purpose][q.topic] = share
        if q.purpose == "safe_place":
            points = [v for r in members for v in r.answers.get(q.pk, []) if 0 <= v <= 10]
            out["safe_place"] = (
                100 * (sum(v >= 9 for v in points) - sum(v <= 6 for v in points)) / len(points)
            )
        if q.purpose == "reported":
            out["reported"] = sum(r.answers.get(q.pk) == [1] for r in members)
            out["not_reported"] = sum(r.answers.get(q.pk) == [2] for r in members)
    experienced_ids = [q.pk for q in questions if q.purpose == "experienced"]
    out["any_experienced"] = sum(
        any(v >= 2 for qid in experienced_ids for v in r.answers.get(qid, [])) for r in members
    )
    return out


def _members(responses, group: dict, by: list[str], unit, demo: dict[str, Question]):
    def matches(r: RawResponse) -> bool:
        if not r.path.startswith(unit.path):
            return False
        if "child_units" in by and not r.path.startswith(group["_path"]):
            return False
        if "role_level" in by and (r.lo, r.hi) != (
            group["role_level"]["lo"],
            group["role_level"]["hi"],
        ):
            return False
        if "tenure_band" in by and r.tenure != group["tenure_band"]:
            return False
        for code, question in demo.items():
            if code in by and r.answers.get(question.pk) != [group[code]]:
                return False
        return True

    return [r for r in responses if matches(r)]


def _raw_groups(responses, by: list[str], unit, children, demo) -> dict[tuple, int]:
    """Every non-empty group of the breakdown, counted from the raw responses."""
    counts: dict[tuple, int] = defaultdict(int)
    for r in responses:
        if not r.path.startswith(unit.path):
            continue
        key = []
        if "child_units" in by:
            child = next((c for c in children if r.path.startswith(c.path)), None)
            if child is None:
                continue
            key.append(child.pk)
        if "role_level" in by:
            key.append((r.lo, r.hi))
        if "tenure_band" in by:
            key.append(r.tenure)
        for code, question in demo.items():
            if code in by:
                value = r.answers.get(question.pk)
                if value is None:
                    break
                key.append(value[0])
        else:
            counts[tuple(key)] += 1
    return counts


def _api_key(group: dict, by: list[str], demo) -> tuple:
    key = []
    if "child_units" in by:
        key.append(group["unit"])
    if "role_level" in by:
        key.append((group["role_level"]["lo"], group["role_level"]["hi"]))
    if "tenure_band" in by:
        key.append(group["tenure_band"])
    key.extend(group[code] for code in demo if code in by)
    return tuple(key)


def _check_figures(api: dict, expected: dict) -> None:
    approx = pytest.approx
    measures = api["measures"]
    assert api["n"] == expected["n"]
    for code, figures in expected["dimensions"].items():
        got = measures["dimensions"][code]
        assert got["score"]["value"] == approx(figures["score"], abs=1e-9), code
        assert got["score"]["n"] == figures["score_n"], code
        assert got["favourable"]["value"] == approx(figures["favourable"], abs=1e-9), code
    for purpose in ("experienced", "witnessed"):
        for topic, share in expected[purpose].items():
            assert measures[purpose][topic]["value"] == approx(share, abs=1e-9), (purpose, topic)
    assert measures["safe_place"]["value"] == approx(expected["safe_place"], abs=1e-9)
    funnel = measures["reporting_funnel"]
    if funnel is not None:
        assert funnel["experienced"] == expected["any_experienced"] >= K
        assert funnel["reported"] == expected["reported"]
        assert funnel["not_reported"] == expected["not_reported"]
    else:
        assert expected["any_experienced"] < K or (
            expected["reported"] + expected["not_reported"] < K
        )


BREAKDOWNS = [
    [],
    ["role_level"],
    ["tenure_band"],
    ["child_units"],
    ["demo_gender"],
    ["demo_age"],
    ["role_level", "tenure_band"],
    ["role_level", "demo_gender"],
]


def test_every_published_figure_agrees_with_a_recomputation_from_raw_answers(
    client, answered_with_demographics
):
    answered = answered_with_demographics
    wave = answered.wave
    questions = list(
        Question.objects.filter(instrument=wave.instrument).select_related("dimension")
    )
    demo = {q.code.lower(): q for q in questions if q.purpose == "demographic"}
    responses = _raw_responses(wave)
    assert len(responses) == 43
    client.force_login(answered.hr)
    published = suppressed = 0
    for unit in (answered.root, answered.ops, answered.ops2, answered.care):
        children = list(unit.children.all())
        paths = {c.pk: c.path for c in children}
        for by in BREAKDOWNS:
            response = client.get(summary_url(wave.pk), {"unit": unit.pk, "by": ",".join(by)})
            assert response.status_code == 200, (unit, by, response.content[:300])
            data = response.json()
            total = _expected(_members(responses, {}, [], unit, demo), questions)
            if total["n"] >= K:
                assert data["suppressed"] is False, unit
                _check_figures(data, total)
            else:
                assert data["n"] is None
            raw_counts = _raw_groups(responses, by, unit, children, demo) if by else {}
            api_groups = {_api_key(g, by, demo): g for g in data["groups"]}
            assert set(api_groups) == set(raw_counts), (unit, by)
            for key, group in api_groups.items():
                if raw_counts[key] < K:
                    assert group["suppressed"] is True, (unit, by, key)
                if group["suppressed"]:
                    assert group["n"] is None and group["measures"] is None
                    suppressed += 1
                    continue
                published += 1
                if "child_units" in by:
                    group = {**group, "_path": paths[group["unit"]]}
                members = _members(responses, group, by, unit, demo)
                _check_figures(group, _expected(members, questions))
            if by == ["role_level"]:
                _check_power_gaps(data)
    assert published > 15
    assert suppressed > 5


def _check_power_gaps(data: dict) -> None:
    """Power gap per dimension: highest published single role level minus the lowest."""
    single = sorted(
        (g["role_level"]["lo"], g)
        for g in data["groups"]
        if not g["suppressed"] and g["role_level"]["lo"] == g["role_level"]["hi"]
    )
    for code, gap in data["power_gaps"].items():
        scored = [
            (rank, g["measures"]["dimensions"][code]["score"]["value"])
            for rank, g in single
            if g["measures"]["dimensions"][code]["score"]["value"] is not None
        ]
        if len(scored) < 2:
            assert gap["value"] is None
        else:
            assert gap["value"] == pytest.approx(scored[-1][1] - scored[0][1], abs=1e-9)


def test_submitted_responses_reach_the_api_after_publication(client, org):
    """The whole path through the respondent's service: submit_response, then publish."""
    level = RoleLevel.objects.get(rank=1)
    questions = services.questions_of(org.wave)
    rng = random.Random(9)
    by_code = {q.code: q for q in questions}
    safe = []
    for _ in range(K):
        pairs = _answers(rng, questions, 1, ())
        answers: dict[str, object] = {}
        for qid, value in pairs:
            q = next(q for q in questions if q.pk == qid)
            if q.kind == "multi":
                answers.setdefault(q.code, []).append(value)
            else:
                answers[q.code] = value
        safe.append(answers.get("SAFE_PLACE", -1))
        services.submit_response(
            wave=org.wave,
            answers=answers,
            nonce=services.issue_form_nonce(wave=org.wave),
            unit=org.care,
            role_level=level,
        )
    publish(wave=org.wave, force=True)
    client.force_login(org.care_leader)
    data = client.get(summary_url(org.wave.pk)).json()
    assert data["n"] == K
    points = [v for v in safe if v >= 0]
    expected = 100 * (sum(v >= 9 for v in points) - sum(v <= 6 for v in points)) / len(points)
    assert data["measures"]["safe_place"]["value"] == pytest.approx(expected)
    assert by_code["SAFE_PLACE"].purpose == "safe_place"


def test_session_post_without_csrf_token_is_405_not_a_csrf_page(org):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(org.hr)
    response = client.post(WAVES)
    assert response.status_code == 405
    assert response.json()["error"]


def test_summary_reads_a_fixed_number_of_queries(client, answered, django_assert_max_num_queries):
    _, raw = ApiToken.issue(user=answered.hr, name="bi")
    url = summary_url(answered.wave.pk)
    get(client, url, token=raw, unit=answered.root.pk)  # warm: the token's first use, caches
    for by in ("", "role_level", "child_units", "role_level,tenure_band"):
        with django_assert_max_num_queries(QUERIES):
            response = get(client, url, token=raw, unit=answered.root.pk, by=by)
        assert response.status_code == 200
