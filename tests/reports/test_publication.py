"""Publication in batches (DESIGN anonymity point 6): the published figures move only when at
least max(k, POWERCLIMATE_PUBLISH_BATCH) new responses have arrived or the wave closes; every
response is folded exactly once, into the summary rows of every ancestor unit; a rebuild gives
the same tables as folding batch by batch."""

from __future__ import annotations

import importlib
import random
import threading
import time
from collections import defaultdict
from types import SimpleNamespace

import pytest
from django.db import OperationalError, connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reports.aggregation import summarize
from reports.models import (
    BAND_TOTAL,
    Publication,
    SummaryDimension,
    SummaryGroup,
    SummaryItem,
)
from reports.publication import batch_size, publish, publish_if_due, rebuild
from reports.services import close_wave
from surveys import services
from surveys.models import Answer, Question, Response, RoleLevel, TenureBand, Unit, Wave
from tests.reports.anonymity_data import (
    Organisation,
    closed,
    create_units,
    demographic_instrument,
    new_wave,
    organisations,
    rolled_back,
    store,
    store_responses,
)

BREAKDOWNS = [
    (),
    ("role_level",),
    ("tenure_band",),
    ("child_units",),
    ("gender",),
    ("role_level", "tenure_band"),
    ("role_level", "gender"),
]


# --- Helpers ----------------------------------------------------------------------------------


def invited_wave(*, k: int = 5, people: int = 60) -> tuple[Wave, list[str]]:
    """A wave over a root with two teams; returns it with one invitation token per person."""
    units = create_units([None, 0, 0])
    wave = new_wave(instrument=demographic_instrument(), root=units[0], k=k)
    roles = list(RoleLevel.objects.order_by("rank"))
    tenures = list(TenureBand.objects.order_by("rank"))
    rng = random.Random(people)
    roster = [
        services.RosterRow(
            unit=units[1 + i % 2] if i % 10 else units[0],
            role_level=roles[0] if i % 10 else roles[3],
            tenure_band=rng.choice(tenures),
        )
        for i in range(people)
    ]
    return wave, services.create_invitations(wave=wave, roster=roster)


def answers(rng: random.Random) -> dict[str, int]:
    return {
        "V1": rng.randint(1, 5),
        "V2": rng.randint(1, 5),
        "GENDER": rng.choice([1, 2, 3, 99]),
        "CARER": rng.choice([1, 2, 99]),
    }


class Submitter:
    """Submits responses one at a time through `submit_response`, running the on-commit
    publication hook as a real request would."""

    def __init__(self, wave: Wave, tokens: list[str], capture) -> None:
        self.wave, self.tokens, self.capture = wave, iter(tokens), capture
        self.rng = random.Random(7)

    def submit(self, count: int = 1) -> None:
        for _ in range(count):
            with self.capture(execute=True):
                services.submit_response(
                    wave=self.wave, answers=answers(self.rng), invitation_token=next(self.tokens)
                )


def every_figure(wave: Wave) -> dict:
    """Every figure of every unit and breakdown, as readers see them."""
    result = {}
    for unit in Unit.objects.all():
        for by in BREAKDOWNS:
            summary = summarize(wave=wave, unit=unit, by=by)
            result[(unit.pk, by)] = (
                summary.total.figure,
                [(group.label, group.figure) for group in summary.groups],
            )
    return result


def summary_tables(wave: Wave) -> dict:
    """The summary rows of a wave, keyed by their group (floats rounded)."""
    key = ("unit_id", "role_lo", "role_hi", "tenure", "demo_question", "demo_value")
    groups = {
        tuple(r[f] for f in key): r["respondents"]
        for r in SummaryGroup.objects.filter(wave=wave).values(*key, "respondents")
    }
    items = {
        tuple(r[f] for f in (*key, "question_id", "value")): r["count"]
        for r in SummaryItem.objects.filter(wave=wave).values(*key, "question_id", "value", "count")
    }
    dims = {
        tuple(r[f] for f in (*key, "dimension_id")): (
            r["n"],
            round(r["total"], 9),
            round(r["total_sq"], 9),
        )
        for r in SummaryDimension.objects.filter(wave=wave).values(
            *key, "dimension_id", "n", "total", "total_sq"
        )
    }
    return {"groups": groups, "items": items, "dimensions": dims}


def chain(parents: dict[int, int | None], unit: int | None) -> list[int]:
    """A unit and every unit above it."""
    units = []
    while unit is not None:
        units.append(unit)
        unit = parents[unit]
    return units


