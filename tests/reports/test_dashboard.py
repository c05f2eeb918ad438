"""The dashboard: what it shows, what it never shows, and what it costs."""

import json
import re
import uuid
from types import SimpleNamespace

import pytest
from django.urls import reverse

from reports import aggregation, dashboards
from reports.anonymity import Unguarded
from reports.models import AuditEvent, Publication
from surveys import services
from surveys.models import Dimension, Instrument, RoleLevel, Unit, Wave
from tests.factories import UnitFactory, make_hr, make_leader
from tests.reports.dashboard_data import (  # noqa: F401
    COMMENTS,
    PEOPLE,
    fast_password_hashing,
    published_org,
)

pytestmark = pytest.mark.django_db

CHARTS = ["heatmap", "gaps", "children", "trend", "prevalence", "funnel", "reasons"]


def _get(client, org, unit, wave=None):
    wave = wave or org.current
    return client.get(reverse("reports:dashboard"), {"wave": wave.pk, "unit": unit.pk})


def _figures(html: str) -> dict[str, dict]:
    """The Plotly figures of the page, from their json_script elements."""
    found = re.findall(r'<script id="figure-(\w+)" type="application/json">(.*?)</script>', html)
    return {key: json.loads(body) for key, body in found}


def test_every_chart_has_a_figure_and_a_data_table(client, published_org):  # noqa: F811
    client.force_login(make_leader(published_org.root))
    html = _get(client, published_org, published_org.root).content.decode()
    figures = _figures(html)
    assert set(figures) == set(CHARTS)
    for key in CHARTS:
        assert f'data-figure="figure-{key}"' in html
        assert f'id="table-{key}"' in html
    assert "<caption>" in html
    assert "vendor/plotly.min.js" in html
    assert "js/dashboard.js" in html
    assert "<script>" not in html  # CSP: no inline script


def test_suppressed_role_level_is_shown_as_such_never_as_zero(client, published_org):  # noqa: F811
    org = published_org
    summary = aggregation.summarize(wave=org.current, unit=org.sales, by=["role_level"])
    hidden = [g for g in summary.groups if g.suppressed]
    assert hidden, "the test data must have a suppressed role level in Sales"
    client.force_login(make_leader(org.sales))
    html = _get(client, org, org.sales).content.decode()
    assert "fewer than 5 responses" in html
    assert 'data-suppressed="true"' in html
    heatmap = _figures(html)["heatmap"]
    trace = heatmap["data"][0]
    columns = [label.replace("<br>", " ") for label in trace["x"]]
    for group in hidden:
        column = columns.index(group.label)
        assert all(row[column] is None for row in trace["z"])  # not drawn, not zero
    annotations = [a["text"] for a in heatmap["layout"]["annotations"]]
    assert annotations.count("fewer than 5 responses") == len(hidden)


def test_headline_cards_match_the_guarded_summary(client, published_org):  # noqa: F811
    org = published_org
    summary = aggregation.summarize(wave=org.current, unit=org.root, by=["role_level"])
    client.force_login(make_leader(org.root))
    response = _get(client, org, org.root)
    board = response.context["board"]
    cards = {card.key: card for card in board.cards}
    assert cards["responses"].value == str(summary.total.n)
    assert cards["climate"].value == dashboards.fmt(summary.total.measures.climate_index.value)
    code, gap = summary.headline_gap
    assert cards["gap"].value == f"{dashboards.fmt_signed(gap.value)} points"
    assert ("larger than chance" in cards["gap"].flag) == gap.significant
    assert "since Spring Acme" in cards["climate"].change.text
    html = response.content.decode()
    assert "response rate" in html
    assert "they move in batches of at least 5 responses" in html
    assert board.lead and "power" in board.lead[0]


def test_first_wave_has_no_comparison(client, published_org):  # noqa: F811
    org = published_org
    client.force_login(make_leader(org.root))
    response = _get(client, org, org.root, wave=org.previous)
    cards = response.context["board"].cards
    assert all("no earlier wave" in card.change.text for card in cards)
    assert response.context["board"].previous is None


