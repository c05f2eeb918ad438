"""The guard (DESIGN anonymity point 4): the one gate every figure passes. A group under k is
suppressed and says so, a cell the publication does not list is suppressed whatever its size
(default deny), raw numbers are refused, and each wave's own k applies."""

import random
from collections import defaultdict

import pytest

from reports.aggregation import summarize
from reports.anonymity import (
    GroupRow,
    Guarded,
    Unguarded,
    audit_pattern,
    cell_counts,
    cell_unit,
    decide_pattern,
    demographic_threshold,
    guard,
    linked_tables,
    require_guarded,
)
from reports.models import Publication
from surveys.models import Unit
from tests.reports.anonymity_data import (
    Organisation,
    Person,
    store,
)

pytestmark = pytest.mark.django_db

ANSWERS = {"V1": 4, "V2": 2, "GENDER": 1, "CARER": 2}


def organisation(*, sizes: list[int], k: int) -> Organisation:
    """A root with one team per size: that many individual contributors answer, out of a
    roster of at least 10 per team (so nobody is coarsened away from their team)."""
    people = []
    for team, size in enumerate(sizes):
        people += [
            Person(unit=1 + team, role=1, tenure=2, responds=True, answers=dict(ANSWERS))
        ] * size
        people += [Person(unit=1 + team, role=1, tenure=2, responds=False)] * max(0, 10 - size)
    return Organisation(parents=[None] + [0] * len(sizes), people=people, k=k)


def teams_by_size(sizes: list[int], k: int):
    stored = store(organisation(sizes=sizes, k=k))
    return stored.waves[0], stored.units[0], stored.units[1:]


def test_group_with_fewer_than_k_responses_is_suppressed_and_says_so():
    wave, root, (small, large, other) = teams_by_size([4, 12, 9], k=5)
    summary = summarize(wave=wave, unit=root, by=["child_units"])
    groups = {group.attrs["unit"]: group for group in summary.groups}
    hidden = groups[small.pk]
    assert hidden.suppressed
    assert hidden.n is None and hidden.measures is None
    assert "fewer than 5 responses" in hidden.figure.note
    shown = groups[large.pk]
    assert not shown.suppressed and shown.n == 12 and shown.measures is not None
    # Team sizes 4 + 9 = 13 are withheld together (the smallest sibling keeps it company),
    # so the root total minus the shown team never isolates the small team.
    assert groups[other.pk].suppressed
    assert summary.total.n == 25
    # The small team's own page shows nothing either.
    alone = summarize(wave=wave, unit=small)
    assert alone.total.suppressed and alone.total.n is None


def test_suppressed_figures_say_the_same_whatever_the_reason():
    wave, root, (small, _large, other) = teams_by_size([4, 12, 9], k=5)
    groups = {
        g.attrs["unit"]: g for g in summarize(wave=wave, unit=root, by=["child_units"]).groups
    }
    # One hides 4 people, the other 9: a reader must not learn which is the small one.
    assert groups[small.pk].figure.note == groups[other.pk].figure.note
    assert groups[small.pk].figure == Guarded(
        cell=f"T|{small.pk}",
        n=None,
        suppressed=True,
        measures=None,
        note=groups[small.pk].figure.note,
    )


def test_cell_not_in_the_publication_is_suppressed_default_deny():
    figure = guard(cell="T|1", n=500, measures={"score": 80}, k=5, published=frozenset())
    assert figure.suppressed and figure.n is None and figure.measures is None
    unknown = guard(cell="NEW|1|x", n=500, measures={}, k=5, published=frozenset({"T|1"}))
    assert unknown.suppressed
    shown = guard(cell="T|1", n=500, measures={"score": 80}, k=5, published=frozenset({"T|1"}))
    assert not shown.suppressed and shown.n == 500 and shown.measures == {"score": 80}


def test_a_publication_that_lists_nothing_shows_nothing_even_for_large_groups():
    wave, root, _teams = teams_by_size([12, 15], k=5)
    Publication.objects.filter(wave=wave).update(published_cells=[])
    summary = summarize(wave=wave, unit=root, by=["child_units"])
    assert summary.total.suppressed
    assert all(group.suppressed for group in summary.groups)
    assert len(summary.groups) == 2  # listed, but without a number