def recomputed_from_raw(wave: Wave) -> dict:
    """The summary tables computed independently from the raw Response and Answer rows: every
    response counts in every unit above it, once per group, again in its role band over every
    tenure and again under each demographic answer."""
    questions = {q.pk: q for q in Question.objects.filter(instrument=wave.instrument)}
    pairs: dict = defaultdict(list)
    for response_id, question_id, value in Answer.objects.filter(response__wave=wave).values_list(
        "response_id", "question_id", "value"
    ):
        pairs[response_id].append((question_id, value))
    parents = dict(Unit.objects.values_list("pk", "parent_id"))
    groups: dict = defaultdict(int)
    items: dict = defaultdict(int)
    dims: dict = defaultdict(lambda: [0, 0.0, 0.0])
    for response in Response.objects.filter(wave=wave, published=True).select_related(
        "unit", "role_level", "role_level_to", "tenure_band"
    ):
        lo = response.role_level.rank
        hi = response.role_level_to.rank if response.role_level_to else lo
        tenure = response.tenure_band.rank if response.tenure_band else 0
        given = pairs[response.pk]
        demo = [(q, v) for q, v in given if questions[q].purpose == "demographic"]
        scored = {}
        for q, v in given:
            question = questions[q]
            if question.dimension_id:
                scored.setdefault(question.dimension_id, []).append(
                    6 - v if question.reverse_scored else v
                )
        per_dimension = defaultdict(int)
        for question in questions.values():
            if question.dimension_id:
                per_dimension[question.dimension_id] += 1
        for unit_id in chain(parents, response.unit_id):
            variants = [(0, 0, tenure), (BAND_TOTAL, 0, 0)] + [(q, v, 0) for q, v in demo]
            for demo_q, demo_v, ten in variants:
                key = (unit_id, lo, hi, ten, demo_q, demo_v)
                groups[key] += 1
                for q, v in given:
                    items[(*key, q, v)] += 1
                for dimension_id, values in scored.items():
                    if 2 * len(values) >= per_dimension[dimension_id]:
                        mean = sum(values) / len(values)
                        acc = dims[(*key, dimension_id)]
                        acc[0] += 1
                        acc[1] += mean
                        acc[2] += mean * mean
    return {
        "groups": dict(groups),
        "items": dict(items),
        "dimensions": {
            key: (n, round(total, 9), round(total_sq, 9))
            for key, (n, total, total_sq) in dims.items()
        },
    }


# --- Batches ----------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(("k", "batch_setting"), [(5, 5), (5, 8), (6, 3)])
def test_figures_do_not_move_until_a_full_batch_of_new_responses(
    k, batch_setting, settings, django_capture_on_commit_callbacks
):
    settings.POWERCLIMATE_PUBLISH_BATCH = batch_setting
    wave, tokens = invited_wave(k=k)
    batch = batch_size(wave)
    assert batch == max(k, batch_setting)
    submitter = Submitter(wave, tokens, django_capture_on_commit_callbacks)

    submitter.submit(batch)
    assert Publication.objects.get(wave=wave).version == 1
    before = every_figure(wave)
    root = Unit.objects.get(parent=None)
    assert summarize(wave=wave, unit=root).total.n == batch

    for _ in range(batch - 1):
        submitter.submit()
        assert every_figure(wave) == before  # every figure of every unit unchanged
    assert Response.objects.for_wave(wave).unpublished().count() == batch - 1

    submitter.submit()  # the batch is full: everything moves at once
    after = every_figure(wave)
    assert after != before
    assert Publication.objects.get(wave=wave).version == 2
    assert summarize(wave=wave, unit=root).total.n == 2 * batch
    assert not Response.objects.for_wave(wave).unpublished().exists()


@pytest.mark.django_db
def test_closing_the_wave_publishes_the_rest(django_capture_on_commit_callbacks):
    wave, tokens = invited_wave(k=5)
    submitter = Submitter(wave, tokens, django_capture_on_commit_callbacks)
    submitter.submit(5 + 2)
    assert Publication.objects.get(wave=wave).responses == 5
    waiting = every_figure(wave)

    assert publish_if_due(wave=wave) is None  # still open, short batch
    assert every_figure(wave) == waiting

    publication = close_wave(wave=wave)
    assert publication.responses == 7
    assert not Response.objects.for_wave(wave).unpublished().exists()
    root = Unit.objects.get(parent=None)
    assert summarize(wave=wave, unit=root).total.n == 7


@pytest.mark.django_db
def test_a_wave_past_its_closing_time_publishes_the_rest_when_due(
    django_capture_on_commit_callbacks,
):
    wave, tokens = invited_wave(k=5)
    Submitter(wave, tokens, django_capture_on_commit_callbacks).submit(6)
    closed(wave)
    publication = publish_if_due(wave=wave)
    assert publication is not None and publication.responses == 6


# --- Exactly once -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_duplicate_publish_calls_fold_each_response_exactly_once():
    wave, tokens = invited_wave(k=5)
    rng = random.Random(3)
    for token in tokens[:23]:
        services.submit_response(wave=wave, answers=answers(rng), invitation_token=token)
    first = publish(wave=wave, force=True)
    tables = summary_tables(wave)
    second = publish(wave=wave, force=True)
    again = publish(wave=wave)
    assert first.responses == second.responses == again.responses == 23
    assert summary_tables(wave) == tables == recomputed_from_raw(wave)