def test_unit_without_published_responses_shows_nothing_but_says_why(client, published_org):  # noqa: F811
    org = published_org
    empty = UnitFactory(name="New team", parent=org.tech)
    client.force_login(make_hr())
    response = _get(client, org, empty)
    assert response.status_code == 200
    board = response.context["board"]
    cards = {card.key: card for card in board.cards}
    assert cards["responses"].value == "fewer than 5 responses"
    assert cards["climate"].suppressed and "no comparable figure" in cards["climate"].change.text
    assert "response rate" not in cards["responses"].detail
    assert "fewer than 5 published responses" in board.lead[0]
    assert all(not chart.figure or chart.key == "trend" for chart in board.charts)
    assert board.charts_by_key["trend"].table.rows[0][-2].text == "fewer than 5 responses"


def test_comments_are_masked_and_flagged_for_hr_only(client, published_org):  # noqa: F811
    org = published_org
    client.force_login(make_hr())
    html = _get(client, org, org.sales).content.decode()
    assert "What people wrote" in html
    assert "07700 900123" not in html and "[phone]" in html
    assert "mentions harassment" in html
    client.force_login(make_leader(org.sales))
    html = _get(client, org, org.sales).content.decode()
    assert "[phone]" in html
    assert "mentions harassment" not in html


def test_comments_of_a_unit_below_the_comment_threshold_are_not_shown(client, published_org):  # noqa: F811
    org = published_org
    client.force_login(make_hr())
    response = _get(client, org, org.south)
    assert response.context["board"].comments is None
    assert "Good team, respectful people." not in response.content.decode()


def test_every_dashboard_view_is_audit_logged(client, published_org):  # noqa: F811
    org = published_org
    leader = make_leader(org.sales)
    client.force_login(leader)
    _get(client, org, org.sales)
    event = AuditEvent.objects.get(user=leader)
    assert event.action == AuditEvent.Action.VIEW
    assert event.detail["wave"] == org.current.pk and event.detail["unit"] == org.sales.pk
    assert event.detail["params"] == {"wave": [str(org.current.pk)], "unit": [str(org.sales.pk)]}


def test_query_count_is_bounded(client, published_org, django_assert_max_num_queries):  # noqa: F811
    org = published_org
    client.force_login(make_leader(org.root))
    _get(client, org, org.root)  # warm the session
    # Measured: 14 for a leader and for HR (25 and 21 before the user's scope, the pickers with
    # the breadcrumb and the children, and the waves with the trend's were each read in one
    # query, and every figure in one read per summary table); the same with more waves, and
    # whatever the number of responses (tests/reports/test_dashboard_queries.py).
    with django_assert_max_num_queries(15):
        assert _get(client, org, org.root).status_code == 200
    client.force_login(make_hr())
    with django_assert_max_num_queries(15):
        assert _get(client, org, org.sales).status_code == 200


def test_unguarded_figures_are_refused(published_org, monkeypatch):  # noqa: F811
    org = published_org

    def unguarded(*, cell, n, measures, k, published):
        # Looks like a guarded figure, but did not come out of the guard (measures are worked
        # out only for the groups the guard would show).
        return SimpleNamespace(cell=cell, n=n, suppressed=measures is None, measures=measures)

    monkeypatch.setattr(aggregation, "guard", unguarded)
    with pytest.raises(Unguarded):
        dashboards.build_dashboard(wave=org.current, unit=org.root)


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ({"wave": "abc"}, 400),
        ({"unit": "-3"}, 400),
        ({"wave": str(10**30)}, 400),
        ({"wave": "999999"}, 404),
        ({"unit": "999999"}, 404),
    ],
)
def test_bad_input_gets_a_clear_message(client, published_org, query, status):  # noqa: F811
    client.force_login(make_hr())
    response = client.get(reverse("reports:dashboard"), query)
    assert response.status_code == status


def test_leader_without_units_is_told_so(client, published_org):  # noqa: F811
    from tests.factories import UserFactory

    client.force_login(UserFactory())
    response = client.get(reverse("reports:dashboard"))
    assert response.status_code == 200
    assert "No units have been granted to you yet" in response.content.decode()


