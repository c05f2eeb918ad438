"""Anonymity engine: secondary cell suppression for linked count tables, plus comment helpers.

Pure Python (numpy/scipy for the linear-programming audit); this module must never import
Django, so it can be tested, audited and reused on its own (DESIGN, "Anonymity model" 4 and 5).

Cell suppression
----------------
Every published figure belongs to a *cell* (a group of respondents) with a count. Cells are
linked by additive *relations* ``counts[total] == sum(counts[m] for m in members)``: a unit is
its children plus its own direct residual, a one-way breakdown sums to the unit total, a two-way
table sums to its one-way margins, a parent's breakdown is the sum of its children's, and so on.

:func:`decide_suppression` decides, once per published snapshot, which cells to withhold:

1. *Primary*: every cell with ``0 < count < k``. Zero cells may be published: nobody is in them.
   Hidden cells (never published, e.g. a unit's direct residual) are always withheld.
2. *Secondary, rule pass*: repeated over every relation until nothing changes. The *unknowns* of
   a relation are its withheld cells (total and members). A relation is safe when its non-zero
   unknowns are none, or at least two; and when the total is published, the withheld members
   (whose sum that relation then reveals exactly) must also add up to at least ``k`` people.
   Otherwise the smallest published non-zero member is withheld too (ties broken by ``repr``;
   an optional ``priority`` ranks before size), or the total if no such member is left or if
   its priority is lower than every such member's.
   Why this is sound against anyone who solves equations one unknown at a time: suppose such an
   adversary ever learns a withheld non-zero cell, and let ``x`` be the first one. It was learnt
   from a relation whose every other cell was known. That relation has ``x`` among its unknowns,
   so by the rule it has a second non-zero unknown ``y``, which must have been learnt earlier:
   a contradiction. (Zero cells may be learnt; they identify nobody and the argument never
   needs them, which is also why only *non-zero* unknowns count as protection.)
3. *Secondary, LP audit*: an adversary can also combine several equations and use that counts
   are never negative. For every withheld non-zero cell (with ``sensitive_only``: every cell of
   1..k-1 people, as tau-ARGUS's protection levels do) the engine minimises and maximises the
   cell subject to all relations, published cells fixed at their values and unknowns ``>= 0``
   (HiGHS, the solver of ``scipy.optimize.linprog``, with one model per component kept between
   solves). Where ``max - min < k`` it withholds one more cell and repeats (re-running the rule
   pass after every addition): by default the cheapest published cell whose value pins the
   range (a non-zero shadow price in the LP that reaches the bound), else the cheapest cell near
   the weak one (see :class:`Strategy`). Withholding more only widens these ranges, so cells
   that passed never need to be audited again, and the loop ends: at worst every non-zero cell
   of a component is withheld, and then every non-zero cell is unbounded above (any multiple of
   the true counts satisfies the now homogeneous equations).
   ``frozen`` cells (whose status an earlier decision fixed) are never chosen as complements;
   where only a frozen cell could help, both passes stop short and :func:`protect` names the
   cells left unprotected, so the caller can withhold more.

Components (cells linked through relations) larger than ``max_lp_cells`` are audited cell by
cell: one small LP over the cell's neighbourhood (cells within two relations), everything
further away fixed at its true count. That adversary knows more than any real one, so a range
wide there is wide, and the cost grows with the number of cells, not with the component's size
squared; a range narrow there is treated as narrow, which can withhold more than the exact
audit would. (With ``local_lp=False`` such components rely on the rule pass alone.)

Comments
--------
:func:`mask_comment` masks e-mail addresses, phone numbers and roster names,
:func:`mentions_harassment` flags comments for HR, :func:`shuffled` puts them in random order.
"""

from __future__ import annotations

import logging
import math
import operator
import random
import re
import secrets
import unicodedata
from collections import deque
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from scipy.optimize import linprog
from scipy.sparse import csr_matrix

try:
    # The HiGHS bindings scipy ships (scipy.optimize.linprog's own solver). Used directly, one
    # model per component is loaded once and re-solved with a new objective from the previous
    # basis (warm start), which is ~10x faster than a fresh `linprog` call per bound. A private
    # module, so anything unexpected falls back to `linprog` (same solver, same answers).
    from scipy.optimize._highspy import _core as _highs
except ImportError:  # pragma: no cover - depends on the scipy build
    _highs = None

__all__ = [
    "DEFAULT_STRATEGY",
    "STRATEGIES",
    "Decision",
    "Interval",
    "Key",
    "audit_suppression",
    "decide_suppression",
    "derivable_cells",
    "is_protected",
    "narrow_cells",
    "protect",
    "mask_comment",
    "mentions_harassment",
    "shuffled",
    "Strategy",
]

Key = Hashable
T = TypeVar("T")
_log = logging.getLogger(__name__)

# LP results are floating point; widths are compared with this slack.
_TOLERANCE = 1e-6
# Cells of large components are audited within this many relations of themselves.
_LOCAL_RADIUS = 2
# How many narrow cells the LP pass fixes before auditing again.
_LP_BATCH = 16


@dataclass(frozen=True)
class Interval:
    """The smallest and largest value that all published figures allow for one cell.

    ``high`` is ``math.inf`` when the published figures put no upper bound on the cell.
    """

    low: float
    high: float

    @property
    def width(self) -> float:
        """``high - low`` (``math.inf`` when unbounded)."""
        return self.high - self.low


@dataclass(frozen=True)
class Strategy:
    """How complementary suppressions are chosen (every strategy gives the same guarantees;
    they differ in which and how many cells they withhold).

    ``complements``: where the LP pass looks for a cell to withhold when a range is too
    narrow: ``"binding"``, the cheapest published cell whose value pins the range (a non-zero
    shadow price in the LP that reaches the bound); ``"binding_near"``, the same but
    preferring cells that share a relation with the narrow cell; ``"nearest"``, the cheapest
    cell sharing a relation with it, else further out. ``total_by_priority``: the rule pass
    may withhold a relation's total instead of a member when the total's priority is lower.
    """

    complements: str = "binding"
    total_by_priority: bool = True


DEFAULT_STRATEGY = Strategy()
#: Every strategy, for callers that try them all and keep the cheapest pattern.
STRATEGIES = tuple(
    Strategy(complements=c, total_by_priority=t)
    for c in ("binding", "binding_near", "nearest")
    for t in (True, False)
)


# --------------------------------------------------------------------------------------------
# Input checking and the shared, canonical view of the tables
# --------------------------------------------------------------------------------------------