def test_a_group_under_k_is_suppressed_even_if_the_publication_lists_it():
    figure = guard(cell="T|1", n=4, measures={}, k=5, published=frozenset({"T|1"}))
    assert figure.suppressed


def test_require_guarded_raises_on_raw_data():
    with pytest.raises(Unguarded):
        require_guarded([{"n": 12, "score": 70}])
    with pytest.raises(Unguarded):
        require_guarded([guard(cell="T|1", n=9, measures=None, k=5, published=frozenset()), 9])
    require_guarded([guard(cell="T|1", n=9, measures=None, k=5, published=frozenset({"T|1"}))])


def test_every_figure_summarize_returns_has_passed_the_guard():
    wave, root, _teams = teams_by_size([6, 7], k=5)
    for by in ([], ["child_units"], ["role_level"], ["gender"], ["role_level", "tenure_band"]):
        summary = summarize(wave=wave, unit=root, by=by)
        require_guarded([summary.total.figure, *(group.figure for group in summary.groups)])


@pytest.mark.parametrize(("k", "shown"), [(5, True), (6, True), (7, False)])
def test_k_of_each_wave_is_honoured(k, shown):
    wave, root, teams = teams_by_size([6, 6, 20], k=k)
    assert wave.k == k
    for team in teams[:2]:
        total = summarize(wave=wave, unit=team).total
        assert total.suppressed is not shown
        assert total.n == (6 if shown else None)
    assert summarize(wave=wave, unit=root).total.n == 32
    assert summarize(wave=wave, unit=Unit.objects.get(pk=teams[2].pk)).total.n == 20


# --- The pattern behind the guard -------------------------------------------------------------


def rows_of(people, parents):
    """Summary rows (as publication folds them) for people = (unit, role, tenure, gender)."""
    counts = defaultdict(int)
    for unit, role, tenure, gender in people:
        step = unit
        while step is not None:
            counts[(step, f"{role}-{role}", tenure, 0, 0)] += 1
            if gender:
                counts[(step, f"{role}-{role}", 0, 9, gender)] += 1
            step = parents[step]
    return [GroupRow(u, r, t, q, v, n) for (u, r, t, q, v), n in counts.items()]


def northwind():
    """The demo's shape: 3 executives and 9 directors at the root, 4 divisions with 7
    managers of their own and 3 teams of 30; gender answered by three in four, five answers
    (one rarely chosen)."""
    rng = random.Random(11)
    parents = {1: None}
    people = []

    def gender():
        return 0 if rng.random() < 0.25 else rng.choice([1, 1, 2, 2, 3, 3, 4, 4, 99])

    people += [(1, 5, 0, gender()) for _ in range(3)]
    people += [(1, 4, 0, gender()) for _ in range(9)]
    for division in range(4):
        d = 10 * (division + 1)
        parents[d] = 1
        people += [(d, 3, 0, gender()) for _ in range(7)]
        for team in range(1, 4):
            parents[d + team] = d
            people += [(d + team, 1, rng.randint(1, 4), gender()) for _ in range(30)]
    return rows_of(people, parents), parents


def test_gender_is_published_at_the_root_of_a_demo_shaped_organisation():
    rows, parents = northwind()
    cells = decide_pattern(rows=rows, parents=parents, k=5)
    counts = cell_counts(rows)
    root_gender = [c for c in counts if c.startswith("D|1|9|")]
    assert root_gender and all(c in cells for c in root_gender)
    # The executives (3) are withheld, and so are the directors (9), their complement.
    assert "R|1|5-5" not in cells and "R|1|4-4" not in cells
    assert {"T|1", "R|1|1-1", "R|1|3-3"} <= set(cells)
    audit = audit_pattern(rows=rows, parents=parents, k=5, published=cells)
    assert audit.passed, audit.ranges[:3]


