"""The adversary (DESIGN anonymity point 4): random organisations are stored through the real
services and published; then everything HR and every leader can request (`summarize` for every
readable unit with every breakdown) is collected, and an adversary tries to recover any group of
1..k-1 people by adding and subtracting. It must never succeed.

The adversary works from the raw responses, independently of the suppression code: its unknowns
are the finest groups ("atoms": a unit's own people with one role band, tenure band and answer
to each demographic question), every published figure is one equation over the atoms it covers,
every group a breakdown lists is possibly non-empty and every group it does not list is known
to be empty. Then
1. for every true group of 1..k-1 people (every unit and every unit's own people, every
   breakdown, including groups never displayed such as a team's executives or those who
   skipped a question) it minimises and maximises the group's size with scipy's linprog: the
   range must be at least k wide;
2. for every pair of published groups where one contains the other (a unit and its child, a
   role band and a role x tenure cell, ...) the difference must be 0 or at least k.
"""

from __future__ import annotations

import io
import itertools
import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog
from scipy.sparse import csr_matrix

from reports.access import readable_units
from reports.aggregation import summarize
from reports.models import Publication
from surveys.models import Answer, Question, Response, Unit, Wave
from tests.reports.anonymity_data import (
    CARER_VALUES,
    GENDER_VALUES,
    Organisation,
    Person,
    Stored,
    hr_user,
    leader_of,
    organisations,
    rolled_back,
    store,
    store_wave,
)

pytestmark = pytest.mark.django_db

CODES = ("gender", "carer")
VALUES = {"gender": (0, *GENDER_VALUES), "carer": (0, *CARER_VALUES)}  # 0: skipped
BREAKDOWNS = [
    (),
    ("role_level",),
    ("tenure_band",),
    ("child_units",),
    *((code,) for code in CODES),
    ("role_level", "tenure_band"),
    *(("role_level", code) for code in CODES),
]
ADVERSARY = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# None: the default threshold for demographic breakdowns (10 x k); 0: offer them for every
# group of at least k, which gives the adversary far more demographic figures to work with.
DEMOGRAPHIC_MIN = st.sampled_from([None, 0])


