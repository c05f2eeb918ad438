"""What a dashboard page costs in SQL queries (issue 6: at most 15 per page), and that the one
read behind its figures gives what the separate reads give.

The organisation of `published_org` with four earlier waves of the same instrument, so that a
page can be read with no earlier wave, with one, and with a trend of six.
"""

import dataclasses
import datetime as dt

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from reports import aggregation, dashboards
from reports.management.commands.seed_demo import ROLE_SHIFT, _answers
from reports.models import Publication
from reports.publication import publish
from surveys import services
from surveys.models import Question, RoleLevel, Wave
from tests.factories import make_hr, make_leader
from tests.reports.dashboard_data import (  # noqa: F401
    fast_password_hashing,
    published_org,
)

pytestmark = pytest.mark.django_db

MAX_QUERIES = 15
EARLIER_WAVES = 4


@pytest.fixture(scope="module")
def history(published_org, django_db_blocker):  # noqa: F811
    """`published_org` with four earlier published waves before its two (oldest first): six
    waves of one instrument, the dashboard's whole trend."""
    org = published_org
    with django_db_blocker.unblock():
        roles = {r.rank: r for r in RoleLevel.objects.all()}
        questions = list(
            Question.objects.filter(instrument=org.instrument).order_by("section__order", "order")
        )
        rng = np.random.default_rng(11)
        waves = []
        for index in range(EARLIER_WAVES):
            opens = org.previous.opens_at - dt.timedelta(days=180 * (EARLIER_WAVES - index))
            wave = Wave.objects.create(
                name=f"Earlier {index + 1}",
                instrument=org.instrument,
                opens_at=opens,
                closes_at=opens + dt.timedelta(days=30),
                state=Wave.State.CLOSED,
                live_results=True,
            )
            wave.units.add(org.root)
            batch = []
            for unit, rank, count in ((org.north, 1, 8), (org.south, 1, 7), (org.tech, 3, 6)):
                attributes = services.Attributes(unit=unit, role_level=roles[rank])
                batch += [
                    (attributes, _answers(rng, questions, ROLE_SHIFT[rank], False))
                    for _ in range(count)
                ]
            services.bulk_store_responses(wave=wave, responses=batch)
            publish(wave=wave, force=True)
            waves.append(wave)
    return org, waves


def _url(wave, unit) -> str:
    return reverse("reports:dashboard") + f"?wave={wave.pk}&unit={unit.pk}"


def _count(client, url) -> int:
    """The page's queries but the comments' (read only for units whose comments are shown)."""
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len([q for q in captured.captured_queries if '"surveys_comment"' not in q["sql"]])


@pytest.mark.parametrize("level", ["root", "sales", "north"])
@pytest.mark.parametrize("who", ["hr", "leader"])
def test_a_dashboard_page_makes_at_most_15_queries(
    client, history, who, level, django_assert_max_num_queries
):
    """HR and a leader (granted the unit), at the organisation, a division and a team, with a
    trend of six waves: the warm page stays within 15 queries."""
    org, _earlier = history
    unit = getattr(org, level)
    client.force_login(make_hr() if who == "hr" else make_leader(unit))
    url = _url(org.current, unit)
    client.get(url)  # warm: the session, role levels and tenure bands, the charts
    with django_assert_max_num_queries(MAX_QUERIES):
        response = client.get(url)
    assert response.status_code == 200
    assert len(response.context["board"].trend) == dashboards.TREND_WAVES


@pytest.mark.parametrize("who", ["hr", "leader"])
def test_the_number_of_queries_does_not_grow_with_the_history(
    client, history, who, django_assert_max_num_queries
):
    """No earlier wave, one or five: the same number of queries (but the comments', shown
    only in the current wave), within 15."""
    org, earlier = history
    client.force_login(make_hr() if who == "hr" else make_leader(org.root))
    counts = {}
    for wave in (earlier[0], earlier[1], org.current):
        url = _url(wave, org.root)
        client.get(url)
        with django_assert_max_num_queries(MAX_QUERIES):
            counts[wave.name] = _count(client, url)
    assert len(set(counts.values())) == 1, counts