def test_default_view_is_the_leaders_unit_and_latest_published_wave(client, published_org):  # noqa: F811
    org = published_org
    client.force_login(make_leader(org.tech))
    response = client.get(reverse("reports:dashboard"))
    board = response.context["board"]
    assert board.unit == org.tech and board.wave == org.current
    pickers = response.context["picker_units"]
    assert [option.pk for option in pickers] == [org.tech.pk]


def test_navigation_links_for_hr(client, published_org):  # noqa: F811
    client.force_login(make_hr())
    html = client.get(reverse("reports:dashboard")).content.decode()
    for link in ("/reports/dashboard/", "/reports/waves/", "/reports/audit/", "/reports/tokens/"):
        assert f'href="{link}"' in html
    assert "Administration" in html


# --- HR: waves ----------------------------------------------------------------------------------


def test_waves_page_lists_state_rates_thresholds_and_admin_links(client, published_org):  # noqa: F811
    org = published_org
    bare = Wave.objects.create(
        name="Pilot without roster",
        instrument=org.instrument,
        opens_at=org.current.opens_at,
        closes_at=org.current.closes_at,
    )
    client.force_login(make_hr())
    response = client.get(reverse("reports:waves"))
    html = response.content.decode()
    rows = {row.wave: row for row in response.context["rows"]}
    current = rows[org.current]
    assert current.has_headcounts and current.invited == 68
    assert current.responded == sum(r[3][1] for r in PEOPLE)
    assert current.publication.responses == current.responded
    assert not rows[bare].has_headcounts
    assert html.count("No roster headcounts") == 1
    assert reverse("admin:surveys_wave_change", args=[org.current.pk]) in html
    assert reverse("reports:wave_close", args=[org.current.pk]) in html
    assert reverse("reports:wave_open", args=[org.previous.pk]) in html
    detail = client.get(reverse("reports:wave_detail", args=[org.current.pk]))
    rates = {rate.unit: rate for rate in detail.context["rates"]}
    assert rates[org.sales].invited == 14 + 7 + 12 + 6 + 6
    assert rates[org.root].responded == current.responded


def test_closing_a_wave_publishes_the_last_small_batch(client, published_org):  # noqa: F811
    org = published_org
    level = RoleLevel.objects.get(rank=1)
    services.bulk_store_responses(
        wave=org.current,
        responses=[(services.Attributes(unit=org.tech, role_level=level), [])] * 2,
    )
    before = Publication.objects.get(wave=org.current).responses
    client.force_login(make_hr())
    response = client.post(reverse("reports:wave_close", args=[org.current.pk]))
    assert response.status_code == 302
    org.current.refresh_from_db()
    assert org.current.state == Wave.State.CLOSED
    assert Publication.objects.get(wave=org.current).responses == before + 2
    assert AuditEvent.objects.filter(action=AuditEvent.Action.ADMIN).exists()
    client.post(reverse("reports:wave_open", args=[org.current.pk]))
    org.current.refresh_from_db()
    assert org.current.state == Wave.State.OPEN


def test_wave_buttons_only_post(client, published_org):  # noqa: F811
    client.force_login(make_hr())
    url = reverse("reports:wave_close", args=[published_org.current.pk])
    assert client.get(url).status_code == 405


def test_charts_are_reused_until_a_figure_they_show_changes(published_org, monkeypatch):  # noqa: F811
    """Plotly figures are cached under a digest of what they are drawn from: a second reading
    builds none, and a changed figure (a new publication) is drawn again."""
    from django.core.cache import cache

    org = published_org
    cache.clear()
    built = []
    real = dashboards.role_heatmap

    def counting(**kwargs):
        built.append(kwargs["summary"].unit.pk)
        return real(**kwargs)

    monkeypatch.setattr(dashboards, "role_heatmap", counting)
    first = dashboards.build_dashboard(wave=org.current, unit=org.sales)
    again = dashboards.build_dashboard(wave=org.current, unit=org.sales)
    assert built == [org.sales.pk]

    def drawn(board):
        return json.dumps([(c.figure, repr(c.table)) for c in board.charts], default=str)

    assert drawn(again) == drawn(first)
    dashboards.build_dashboard(wave=org.current, unit=org.root)  # another unit: its own charts
    assert built == [org.sales.pk, org.root.pk]
    publication = Publication.objects.get(wave=org.current)
    Publication.objects.filter(pk=publication.pk).update(published_cells=[])  # all withheld
    hidden = dashboards.build_dashboard(wave=org.current, unit=org.sales)
    assert built == [org.sales.pk, org.root.pk, org.sales.pk]
    assert drawn(hidden) != drawn(first)