def _csr(lists: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """(pointers, values) of a list of integer lists."""
    pointers = np.zeros(len(lists) + 1, dtype=np.int64)
    np.cumsum([len(values) for values in lists], out=pointers[1:])
    values = np.fromiter(
        (value for values in lists for value in values), dtype=np.int64, count=int(pointers[-1])
    )
    return pointers, values


def _positions(pointers: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The positions of these rows' values in a CSR list, in order, and the index (in
    ``rows``) of the row each one belongs to."""
    starts = pointers[rows]
    lengths = pointers[rows + 1] - starts
    owner = np.repeat(np.arange(len(rows)), lengths)
    offsets = np.cumsum(lengths) - lengths
    return starts[owner] + (np.arange(int(lengths.sum())) - offsets[owner]), owner


def _gather(pointers: np.ndarray, values: np.ndarray, rows: np.ndarray):
    """The values of these rows of a CSR list, concatenated in order, and the index (in
    ``rows``) of the row each one came from."""
    positions, owner = _positions(pointers, rows)
    return values[positions], owner


class _Arrays:
    """A `_Tables`' cells as integers (in the order of ``counts``) and its relations as CSR
    arrays, so that an LP system or a neighbourhood is gathered with numpy. Pure speed: the
    systems built from it are the ones the plain loops built, row for row and entry for
    entry."""

    def __init__(self, tables: _Tables) -> None:
        self.keys = list(tables.counts)
        self.ids = {key: index for index, key in enumerate(self.keys)}
        ids = self.ids
        self.counts = np.array([tables.counts[key] for key in self.keys], dtype=float)
        # Each relation's entries: the total (+1), then every member (-1), as listed.
        self.entry_pointers, self.entry_cells = _csr(
            [[ids[total], *(ids[m] for m in members)] for total, members in tables.relations]
        )
        self.entry_signs = np.full(len(self.entry_cells), -1.0)
        self.entry_signs[self.entry_pointers[:-1]] = 1.0
        # Distinct cells of each relation, and the relations of each cell (ascending).
        self.cell_pointers, self.cells = _csr(
            [[ids[key] for key in cells] for cells in tables.cells_of]
        )
        self.relation_pointers, self.relations = _csr(
            [tables.relations_of[key] for key in self.keys]
        )
        rank = np.empty(len(self.keys), dtype=np.int64)
        rank[sorted(range(len(self.keys)), key=lambda i: tables.order[self.keys[i]])] = np.arange(
            len(self.keys)
        )
        self.rank = rank


class _Tables:
    """Validated counts and relations in a canonical order, with the lookups the passes need.

    Relations are de-duplicated and sorted by the ``repr`` of their keys, so the result of the
    engine depends on the set of relations and the counts, not on the order they were given in.
    """

    def __init__(
        self,
        counts: Mapping[Key, int],
        relations: Iterable[tuple[Key, Sequence[Key]]],
        priority: Mapping[Key, int] | None = None,
        frozen: Iterable[Key] = (),
        strategy: Strategy = DEFAULT_STRATEGY,
    ) -> None:
        self.priority = priority or {}
        self.frozen = frozenset(frozen)
        self.strategy = strategy
        self.counts: dict[Key, int] = {}
        for key, value in counts.items():
            if isinstance(value, bool):
                raise TypeError(f"count of {key!r} must be an integer, not a bool")
            try:
                number = operator.index(value)
            except TypeError:
                raise TypeError(f"count of {key!r} must be an integer, got {value!r}") from None
            if number < 0:
                raise ValueError(f"count of {key!r} is negative: {number}")
            self.counts[key] = number
        self.order: dict[Key, str] = {key: repr(key) for key in self.counts}

        unique: dict[tuple[Key, tuple[Key, ...]], None] = {}
        for relation in relations:
            total, members = relation
            members = tuple(members)
            for key in (total, *members):
                if key not in self.counts:
                    raise ValueError(f"relation uses {key!r}, which has no count")
            if total in members:
                raise ValueError(f"relation for {total!r} lists it among its own members")
            found = sum(self.counts[m] for m in members)
            if found != self.counts[total]:
                raise ValueError(
                    f"inconsistent relation: {total!r} has {self.counts[total]} but its "
                    f"members add up to {found}"
                )
            ordered = tuple(sorted(members, key=self.order.__getitem__))
            unique[(total, ordered)] = None
        self.relations: list[tuple[Key, tuple[Key, ...]]] = sorted(
            unique, key=lambda rel: (self.order[rel[0]], [self.order[m] for m in rel[1]])
        )
        # Distinct cells of each relation, total first.
        self.cells_of: list[tuple[Key, ...]] = [
            tuple(dict.fromkeys((total, *members))) for total, members in self.relations
        ]
        self.relations_of: dict[Key, list[int]] = {key: [] for key in self.counts}
        for index, cells in enumerate(self.cells_of):
            for key in cells:
                self.relations_of[key].append(index)
        self._components: dict[Key, int] | None = None
        self._component_cells: list[list[Key]] = []
        self._arrays: _Arrays | None = None
        self._local: dict[Key, list[Key]] = {}

    def arrays(self) -> _Arrays:
        """The relations as integer arrays (built on first use), for the LP systems."""
        if self._arrays is None:
            self._arrays = _Arrays(self)
        return self._arrays

    def rank(self, key: Key) -> tuple[int, int, str]:
        """Sort key for "lowest priority, then smallest non-zero cell first, ties by repr"."""
        return (self.priority.get(key, 0), self.counts[key], self.order[key])

    def check_keys(self, keys: Iterable[Key], what: str) -> set[Key]:
        chosen = set(keys)
        unknown = [key for key in chosen if key not in self.counts]
        if unknown:
            raise ValueError(f"{what} cells without a count: {sorted(map(repr, unknown))}")
        return chosen

    # Connected components: cells sharing a relation are linked. An LP for one cell only needs
    # the relations of its own component; the others cannot constrain it.
    def component(self, key: Key) -> int:
        if self._components is None:
            self._build_components()
        assert self._components is not None
        return self._components[key]

    def component_cells(self, component: int) -> list[Key]:
        if self._components is None:
            self._build_components()
        return self._component_cells[component]

    def _build_components(self) -> None:
        parent: dict[Key, Key] = {key: key for key in self.counts}

        def find(key: Key) -> Key:
            while parent[key] != key:
                parent[key] = parent[parent[key]]
                key = parent[key]
            return key

        for cells in self.cells_of:
            root = find(cells[0])
            for key in cells[1:]:
                other = find(key)
                if other != root:
                    parent[other] = root
        ids: dict[Key, int] = {}
        self._components = {}
        for key in sorted(self.counts, key=self.order.__getitem__):
            root = find(key)
            if root not in ids:
                ids[root] = len(self._component_cells)
                self._component_cells.append([])
            self._components[key] = ids[root]
            self._component_cells[ids[root]].append(key)


# --------------------------------------------------------------------------------------------
# Rule pass
# --------------------------------------------------------------------------------------------


def _rule_holds(tables: _Tables, index: int, withheld: set[Key], k: int) -> bool:
    """Whether relation ``index`` obeys the rule (see `_rule_addition`)."""
    counts = tables.counts
    total = tables.relations[index][0]
    unknown = [key for key in tables.cells_of[index] if key in withheld and counts[key] > 0]
    if not unknown:
        return True
    if total in withheld:
        return len(unknown) >= 2
    return len(unknown) >= 2 and sum(counts[key] for key in unknown) >= k


def _rule_addition(tables: _Tables, index: int, withheld: set[Key], k: int) -> Key | None:
    """The cell to withhold next so relation ``index`` obeys the rule, or None if it does.

    The rule (see the module docstring for the proof): the non-zero unknowns of the equation
    ``total - sum(members) = 0`` are none or at least two, and if the total is published the
    withheld members add up to at least ``k``.
    - Total published: ``total - (published members)`` reveals the sum of the withheld members
      exactly, so each of them lies in ``[0, that sum]``; a sum below ``k`` would give every one
      of them a range narrower than ``k`` whatever else is withheld, and a single non-zero
      withheld member would simply be revealed.
    - Total withheld: the equation only reveals ``total - (withheld members)``, which equals the
      published members' sum and says nothing new about any group; the unknowns just need a
      second non-zero partner so the equation never has a single unknown to solve for.
    """
    if _rule_holds(tables, index, withheld, k):
        return None
    counts = tables.counts
    total, _ = tables.relations[index]
    cells = tables.cells_of[index]
    candidates = [
        key
        for key in cells[1:]
        if key not in withheld and counts[key] > 0 and key != total and key not in tables.frozen
    ]
    open_total = total not in withheld and total not in tables.frozen and counts[total] > 0
    if candidates:
        cheapest = min(candidates, key=tables.rank)
        # A published total whose priority is lower than every member's (tenure "not
        # recorded" at a unit whose role bands all sit in that column) is the cheaper
        # partner: withholding it also leaves the equation with two unknowns.
        if (
            tables.strategy.total_by_priority
            and open_total
            and tables.priority.get(total, 0) < tables.priority.get(cheapest, 0)
        ):
            return total
        return cheapest
    if open_total:
        # Every non-zero member is already withheld, so their sum is the (published, hence
        # >= k) total and the rule failed only because there is a single non-zero member,
        # equal to the total. Withholding the total gives it a partner.
        return total
    # Only reachable with frozen cells: a withheld non-zero total with no published non-zero
    # member has its non-zero members among the unknowns, so there were at least two.
    return None


def _rule_pass(
    tables: _Tables, withheld: set[Key], k: int, queue: Iterable[int] | None = None
) -> list[Key]:
    """Apply the rule until every relation obeys it; return the cells it added, in order.

    ``queue`` restricts the first sweep to those relations (the ones touched by new
    suppressions); every relation containing a newly withheld cell is re-checked.
    """
    pending = deque(range(len(tables.relations)) if queue is None else queue)
    queued = set(pending)
    added: list[Key] = []
    while pending:
        index = pending.popleft()
        queued.discard(index)
        while (cell := _rule_addition(tables, index, withheld, k)) is not None:
            withheld.add(cell)
            added.append(cell)
            for other in tables.relations_of[cell]:
                if other != index and other not in queued:
                    pending.append(other)
                    queued.add(other)
    return added


# --------------------------------------------------------------------------------------------
# Linear programs
# --------------------------------------------------------------------------------------------


USE_HIGHS_DIRECT = _highs is not None


def _linprog(objective: np.ndarray, matrix: csr_matrix, rhs: np.ndarray):
    """`linprog` (HiGHS) over ``matrix @ x == rhs, x >= 0``. The true counts always satisfy
    the system, so "infeasible" is a presolve mistake: then it is solved again without."""
    result = linprog(objective, A_eq=matrix, b_eq=rhs, bounds=(0, None), method="highs")
    if result.status == 2:
        result = linprog(
            objective, A_eq=matrix, b_eq=rhs, bounds=(0, None), method="highs",
            options={"presolve": False},
        )  # fmt: skip
    return result


def _load_highs(matrix: csr_matrix, rhs: np.ndarray):
    """A HiGHS model of ``matrix @ x == rhs, x >= 0`` with a zero objective, and the column
    indices for `changeColsCost`."""
    csc = matrix.tocsc()
    csc.sum_duplicates()
    rows, size = csc.shape
    lp = _highs.HighsLp()
    lp.num_col_ = size
    lp.num_row_ = rows
    lp.a_matrix_.num_col_ = size
    lp.a_matrix_.num_row_ = rows
    lp.a_matrix_.format_ = _highs.MatrixFormat.kColwise
    lp.a_matrix_.start_ = csc.indptr.astype(np.int32)
    lp.a_matrix_.index_ = csc.indices.astype(np.int32)
    lp.a_matrix_.value_ = csc.data.astype(float)
    lp.col_cost_ = np.zeros(size)
    lp.col_lower_ = np.zeros(size)
    lp.col_upper_ = np.full(size, _highs.kHighsInf)
    lp.row_lower_ = np.asarray(rhs, dtype=float)
    lp.row_upper_ = np.asarray(rhs, dtype=float)
    model = _highs._Highs()
    model.setOptionValue("output_flag", False)
    # Each solve changes only the objective, so the last optimal basis stays feasible and the
    # primal simplex continues from it (4-5x faster here than the default dual simplex).
    model.setOptionValue("simplex_strategy", 4)
    if model.passModel(lp) == _highs.HighsStatus.kError:
        raise RuntimeError("HiGHS refused the audit model")
    return model, np.arange(size, dtype=np.int32)


class _System:
    """The equations of one component (or neighbourhood) with its withheld cells as unknowns.

    ``A x = b`` with ``x >= 0``: one row per relation that has an unknown, published cells
    moved to the right-hand side. The sparse matrix is reused for every objective.
    """

    def __init__(self, tables: _Tables, cells: Sequence[Key], withheld: set[Key]) -> None:
        counts = tables.counts
        # Withheld cells outside `cells` are constants at their true counts: for a part of a
        # component (a neighbourhood), an adversary who knows more than anyone can.
        self.unknowns = [key for key in cells if key in withheld]
        self.column = {key: column for column, key in enumerate(self.unknowns)}
        self.values = np.array([counts[key] for key in self.unknowns], dtype=float)
        arrays = tables.arrays()
        unknown_ids = np.fromiter(
            (arrays.ids[key] for key in self.unknowns), dtype=np.int64, count=len(self.unknowns)
        )
        # One row per relation that has an unknown, in the order the unknowns (and each
        # unknown's relations, ascending) first mention it.
        mentioned, _ = _gather(arrays.relation_pointers, arrays.relations, unknown_ids)
        relations, first = np.unique(mentioned, return_index=True)
        row_relation = relations[np.argsort(first)]
        self.row_relation: list[int] = row_relation.tolist()  # row -> index of its relation
        positions, rows = _positions(arrays.entry_pointers, row_relation)
        cells = arrays.entry_cells[positions]
        signs = arrays.entry_signs[positions]
        # Column of each entry's cell, -1 for a published cell (a constant).
        order = np.argsort(unknown_ids)
        found = np.searchsorted(unknown_ids, cells, sorter=order)
        found = np.minimum(found, max(len(order) - 1, 0))
        columns = order[found] if len(order) else np.zeros(0, dtype=np.int64)
        inside = unknown_ids[columns] == cells if len(order) else np.zeros(0, dtype=bool)
        outside = ~inside
        size = len(self.unknowns)
        count = len(row_relation)
        self.matrix = (
            csr_matrix((signs[inside], (rows[inside], columns[inside])), shape=(count, size))
            if count
            else None
        )
        # Published cells move to the right-hand side (integers: exact in any order).
        self.rhs = 0.0 - np.bincount(
            rows[outside], weights=signs[outside] * arrays.counts[cells[outside]], minlength=count
        )
        self._single_equation_bounds()
        # Feasible points seen so far (the true counts are one): per unknown, the lowest and
        # highest value seen. The true range always contains [seen_low, seen_high].
        self.seen_low = self.values.copy()
        self.seen_high = self.values.copy()
        self._model = None  # the loaded HiGHS model, built on the first solve

    def _single_equation_bounds(self) -> None:
        """Valid (not always tight) bounds from one equation and ``x >= 0`` at a time.

        In a row ``sum(a_i x_i) = b``: if no other coefficient has the sign of ``a_j``, then
        ``x_j >= b / a_j``; if every other coefficient has the sign of ``a_j``, then
        ``x_j <= b / a_j``. A feasible point reaching such a bound proves it is the optimum,
        which lets :meth:`interval` skip most LPs.
        """
        size = len(self.unknowns)
        self.lower = np.zeros(size)
        self.upper = np.full(size, math.inf)
        if self.matrix is None:
            return
        matrix = self.matrix.tocsr()
        matrix.sum_duplicates()
        matrix.eliminate_zeros()
        rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
        columns, coefficients = matrix.indices, matrix.data
        positive = np.bincount(rows, weights=coefficients > 0, minlength=matrix.shape[0])
        negative = np.diff(matrix.indptr) - positive
        up = coefficients > 0
        same = np.where(up, positive[rows], negative[rows])
        opposite = np.where(up, negative[rows], positive[rows])
        bounds = self.rhs[rows] / coefficients
        lower_bound = same == 1
        np.maximum.at(self.lower, columns[lower_bound], bounds[lower_bound])
        upper_bound = opposite == 0
        np.minimum.at(self.upper, columns[upper_bound], bounds[upper_bound])

    def _solve(self, objective: np.ndarray) -> tuple[float, np.ndarray | None]:
        """Minimise ``objective @ x``; return (optimum, solution) or (-inf, None) if unbounded."""
        if self.matrix is None:
            if np.all(objective >= 0):
                return 0.0, np.zeros(len(self.unknowns))
            return -math.inf, None
        solved = self._solve_highs(objective) if USE_HIGHS_DIRECT else None
        if solved is None:
            result = _linprog(objective, self.matrix, self.rhs)
            if result.status == 3:
                return -math.inf, None
            if result.status != 0:
                raise RuntimeError(f"suppression audit LP failed: {result.message}")
            solved = (float(result.fun), result.x)
        optimum, x = solved
        if x is None:
            return -math.inf, None
        solution = np.maximum(x, 0.0)
        np.minimum(self.seen_low, solution, out=self.seen_low)
        np.maximum(self.seen_high, solution, out=self.seen_high)
        return optimum, solution

    def _solve_highs(self, objective: np.ndarray) -> tuple[float, np.ndarray | None] | None:
        """The same LP on a HiGHS model kept between calls (only the objective changes, and the
        previous optimal basis is the starting point). None when HiGHS did not reach a clear
        answer, so the caller asks `linprog` instead."""
        try:
            if self._model is None:
                self._model = _load_highs(self.matrix, self.rhs)
            model, columns = self._model
            model.changeColsCost(len(columns), columns, np.ascontiguousarray(objective, float))
            model.run()
            status = model.getModelStatus()
            if status == _highs.HighsModelStatus.kInfeasible:
                # The true counts always satisfy the system: HiGHS's presolve has been seen
                # to get this wrong. Solve again, and from now on, without it.
                model.setOptionValue("presolve", "off")
                model.clearSolver()
                model.run()
                status = model.getModelStatus()
            if status == _highs.HighsModelStatus.kOptimal:
                x = np.array(model.getSolution().col_value, dtype=float)
                return float(model.getInfo().objective_function_value), x
            # The true counts are always feasible, so "unbounded or infeasible" is unbounded.
            if status in (
                _highs.HighsModelStatus.kUnbounded,
                _highs.HighsModelStatus.kUnboundedOrInfeasible,
            ):
                return -math.inf, None
        except Exception:  # any trouble with the private bindings: ask linprog
            _log.warning("HiGHS model failed; falling back to linprog", exc_info=True)
        self._model = None
        return None

    def _duals(self, objective: np.ndarray) -> np.ndarray | None:
        """The shadow price of every row at the optimum of ``objective @ x`` (how much the
        optimum moves per unit of the row's constant), or None when unbounded."""
        if self.matrix is None:
            return None
        if USE_HIGHS_DIRECT and self._solve_highs(objective) is not None:
            model, _ = self._model
            if model.getModelStatus() == _highs.HighsModelStatus.kOptimal:
                return np.array(model.getSolution().row_dual, dtype=float)
            return None
        result = _linprog(objective, self.matrix, self.rhs)
        return np.asarray(result.eqlin.marginals, dtype=float) if result.status == 0 else None

    def binding(self, tables: _Tables, column: int) -> set[Key]:
        """The published cells that pin this withheld cell's range: those with a non-zero
        shadow price in the LP that maximises it (or minimises it, unless its minimum is
        already zero). Withholding one of them lets that bound move."""
        found: set[Key] = set()
        sides = [-1.0] if self.minimum(column) <= _TOLERANCE else [-1.0, 1.0]
        for sign in sides:
            duals = self._duals(self._unit(column, sign))
            if duals is None:
                continue
            effect: dict[Key, float] = {}
            for row in np.flatnonzero(np.abs(duals) > 1e-9):
                total, members = tables.relations[self.row_relation[row]]
                for cell, coefficient in [(total, 1.0), *((m, -1.0) for m in members)]:
                    if cell not in self.column:
                        effect[cell] = effect.get(cell, 0.0) + duals[row] * coefficient
            found.update(cell for cell, value in effect.items() if abs(value) > 1e-9)
        return found

    def _unit(self, column: int, sign: float) -> np.ndarray:
        objective = np.zeros(len(self.unknowns))
        objective[column] = sign
        return objective

    def maximum(self, column: int) -> float:
        if self.seen_high[column] >= self.upper[column] - _TOLERANCE:
            return float(self.upper[column])  # a feasible point reaches a valid upper bound
        optimum, _ = self._solve(self._unit(column, -1.0))
        return math.inf if optimum == -math.inf else max(round(-optimum, 9), 0.0)

    def minimum(self, column: int) -> float:
        if self.seen_low[column] <= self.lower[column] + _TOLERANCE:
            return float(self.lower[column])  # a feasible point reaches a valid lower bound
        optimum, _ = self._solve(self._unit(column, 1.0))
        return max(round(optimum, 9), 0.0)

    def _seen_wide(self, column: int, k: int) -> bool:
        return bool(self.seen_high[column] - self.seen_low[column] >= k - _TOLERANCE)

    def explore(self, columns: Sequence[int], k: int) -> None:
        """Collect cheap feasible points by pushing all not-yet-certified targets up together,
        then down together, while that certifies many cells at once (two LPs a round instead
        of up to two per cell). Points ``k`` apart prove a range at least ``k`` wide."""
        remaining = [column for column in columns if not self._seen_wide(column, k)]
        while len(remaining) > 2:
            weights = np.zeros(len(self.unknowns))
            weights[remaining] = 1.0
            self._solve(-weights)
            self._solve(weights)
            still = [column for column in remaining if not self._seen_wide(column, k)]
            if len(still) > 0.8 * len(remaining):
                break  # diminishing returns: audit the rest one by one
            remaining = still

    def explore_bounds(self) -> None:
        """Collect feasible points that reach many cells' single-equation bounds at once, by
        pushing every cell whose bound is not yet reached up (or down) together, while that
        settles many cells per LP."""
        for sign, open_cells in (
            (-1.0, lambda: np.flatnonzero(self.seen_high < self.upper - _TOLERANCE)),
            (1.0, lambda: np.flatnonzero(self.seen_low > self.lower + _TOLERANCE)),
        ):
            remaining = open_cells()
            while len(remaining) > 2:
                weights = np.zeros(len(self.unknowns))
                weights[remaining] = sign
                optimum, _ = self._solve(weights)
                still = open_cells()
                if optimum == -math.inf or len(still) > 0.8 * len(remaining):
                    break
                remaining = still

    def interval(self, column: int) -> Interval:
        return Interval(low=self.minimum(column), high=self.maximum(column))

    def wide_enough(self, column: int, k: int) -> bool:
        """Whether the cell's feasible range is at least ``k`` wide, solving as few LPs as
        possible: any feasible points already ``k`` apart prove it."""
        if self._seen_wide(column, k):
            return True
        high = self.maximum(column)
        if high - self.seen_low[column] >= k - _TOLERANCE:
            return True
        return high - self.minimum(column) >= k - _TOLERANCE


def _narrow_cells(
    tables: _Tables,
    withheld: set[Key],
    cells: Iterable[Key],
    k: int,
    limit: int | None = None,
    exact_cells: int | None = None,
) -> tuple[list[Key], list[Key]]:
    """Audit the given withheld cells; return (narrow, unaudited).

    ``narrow``: cells whose feasible range is narrower than ``k``. The audit stops once
    ``limit`` narrow cells are found; the cells not yet audited are returned as ``unaudited``
    (every other given cell was proven wide enough). In components with more than
    ``exact_cells`` cells each cell is audited in its neighbourhood only, everything further
    away fixed at its true count (`_local_cells`): a range found wide there is wide for any
    adversary, a narrow one counts as narrow (conservative).
    """
    by_component: dict[int, list[Key]] = {}
    for key in cells:
        by_component.setdefault(tables.component(key), []).append(key)
    narrow: list[Key] = []
    unaudited: list[Key] = []
    for component in sorted(by_component):
        keys = sorted(by_component[component], key=tables.order.__getitem__)
        if limit is not None and len(narrow) >= limit:
            unaudited.extend(keys)
            continue
        if exact_cells is not None and len(tables.component_cells(component)) > exact_cells:
            # One neighbourhood serves every open cell inside it: any part of the system, with
            # the rest fixed, is a conservative audit. A cell not settled there gets its own.
            remaining = dict.fromkeys(keys)
            # The first remaining key in order (`next(iter(remaining))` walks over every
            # deleted slot of the dict each time: quadratic in the number of keys).
            ahead = iter(keys)
            while remaining:
                if limit is not None and len(narrow) >= limit:
                    unaudited.extend(remaining)
                    break
                key = next(key for key in ahead if key in remaining)
                system = _System(tables, _local_cells(tables, key), withheld)
                del remaining[key]
                if system.matrix is None:
                    continue
                inside = [c for c in system.unknowns if c in remaining]
                system.explore([system.column[c] for c in [key, *inside]], k)
                for cell in inside:
                    if system._seen_wide(system.column[cell], k):
                        del remaining[cell]
                if not system.wide_enough(system.column[key], k):
                    narrow.append(key)
            continue
        system = _System(tables, tables.component_cells(component), withheld)
        if system.matrix is None:
            continue  # no equation mentions these cells: unbounded
        columns = [system.column[key] for key in keys]
        system.explore(columns, k)
        for position, (key, column) in enumerate(zip(keys, columns, strict=True)):
            if limit is not None and len(narrow) >= limit:
                unaudited.extend(keys[position:])
                break
            if not system.wide_enough(column, k):
                narrow.append(key)
    return narrow, unaudited


def _local_cells(tables: _Tables, key: Key) -> list[Key]:
    """The cells within _LOCAL_RADIUS relations of ``key`` (the cell itself included), in
    ``repr`` order; kept per key (a neighbourhood does not depend on what is withheld)."""
    found = tables._local.get(key)
    if found is not None:
        return found
    arrays = tables.arrays()
    seen = np.zeros(len(arrays.keys), dtype=bool)
    frontier = np.array([arrays.ids[key]], dtype=np.int64)
    seen[frontier] = True
    for _ in range(_LOCAL_RADIUS):
        relations, _owner = _gather(arrays.relation_pointers, arrays.relations, frontier)
        cells, _owner = _gather(arrays.cell_pointers, arrays.cells, np.unique(relations))
        cells = np.unique(cells)
        frontier = cells[~seen[cells]]
        seen[frontier] = True
    ids = np.flatnonzero(seen)
    found = [arrays.keys[i] for i in ids[np.argsort(arrays.rank[ids])]]
    tables._local[key] = found
    return found


def _binding_addition(
    tables: _Tables, withheld: set[Key], weak: Key, local: bool = False
) -> Key | None:
    """The cheapest (lowest priority, then smallest) published, non-frozen cell whose value
    pins ``weak``'s range (a non-zero shadow price), or None if there is none. With `local`,
    in ``weak``'s neighbourhood (as `_narrow_cells` audits large components)."""
    cells = _local_cells(tables, weak) if local else tables.component_cells(tables.component(weak))
    system = _System(tables, cells, withheld)
    if system.matrix is None:
        return None
    candidates = [
        cell
        for cell in system.binding(tables, system.column[weak])
        if cell not in tables.frozen and cell not in withheld
    ]
    if tables.strategy.complements == "binding_near":
        near = {c for i in tables.relations_of[weak] for c in tables.cells_of[i]}
        close = [c for c in candidates if c in near]
        if close:
            return min(close, key=tables.rank)
    return min(candidates, key=tables.rank) if candidates else None


def _lp_addition(tables: _Tables, withheld: set[Key], weak: Key) -> Key | None:
    """The next cell to withhold to widen ``weak``'s range, by proximity: the smallest (lowest
    priority first) published, non-frozen, non-zero cell sharing a relation with it, else the
    nearest such cells further out in its component."""
    counts = tables.counts
    visited = {weak}
    frontier = [weak]
    while frontier:
        candidates: set[Key] = set()
        following: list[Key] = []
        for key in frontier:
            for index in tables.relations_of[key]:
                for cell in tables.cells_of[index]:
                    if cell in visited:
                        continue
                    visited.add(cell)
                    following.append(cell)
                    if cell not in withheld and counts[cell] > 0 and cell not in tables.frozen:
                        candidates.add(cell)
        if candidates:
            return min(candidates, key=tables.rank)
        frontier = following
    return None


# --------------------------------------------------------------------------------------------
# Public API: suppression
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    """What :func:`protect` decided.

    ``withheld``: the cells to withhold. ``unprotected``: withheld non-zero cells the engine
    could not protect because only a frozen cell could have helped (always empty without
    ``frozen``): the caller must withhold more itself. ``unaudited``: audited cells whose
    component was larger than ``max_lp_cells``, so only the rule pass protects them.
    """

    withheld: frozenset[Key]
    unprotected: frozenset[Key]
    unaudited: frozenset[Key]


def decide_suppression(
    *,
    counts: Mapping[Key, int],
    relations: Iterable[tuple[Key, Sequence[Key]]],
    k: int,
    hidden: Iterable[Key] = (),
    max_lp_cells: int = 4000,
    priority: Mapping[Key, int] | None = None,
    frozen: Iterable[Key] = (),
    sensitive_only: bool = False,
    strategy: Strategy = DEFAULT_STRATEGY,
    local_lp: bool = True,
) -> frozenset[Key]:
    """Decide which cells of one published snapshot must be withheld: ``protect(...).withheld``.

    Args:
        counts: respondent count (an integer >= 0) per cell.
        relations: ``(total, members)`` pairs meaning ``counts[total] == sum of
            counts[m]``; every key must be in ``counts`` and every relation must hold.
        k: minimum group size (>= 1).
        hidden: cells that are never published (e.g. a unit's direct residual).
        max_lp_cells: connected components (cells linked through relations) up to this
            many cells get the exact LP audit. Larger ones are audited cell by cell in each
            cell's neighbourhood, with everything further away fixed at its true count
            (sound, as that adversary knows more than anyone; it may withhold more than the
            exact audit would), or, with ``local_lp=False``, rely on the rule pass alone.
        priority: optional cost of withholding each cell (default 0). Complementary
            suppressions pick the lowest-priority candidate first, then the smallest, so
            totals that matter more (a whole unit) are withheld only when nothing else helps.
        frozen: cells whose status was decided elsewhere: they are never chosen as
            complementary suppressions (a frozen cell with ``0 < count < k`` is still
            withheld; keys without a count are ignored). With frozen cells the guarantees
            below can fail where only a frozen cell could have helped: :func:`protect` says
            which cells, and callers withhold more themselves.
        sensitive_only: the LP audit protects only the *sensitive* cells (``0 < count < k``),
            as tau-ARGUS's protection levels do, instead of every withheld non-zero cell. A
            withheld group of at least ``k`` people whose size can be narrowed down identifies
            nobody; this withholds fewer cells and solves fewer LPs.

    Returns:
        The withheld cells: every hidden cell, every cell with ``0 < count < k``, and the
        complementary (secondary) suppressions. Zero cells are only withheld if hidden.

    Guarantees:
        - Every relation has either no withheld non-zero cell or at least two, and when its
          total is published its withheld members add up to at least ``k``; hence nobody who
          solves published equations one unknown at a time can learn a withheld non-zero cell.
        - Unless ``local_lp`` is off and its component is larger than ``max_lp_cells``,
          every withheld non-zero
          cell (every sensitive cell with ``sensitive_only``) can take values at least ``k``
          apart given all published figures, all relations and non-negativity (``is_protected``
          holds; the LP relaxation, not integers).
        - Deterministic: the result depends only on the counts, the set of relations, ``k``,
          ``hidden``, ``priority`` and ``frozen`` (ties are broken by ``repr`` of the keys,
          which should be distinct), not on the order they are given in.

    Raises:
        ValueError: unknown keys, negative counts, ``k < 1`` or an inconsistent relation.
        TypeError: a count that is not an integer.
    """
    return protect(
        counts=counts,
        relations=relations,
        k=k,
        hidden=hidden,
        max_lp_cells=max_lp_cells,
        priority=priority,
        frozen=frozen,
        sensitive_only=sensitive_only,
        strategy=strategy,
        local_lp=local_lp,
    ).withheld


def protect(
    *,
    counts: Mapping[Key, int],
    relations: Iterable[tuple[Key, Sequence[Key]]],
    k: int,
    hidden: Iterable[Key] = (),
    max_lp_cells: int = 4000,
    priority: Mapping[Key, int] | None = None,
    frozen: Iterable[Key] = (),
    sensitive_only: bool = False,
    strategy: Strategy = DEFAULT_STRATEGY,
    local_lp: bool = True,
) -> Decision:
    """:func:`decide_suppression`, also saying which cells it could not protect (only
    possible with ``frozen`` cells) and which it could not audit (components over
    ``max_lp_cells`` with ``local_lp=False``). Same arguments, guarantees and errors;
    ``strategy`` chooses how complements are picked (see :class:`Strategy`)."""
    _check_k(k)
    tables = _Tables(counts, relations, priority, frozen, strategy)
    withheld = tables.check_keys(hidden, "hidden")
    withheld.update(key for key, value in tables.counts.items() if 0 < value < k)
    _rule_pass(tables, withheld, k)

    def audited(key: Key) -> bool:
        # By default every withheld non-zero cell is audited, complements included (DESIGN
        # point 4's audit checks every suppressed cell); `sensitive_only` audits the 1..k-1
        # cells, as tau-ARGUS's protection levels do.
        count = tables.counts[key]
        return count > 0 and (count < k or not sensitive_only) and bool(tables.relations_of[key])

    def exact(key: Key) -> bool:
        return len(tables.component_cells(tables.component(key))) <= max_lp_cells

    def small_enough(key: Key) -> bool:
        return local_lp or exact(key)

    unaudited = frozenset(key for key in withheld if audited(key) and not small_enough(key))
    pending = [key for key in withheld if audited(key) and small_enough(key)]
    stuck: list[Key] = []
    while pending:
        # Fix a few narrow cells at a time: each addition widens other ranges too, so this
        # withholds less (and solves fewer LPs) than fixing every narrow cell found at once.
        narrow, unchecked = _narrow_cells(
            tables, withheld, pending, k, _LP_BATCH, exact_cells=max_lp_cells
        )
        if not narrow:
            break
        added: list[Key] = []
        touched: set[int] = set()
        for weak in narrow:
            # One addition per relation per round: it may already widen the other weak cells.
            if touched.intersection(tables.relations_of[weak]):
                continue
            if tables.strategy.complements == "nearest":
                cell = _lp_addition(tables, withheld, weak)
            else:
                cell = _binding_addition(
                    tables, withheld, weak, local=not exact(weak)
                ) or _lp_addition(tables, withheld, weak)
            if cell is None:
                continue
            withheld.add(cell)
            added.append(cell)
            touched.update(tables.relations_of[weak])
            touched.update(tables.relations_of[cell])
        if not added:
            # Only frozen cells could help (see the module docstring): say which cells.
            stuck, _ = _narrow_cells(
                tables, withheld, [*narrow, *unchecked], k, exact_cells=max_lp_cells
            )
            break
        queue = dict.fromkeys(index for cell in added for index in tables.relations_of[cell])
        added += _rule_pass(tables, withheld, k, queue)
        # Ranges only widen as more is withheld: cells already wide enough stay so.
        pending = list(
            dict.fromkeys(
                [*narrow, *unchecked, *(key for key in added if audited(key) and small_enough(key))]
            )
        )
    unprotected = set(stuck)
    if tables.frozen:
        # Where the LP audited a component, it has the last word on the sensitive cells, so
        # with `sensitive_only` a larger group left solvable by a frozen figure is no concern.
        def exposed(key: Key) -> bool:
            count = tables.counts[key]
            return count > 0 and (count < k or not sensitive_only or not small_enough(key))

        for index in range(len(tables.relations)):
            if not _rule_holds(tables, index, withheld, k):
                cells = tables.cells_of[index]
                unprotected.update(c for c in cells if c in withheld and exposed(c))
    return Decision(
        withheld=frozenset(withheld),
        unprotected=frozenset(unprotected),
        unaudited=unaudited,
    )


def _audited(tables: _Tables, withheld: set[Key], k: int, sensitive_only: bool) -> list[Key]:
    """The withheld cells an audit must check: non-zero ones in some relation (below ``k``
    too with ``sensitive_only``)."""
    return [
        key
        for key in withheld
        if tables.counts[key] > 0
        and (tables.counts[key] < k or not sensitive_only)
        and tables.relations_of[key]
    ]


def _check_k(k: int) -> None:
    if isinstance(k, bool) or operator.index(k) < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")


def audit_suppression(
    *,
    counts: Mapping[Key, int],
    relations: Iterable[tuple[Key, Sequence[Key]]],
    suppressed: Iterable[Key],
    cells: Iterable[Key] | None = None,
) -> dict[Key, Interval]:
    """For each withheld cell, the smallest and largest value all published figures allow.

    Published cells (those not in ``suppressed``) are fixed at their counts, withheld cells are
    real numbers ``>= 0``, and every relation must hold; each bound is one HiGHS LP restricted
    to the cell's connected component. ``Interval.high`` is ``math.inf`` when unbounded.

    Returns:
        ``{cell: Interval}`` for every cell in ``suppressed`` (zero cells included), or only
        for the withheld cells among ``cells`` when given.
    """
    tables = _Tables(counts, relations)
    withheld = tables.check_keys(suppressed, "suppressed")
    wanted = withheld if cells is None else withheld & tables.check_keys(cells, "audited")
    result: dict[Key, Interval] = {}
    by_component: dict[int, list[Key]] = {}
    for key in wanted:
        by_component.setdefault(tables.component(key), []).append(key)
    for component in sorted(by_component):
        system = _System(tables, tables.component_cells(component), withheld)
        system.explore_bounds()
        for key in sorted(by_component[component], key=tables.order.__getitem__):
            result[key] = system.interval(system.column[key])
    return result


def narrow_cells(
    *,
    counts: Mapping[Key, int],
    relations: Iterable[tuple[Key, Sequence[Key]]],
    suppressed: Iterable[Key],
    k: int,
    sensitive_only: bool = False,
    max_lp_cells: int | None = None,
    local_lp: bool = True,
) -> list[Key]:
    """The withheld non-zero cells (only those with ``count < k`` with ``sensitive_only``)
    whose feasible range, as in :func:`audit_suppression`, is narrower than ``k``; sorted.

    Components with more than ``max_lp_cells`` cells (when given) are audited in each cell's
    neighbourhood, as :func:`decide_suppression` does (a cell narrow there is reported), or
    not at all with ``local_lp=False``."""
    _check_k(k)
    tables = _Tables(counts, relations)
    withheld = tables.check_keys(suppressed, "suppressed")
    cells = [
        key
        for key in _audited(tables, withheld, k, sensitive_only)
        if local_lp
        or max_lp_cells is None
        or len(tables.component_cells(tables.component(key))) <= max_lp_cells
    ]
    narrow, _ = _narrow_cells(tables, withheld, cells, k, exact_cells=max_lp_cells)
    return sorted(narrow, key=tables.order.__getitem__)


def is_protected(
    *,
    counts: Mapping[Key, int],
    relations: Iterable[tuple[Key, Sequence[Key]]],
    suppressed: Iterable[Key],
    k: int,
    sensitive_only: bool = False,
) -> bool:
    """Whether every withheld cell with a count above zero (below ``k`` too, with
    ``sensitive_only``) has a feasible range (as in :func:`audit_suppression`) at least ``k``
    wide.

    It does not check that small cells are withheld; it audits the given pattern only.
    """
    tables = _Tables(counts, relations)
    withheld = tables.check_keys(suppressed, "suppressed")
    cells = _audited(tables, withheld, k, sensitive_only)
    narrow, _ = _narrow_cells(tables, withheld, cells, k, limit=1)
    return not narrow


def derivable_cells(
    *,
    counts: Mapping[Key, int],
    relations: Iterable[tuple[Key, Sequence[Key]]],
    suppressed: Iterable[Key],
) -> dict[Key, int]:
    """The withheld non-zero cells that someone solving the published equations one unknown
    at a time learns exactly, with their counts (empty when the rule holds everywhere).

    The adversary repeatedly solves a relation with a single unknown cell, and sets every
    unknown member of a relation to 0 when its known total is already reached."""
    tables = _Tables(counts, relations)
    withheld = tables.check_keys(suppressed, "suppressed")
    known = {key for key in tables.counts if key not in withheld}
    unknown_in = [{key for key in cells if key not in known} for cells in tables.cells_of]
    pending = deque(range(len(tables.relations)))
    learnt: dict[Key, int] = {}

    def learn(key: Key) -> None:
        known.add(key)
        learnt[key] = tables.counts[key]
        for other in tables.relations_of[key]:
            unknown_in[other].discard(key)
            pending.append(other)

    while pending:
        index = pending.popleft()
        unknown = unknown_in[index]
        if not unknown:
            continue
        total, members = tables.relations[index]
        if len(unknown) == 1:
            learn(next(iter(unknown)))
        elif total not in unknown:
            rest = tables.counts[total] - sum(tables.counts[m] for m in members if m in known)
            if rest == 0:
                for key in list(unknown):
                    learn(key)
    return {key: value for key, value in learnt.items() if value > 0}


# --------------------------------------------------------------------------------------------
# Comments
# --------------------------------------------------------------------------------------------

_EMAIL = r"[\w.%+'-]+@[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}"

# A run of at least 7 digits, optionally led by "+" or "(", whose digit groups are separated by
# at most 3 of space, dot, dash, slash and parentheses: "+44 20 7946 0958", "+31 (0)6-1234
# 5678", "(020) 794-6095", "555.123.4567", "0612345678". Never glued to a letter or digit.
_PHONE = r"(?<![\w+])(?:\+\s?|\(\+?)?\d(?:[ \u00a0.\-/()]{0,3}\d){6,}"

# Dates (12.03.2024, 1/3/24, 2024-03-12) and year ranges (2023-2024, 2019 2020) look like
# phone numbers but are kept, unless more digits follow (then the whole run is masked).
_DATE = (
    r"\d{1,2}(?P<s1>[./-])\d{1,2}(?P=s1)(?:\d{4}|\d{2})"
    r"|\d{4}(?P<s2>[./-])\d{1,2}(?P=s2)\d{1,2}"
    r"|(?:19|20)\d\d\s*[-/\u2013]?\s*(?:19|20)\d\d"
)
_KEEP = rf"(?<![\w+(.\-/])(?:{_DATE})(?![\w(]|\s?[.\-/)]?\s?\d)"
_NOT_A_PHONE = re.compile(_DATE)

# Name particles are masked inside a full name but not on their own ("de", "van", ...).
_PARTICLES = frozenset(
    {
        "al",
        "bin",
        "da",
        "das",
        "de",
        "del",
        "della",
        "den",
        "der",
        "di",
        "do",
        "dos",
        "du",
        "el",
        "la",
        "le",
        "st",
        "ten",
        "ter",
        "van",
        "von",
        "y",
    }
)


def _phone_or_original(match: str) -> str:
    digits = re.sub(r"\D", "", match)
    if len(digits) > 16:
        return match  # longer than any phone number, even with "(0)"
    if _NOT_A_PHONE.fullmatch(match.strip(" ()+")):
        return match
    if max(len(group) for group in re.findall(r"\d+", match)) == 1:
        return match  # "4 5 3 4 5 4 4": single digits, a list of scores
    return "[phone]"


def _name_pattern(names: Iterable[str]) -> str | None:
    terms: set[str] = set()
    for raw in names:
        name = unicodedata.normalize("NFC", str(raw)).strip()
        if not name:
            continue
        words = name.split()
        if len(words) > 1:
            terms.add(r"\s+".join(re.escape(word) for word in words))
        for word in words:
            for part in {word, *word.split("-")}:
                part = part.strip(".'")
                if len(part) >= 2 and part.casefold() not in _PARTICLES:
                    terms.add(re.escape(part))
    if not terms:
        return None
    # Longest first so "Anna de Vries" wins over "Anna".
    alternatives = "|".join(sorted(terms, key=lambda term: (-len(term), term)))
    return rf"(?<!\w)(?:{alternatives})(?!\w)"


def mask_comment(text: str, *, names: Iterable[str]) -> str:
    """Return ``text`` with personal details replaced by placeholders.

    - e-mail addresses become ``[email]``;
    - phone numbers (7 to 16 digits, international or local, with spaces, dots, dashes,
      slashes or parentheses) become ``[phone]``; ordinary numbers ("3 times"), years
      ("2024"), year ranges ("2023-2024") and dates ("12.03.2024") are kept;
    - roster names become ``[name]``: each full name and each first name or surname on its own,
      whole words only, case-insensitive ("Anna de Vries", "anna", "VRIES"). Particles such as
      "de" or "van" and one-letter parts are masked only inside a full name.

    One left-to-right pass, so a placeholder is never masked again. The text is normalised to
    Unicode NFC so composed and decomposed accents match alike.
    """
    text = unicodedata.normalize("NFC", text)
    parts = [rf"(?P<email>{_EMAIL})", rf"(?P<keep>{_KEEP})", rf"(?P<phone>{_PHONE})"]
    name_pattern = _name_pattern(names)
    if name_pattern:
        parts.append(rf"(?P<name>{name_pattern})")
    pattern = re.compile("|".join(parts), re.IGNORECASE)

    def replace(match: re.Match[str]) -> str:
        if match.group("email") is not None:
            return "[email]"
        if match.group("keep") is not None:
            return match.group()
        if match.group("phone") is not None:
            return _phone_or_original(match.group())
        return "[name]"

    return pattern.sub(replace, text)


# Behaviour words, matched as whole words by their stems. "touch" excludes the idioms
# "in touch", "touch base" and "touch on/upon".
_HARASSMENT = re.compile(
    r"""
    (?<!\w)(?:
        harass\w* | bull(?:y|ies|ied|ying) | mobbing | threat\w* | intimidat\w*
      | grop(?:e|ed|es|ing) | (?<!in\s)touch\w*(?!\w)(?!\s+(?:base|on|upon)\b)
      | sexual\w* | sexis\w* | assault\w* | rap(?:e|ed|es|ist|ists) | molest\w*
      | stalk(?:s|ed|ing|er|ers)? | abus\w* | humiliat\w* | belittl\w* | demean\w*
      | degrad(?:e|ed|es|ing) | retaliat\w* | reprisal\w* | victimi[sz]\w* | discriminat\w*
      | racis\w* | slurs? | homophob\w* | transphob\w* | misogyn\w* | coerc\w*
      | blackmail\w* | unwanted | inappropriate(?:ly)? | predator\w*
      | yell(?:s|ed|ing)? | scream(?:s|ed|ing)? | shout(?:s|ed|ing)?\s+at
    )(?!\w)
    """,
    re.IGNORECASE | re.VERBOSE,
)


def mentions_harassment(text: str) -> bool:
    """Whether the comment mentions harassment or related behaviour (keyword screen for HR).

    A deliberately broad, English, whole-word list: harassment, bullying, threats,
    intimidation, groping and touching, sexual remarks, assault, abuse, humiliation,
    retaliation, discrimination, racism, sexism, slurs and similar. Flags only; it reveals
    nothing beyond the comment itself.
    """
    return _HARASSMENT.search(unicodedata.normalize("NFC", text)) is not None


def shuffled(items: Iterable[T], *, seed: int | None = None) -> list[T]:
    """Return the items as a new list in random order.

    Without ``seed`` the order comes from ``secrets.SystemRandom`` (unpredictable, so the
    display order reveals nothing about submission order); a seed gives a reproducible order
    for tests. The input is not modified.
    """
    result = list(items)
    generator = random.Random(seed) if seed is not None else secrets.SystemRandom()
    generator.shuffle(result)
    return result