# --- What anyone can request --------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """One group as `summarize` shows it: the unit whose subtree it covers, its attributes,
    and its count (None when suppressed)."""

    unit: int
    band: tuple[int, int] | None
    tenure: int | None
    answers: tuple[tuple[str, int], ...]
    n: int | None


@dataclass
class Requested:
    figures: set[Figure]
    # (unit, breakdown) -> the keys of the groups listed (suppressed or not)
    listed: dict[tuple[int, tuple[str, ...]], set[tuple]]


def request_everything(*, wave: Wave, units) -> Requested:
    """Every figure of every breakdown of the given units, as a reader gets them."""
    figures: set[Figure] = set()
    listed: dict[tuple[int, tuple[str, ...]], set[tuple]] = {}
    for unit in units:
        for by in BREAKDOWNS:
            summary = summarize(wave=wave, unit=unit, by=by)
            figures.add(Figure(unit.pk, None, None, (), summary.total.n))
            keys = set()
            for group in summary.groups:
                attrs = group.attrs
                band = None
                if "role_level" in attrs:
                    band = (attrs["role_level"]["lo"], attrs["role_level"]["hi"])
                answers = tuple((code, attrs[code]) for code in CODES if code in attrs)
                figure = Figure(
                    attrs.get("unit", unit.pk), band, attrs.get("tenure_band"), answers, group.n
                )
                figures.add(figure)
                keys.add(_breakdown_key(figure, by))
                if group.n is not None:
                    assert group.n >= wave.k, group  # the guard itself
            listed[(unit.pk, by)] = keys
    return Requested(figures=figures, listed=listed)


def _breakdown_key(figure: Figure, by: tuple[str, ...]) -> tuple:
    key = []
    for item in by:
        if item == "child_units":
            key.append(figure.unit)
        elif item == "role_level":
            key.append(figure.band)
        elif item == "tenure_band":
            key.append(figure.tenure)
        else:
            key.append(dict(figure.answers)[item])
    return tuple(key)


# --- The truth, from the raw responses ---------------------------------------------------------


Atom = tuple[int, tuple[int, int], int, int, int]  # direct unit, band, tenure, gender, carer


@dataclass
class Truth:
    atoms: dict[Atom, int]  # respondents per atom
    parent: dict[int, int | None]
    ancestors: dict[int, list[int]]  # unit -> itself and every unit above it

    def within(self, direct: int, unit: int) -> bool:
        return unit in self.ancestors[direct]


def truth(wave: Wave) -> Truth:
    codes = {
        q.pk: q.code.lower()
        for q in Question.objects.filter(instrument=wave.instrument, purpose="demographic")
    }
    answers: dict = defaultdict(dict)
    for response_id, question_id, value in Answer.objects.filter(
        response__wave=wave, question_id__in=codes
    ).values_list("response_id", "question_id", "value"):
        answers[response_id][codes[question_id]] = value
    atoms: dict[Atom, int] = defaultdict(int)
    for pk, unit, lo, hi, tenure in Response.objects.filter(wave=wave).values_list(
        "pk", "unit_id", "role_level__rank", "role_level_to__rank", "tenure_band__rank"
    ):
        given = answers.get(pk, {})
        atom = (unit, (lo, hi or lo), tenure or 0, given.get("gender", 0), given.get("carer", 0))
        atoms[atom] += 1
    parent = dict(Unit.objects.values_list("pk", "parent_id"))
    ancestors = {}
    for unit in parent:
        chain, step = [], unit
        while step is not None:
            chain.append(step)
            step = parent[step]
        ancestors[unit] = chain
    return Truth(atoms=dict(atoms), parent=parent, ancestors=ancestors)


def in_figure(atom: Atom, figure: Figure, world: Truth) -> bool:
    direct, band, tenure, gender, carer = atom
    if not world.within(direct, figure.unit):
        return False
    if figure.band is not None and band != figure.band:
        return False
    if figure.tenure is not None and tenure != figure.tenure:
        return False
    given = {"gender": gender, "carer": carer}
    return all(given[code] == value for code, value in figure.answers)


def possible_atoms(requested: Requested, world: Truth) -> list[Atom]:
    """Every atom the adversary cannot rule out: each of its groups is listed wherever a
    breakdown that covers it was requested."""
    bands = {f.band for f in requested.figures if f.band is not None}
    candidates = itertools.product(world.parent, bands, range(5), VALUES["gender"], VALUES["carer"])
    possible = []
    for atom in candidates:
        direct = atom[0]
        ok = True
        for (unit, by), keys in requested.listed.items():
            if not by or not world.within(direct, unit):
                continue
            if by == ("child_units",):
                if direct == unit:
                    continue
                child = next(u for u in world.ancestors[direct] if world.parent[u] == unit)
                key = (child,)
            else:
                figure = _atom_as_figure(atom, by)
                if any(value == 0 for _code, value in figure.answers):
                    continue  # those who skipped a question are in no group of it
                key = _breakdown_key(figure, by)
            if key not in keys:
                ok = False
                break
        if ok:
            possible.append(atom)
    assert set(world.atoms) <= set(possible)  # the adversary's knowledge is sound
    return possible


def _atom_as_figure(atom: Atom, by: tuple[str, ...]) -> Figure:
    direct, band, tenure, gender, carer = atom
    given = {"gender": gender, "carer": carer}
    return Figure(direct, band, tenure, tuple((c, given[c]) for c in CODES if c in by), None)


@dataclass(frozen=True)
class Group:
    """A true group of the data: a unit's subtree (or only its own people) and attributes."""

    unit: int
    direct: bool
    band: tuple[int, int] | None = None
    tenure: int | None = None
    answer: tuple[str, int] | None = None

    def holds(self, atom: Atom, world: Truth) -> bool:
        direct, band, tenure, gender, carer = atom
        if self.direct and direct != self.unit:
            return False
        if not world.within(direct, self.unit):
            return False
        if self.band is not None and band != self.band:
            return False
        if self.tenure is not None and tenure != self.tenure:
            return False
        if self.answer is not None:
            code, value = self.answer
            return {"gender": gender, "carer": carer}[code] == value
        return True


def every_group(world: Truth) -> list[Group]:
    """Every group any breakdown defines, at every unit and for every unit's own people:
    totals, role bands, tenure bands, role x tenure, each answer (or skip) of each demographic
    question, role x answer."""
    bands = sorted({atom[1] for atom in world.atoms})
    tenures = sorted({atom[2] for atom in world.atoms})
    answers = [(code, v) for code in CODES for v in VALUES[code]]
    groups = []
    for unit in world.parent:
        for direct in (False, True):
            groups.append(Group(unit, direct))
            groups += [Group(unit, direct, band=b) for b in bands]
            groups += [Group(unit, direct, tenure=t) for t in tenures]
            groups += [Group(unit, direct, band=b, tenure=t) for b in bands for t in tenures]
            groups += [Group(unit, direct, answer=a) for a in answers]
            groups += [Group(unit, direct, band=b, answer=a) for b in bands for a in answers]
    return groups


