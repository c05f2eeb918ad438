"""Differencing across waves: the same team in two waves, a person leaves or joins in between.
The insider compares the two waves' figures (the trend page, the API's trend) to isolate
the leaver or the joiner."""

import pytest
from django.urls import reverse

from reports import dashboards
from reports.aggregation import summarize
from surveys.models import Invitation, Response
from tests.attacks.insider import (
    K,
    Person,
    assert_nobody_isolated,
    build_world,
    everything_readable,
    hr_user,
    leader_of,
    next_wave,
)

pytestmark = pytest.mark.django_db

TREE = {"acme": None, "ops": "acme", "alpha": "ops", "beta": "ops"}


def roster(alpha: list[str]) -> list[Person]:
    return [
        *(Person(name, "alpha", voice=1 + i % 5) for i, name in enumerate(alpha)),
        *(Person(f"alpha-silent{i}", "alpha", responds=False) for i in range(2)),
        *(Person(f"b{i}", "beta", voice=4) for i in range(8)),
    ]


FIVE = ["Ann", "Ben", "Cat", "Dev", "Leo"]


def _flat(values):
    for value in values or []:
        if isinstance(value, list | tuple):
            yield from _flat(value)
        else:
            yield value


def test_a_leaver_who_takes_the_team_under_k_leaves_no_figure_and_no_change(client):
    """Leo leaves: Alpha falls from 5 to 4 respondents. The trend must not show Alpha's new
    figure, nor a change, nor let Operations minus Beta stand in for it."""
    first = build_world(tree=TREE, people=roster(FIVE))
    second = next_wave(first, roster(FIVE[:4]))
    alpha = first.units["alpha"]
    assert summarize(wave=first.wave, unit=alpha).total.n == 5
    assert summarize(wave=second.wave, unit=alpha).total.suppressed
    client.force_login(leader_of(first.units["ops"]))
    trend = client.get(
        reverse("reports:api_trend", args=[second.wave.pk]), {"unit": alpha.pk}
    ).json()
    latest = trend["points"][-1]
    assert latest["suppressed"] and latest["n"] is None and latest["changes"] == {}
    board = dashboards.build_dashboard(wave=second.wave, unit=alpha)
    for chart in board.charts:
        if chart.key == "trend":
            continue
        for row in chart.table.rows:
            for cell in row[1:]:
                assert cell.suppressed or not any(c.isdigit() for c in cell.text), chart.key
        for trace in (chart.figure or {}).get("data", []):
            for value in _flat(trace.get("z")):
                assert value is None, chart.key
    for world in (first, second):
        assert_nobody_isolated(everything_readable(wave=world.wave, user=hr_user()), k=K)


def test_a_joiner_who_takes_the_team_to_k_is_not_a_one_person_change(client):
    """Zoe joins: Alpha goes from 4 respondents (hidden) to 5 (shown). Nothing published in
    the first wave describes the four, so the second wave's figure cannot be split."""
    first = build_world(tree=TREE, people=roster(FIVE[:4]))
    second = next_wave(first, roster([*FIVE[:4], "Zoe"]))
    alpha = first.units["alpha"]
    assert summarize(wave=first.wave, unit=alpha).total.suppressed
    assert summarize(wave=second.wave, unit=alpha).total.n == 5
    client.force_login(hr_user())
    trend = client.get(
        reverse("reports:api_trend", args=[second.wave.pk]), {"unit": alpha.pk}
    ).json()
    assert trend["points"][-2]["suppressed"] and trend["points"][-1]["changes"] == {}
    for world in (first, second):
        assert_nobody_isolated(everything_readable(wave=world.wave, user=hr_user()), k=K)


def test_nothing_links_one_persons_responses_across_waves():
    """Ann answers both waves. Her two rows share no key, and the only thing they share, the
    group attributes, describes at least k people on each wave's roster."""
    first = build_world(tree=TREE, people=roster(FIVE))
    second = next_wave(first, roster(FIVE))
    ids = [
        set(Response.objects.filter(wave=w.wave).values_list("pk", flat=True))
        for w in (first, second)
    ]
    assert not ids[0] & ids[1]
    for world in (first, second):
        for response in Response.objects.filter(wave=world.wave).select_related(
            "unit", "role_level", "role_level_to"
        ):
            high = (response.role_level_to or response.role_level).rank
            sharing = Invitation.objects.filter(
                wave=world.wave,
                unit__path__startswith=response.unit.path,
                role_level__rank__range=(response.role_level.rank, high),
            )
            if response.tenure_band_id:
                sharing = sharing.filter(tenure_band_id=response.tenure_band_id)
            assert sharing.count() >= K