def small_teams(divisions: int = 4, departments: int = 6, teams: int = 16):
    """A large organisation of small teams (3 to 7 people each, over three role levels and four
    tenure bands) under departments and divisions with a few more senior people of their own: a
    sparse table of thousands of linked cells, most of the teams' breakdowns under k."""
    rng = random.Random(7)
    parents = {1: None}
    people = []
    for division in range(1, divisions + 1):
        d = 1000 * division
        parents[d] = 1
        for department in range(1, departments + 1):
            p = d + 100 * department
            parents[p] = d
            people += [(p, 4, rng.randint(1, 4), 0) for _ in range(rng.randint(1, 3))]
            for team in range(1, teams + 1):
                parents[p + team] = p
                people += [
                    (p + team, rng.choice([1, 1, 1, 2, 3]), rng.randint(1, 4), 0)
                    for _ in range(rng.randint(3, 7))
                ]
        people += [(d, 5, rng.randint(1, 4), 0) for _ in range(2)]
    return rows_of(people, parents), parents


def test_a_large_organisation_of_small_teams_still_shows_its_totals():
    """Thousands of linked cells, most of them small, are audited exactly: the organisation's
    and the divisions' totals and role bands stay published (an audit confined to each small
    cell's neighbourhood found every cell narrow there and withheld the whole organisation)."""
    rows, parents = small_teams()
    counts = cell_counts(rows)
    assert len(counts) > 4000 and sum(0 < n < 5 for n in counts.values()) > 3000
    cells = set(decide_pattern(rows=rows, parents=parents, k=5))
    divisions = [u for u, parent in parents.items() if parent == 1]
    assert {"T|1", "R|1|1-1", "R|1|2-2", "R|1|3-3"} <= cells
    assert {f"T|{d}" for d in divisions} <= cells
    assert sum(c.startswith("T|") for c in cells) > len(parents) / 2
    audit = audit_pattern(rows=rows, parents=parents, k=5, published=cells)
    assert audit.passed, audit.ranges[:3]


def test_demographic_breakdowns_are_offered_only_for_groups_of_at_least_the_threshold():
    rows, parents = northwind()
    teams = {u for u, p in parents.items() if p is not None and p != 1}
    for threshold, team_cells in ((None, False), (5, True)):
        cells = decide_pattern(rows=rows, parents=parents, k=5, demographic_min=threshold)
        shown = {cell_unit(c) for c in cells if c.startswith(("D|", "RD|"))}
        assert bool(shown & teams) is team_cells
        assert 1 in shown  # the root (all 400 people) keeps its breakdown either way
        assert audit_pattern(rows=rows, parents=parents, k=5, published=cells).passed
    assert demographic_threshold(k=5) == 50 and demographic_threshold(k=5, demographic_min=2) == 5


def test_every_relation_of_the_linked_tables_holds_exactly():
    rows, parents = northwind()
    tables = linked_tables(rows=rows, parents=parents)
    for total, members in tables.relations:
        assert tables.counts[total] == sum(tables.counts[m] for m in members), total
    # Those who skipped the question add up through the tree like everyone else.
    assert any(t.startswith("D~skip|1|") and m for t, m in tables.relations)
    assert all(n >= 0 for n in tables.counts.values())