@pytest.mark.parametrize(
    "by", [(), ("role_level",), ("tenure_band",), ("role_level", "tenure_band"), ("demo_gender",)]
)
def test_many_units_at_once_give_the_same_figures_as_one_at_a_time(published_org, by):  # noqa: F811
    """`SummaryReader.summarize_units` (exports of a whole organisation) and the trend's
    `summarize_waves` agree with `summarize`, figure for figure."""
    org = published_org
    units = list(Unit.objects.subtree(org.root).order_by("path"))

    def same(a, b) -> bool:  # figure for figure, up to the order of floating-point sums
        def text(summary):
            return re.sub(r"-?\d+\.\d+(e-?\d+)?", lambda m: f"{float(m[0]):.9g}", repr(summary))

        return text(a) == text(b)

    reader = aggregation.SummaryReader(org.current)
    codes = {q.lower() for q in reader.context(org.current).demographics}
    by = tuple(b for b in by if not b.startswith("demo_") or b in codes)
    together = reader.summarize_units(wave=org.current, units=units, by=by)
    for unit in units:
        alone = aggregation.summarize(wave=org.current, unit=unit, by=by)
        assert same(together[unit.pk], alone), unit.name
    # As the dashboard reads them: fresh, with their publication (`aggregation.history`).
    fresh = list(Wave.objects.filter(pk__in=[org.previous.pk, org.current.pk]).select_related(
        "publication"
    ))  # fmt: skip
    waves = reader.summarize_waves(waves=fresh, unit=org.root, by=by)
    for wave in fresh:
        assert same(waves[wave.pk], aggregation.summarize(wave=wave, unit=org.root, by=by))


def test_an_edited_dimension_name_is_shown_at_once_though_instruments_are_cached(
    published_org,  # noqa: F811
):
    org = published_org
    wave = Wave.objects.select_related("instrument").get(pk=org.current.pk)
    before = dashboards.build_dashboard(wave=wave, unit=org.sales)
    dimension = wave.instrument.dimensions.order_by("pk").first()
    assert (dimension.code, dimension.name) in before.dimensions
    dimension.name = "Speaking up without fear"
    dimension.save()
    wave = Wave.objects.select_related("instrument").get(pk=org.current.pk)
    after = dashboards.build_dashboard(wave=wave, unit=org.sales)
    assert (dimension.code, "Speaking up without fear") in after.dimensions


def test_a_closed_wave_that_showed_its_figures_is_not_reopened(client, published_org):  # noqa: F811
    """Without live results a wave shows one snapshot; re-opening it would allow a second one
    to be compared with it. HR is told to start a new wave instead."""
    org = published_org
    Wave.objects.filter(pk=org.previous.pk).update(live_results=False)
    client.force_login(make_hr())
    page = client.get(reverse("reports:waves")).content.decode()
    assert reverse("reports:wave_open", args=[org.previous.pk]) not in page
    assert "Figures published: start a new wave" in page
    response = client.post(reverse("reports:wave_open", args=[org.previous.pk]), follow=True)
    assert "Start a new wave instead" in response.content.decode()
    assert Wave.objects.get(pk=org.previous.pk).state == Wave.State.CLOSED


def test_a_unit_with_many_comments_shows_a_random_sample_of_each_question_and_its_total(
    client,
    published_org,  # noqa: F811
    monkeypatch,
):
    from reports import selectors

    org = published_org
    monkeypatch.setattr(selectors, "MAX_COMMENTS_PER_QUESTION", 4)
    client.force_login(make_hr())
    (group,) = _get(client, org, org.sales).context["board"].comments
    assert group.total == len(COMMENTS)
    assert len(group.comments) == 4
    publication = Publication.objects.get(wave=org.current)
    seen: set[str] = set()
    for _ in range(60):
        (group,) = selectors.comments(wave=org.current, unit=org.sales, publication=publication)
        texts = {comment.text for comment in group.comments}
        assert group.total == len(COMMENTS) and len(texts) == 4  # four different comments
        seen |= texts
    # Each pick is random: all eleven comments turn up in sixty samples of four (a given one
    # is missed with probability (7/11)^60, so the test fails about once in 50 billion runs).
    assert len(seen) == len(COMMENTS)


