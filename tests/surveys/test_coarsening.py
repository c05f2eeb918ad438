"""DESIGN anonymity point 3: a stored response is never rarer than k people on the roster."""

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from surveys import services
from surveys.models import Response, RoleLevel, TenureBand
from tests.factories import UnitFactory, WaveFactory, level, small_instrument, tenure

pytestmark = pytest.mark.django_db


@pytest.fixture
def org():
    company = UnitFactory(name="Company")
    dept = UnitFactory(name="Department", parent=company)
    return {
        "company": company,
        "dept": dept,
        "team_a": UnitFactory(name="Team A", parent=dept),
        "team_b": UnitFactory(name="Team B", parent=dept),
    }


def invite(wave, rows):
    """rows: (unit, role level code, tenure code or None, how many)."""
    roster = []
    for unit, role, band, count in rows:
        roster += [services.RosterRow(unit, level(role), tenure(band) if band else None)] * count
    return services.create_invitations(wave=wave, roster=roster)


def submit(wave, token):
    services.submit_response(wave=wave, answers={"AGREE": 3}, invitation_token=token)
    return Response.objects.get()


def test_the_only_executive_of_a_unit_is_not_stored_as_that_unit_and_level(org):
    wave = WaveFactory(instrument=small_instrument(), units=[org["company"]], k=5)
    tokens = invite(
        wave,
        [
            (org["team_a"], "individual-contributor", "1-3-years", 6),
            (org["team_a"], "executive", "over-10-years", 1),
            (org["team_b"], "individual-contributor", "1-3-years", 6),
        ],
    )
    response = submit(wave, tokens[6])  # the executive
    assert (response.unit, response.role_level) != (org["team_a"], level("executive"))
    # Tenure dropped, then Team A -> Department -> Company (still one executive), then the
    # level merged with its (empty) neighbours down to individual contributors: 13 people.
    assert response.tenure_band is None
    assert response.unit == org["company"]
    assert (response.role_level, response.role_level_to) == (
        level("individual-contributor"),
        level("executive"),
    )


def test_tenure_is_dropped_first_then_the_unit_before_the_role_level(org):
    wave = WaveFactory(instrument=small_instrument(), units=[org["company"]], k=5)
    tokens = invite(
        wave,
        [
            (org["team_a"], "executive", "over-10-years", 1),
            (org["team_b"], "executive", "3-10-years", 4),
            (org["team_a"], "individual-contributor", "1-3-years", 6),
        ],
    )
    response = submit(wave, tokens[0])
    # Five executives in the department: the level is kept, the unit widened, tenure dropped.
    assert (response.unit, response.role_level, response.role_level_to) == (
        org["dept"],
        level("executive"),
        None,
    )
    assert response.tenure_band is None


def test_a_group_of_k_keeps_every_attribute(org):
    wave = WaveFactory(instrument=small_instrument(), units=[org["company"]], k=5)
    tokens = invite(wave, [(org["team_a"], "manager", "3-10-years", 5)])
    response = submit(wave, tokens[0])
    assert (response.unit, response.role_level, response.tenure_band) == (
        org["team_a"],
        level("manager"),
        tenure("3-10-years"),
    )
    assert response.role_level_to is None


def test_comments_carry_the_same_coarsened_group(org):
    wave = WaveFactory(instrument=small_instrument(), units=[org["company"]], k=5)
    tokens = invite(
        wave,
        [
            (org["team_a"], "executive", None, 1),
            (org["team_a"], "individual-contributor", None, 6),
        ],
    )
    services.submit_response(
        wave=wave, answers={"NOTE": "Something to say"}, invitation_token=tokens[0]
    )
    response = Response.objects.get()
    comment = wave.comments.get()
    assert (comment.unit, comment.role_level, comment.role_level_to, comment.tenure_band) == (
        response.unit,
        response.role_level,
        response.role_level_to,
        response.tenure_band,
    )


# --- Property: for any roster, every stored group has at least k people on it ---------------

LEAVES = ["team_a", "team_b", "dept", "company"]