# --- The adversary ----------------------------------------------------------------------------


def assert_no_small_group_recoverable(requested: Requested, world: Truth, k: int) -> None:
    """(1) The linear-programming adversary."""
    atoms = possible_atoms(requested, world)
    column = {atom: i for i, atom in enumerate(atoms)}
    published = sorted({f for f in requested.figures if f.n is not None}, key=lambda f: repr(f))
    rows, columns, rhs = [], [], []
    for row, figure in enumerate(published):
        for atom in atoms:
            if in_figure(atom, figure, world):
                rows.append(row)
                columns.append(column[atom])
        rhs.append(figure.n)
    matrix = csr_matrix((np.ones(len(rows)), (rows, columns)), shape=(len(published), len(atoms)))
    b = np.array(rhs, dtype=float)
    x_true = np.array([world.atoms.get(atom, 0) for atom in atoms], dtype=float)
    assert np.allclose(matrix @ x_true, b)  # the published figures are the truth

    targets = []
    for group in every_group(world):
        members = [column[a] for a in atoms if group.holds(a, world)]
        true = sum(world.atoms.get(a, 0) for a in atoms if group.holds(a, world))
        if 0 < true < k:
            targets.append((group, np.array(members, dtype=int), true))
    if not targets:
        return

    def solve(objective: np.ndarray) -> np.ndarray | None:
        result = linprog(objective, A_eq=matrix, b_eq=b, bounds=(0, None), method="highs")
        if result.status == 3:
            return None  # unbounded
        assert result.status == 0, result.message
        return result.x

    # Feasible points pushing the open targets up together, then down together, settle most
    # targets with a few LPs; the rest get their own minimum and maximum.
    points = [x_true]
    remaining = targets
    while remaining:
        weights = np.zeros(len(atoms))
        for _group, members, _true in remaining:
            weights[members] += 1.0
        for sign in (-1.0, 1.0):
            x = solve(sign * weights)
            if x is not None:
                points.append(x)
        still = [t for t in remaining if _spread(points, t[1]) < k - 1e-6]
        if len(still) > 0.8 * len(remaining):
            break
        remaining = still
    for group, members, true in targets:
        if _spread(points, members) >= k - 1e-6:
            continue
        objective = np.zeros(len(atoms))
        objective[members] = 1.0
        low = solve(objective)
        high = solve(-objective)
        low_value = 0.0 if low is None else float(low[members].sum())
        high_value = math.inf if high is None else float(high[members].sum())
        assert high_value - low_value >= k - 1e-6, (
            f"{group} has {true} people and the published figures pin it to "
            f"[{low_value:g}, {high_value:g}] (k={k})"
        )


def _spread(points: list[np.ndarray], members: np.ndarray) -> float:
    seen = [float(point[members].sum()) for point in points]
    return max(seen) - min(seen)


def contains(outer: Figure, inner: Figure, world: Truth) -> bool:
    """Whether every member of `inner` is a member of `outer`, by definition."""
    if outer == inner or not world.within(inner.unit, outer.unit):
        return False
    if outer.band is not None and outer.band != inner.band:
        return False
    if outer.tenure is not None and outer.tenure != inner.tenure:
        return False
    return set(outer.answers) <= set(inner.answers)


def assert_no_small_difference(requested: Requested, world: Truth, k: int) -> None:
    """(2) Simple differencing between nested published groups."""
    published = [f for f in requested.figures if f.n is not None]
    for outer in published:
        for inner in published:
            if contains(outer, inner, world):
                difference = outer.n - inner.n
                assert difference == 0 or difference >= k, (outer, inner, difference)


def attack(wave: Wave, requested: Requested) -> None:
    world = truth(wave)
    assert_no_small_difference(requested, world, wave.k)
    assert_no_small_group_recoverable(requested, world, wave.k)


# --- The tests --------------------------------------------------------------------------------