def test_cached_chart_html_is_the_html_of_the_page_s_own_figures(client, published_org):  # noqa: F811
    """Charts and their rendered HTML are cached under a digest of their inputs: a page read
    after other units' pages is the page read with an empty cache."""
    from django.core.cache import cache

    org = published_org
    client.force_login(make_hr())

    def charts_html(unit) -> list[str]:
        html = _get(client, org, unit).content.decode()
        return re.findall(r'<figure class="chart-block".*?</figure>', html, flags=re.S)

    warm = {}
    for unit in (org.root, org.sales, org.tech, org.root):
        warm[unit.pk] = charts_html(unit)
    for unit in (org.sales, org.tech, org.root):
        cache.clear()
        assert charts_html(unit) == warm[unit.pk]
    assert warm[org.sales.pk] != warm[org.tech.pk]


def test_the_comment_sample_holds_the_unit_s_subtree_and_only_published_comments(
    published_org,  # noqa: F811
):
    """The sample of a unit counts and picks from its own subtree only (a sibling's comments
    never appear), and a comment stored after the publication waits for the next one."""
    from reports import selectors
    from surveys.models import Comment

    org = published_org
    late = Comment.objects.filter(wave=org.current).first()
    late.pk, late.text, late.published = None, "Written after the publication.", False
    late.save()
    north = [text for i, text in enumerate(COMMENTS) if i % 2]
    rows = list(selectors._comment_sample(wave=org.current, unit=org.north))
    assert sorted(row[3] for row in rows) == sorted(north)
    assert {row[4] for row in rows} == {len(north)}
    rows = list(selectors._comment_sample(wave=org.current, unit=org.sales))
    assert sorted(row[3] for row in rows) == sorted(COMMENTS)
    assert {row[4] for row in rows} == {len(COMMENTS)}


def test_the_unit_picker_escapes_names_and_marks_the_shown_unit(client, published_org):  # noqa: F811
    from reports.selectors import UnitOption, picker_options_html

    org = published_org
    org.north.name = 'North <b>& "Co"'
    options = [
        UnitOption(pk=org.root.pk, name=org.root.name, depth=0),
        UnitOption(pk=org.north.pk, name=org.north.name, depth=2),
    ]
    html = str(picker_options_html(options, selected=org.north.pk))
    assert html == (
        f'<option value="{org.root.pk}">{org.root.name}</option>'
        f'<option value="{org.north.pk}" selected>\u2003\u2003North &lt;b&gt;&amp; '
        "&quot;Co&quot;</option>"
    )
    client.force_login(make_hr())
    page = _get(client, org, org.sales).content.decode()
    picker = re.search(r'<select[^>]*id="pick-unit".*?</select>', page, flags=re.S).group(0)
    assert re.findall(r'<option value="(\d+)" selected>', picker) == [str(org.sales.pk)]
    assert picker.count(" selected") == 1


def test_the_action_form_offers_the_instruments_current_dimensions(client, published_org):  # noqa: F811
    """The form's fields are rendered once and kept: a renamed dimension is offered by its
    new name on the next page."""
    org = published_org
    client.force_login(make_hr())

    def offered() -> list[str]:
        page = _get(client, org, org.sales).content.decode()
        form = re.search(r'<form[^>]*id="action-form".*?</form>', page, flags=re.S).group(0)
        select = re.search(r'<select name="dimension_code".*?</select>', form, flags=re.S)
        return re.findall(r"<option[^>]*>([^<]*)</option>", select.group(0))

    before = offered()
    dimension = Dimension.objects.filter(instrument=org.instrument).order_by("order", "pk")[0]
    assert before[0] == dimension.name
    Dimension.objects.filter(pk=dimension.pk).update(name="Voice, renamed")
    Instrument.objects.filter(pk=org.instrument.pk).update(revision=uuid.uuid4())
    assert offered() == ["Voice, renamed", *before[1:]]