# Found by the adversary test: HiGHS's presolve called this (always feasible) system
# infeasible; the audit now solves such systems again without presolve.
PRESOLVE_TRAP_PARENTS = {1: None, 2: 1, 3: 2, 5: 2, 6: 5, 4: 1}
# fmt: off
PRESOLVE_TRAP_ROWS = [
    (1,"1-1",0,0,0,35), (1,"1-1",0,1,1,4), (1,"1-1",0,1,2,5), (1,"1-1",0,1,3,7),
    (1,"1-1",0,1,99,4), (1,"1-1",0,2,1,2), (1,"1-1",0,2,2,10), (1,"1-1",0,2,99,7),
    (1,"1-1",2,0,0,3), (1,"1-1",3,0,0,1), (1,"2-2",0,0,0,15), (1,"2-2",0,1,1,2),
    (1,"2-2",0,1,3,2), (1,"2-2",0,1,99,2), (1,"2-2",0,2,1,4), (1,"2-2",0,2,2,5),
    (1,"2-2",0,2,99,1), (1,"3-3",0,0,0,12), (1,"3-3",0,1,1,1), (1,"3-3",0,1,2,1),
    (1,"3-3",0,1,3,2), (1,"3-3",0,1,99,3), (1,"3-3",0,2,2,1), (1,"3-3",0,2,99,4),
    (1,"4-4",0,0,0,8), (1,"4-4",0,1,1,1), (1,"4-4",0,1,2,1), (1,"4-4",0,1,3,1),
    (1,"4-4",0,1,99,1), (1,"4-4",0,2,1,1), (1,"4-4",0,2,2,2), (1,"4-4",0,2,99,2),
    (1,"5-5",0,0,0,11), (1,"5-5",0,1,1,1), (1,"5-5",0,1,2,1), (1,"5-5",0,1,3,3),
    (1,"5-5",0,1,99,3), (1,"5-5",0,2,1,1), (2,"1-1",0,0,0,23), (2,"1-1",0,1,1,4),
    (2,"1-1",0,1,2,4), (2,"1-1",0,1,3,5), (2,"1-1",0,1,99,2), (2,"1-1",0,2,1,1),
    (2,"1-1",0,2,2,7), (2,"1-1",0,2,99,2), (2,"1-1",2,0,0,2), (2,"2-2",0,0,0,9),
    (2,"2-2",0,1,3,1), (2,"2-2",0,1,99,1), (2,"2-2",0,2,1,3), (2,"2-2",0,2,2,3),
    (2,"3-3",0,0,0,10), (2,"3-3",0,1,1,1), (2,"3-3",0,1,3,2), (2,"3-3",0,1,99,3),
    (2,"3-3",0,2,2,1), (2,"3-3",0,2,99,3), (2,"4-4",0,0,0,5), (2,"4-4",0,1,1,1),
    (2,"4-4",0,1,3,1), (2,"4-4",0,2,2,2), (2,"4-4",0,2,99,2), (2,"5-5",0,0,0,8),
    (2,"5-5",0,1,1,1), (2,"5-5",0,1,2,1), (2,"5-5",0,1,3,2), (2,"5-5",0,1,99,2),
    (2,"5-5",0,2,1,1), (3,"1-1",0,0,0,5), (3,"1-1",0,1,2,3), (3,"1-1",0,1,3,1),
    (3,"1-1",0,2,2,1), (4,"1-1",0,0,0,10), (4,"1-1",0,1,2,1), (4,"1-1",0,1,3,2),
    (4,"1-1",0,1,99,1), (4,"1-1",0,2,1,1), (4,"1-1",0,2,2,2), (4,"1-1",0,2,99,3),
    (5,"1-1",0,0,0,12), (5,"1-1",0,1,1,2), (5,"1-1",0,1,3,2), (5,"1-1",0,1,99,1),
    (5,"1-1",0,2,2,3), (5,"1-1",0,2,99,1), (5,"3-3",0,0,0,4), (5,"3-3",0,1,3,1),
    (5,"3-3",0,1,99,1), (5,"3-3",0,2,99,1), (5,"4-4",0,0,0,5), (5,"4-4",0,1,1,1),
    (5,"4-4",0,1,3,1), (5,"4-4",0,2,2,2), (5,"4-4",0,2,99,2), (5,"5-5",0,0,0,7),
    (5,"5-5",0,1,1,1), (5,"5-5",0,1,2,1), (5,"5-5",0,1,3,1), (5,"5-5",0,1,99,2),
    (6,"1-1",0,0,0,6), (6,"1-1",0,1,1,1), (6,"1-1",0,1,99,1), (6,"1-1",0,2,2,1),
    (6,"1-1",0,2,99,1), (6,"5-5",0,0,0,5), (6,"5-5",0,1,1,1), (6,"5-5",0,1,2,1),
    (6,"5-5",0,1,3,1), (6,"5-5",0,1,99,2)
]
# fmt: on


def test_pattern_is_decided_where_the_solver_presolve_stumbles():
    rows = [GroupRow(*row) for row in PRESOLVE_TRAP_ROWS]
    cells = decide_pattern(rows=rows, parents=PRESOLVE_TRAP_PARENTS, k=5)
    assert "T|1" in cells
    assert audit_pattern(rows=rows, parents=PRESOLVE_TRAP_PARENTS, k=5, published=cells).passed