@pytest.mark.django_db(transaction=True)
def test_concurrent_publish_calls_fold_each_response_exactly_once():
    wave, tokens = invited_wave(k=5)
    rng = random.Random(4)
    for token in tokens[:30]:
        services.submit_response(wave=wave, answers=answers(rng), invitation_token=token)
    errors = []
    start = threading.Barrier(3)

    def worker():
        try:
            start.wait()
            for _attempt in range(100):
                try:
                    publish(wave=wave, force=True)
                    return
                except OperationalError as error:
                    # The SQLite test database lives in shared-cache memory, where a writer
                    # that finds the table locked fails at once instead of waiting; retry as
                    # the publishing worker would. PostgreSQL waits on the row lock.
                    if connection.vendor != "sqlite" or "locked" not in str(error):
                        raise
                    time.sleep(0.01)
        except Exception as error:  # reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert Publication.objects.get(wave=wave).responses == 30
    assert summary_tables(wave) == recomputed_from_raw(wave)


# --- Rebuild and the raw data ----------------------------------------------------------------


PUBLICATION = settings(
    max_examples=5,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@PUBLICATION
@given(org=organisations(units=(2, 6), respondents=(10, 50)), data=st.data())
@pytest.mark.django_db
def test_rebuild_equals_incremental_folding(org: Organisation, data: st.DataObject):
    with rolled_back():
        stored = store(org)  # the first batch
        wave = stored.waves[0]
        wave.refresh_from_db()
        # More batches of the same people answering again, folded one by one.
        for _ in range(data.draw(st.integers(1, 3))):
            more = data.draw(organisations(units=(len(org.parents),) * 2, respondents=(5, 15)))
            store_responses(org=more, stored=stored, wave=wave)
            publish(wave=wave, force=True)
        incremental = summary_tables(wave)
        cells = Publication.objects.get(wave=wave).published_cells
        rebuild(wave=wave)
        assert summary_tables(wave) == incremental
        assert Publication.objects.get(wave=wave).published_cells == cells


@PUBLICATION
@given(org=organisations(units=(2, 8), respondents=(10, 60)))
@pytest.mark.django_db
def test_summary_counts_equal_counts_recomputed_from_raw_answers_for_every_ancestor(
    org: Organisation,
):
    with rolled_back():
        wave = store(org).waves[0]
        assert summary_tables(wave) == recomputed_from_raw(wave)
        root = Unit.objects.get(parent=None)
        assert summarize(wave=wave, unit=root).total.figure.cell == f"T|{root.pk}"
        assert (
            Publication.objects.get(wave=wave).responses
            == Response.objects.filter(wave=wave).count()
        )


@pytest.mark.django_db
def test_summary_rows_folded_before_band_totals_get_them_from_the_migration():
    """Migration 0005 adds to existing summary rows the band totals a fold now writes: the
    same rows as folding the responses again."""
    from django.apps import apps

    migration = importlib.import_module("reports.migrations.0005_band_totals")
    wave, tokens = invited_wave(k=5)
    rng = random.Random(5)
    for token in tokens[:17]:
        services.submit_response(wave=wave, answers=answers(rng), invitation_token=token)
    publish(wave=wave, force=True)
    folded = summary_tables(wave)
    assert any(key[4] == BAND_TOTAL for key in folded["items"])
    for model in (SummaryGroup, SummaryItem, SummaryDimension):
        model.objects.filter(wave=wave, demo_question=BAND_TOTAL).delete()
    editor = SimpleNamespace(connection=connection)  # all the migration uses of its editor
    migration.add_band_totals(apps, editor)
    assert summary_tables(wave) == folded == recomputed_from_raw(wave)
    migration.remove_band_totals(apps, editor)
    assert not SummaryGroup.objects.filter(demo_question=BAND_TOTAL).exists()


@pytest.mark.django_db
def test_band_totals_are_stored_sums_never_cells_of_the_pattern():
    """The band-total rows hold each role band's sum over its tenures: equal to the tenure
    rows they sum, and never an input of the suppression pattern."""
    from reports.publication import snapshot_rows

    wave, tokens = invited_wave(k=5)
    rng = random.Random(6)
    for token in tokens[:24]:
        services.submit_response(wave=wave, answers=answers(rng), invitation_token=token)
    publication = publish(wave=wave, force=True)
    base: dict = defaultdict(int)
    totals = {}
    for row in SummaryGroup.objects.filter(wave=wave, demo_question=0):
        base[(row.unit_id, row.role_lo, row.role_hi)] += row.respondents
    for row in SummaryGroup.objects.filter(wave=wave, demo_question=BAND_TOTAL):
        totals[(row.unit_id, row.role_lo, row.role_hi)] = row.respondents
    assert totals and totals == dict(base)
    rows, _parents = snapshot_rows(wave)
    assert rows and all(row.demo_question != BAND_TOTAL for row in rows)
    assert publication.published_cells
    assert not [cell for cell in publication.published_cells if str(BAND_TOTAL) in cell]