@pytest.mark.parametrize("who", ["hr", "leader"])
def test_the_printable_report_stays_within_15_queries(
    client, history, who, django_assert_max_num_queries
):
    org, _earlier = history
    client.force_login(make_hr() if who == "hr" else make_leader(org.sales))
    url = reverse("reports:report") + f"?wave={org.current.pk}&unit={org.sales.pk}"
    client.get(url)
    with django_assert_max_num_queries(MAX_QUERIES):
        response = client.get(url)
    assert response.status_code == 200
    assert [g.label for g in response.context["board"].children.groups] == [
        "Sales North",
        "Sales South",
    ]


def test_a_wave_list_gets_its_publications_patterns_rates_and_comment_units_in_one_read(
    published_org,  # noqa: F811
    django_assert_num_queries,
):
    """A wave list leaves each publication's large fields out (`WITHOUT_PATTERN`): one read
    brings them for the publications a page needs, none once cached, and a new publication
    (a new pattern revision) is read again."""
    org = published_org

    def wave_list():
        return list(
            Wave.objects.select_related("publication")
            .defer(*aggregation.WITHOUT_PATTERN)
            .filter(pk__in=[org.previous.pk, org.current.pk])
        )

    stored = {p.pk: p for p in Publication.objects.filter(wave__in=[org.previous, org.current])}
    aggregation.forget_cached_patterns()
    for expected_queries in (1, 0):
        publications = [wave.publication for wave in wave_list()]
        with django_assert_num_queries(expected_queries):
            patterns = aggregation.published_patterns(publications)
            for publication in publications:
                assert patterns[publication.pk] == frozenset(stored[publication.pk].published_cells)
                assert publication.rates == stored[publication.pk].rates
                assert publication.comment_units == stored[publication.pk].comment_units
    current = org.current.publication
    Publication.objects.filter(pk=current.pk).update(rates={"wave": [1, 99]}, comment_units=[])
    publications = [wave.publication for wave in wave_list()]
    with django_assert_num_queries(1):
        aggregation.published_patterns(publications)
    now = next(p for p in publications if p.pk == current.pk)
    assert (now.rates, now.comment_units) == ({"wave": [1, 99]}, [])
    # The instances hold copies: changing one leaves the next request's untouched.
    now.rates["wave"] = [0, 0]
    again = next(w.publication for w in wave_list() if w.pk == org.current.pk)
    aggregation.published_patterns([again])
    assert again.rates == {"wave": [1, 99]}


def test_a_cut_picker_still_gives_the_breadcrumb_and_the_children(
    client, history, monkeypatch, django_assert_max_num_queries
):
    """Beyond the picker's first units (an organisation of thousands), the unit's ancestors
    and children come with the same read."""
    from reports import selectors

    org, _earlier = history
    monkeypatch.setattr(selectors, "MAX_PICKER_UNITS", 2)
    client.force_login(make_hr())
    for unit, breadcrumb in ((org.south, ["Acme", "Sales", "Sales South"]), (org.tech, None)):
        url = _url(org.current, unit)
        client.get(url)
        with django_assert_max_num_queries(MAX_QUERIES):
            response = client.get(url)
        assert response.context["picker_cut"] is True
        assert [o.name for o in response.context["picker_units"]] == ["Acme", "Sales"]
        names = [u.name for u in response.context["breadcrumb"]]
        assert names == (breadcrumb or ["Acme", "Tech"])
    url = _url(org.current, org.sales)
    client.get(url)
    response = client.get(url)
    assert [g.label for g in response.context["board"].children.groups] == [
        "Sales North",
        "Sales South",
    ]


def test_a_leader_below_their_grant_and_on_the_default_page_stays_within_15_queries(
    client, history, django_assert_max_num_queries
):
    org, _earlier = history
    client.force_login(make_leader(org.sales))
    client.get(_url(org.current, org.north))
    with django_assert_max_num_queries(MAX_QUERIES):
        response = client.get(_url(org.current, org.north))
    assert [u.name for u in response.context["breadcrumb"]] == ["Sales", "Sales North"]
    with django_assert_max_num_queries(MAX_QUERIES):
        response = client.get(reverse("reports:dashboard"))
    assert response.context["board"].unit == org.sales
    client.force_login(make_hr())
    client.get(reverse("reports:dashboard"))
    with django_assert_max_num_queries(MAX_QUERIES):
        response = client.get(reverse("reports:dashboard"))
    assert response.context["board"].unit == org.root