@st.composite
def rosters(draw):
    k = draw(st.integers(min_value=3, max_value=7))
    people = draw(
        st.lists(
            st.tuples(
                st.sampled_from(LEAVES),
                st.integers(min_value=1, max_value=5),
                st.one_of(st.none(), st.integers(min_value=1, max_value=4)),
            ),
            min_size=k,
            max_size=40,
        )
    )
    return k, people


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=rosters())
def test_every_stored_group_has_at_least_k_people_on_the_roster(org, data):
    k, people = data
    levels = {level.rank: level for level in RoleLevel.objects.all()}
    bands = {band.rank: band for band in TenureBand.objects.all()}
    with transaction.atomic():
        wave = WaveFactory(instrument=small_instrument(), units=[org["company"]], k=k)
        roster = [
            services.RosterRow(org[unit], levels[rank], bands[band] if band else None)
            for unit, rank, band in people
        ]
        services.create_invitations(wave=wave, roster=roster)
        for row in roster:
            stored = services.coarsen(
                wave=wave,
                attributes=services.Attributes(
                    unit=row.unit, role_level=row.role_level, tenure_band=row.tenure_band
                ),
            )
            low = stored.role_level.rank
            high = (stored.role_level_to or stored.role_level).rank
            sharing = [
                other
                for other in roster
                if other.unit.is_within(stored.unit)
                and low <= other.role_level.rank <= high
                and (stored.tenure_band is None or other.tenure_band == stored.tenure_band)
            ]
            assert len(sharing) >= k
            # The stored group still contains the person.
            assert any(other is row for other in sharing)
        transaction.set_rollback(True)


# --- The submission path keeps coarsened groups per roster revision -------------------------


def test_a_roster_that_grows_is_used_at_once_by_the_next_submission(org):
    wave = WaveFactory(instrument=small_instrument(), units=[org["company"]], k=5)
    first = invite(
        wave,
        [
            (org["team_a"], "manager", None, 2),
            (org["team_b"], "manager", None, 3),
        ],
    )
    services.submit_response(wave=wave, answers={"AGREE": 3}, invitation_token=first[0])
    assert Response.objects.get().unit == org["dept"]  # two managers in Team A: too few
    wave.refresh_from_db()  # as a request would read it
    later = invite(wave, [(org["team_a"], "manager", None, 3)])
    wave.refresh_from_db()
    services.submit_response(wave=wave, answers={"AGREE": 3}, invitation_token=later[0])
    assert set(Response.objects.values_list("unit__name", flat=True)) == {"Department", "Team A"}


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    batches=st.lists(
        st.lists(
            st.tuples(
                st.sampled_from(LEAVES),
                st.integers(min_value=1, max_value=5),
                st.one_of(st.none(), st.integers(min_value=1, max_value=4)),
            ),
            min_size=1,
            max_size=12,
        ),
        min_size=1,
        max_size=4,
    ),
    k=st.integers(min_value=3, max_value=6),
)
def test_submissions_store_the_group_coarsened_against_the_current_roster(org, batches, k):
    """Invitations arrive in batches while people answer: each stored response carries what
    `coarsen` gives against the roster as it is then, so never a group of fewer than k."""
    levels = {level.rank: level for level in RoleLevel.objects.all()}
    bands = {band.rank: band for band in TenureBand.objects.all()}
    with transaction.atomic():
        wave = WaveFactory(instrument=small_instrument(), units=[org["company"]], k=k)
        roster, waiting = [], []
        for batch in batches:
            rows = [
                services.RosterRow(org[unit], levels[rank], bands[band] if band else None)
                for unit, rank, band in batch
            ]
            waiting += zip(services.create_invitations(wave=wave, roster=rows), rows, strict=True)
            roster += rows
            wave.refresh_from_db()
            for token, row in waiting[::2]:
                response = services.submit_response(
                    wave=wave, answers={"AGREE": 3}, invitation_token=token
                )
                expected = services.coarsen(
                    wave=wave,
                    attributes=services.Attributes(row.unit, row.role_level, None, row.tenure_band),
                )
                assert (
                    response.unit,
                    response.role_level,
                    response.role_level_to,
                    response.tenure_band,
                ) == (
                    expected.unit,
                    expected.role_level,
                    expected.role_level_to,
                    expected.tenure_band,
                )
            waiting = waiting[1::2]
        transaction.set_rollback(True)
