"""Watching the published figures between submissions (DESIGN anonymity point 6): the insider
refreshes every API answer and every dashboard after each submission, hoping to tie one change
to one person (they know who just said "done!"). Published figures must stay still until a
batch of at least k new responses arrives, then move all at once."""

import json
import re

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from reports import dashboards
from reports.models import ApiToken, Publication
from reports.publication import batch_size
from reports.services import close_wave
from surveys.models import Wave
from tests.attacks.insider import (
    BREAKDOWNS,
    Person,
    World,
    build_world,
    everything_readable,
    hr_user,
    leader_of,
    submit,
)

pytestmark = pytest.mark.django_db

RATE = re.compile(r"response rate [^']*")
TREE = {"acme": None, "ops": "acme", "alpha": "ops", "beta": "ops", "care": "acme"}


def roster() -> list[Person]:
    """Twenty-four people in three teams; nobody has answered yet."""
    return [
        Person(f"{team}{i}", team, rank=1 + (i % 3 == 0), voice=1 + (i * 7 + len(team)) % 5,
               gender=1 + i % 2, comment=f"{team} comment {i}", responds=False)
        for team in ("alpha", "beta", "care")
        for i in range(8)
    ]  # fmt: skip


def api_snapshot(client, world: World) -> str:
    """Every API answer an HR user can get for the wave, as one text."""
    answers = [client.get(reverse("reports:api_waves")).json()]
    for unit in world.units.values():
        for by in BREAKDOWNS:
            url = reverse("reports:api_summary", args=[world.wave.pk])
            answers.append(client.get(url, {"unit": unit.pk, "by": ",".join(by)}).json())
        url = reverse("reports:api_trend", args=[world.wave.pk])
        answers.append(client.get(url, {"unit": unit.pk}).json())
    return json.dumps(answers, sort_keys=True, default=str)


def dashboard_snapshot(world: World) -> str:
    """Every figure, table and sentence of every unit's dashboard (the charts' data too)."""
    boards = []
    for unit in world.units.values():
        board = dashboards.build_dashboard(wave=world.wave, unit=unit, show_flags=True)
        boards.append(
            {
                "lead": board.lead,
                # The response rate on the Responses card counts invitations as they are used:
                # tests/attacks/test_response_rates.py covers it.
                "cards": RATE.sub("", repr(board.cards)),
                "charts": [
                    (
                        chart.key,
                        json.dumps(chart.figure, sort_keys=True, default=str),
                        repr(chart.table),
                    )
                    for chart in board.charts
                ],  # fmt: skip
                # Shown in a new random order on every reading: compared as sets.
                "comments": [
                    (group.question, sorted(c.text for c in group.comments), group.total)
                    for group in board.comments or []
                ],
            }
        )
    return json.dumps(boards, sort_keys=True, default=str)


def test_nothing_moves_until_a_batch_of_at_least_k_responses(
    client, django_capture_on_commit_callbacks
):
    people = roster()
    world = build_world(tree=TREE, people=people, publish_now=False)
    batch = batch_size(world.wave)
    assert batch >= world.wave.k
    client.force_login(hr_user())
    previous = (api_snapshot(client, world), dashboard_snapshot(world))
    since_change = 0
    changes = 0
    # Submit one at a time, as people do; the publication runs after each commit, as in
    # production (the signal receiver publishes when a batch is due).
    for person in people[:11]:
        with django_capture_on_commit_callbacks(execute=True):
            submit(world, person)
        since_change += 1
        current = (api_snapshot(client, world), dashboard_snapshot(world))
        if current != previous:
            assert since_change >= batch, f"figures moved after {since_change} responses"
            changes += 1
            since_change = 0
        else:
            assert since_change < batch, f"no publication after {since_change} responses"
        previous = current
    assert changes == 11 // batch
    assert settings.POWERCLIMATE_PUBLISH_BATCH >= 3


LIVE_RESULTS_LIMITATION = pytest.mark.xfail(
    strict=True,
    reason="known limitation of live results (docs/security.md): batches are counted over "
    "the whole wave, so a batch of k responses can add a single response to one team's "
    "published figures; the team's figure before and after the batch then differ by that "
    "one person. The default (figures once the wave closes) is not affected",
)