def test_the_pages_summaries_are_the_separate_reads_in_one(history):
    """`summarize_board` (one read per summary table) gives, figure for figure, what reading
    by role level, by child unit and the trend's totals separately gives."""
    org, _earlier = history
    waves = dashboards.history(org.current)
    assert len(waves) == dashboards.TREND_WAVES
    current, previous = waves[-1], waves[-2]
    for unit in (org.root, org.sales, org.north, org.tech):
        reader = aggregation.SummaryReader(current)
        board = reader.summarize_board(
            unit=unit, children=list(unit.children.all()), compared=[previous], trend=waves
        )
        separate = aggregation.SummaryReader(current)
        by_role = separate.summarize_waves(waves=[previous, current], unit=unit, by=["role_level"])
        children = separate.summarize(wave=current, unit=unit, by=["child_units"])
        totals = separate.totals(waves=waves[:-2], unit=unit)
        assert set(board.by_role) == {current.pk, previous.pk}
        for wave_id, summary in by_role.items():
            _assert_same(board.by_role[wave_id], summary)
        _assert_same(board.children, children)
        assert set(board.totals) == set(totals)
        for wave_id, total in totals.items():
            _assert_same_group(board.totals[wave_id], total)


def _assert_same(one, other) -> None:
    assert (one.wave, one.unit, one.by, one.k) == (other.wave, other.unit, other.by, other.k)
    _assert_same_group(one.total, other.total)
    assert [g.label for g in one.groups] == [g.label for g in other.groups]
    for mine, theirs in zip(one.groups, other.groups, strict=True):
        _assert_same_group(mine, theirs)
    assert one.power_gaps.keys() == other.power_gaps.keys()
    assert repr(one.headline_gap) == repr(other.headline_gap)


def _assert_same_group(one, other) -> None:
    assert (one.label, one.attrs) == (other.label, other.attrs)
    assert (one.figure.cell, one.n) == (other.figure.cell, other.n)
    assert one.suppressed == other.suppressed
    # The same counts, but sums of floats may be added in another order (the unit's total of
    # its children's breakdown is the sum of its role bands here, PostgreSQL's SUM there).
    assert _leaves(one.measures) == pytest.approx(_leaves(other.measures), rel=1e-12, abs=1e-12)


def _leaves(value, path="") -> dict:
    """Every number (and None, text) in a nest of dataclasses, dicts and lists, by path."""
    if dataclasses.is_dataclass(value):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {
            k: v for key, item in value.items() for k, v in _leaves(item, f"{path}.{key}").items()
        }
    if isinstance(value, list | tuple):
        return {
            k: v for i, item in enumerate(value) for k, v in _leaves(item, f"{path}[{i}]").items()
        }
    return {path: value}


def test_a_warm_page_reuses_the_parsed_patterns_and_sees_a_new_one_at_once(client, history):
    """The waves' published cells (thousands in a large organisation) are parsed once per
    process: a warm page does not read them. A new pattern (saved, or updated in bulk) is read
    by the very next page, which shows only what it lists."""
    org, earlier = history
    client.force_login(make_hr())
    url = _url(org.current, org.root)
    first = client.get(url).context["board"]
    assert not first.children.total.suppressed
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    assert not [q for q in captured.captured_queries if "published_cells" in q["sql"]]

    publication = org.current.publication
    publication.refresh_from_db()
    publication.published_cells = []
    publication.save()
    board = client.get(url).context["board"]
    assert board.children.total.suppressed
    assert all(group.suppressed for group in board.children.groups)

    Publication.objects.filter(wave=earlier[-1]).update(published_cells=[])
    board = client.get(url).context["board"]
    withheld = {point.wave.pk: point.total.suppressed for point in board.trend}
    assert withheld[earlier[-1].pk] and not withheld[earlier[-2].pk]
