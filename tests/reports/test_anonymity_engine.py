"""Tests for reports.anonymity_engine: secondary cell suppression and the comment helpers.

Pure Python: run with ``python -m pytest -p no:django tests/reports/test_anonymity_engine.py``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reports.anonymity_engine import (
    Interval,
    audit_suppression,
    decide_suppression,
    derivable_cells,
    is_protected,
    mask_comment,
    mentions_harassment,
    narrow_cells,
    protect,
    shuffled,
)

Relation = tuple[Hashable, Sequence[Hashable]]


# --------------------------------------------------------------------------------------------
# Helpers: an organisation with linked tables, and an adversary
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Organisation:
    counts: dict[Hashable, int]
    relations: list[Relation]
    hidden: frozenset[Hashable]
    k: int


def _group_shapes(roles: int, tenures: int) -> list[tuple]:
    """The cells of one group: total, role levels, tenure bands, role x tenure."""
    return [
        ("all",),
        *(("role", r) for r in range(roles)),
        *(("ten", t) for t in range(tenures)),
        *(("cell", r, t) for r in range(roles) for t in range(tenures)),
    ]


def _group_relations(prefix: tuple, roles: int, tenures: int) -> list[Relation]:
    """total = sum of role levels = sum of tenure bands; margins = sums of the two-way cells."""
    g = prefix
    relations: list[Relation] = [
        (g + ("all",), [g + ("role", r) for r in range(roles)]),
        (g + ("all",), [g + ("ten", t) for t in range(tenures)]),
    ]
    relations += [
        (g + ("role", r), [g + ("cell", r, t) for t in range(tenures)]) for r in range(roles)
    ]
    relations += [
        (g + ("ten", t), [g + ("cell", r, t) for r in range(roles)]) for t in range(tenures)
    ]
    return relations


def build_organisation(
    parents: Sequence[int | None], direct: Sequence[Sequence[Sequence[int]]], k: int
) -> Organisation:
    """Unit ``u`` has parent ``parents[u]`` (None for the root) and ``direct[u][r][t]`` people
    of its own. Units with children get a hidden direct residual group ``("d", u, ...)``."""
    units = range(len(parents))
    roles, tenures = len(direct[0]), len(direct[0][0])
    children: dict[int, list[int]] = {u: [] for u in units}
    for u in units:
        if parents[u] is not None:
            children[parents[u]].append(u)

    def group_counts(matrix: Sequence[Sequence[int]]) -> dict[tuple, int]:
        cells = {("cell", r, t): matrix[r][t] for r in range(roles) for t in range(tenures)}
        cells[("all",)] = sum(map(sum, matrix))
        cells.update({("role", r): sum(matrix[r]) for r in range(roles)})
        cells.update({("ten", t): sum(row[t] for row in matrix) for t in range(tenures)})
        return cells

    def subtree(u: int) -> list[list[int]]:
        matrix = [list(row) for row in direct[u]]
        for child in children[u]:
            below = subtree(child)
            for r in range(roles):
                for t in range(tenures):
                    matrix[r][t] += below[r][t]
        return matrix

    counts: dict[Hashable, int] = {}
    relations: list[Relation] = []
    hidden: set[Hashable] = set()
    for u in units:
        counts.update({("u", u) + shape: n for shape, n in group_counts(subtree(u)).items()})
        relations += _group_relations(("u", u), roles, tenures)
        if children[u]:
            residual = {("d", u) + shape: n for shape, n in group_counts(direct[u]).items()}
            counts.update(residual)
            hidden.update(residual)
            relations += _group_relations(("d", u), roles, tenures)
            for shape in _group_shapes(roles, tenures):
                members = [("u", c) + shape for c in children[u]] + [("d", u) + shape]
                relations.append((("u", u) + shape, members))
    return Organisation(counts, relations, frozenset(hidden), k)


def single_unknown_adversary(
    counts: dict[Hashable, int], relations: Sequence[Relation], suppressed: frozenset
) -> dict[Hashable, int]:
    """Everything an adversary learns by repeatedly solving a relation with exactly one unknown
    (and, using that counts are never negative, setting all unknown members of a relation to 0
    when its known total is already reached). Returns {cell: value} for withheld cells learnt."""
    known = {key: value for key, value in counts.items() if key not in suppressed}
    changed = True
    while changed:
        changed = False
        for total, members in relations:
            cells = [total, *members]
            unknown = {cell for cell in cells if cell not in known}
            if not unknown:
                continue
            if len(unknown) == 1:
                (cell,) = unknown
                rest = sum(known[m] for m in members if m in known)
                known[cell] = known[total] - rest if cell != total else rest
                changed = True
            elif total in known and known[total] == sum(known[m] for m in members if m in known):
                known.update(dict.fromkeys(unknown, 0))
                changed = True
    return {key: value for key, value in known.items() if key in suppressed}


def assert_learnt_nothing(org: Organisation, suppressed: frozenset) -> None:
    learnt = single_unknown_adversary(org.counts, org.relations, suppressed)
    assert all(org.counts[key] == value for key, value in learnt.items())  # adversary is sound
    revealed = {key: value for key, value in learnt.items() if value > 0}
    assert not revealed, f"recoverable withheld cells: {revealed}"


# --------------------------------------------------------------------------------------------
# Examples
# --------------------------------------------------------------------------------------------


def test_small_child_is_suppressed_with_its_smallest_sibling() -> None:
    counts = {"P": 20, "A": 2, "B": 8, "C": 10, "P-direct": 0}
    relations = [("P", ["A", "B", "C", "P-direct"])]
    result = decide_suppression(counts=counts, relations=relations, k=5, hidden=["P-direct"])
    assert result == {"A", "B", "P-direct"}
    intervals = audit_suppression(counts=counts, relations=relations, suppressed=result)
    assert intervals["A"] == Interval(low=0.0, high=10.0)
    assert intervals["B"] == Interval(low=0.0, high=10.0)
    assert intervals["P-direct"] == Interval(low=0.0, high=10.0)


def test_suppressed_siblings_add_up_to_at_least_k() -> None:
    # A (1) and B (2) are both small: withheld together they reveal a group of 3 < k.
    counts = {"P": 40, "A": 1, "B": 2, "C": 12, "D": 25}
    relations = [("P", ["A", "B", "C", "D"])]
    result = decide_suppression(counts=counts, relations=relations, k=5)
    assert result == {"A", "B", "C"}
    assert is_protected(counts=counts, relations=relations, suppressed=result, k=5)


def _two_way(matrix: list[list[int]]) -> tuple[dict, list[Relation]]:
    roles, tenures = len(matrix), len(matrix[0])
    counts = {("cell", r, t): matrix[r][t] for r in range(roles) for t in range(tenures)}
    counts[("all",)] = sum(map(sum, matrix))
    counts.update({("role", r): sum(matrix[r]) for r in range(roles)})
    counts.update({("ten", t): sum(row[t] for row in matrix) for t in range(tenures)})
    return counts, _group_relations((), roles, tenures)


def test_single_small_cell_of_a_two_way_table_is_protected_by_a_rectangle() -> None:
    matrix = [[1, 9, 20], [7, 6, 30], [40, 35, 50]]
    counts, relations = _two_way(matrix)
    result = decide_suppression(counts=counts, relations=relations, k=5)
    assert ("cell", 0, 0) in result
    cells = {key for key in result if key[0] == "cell"}
    rectangles = [
        (r1, r2, t1, t2)
        for r1 in range(3)
        for r2 in range(r1 + 1, 3)
        for t1 in range(3)
        for t2 in range(t1 + 1, 3)
        if {("cell", r1, t1), ("cell", r1, t2), ("cell", r2, t1), ("cell", r2, t2)} <= cells
    ]
    assert len(cells) >= 4 and rectangles
    assert result == {("cell", 0, 0), ("cell", 0, 1), ("cell", 1, 0), ("cell", 1, 1)}
    assert not any(key[0] != "cell" for key in result)  # margins stay published
    assert is_protected(counts=counts, relations=relations, suppressed=result, k=5)
    org = Organisation(counts, relations, frozenset(), 5)
    assert_learnt_nothing(org, result)


def test_hidden_residual_of_one_forces_a_sibling_suppression() -> None:
    counts = {"P": 21, "A": 10, "B": 10, "P-direct": 1}
    relations = [("P", ["A", "B", "P-direct"])]
    result = decide_suppression(counts=counts, relations=relations, k=5, hidden={"P-direct"})
    assert result == {"P-direct", "A"}  # A and B tie at 10: "'A'" sorts first
    assert audit_suppression(counts=counts, relations=relations, suppressed=result) == {
        "A": Interval(0.0, 11.0),
        "P-direct": Interval(0.0, 11.0),
    }


def test_zero_cells_are_published() -> None:
    matrix = [[0, 12, 8], [0, 6, 9], [0, 0, 25]]
    counts, relations = _two_way(matrix)
    assert decide_suppression(counts=counts, relations=relations, k=5) == frozenset()
    counts = {"P": 10, "A": 0, "B": 10, "C": 0}
    relations = [("P", ["A", "B", "C"])]
    assert decide_suppression(counts=counts, relations=relations, k=5) == frozenset()


def test_zero_cells_do_not_count_as_protection() -> None:
    # A (3) withheld next to an empty hidden cell is still recoverable: P - B = A + Z = 3.
    counts = {"P": 13, "A": 3, "Z": 0, "B": 10}
    relations = [("P", ["A", "Z", "B"])]
    result = decide_suppression(counts=counts, relations=relations, k=4, hidden=["Z"])
    assert result == {"A", "B", "Z"}


def test_hidden_total_whose_members_are_published_gets_a_member_withheld() -> None:
    counts = {"T": 12, "a": 6, "b": 6}
    relations = [("T", ["a", "b"])]
    result = decide_suppression(counts=counts, relations=relations, k=5, hidden=["T"])
    assert result == {"T", "a"}  # otherwise T = a + b by addition


def test_secondarily_suppressed_total_gets_a_member_withheld() -> None:
    # S is small, so its smallest sibling T is withheld; T's own breakdown would then give
    # T back by addition, so one of its members is withheld too.
    counts = {"P": 30, "T": 12, "S": 2, "U": 16, "a": 6, "b": 6}
    relations = [("P", ["T", "S", "U"]), ("T", ["a", "b"])]
    result = decide_suppression(counts=counts, relations=relations, k=5)
    assert result == {"S", "T", "a"}
    org = Organisation(counts, relations, frozenset(), 5)
    assert_learnt_nothing(org, result)
    assert is_protected(counts=counts, relations=relations, suppressed=result, k=5)


def test_total_is_withheld_when_its_only_member_is_withheld() -> None:
    # C is withheld to protect D; P = C + (empty direct residual) would then reveal C.
    counts = {"P": 10, "C": 10, "P-direct": 0, "Q": 12, "D": 2}
    relations = [("P", ["C", "P-direct"]), ("Q", ["C", "D"])]
    result = decide_suppression(counts=counts, relations=relations, k=5, hidden=["P-direct"])
    assert result == {"P", "C", "D", "P-direct"}
    assert_learnt_nothing(Organisation(counts, relations, frozenset(), 5), result)


def test_lp_pass_widens_ranges_the_rule_pass_leaves_narrow() -> None:
    # Every relation has two withheld cells adding up to >= k, so the rule pass is satisfied
    # and no single relation gives a cell away, yet the three together pin each of them:
    # x = (T1 + T2 - T3) / 2. The LP audit finds it and withholds T1 as well.
    counts = {"T1": 6, "T2": 6, "T3": 8, "x": 2, "y": 4, "z": 4}
    relations = [("T1", ["x", "y"]), ("T2", ["x", "z"]), ("T3", ["y", "z"])]
    rule_only = decide_suppression(
        counts=counts, relations=relations, k=5, max_lp_cells=0, local_lp=False
    )
    assert rule_only == {"x", "y", "z"}
    assert audit_suppression(counts=counts, relations=relations, suppressed=rule_only) == {
        "x": Interval(2.0, 2.0),
        "y": Interval(4.0, 4.0),
        "z": Interval(4.0, 4.0),
    }
    assert not is_protected(counts=counts, relations=relations, suppressed=rule_only, k=5)
    result = decide_suppression(counts=counts, relations=relations, k=5)
    assert result == {"x", "y", "z", "T1"}
    assert audit_suppression(counts=counts, relations=relations, suppressed=result) == {
        "x": Interval(0.0, 6.0),
        "y": Interval(2.0, 8.0),
        "z": Interval(0.0, 6.0),
        "T1": Interval(2.0, 14.0),
    }


def test_priority_picks_which_sibling_keeps_a_small_one_company() -> None:
    counts = {"P": 20, "A": 2, "B": 8, "C": 10}
    relations = [("P", ["A", "B", "C"])]
    assert decide_suppression(counts=counts, relations=relations, k=5) == {"A", "B"}
    result = decide_suppression(counts=counts, relations=relations, k=5, priority={"B": 1})
    assert result == {"A", "C"}


def test_frozen_cells_are_never_chosen_as_complements() -> None:
    counts = {"P": 20, "A": 2, "B": 8, "C": 10}
    relations = [("P", ["A", "B", "C"])]
    result = decide_suppression(counts=counts, relations=relations, k=5, frozen=["B"])
    assert result == {"A", "C"}
    # With every complement frozen, the total is withheld instead ...
    result = decide_suppression(counts=counts, relations=relations, k=5, frozen=["B", "C"])
    assert result == {"A", "P"}
    assert is_protected(counts=counts, relations=relations, suppressed=result, k=5)
    # ... and if that is frozen too, nothing helps: the engine stops and the audit says so.
    result = decide_suppression(counts=counts, relations=relations, k=5, frozen=["B", "C", "P"])
    assert result == {"A"}
    assert not is_protected(counts=counts, relations=relations, suppressed=result, k=5)


def test_audit_reports_unbounded_cells() -> None:
    counts = {"P": 3, "A": 1, "B": 2, "lonely": 4}
    relations = [("P", ["A", "B"])]
    result = decide_suppression(counts=counts, relations=relations, k=5)
    assert result == {"P", "A", "B", "lonely"}
    intervals = audit_suppression(counts=counts, relations=relations, suppressed=result)
    assert all(interval.high == math.inf for interval in intervals.values())
    assert intervals["lonely"] == Interval(0.0, math.inf)


def test_invalid_input_is_rejected() -> None:
    with pytest.raises(ValueError, match="inconsistent"):
        decide_suppression(counts={"P": 5, "A": 2, "B": 2}, relations=[("P", ["A", "B"])], k=3)
    with pytest.raises(ValueError, match="no count"):
        decide_suppression(counts={"P": 5, "A": 5}, relations=[("P", ["A", "X"])], k=3)
    with pytest.raises(ValueError, match="negative"):
        decide_suppression(counts={"P": -1}, relations=[], k=3)
    with pytest.raises(ValueError, match="hidden"):
        decide_suppression(counts={"P": 1}, relations=[], k=3, hidden=["Q"])
    with pytest.raises(ValueError, match="k must be"):
        decide_suppression(counts={"P": 1}, relations=[], k=0)
    with pytest.raises(TypeError):
        decide_suppression(counts={"P": 1.5}, relations=[], k=3)


# --------------------------------------------------------------------------------------------
# Properties over random hierarchical organisations
# --------------------------------------------------------------------------------------------


@st.composite
def organisations(draw: st.DrawFn) -> Organisation:
    size = draw(st.integers(min_value=1, max_value=12))
    parents: list[int | None] = [None]
    parents += [draw(st.integers(min_value=0, max_value=u - 1)) for u in range(1, size)]
    roles = draw(st.integers(min_value=2, max_value=4))
    tenures = draw(st.integers(min_value=2, max_value=3))
    count = st.integers(min_value=0, max_value=12)
    cells = st.lists(count, min_size=roles * tenures, max_size=roles * tenures)
    direct = [
        [flat[r * tenures : (r + 1) * tenures] for r in range(roles)]
        for flat in (draw(cells) for _ in range(size))
    ]
    k = draw(st.integers(min_value=3, max_value=6))
    return build_organisation(parents, direct, k)


def _decide(org: Organisation, **options: int | bool) -> frozenset:
    return decide_suppression(
        counts=org.counts, relations=org.relations, k=org.k, hidden=org.hidden, **options
    )


PROPERTY = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(org=organisations())
def test_every_small_cell_and_every_hidden_cell_is_suppressed(org: Organisation) -> None:
    result = _decide(org)
    assert {key for key, n in org.counts.items() if 0 < n < org.k} <= result
    assert org.hidden <= result


@PROPERTY
@given(org=organisations())
def test_single_unknown_adversary_never_reveals_a_suppressed_cell(org: Organisation) -> None:
    assert_learnt_nothing(org, _decide(org))
    # The rule pass alone (what runs when the LP audit is skipped) already guarantees it.
    assert_learnt_nothing(org, _decide(org, max_lp_cells=0, local_lp=False))


@settings(PROPERTY, max_examples=20)  # one LP per withheld cell: the slowest property
@given(org=organisations())
def test_lp_audit_gives_every_suppressed_cell_a_range_of_at_least_k(org: Organisation) -> None:
    result = _decide(org)
    intervals = audit_suppression(counts=org.counts, relations=org.relations, suppressed=result)
    assert set(intervals) == result
    for key, interval in intervals.items():
        assert interval.low - 1e-6 <= org.counts[key] <= interval.high + 1e-6
        if org.counts[key] > 0:
            assert interval.width >= org.k - 1e-6, (key, org.counts[key], interval)
    assert is_protected(counts=org.counts, relations=org.relations, suppressed=result, k=org.k)


@PROPERTY
@given(org=organisations(), seed=st.integers(min_value=0, max_value=2**32))
def test_same_input_gives_the_same_output_whatever_the_order(org: Organisation, seed: int) -> None:
    first = _decide(org)
    assert _decide(org) == first
    rng = random.Random(seed)
    relations = [
        (total, rng.sample(list(members), len(members))) for total, members in org.relations
    ]
    rng.shuffle(relations)
    counts = dict(rng.sample(list(org.counts.items()), len(org.counts)))
    again = decide_suppression(counts=counts, relations=relations, k=org.k, hidden=org.hidden)
    assert again == first


def test_protect_names_the_cells_only_a_frozen_cell_could_have_protected() -> None:
    counts = {"P": 20, "A": 2, "B": 8, "C": 10}
    relations = [("P", ["A", "B", "C"])]
    stuck = protect(counts=counts, relations=relations, k=5, frozen=["B", "C", "P"])
    assert stuck.withheld == {"A"}
    assert stuck.unprotected == {"A"}
    fine = protect(counts=counts, relations=relations, k=5, frozen=["B"])
    assert fine.withheld == {"A", "C"} and not fine.unprotected and not fine.unaudited


def test_components_over_the_lp_limit_are_reported_as_unaudited_without_local_lps() -> None:
    counts = {"P": 20, "A": 2, "B": 8, "C": 10}
    relations = [("P", ["A", "B", "C"])]
    decision = protect(counts=counts, relations=relations, k=5, max_lp_cells=3, local_lp=False)
    assert decision.unaudited == {"A", "B"}
    assert decision.withheld == {"A", "B"}  # the rule pass still protects them
    local = protect(counts=counts, relations=relations, k=5, max_lp_cells=3)
    assert not local.unaudited and local.withheld == {"A", "B"}


def test_local_lps_catch_what_the_rule_pass_misses_in_large_components() -> None:
    # The three relations of test_lp_pass_widens_ranges_the_rule_pass_leaves_narrow, audited
    # as if the component were too large for the exact LP.
    counts = {"T1": 6, "T2": 6, "T3": 8, "x": 2, "y": 4, "z": 4}
    relations = [("T1", ["x", "y"]), ("T2", ["x", "z"]), ("T3", ["y", "z"])]
    result = decide_suppression(counts=counts, relations=relations, k=5, max_lp_cells=0)
    assert is_protected(counts=counts, relations=relations, suppressed=result, k=5)


@PROPERTY
@given(org=organisations())
def test_local_lps_protect_every_cell_of_a_large_component(org: Organisation) -> None:
    result = _decide(org, max_lp_cells=0, sensitive_only=True)
    assert_learnt_nothing(org, result)
    assert is_protected(
        counts=org.counts, relations=org.relations, suppressed=result, k=org.k, sensitive_only=True
    )


def test_narrow_cells_and_derivable_cells_name_what_a_pattern_exposes() -> None:
    counts = {"P": 20, "A": 2, "B": 8, "C": 10}
    relations = [("P", ["A", "B", "C"])]
    assert narrow_cells(counts=counts, relations=relations, suppressed={"A"}, k=5) == ["A"]
    assert derivable_cells(counts=counts, relations=relations, suppressed={"A"}) == {"A": 2}
    # A and B withheld: their sum (10) is known, each ranges over [0, 10].
    assert narrow_cells(counts=counts, relations=relations, suppressed={"A", "B"}, k=5) == []
    assert derivable_cells(counts=counts, relations=relations, suppressed={"A", "B"}) == {}


def test_sensitive_only_audits_small_cells_and_leaves_large_complements_alone() -> None:
    # A (2 people) hides among A + L + M = 82; L = Q - N = 40 is known exactly, but knowing
    # the size of a group of 40 identifies nobody.
    counts = {"P": 82, "A": 2, "L": 40, "M": 40, "Q": 45, "N": 5}
    relations = [("P", ["A", "L", "M"]), ("Q", ["L", "N"])]
    pattern = {"A", "L", "M"}
    audit = {"counts": counts, "relations": relations, "suppressed": pattern, "k": 5}
    assert not is_protected(**audit)
    assert is_protected(**audit, sensitive_only=True)
    assert narrow_cells(**audit) == ["L"]
    assert narrow_cells(**audit, sensitive_only=True) == []


@PROPERTY
@given(org=organisations())
def test_sensitive_only_protects_every_small_cell(org: Organisation) -> None:
    result = _decide(org, sensitive_only=True)
    assert {key for key, n in org.counts.items() if 0 < n < org.k} <= result
    assert_learnt_nothing(org, result)
    narrow = narrow_cells(
        counts=org.counts, relations=org.relations, suppressed=result, k=org.k, sensitive_only=True
    )
    assert narrow == []
    learnt = derivable_cells(counts=org.counts, relations=org.relations, suppressed=result)
    assert learnt == {}


@settings(PROPERTY, max_examples=6)
@given(org=organisations())
def test_the_kept_highs_model_and_linprog_give_the_same_ranges(org: Organisation) -> None:
    import reports.anonymity_engine as engine

    result = _decide(org)
    fast = audit_suppression(counts=org.counts, relations=org.relations, suppressed=result)
    engine.USE_HIGHS_DIRECT, saved = False, engine.USE_HIGHS_DIRECT
    try:
        slow = audit_suppression(counts=org.counts, relations=org.relations, suppressed=result)
        again = _decide(org)
    finally:
        engine.USE_HIGHS_DIRECT = saved
    # Both back ends protect every small cell; where the LP has several optima they may pick
    # different complements, so the patterns need not be identical.
    assert_learnt_nothing(org, again)
    assert is_protected(counts=org.counts, relations=org.relations, suppressed=again, k=org.k)
    assert fast.keys() == slow.keys()
    for key, interval in fast.items():
        assert interval.low == pytest.approx(slow[key].low, abs=1e-6)
        assert interval.high == pytest.approx(slow[key].high, abs=1e-6)


# --------------------------------------------------------------------------------------------
# Comments
# --------------------------------------------------------------------------------------------

ROSTER = ["Anna de Vries", "Jean-Luc Picard", "Bo Li", "Mohammed Al-Farsi"]


@pytest.mark.parametrize(
    "text",
    [
        "Mail me at anna.devries@example.com please",
        "or J.Picard+work@corp.co.uk.",
        "Call +44 20 7946 0958 any time",
        "Call +1 (555) 123-4567 any time",
        "Call +31 (0)6 1234 5678 any time",
        "Call 0044 20 7946 0958 any time",
        "Call (020) 7946 0958 any time",
        "Call 06-12345678 any time",
        "Call 555-123-4567 any time",
        "Call 555.123.4567 any time",
        "Call 0612345678 any time",
        "Call 06 12 34 56 78 any time",
        "Call 020-12-3456 any time",
    ],
)
def test_mask_comment_masks_contact_details(text: str) -> None:
    masked = mask_comment(text, names=[])
    assert "[email]" in masked or "[phone]" in masked
    assert not any(ch.isdigit() for ch in masked), masked
    assert "@" not in masked


def test_mask_comment_keeps_ordinary_numbers_years_and_dates() -> None:
    text = (
        "It happened 3 times in 2024, between 2023-2024 and on 12.03.2024 (2024-03-12); "
        "about 15 of 120 people, 1,000,000 euros, rated 4 5 3 4 5 4 4, at 10:30."
    )
    assert mask_comment(text, names=ROSTER) == text


def test_mask_comment_masks_roster_names_as_whole_words() -> None:
    text = "ANNA DE VRIES and anna spoke to Vries, Jean-Luc, Picard and Bo; Annabel did not."
    assert mask_comment(text, names=ROSTER) == (
        "[name] and [name] spoke to [name], [name], [name] and [name]; Annabel did not."
    )
    # Particles alone are ordinary words; a placeholder is never masked again.
    assert mask_comment("de facto, Luc's desk", names=ROSTER) == "de facto, [name]'s desk"
    assert mask_comment("Al-Farsi and Mohammed", names=ROSTER) == "[name] and [name]"
    assert mask_comment("name: Anna", names=["Name", "Anna"]) == "[name]: [name]"


def test_mask_comment_masks_everything_at_once() -> None:
    text = "Anna de Vries (anna@example.org, 06-12345678) shouted at Bo Li."
    assert mask_comment(text, names=ROSTER) == "[name] ([email], [phone]) shouted at [name]."


@pytest.mark.parametrize(
    "text",
    [
        "My manager harassed me",
        "There is a lot of Bullying here",
        "He threatened my career",
        "She was groped at the party",
        "he touched my arm repeatedly",
        "sexual comments in meetings",
        "I fear retaliation if I speak",
        "racist jokes and slurs",
        "constant intimidation",
        "I was humiliated in front of the team",
        "discriminated for my age",
        "sexist remarks",
        "abusive language",
        "he yelled at me",
    ],
)
def test_mentions_harassment_flags_behaviours(text: str) -> None:
    assert mentions_harassment(text)


@pytest.mark.parametrize(
    "text",
    [
        "Great team, I feel respected",
        "Let's keep in touch about the roadmap",
        "we should touch base more often",
        "the market is bullish",
        "the bullet points in the slides are unclear",
        "a therapist helped",
        "",
    ],
)
def test_mentions_harassment_ignores_ordinary_text(text: str) -> None:
    assert not mentions_harassment(text)


def test_shuffled_returns_a_new_permutation() -> None:
    items = list(range(50))
    result = shuffled(items)
    assert sorted(result) == items and result is not items
    assert items == list(range(50))
    assert shuffled(items, seed=7) == shuffled(items, seed=7)
    assert shuffled(items, seed=7) != items
    assert shuffled((), seed=1) == []