@pytest.mark.parametrize("live_results", [False, pytest.param(True, marks=LIVE_RESULTS_LIMITATION)])
def test_no_published_group_moves_by_fewer_than_k_between_two_publications(
    django_capture_on_commit_callbacks, live_results
):
    """Alpha's five answer first (published), then five from Care (published). Then Zoe, of
    Alpha, answers with four more from Care: the batch is complete, and Alpha's figure goes
    from five to six. Alpha's leader, who saw Zoe answer, subtracts. By default the wave
    shows its figures only once it has closed, so there is nothing to subtract from."""
    people = [
        *(Person(f"a{i}", "alpha", voice=4, responds=False) for i in range(5)),
        Person("Zoe", "alpha", voice=1, responds=False),
        *(Person(f"a-more{i}", "alpha", responds=False) for i in range(2)),
        *(Person(f"c{i}", "care", voice=3, responds=False) for i in range(10)),
    ]
    world = build_world(tree=TREE, people=people, publish_now=False)
    Wave.objects.filter(pk=world.wave.pk).update(live_results=live_results)
    world.wave.refresh_from_db()
    leader = leader_of(world.units["alpha"])
    order = [*people[:5], *people[8:13], people[5], *people[13:17]]
    versions = []
    for person in order:
        with django_capture_on_commit_callbacks(execute=True):
            submit(world, person)
        figures = everything_readable(wave=world.wave, user=leader)
        if not versions or figures != versions[-1]:
            versions.append(figures)
    close_wave(wave=world.wave)
    figures = everything_readable(wave=world.wave, user=leader)
    if figures != versions[-1]:
        versions.append(figures)
    assert any(f.published for f in versions[-1])  # the closed wave shows its figures
    moved = []
    for before, after in zip(versions, versions[1:], strict=False):
        old = {(f.unit, f.band, f.tenure, f.gender): f for f in before if f.published}
        for new in after:
            key = (new.unit, new.band, new.tenure, new.gender)
            if new.published and key in old and 0 < new.n - old[key].n < world.wave.k:
                voice = (new.voice_sum - old[key].voice_sum) / (new.voice_n - old[key].voice_n)
                moved.append(f"{new.label}: {old[key].n} -> {new.n}, the newcomer said {voice:g}")
    assert not moved, moved


def test_by_default_an_open_wave_shows_no_figure_until_it_closes(
    client, django_capture_on_commit_callbacks
):
    """Responses are folded in batches all the same; the figures, comments and reliability
    stay hidden, and appear once the wave closes, even when it closes by its time with
    nobody clicking "Close" (the first read after the close publishes them)."""
    people = roster()
    world = build_world(tree=TREE, people=people, publish_now=False)
    Wave.objects.filter(pk=world.wave.pk).update(live_results=False)
    world.wave.refresh_from_db()
    leader = leader_of(world.units["ops"])
    for person in people[:20]:
        with django_capture_on_commit_callbacks(execute=True):
            submit(world, person)
    publication = Publication.objects.get(wave=world.wave)
    assert publication.responses >= 15 and publication.results_hidden
    assert publication.published_cells == [] and publication.comment_units == []
    assert not any(f.published for f in everything_readable(wave=world.wave, user=leader))
    client.force_login(leader)
    query = {"wave": world.wave.pk, "unit": world.units["ops"].pk}
    page = client.get(reverse("reports:dashboard"), query).content.decode()
    assert "The figures of this wave appear when it closes" in page
    assert "ops comment" not in page.lower() and 'id="comments"' not in page
    _, token = ApiToken.issue(user=leader, name="watch")
    api = client.get(
        reverse("reports:api_summary", args=[world.wave.pk]),
        {"unit": world.units["ops"].pk, "by": "role_level"},
        HTTP_AUTHORIZATION=f"Bearer {token}",
    ).json()
    assert api["results_after_close"] is True
    assert api["n"] is None and all(g["n"] is None for g in api["groups"])

    # The wave closes by its time: the next read publishes, and the figures appear.
    Wave.objects.filter(pk=world.wave.pk).update(closes_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        page = client.get(reverse("reports:dashboard"), query).content.decode()
    assert "The figures of this wave appear when it closes" not in page
    publication.refresh_from_db()
    assert not publication.results_hidden and publication.published_cells
    assert any(f.published for f in everything_readable(wave=world.wave, user=leader))