@settings(ADVERSARY, max_examples=12)
@given(org=organisations(), demographic_min=DEMOGRAPHIC_MIN)
def test_adversary_with_every_figure_hr_can_request_recovers_no_small_group(
    org: Organisation, demographic_min: int | None
) -> None:
    with rolled_back(), override_settings(POWERCLIMATE_DEMOGRAPHIC_MIN=demographic_min):
        stored = store(org)
        hr = hr_user()
        wave = stored.waves[0]
        attack(wave, request_everything(wave=wave, units=readable_units(hr)))


@settings(ADVERSARY, max_examples=5)
@given(
    org=organisations(units=(3, 6), respondents=(15, 60)),
    second_k=st.integers(3, 7),
    demographic_min=DEMOGRAPHIC_MIN,
    data=st.data(),
)
def test_adversary_across_two_waves_recovers_no_small_group(
    org: Organisation, second_k: int, demographic_min: int | None, data: st.DataObject
) -> None:
    # The second wave: the same roster, a different subset answers, another k.
    answering = data.draw(
        st.lists(st.booleans(), min_size=len(org.people), max_size=len(org.people))
    )
    second = Organisation(
        parents=org.parents,
        people=[
            type(p)(p.unit, p.role, p.tenure, p.responds and keep, p.answers)
            for p, keep in zip(org.people, answering, strict=True)
        ],
        k=second_k,
    )
    with rolled_back(), override_settings(POWERCLIMATE_DEMOGRAPHIC_MIN=demographic_min):
        stored = store(org)
        store_wave(org=second, stored=stored)
        hr = hr_user()
        for wave in stored.waves:
            attack(wave, request_everything(wave=wave, units=readable_units(hr)))


@settings(ADVERSARY, max_examples=4)
@given(org=organisations(units=(3, 6), respondents=(15, 60)), demographic_min=DEMOGRAPHIC_MIN)
def test_adversary_with_the_figures_of_every_leader_together_recovers_no_small_group(
    org: Organisation, demographic_min: int | None
) -> None:
    with rolled_back(), override_settings(POWERCLIMATE_DEMOGRAPHIC_MIN=demographic_min):
        stored: Stored = store(org)
        wave = stored.waves[0]
        everything = request_everything(wave=wave, units=readable_units(hr_user()))
        union = Requested(figures=set(), listed={})
        for unit in stored.units:
            scope = list(readable_units(leader_of(unit)))
            assert {u.pk for u in scope} == {u.pk for u in Unit.objects.subtree(unit)}
            seen = request_everything(wave=wave, units=scope)
            # Figures do not depend on who asks: a leader sees exactly HR's figures of a unit.
            assert seen.listed == {key: everything.listed[key] for key in seen.listed}
            assert seen.figures <= everything.figures
            union.figures |= seen.figures
            union.listed.update(seen.listed)
        assert union.figures == everything.figures
        attack(wave, union)


# --- The audit command ------------------------------------------------------------------------


def _small_team_wave() -> tuple[Wave, list[Unit]]:
    """A root with a team of 4 respondents (out of a roster of 10) and a team of 12."""
    people = [Person(unit=1, role=1, tenure=2, responds=True, answers={"V2": 3})] * 4
    people += [Person(unit=1, role=1, tenure=2, responds=False)] * 6
    people += [Person(unit=2, role=1, tenure=2, responds=True, answers={"V2": 4})] * 12
    stored = store(Organisation(parents=[None, 0, 0], people=people, k=5))
    return stored.waves[0], stored.units


def test_audit_suppression_command_passes_on_a_published_wave():
    wave, units = _small_team_wave()
    out = io.StringIO()
    call_command("audit_suppression", str(wave.pk), stdout=out)
    text = out.getvalue()
    assert f"T|{units[1].pk}" in text  # the small team, with its range
    assert "n=4" in text
    assert text.rstrip().endswith("PASS")


def test_audit_suppression_command_fails_with_exit_code_1_when_a_small_group_is_exposed():
    wave, units = _small_team_wave()
    publication = Publication.objects.get(wave=wave)
    # Tamper with the pattern: show the large team too, so root - large team = the small team.
    publication.published_cells = sorted({*publication.published_cells, f"T|{units[2].pk}"})
    publication.save()
    out = io.StringIO()
    with pytest.raises(CommandError) as failure:
        call_command("audit_suppression", str(wave.pk), stdout=out)
    assert failure.value.returncode == 1
    assert "FAIL" in out.getvalue()
    assert "narrower than k" in out.getvalue()


def test_audit_suppression_command_refuses_an_unknown_wave():
    with pytest.raises(CommandError, match="No wave with id 999999"):
        call_command("audit_suppression", "999999")
