"""The anonymity guard (DESIGN point 4): the one function every figure passes before it leaves
the reports app, and the linked tables whose suppression pattern is decided at publication.

Cells are named by short strings so that the pattern stored with a publication can be read by
every request without recomputation:

    T|u                 all respondents of unit u's subtree
    R|u|lo-hi           one role-level band (lo == hi unless merged by coarsening)
    N|u|t               one tenure band (0: not recorded)
    RN|u|lo-hi|t        role level x tenure
    D|u|q|v             answer v to demographic question q
    RD|u|lo-hi|q|v      role level x demographic answer
    *~dir               a unit's own residual (its subtree minus its children)
    D~skip|u|q, RD~skip|u|lo-hi|q   people who skipped demographic q
Residuals are never shown but can be computed by subtraction, so they are ordinary cells.

How the pattern is decided (`decide_pattern`)
---------------------------------------------
1. Structural cells (T, R, N, RN and their residuals) with the suppression engine
   (`anonymity_engine.protect`): every group under k, complementary suppressions until every
   relation obeys the rule and every small group's LP range is at least k wide. Complements
   are chosen by cost: residuals (never shown) first, then two-way cells, one-way breakdowns,
   role bands and unit totals last; cells holding exactly the same people share the highest
   cost of the set. The engine runs with each of its strategies and the pattern showing the
   most (weighted by that cost) is kept.
2. Each demographic question on its own, with the structural cells frozen as decided, so a
   demographic breakdown never costs a unit, role or tenure figure. A question's breakdowns are
   offered only for groups with at least `demographic_min` respondents (a unit for one-way
   breakdowns, a published role band of it for role x demographic): small teams would only
   produce cells under k and drag their parents' figures into complementary suppression.
   Where the small groups of a question cannot be protected without touching a structural
   figure, the question is withheld for those units only, then (if that is not enough) for the
   wave.
3. A joint audit of everything published together (all questions share the withheld
   structural cells, so two questions that are each safe could narrow a range together); if it
   fails, the questions are decided again one after the other, each seeing the ones before.

Scale: the cost follows the number of cells (units x groups), never the number of responses.
Connected components of linked cells (every unit is linked to its parent, so an organisation
is one component) up to `max_lp_cells` cells get the exact LP audit: 5 s for 4,600 cells of
which 3,800 are small, 90 s for 18,000 cells of which 15,500 are small (made-up organisations
of teams of 3 to 7 people), 161 s for a 10,000-response wave of the benchmark's 2,049 units
(4 s of it the structural cells), more than 8 minutes for a 100,000-response one. In larger
components, within stages of at most LOCAL_LP_CELLS cells (only when a caller passes a smaller
`max_lp_cells`: with the defaults a component over MAX_LP_CELLS is always a larger stage),
each small group is audited by a small LP over its neighbourhood with everything further away
fixed at its true count: sound, as that adversary knows more than any real one, but in linked
tables the fixed ring around a neighbourhood pins almost every cell inside it, so that audit
withholds nearly everything (with MAX_LP_CELLS at 4,000 it withheld every figure of a
10,000-response wave of 2,049 units, the organisation's total included, where the exact
audit publishes 4,600 cells). Beyond that the rule pass alone protects the figures: it still
defeats anyone solving the published equations one unknown at a time.
`audit_pattern` (and the `audit_suppression` command) audits a published snapshot exactly,
with no size limit, offline.
"""

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from django.utils.translation import gettext as _

from reports.anonymity_engine import (
    STRATEGIES,
    audit_suppression,
    decide_suppression,
    derivable_cells,
    narrow_cells,
    protect,
)

ROLE, TENURE = "role_level", "tenure_band"

# Demographic breakdowns are offered for groups of at least this many times k respondents
# (unless the caller passes demographic_min).
DEMOGRAPHIC_MIN_FACTOR = 10
# Structural tables up to this many cells are decided with every engine strategy (the best
# pattern is kept); larger ones with the default strategy only.
STRATEGY_TRIAL_CELLS = 2000
# Connected components up to this many cells get the exact LP audit; larger ones a local,
# conservative one per cell (see anonymity_engine), which withholds far more (module docstring).
MAX_LP_CELLS = 200_000
# Tables with more cells than this (thousands of units) rely on the rule pass alone: even the
# local audits would take minutes there.
LOCAL_LP_CELLS = 50000


def band(lo: int, hi: int) -> str:
    return f"{lo}-{hi}"


@dataclass(frozen=True)
class GroupRow:
    """One base row of the summary tables: respondents of a unit's subtree in one group."""

    unit: int
    role: str  # band "lo-hi"
    tenure: int
    demo_question: int
    demo_value: int
    respondents: int


def cell_counts(rows: Iterable[GroupRow]) -> dict[str, int]:
    """Every publishable cell of a wave with its respondent count, from the base rows."""
    counts: dict[str, int] = defaultdict(int)
    for row in rows:
        u, r, n = row.unit, row.role, row.respondents
        if row.demo_question == 0:
            counts[f"T|{u}"] += n
            counts[f"R|{u}|{r}"] += n
            counts[f"N|{u}|{row.tenure}"] += n
            counts[f"RN|{u}|{r}|{row.tenure}"] += n
        else:
            q, v = row.demo_question, row.demo_value
            counts[f"D|{u}|{q}|{v}"] += n
            counts[f"RD|{u}|{r}|{q}|{v}"] += n
    return dict(counts)


def _split(cell: str) -> tuple[str, str, str]:
    """(kind, unit, rest) of a cell name."""
    kind, unit, *rest = cell.split("|")
    return kind, unit, "|".join(rest)


def cell_unit(cell: str) -> int:
    """The unit a cell belongs to."""
    return int(cell.split("|", 2)[1].removesuffix("~dir"))


@dataclass
class LinkedTables:
    counts: dict[str, int]
    relations: list[tuple[str, list[str]]] = field(default_factory=list)
    # residual cell -> index of the relation it completes
    defined_by: dict[str, int] = field(default_factory=dict)

    def relate(
        self, total: str, members: list[str], residual: str | None = None, zero: bool = False
    ) -> None:
        """total = sum(members) (+ a residual cell holding whatever the members miss).

        A residual (a unit's own people outside its children, the people who skipped a
        demographic question) is never shown, but anyone can compute it by subtraction, so it
        is an ordinary cell: protected like any group when it holds fewer than k people, and
        harmless when it holds more. An empty residual is left out (known to be zero) unless
        `zero`: nobody can tell that no one skipped a question when the answers are hidden."""
        members = [m for m in members if m in self.counts]
        missing = self.counts.get(total, 0) - sum(self.counts[m] for m in members)
        if missing < 0:
            raise ValueError(f"inconsistent summary rows: {total} is smaller than its members")
        if total not in self.counts:
            return
        if residual is not None and (missing or zero):
            self.counts[residual] = missing
            self.defined_by[residual] = len(self.relations)
            members.append(residual)
        if members:
            self.relations.append((total, members))


def _unit_relations(tables: LinkedTables, unit: str, cells: list[str], questions: list[str]):
    """The relations inside one unit: one-way breakdowns sum to the total, two-way tables to
    their margins, a demographic question's answers plus the people who skipped it (a residual
    cell) to the total, for every question of the wave."""
    roles = sorted({_split(c)[2] for c in cells if c.startswith("R|")})
    tenures = sorted({_split(c)[2] for c in cells if c.startswith("N|")})
    values: dict[str, set[str]] = defaultdict(set)
    for cell in cells:
        if cell.startswith("D|"):
            q, v = _split(cell)[2].split("|")
            values[q].add(v)
    relate, u = tables.relate, unit
    relate(f"T|{u}", [f"R|{u}|{r}" for r in roles])
    relate(f"T|{u}", [f"N|{u}|{t}" for t in tenures])
    for r in roles:
        relate(f"R|{u}|{r}", [f"RN|{u}|{r}|{t}" for t in tenures])
    for t in tenures:
        relate(f"N|{u}|{t}", [f"RN|{u}|{r}|{t}" for r in roles])
    for q in questions:
        answers = sorted(values.get(q, ()))
        relate(f"T|{u}", [f"D|{u}|{q}|{v}" for v in answers], f"D~skip|{u}|{q}", zero=True)
        for r in roles:
            members = [f"RD|{u}|{r}|{q}|{v}" for v in answers]
            relate(f"R|{u}|{r}", members, f"RD~skip|{u}|{r}|{q}", zero=True)
        for v in answers:
            relate(f"D|{u}|{q}|{v}", [f"RD|{u}|{r}|{q}|{v}" for r in roles])


def linked_tables(*, rows: Iterable[GroupRow], parents: Mapping[int, int | None]) -> LinkedTables:
    """Build every additive relation between the cells of one wave: within a unit (a one-way
    breakdown sums to the total, a two-way table to its margins, answers and skips of a
    demographic question to the total) and across the tree (a unit's cell, skips included, is
    the sum of the same cell in its children plus the unit's own residual).

    Every cell and residual is a variable at least zero, so the relations imply everything the
    counts do (in particular that each unit's own people who skipped a question are at least
    zero, which needs the skips' tree relations). The relations between a unit's residuals
    (its own people by role, by tenure, ...) follow from these by linear combination, so the LP
    audit knows them; they are deliberately not listed, because the rule pass would then treat
    a unit's own people (say 7 executives, already withheld as a role band) as one more group
    to hide and withhold a whole division to keep it company."""
    counts = cell_counts(rows)
    tables = LinkedTables(counts=dict(counts))
    by_unit: dict[str, list[str]] = defaultdict(list)
    for cell in counts:
        by_unit[_split(cell)[1]].append(cell)
    questions = sorted({_split(c)[2].split("|")[0] for c in counts if c.startswith("D|")}, key=int)
    for unit, cells in by_unit.items():
        _unit_relations(tables, unit, cells, questions)
    children: dict[int, list[int]] = defaultdict(list)
    for unit, parent in parents.items():
        if parent is not None:
            children[parent].append(unit)
    with_skips: dict[str, list[str]] = defaultdict(list)
    for cell in tables.counts:
        with_skips[_split(cell)[1]].append(cell)
    for unit, kids in children.items():
        for cell in with_skips.get(str(unit), []):
            kind, _, rest = _split(cell)
            suffix = f"|{rest}" if rest else ""
            members = [f"{kind}|{kid}{suffix}" for kid in sorted(kids)]
            demographic = _demographic_question(cell) is not None
            tables.relate(cell, members, f"{cell}~dir", zero=demographic)
    return tables


# Which cells to give up first when a small group needs company (lowest first): residuals,
# which are never shown; then two-way cells, one-way breakdowns, role levels, a unit's total.
PRIORITY = {"RN": 1, "RD": 1, "N": 2, "D": 2, "R": 3, "T": 4}


def cell_priority(cell: str) -> int:
    return 0 if "~" in cell else PRIORITY.get(cell.split("|", 1)[0], 0)


def identical_priority(tables: LinkedTables) -> dict[str, int]:
    """`cell_priority`, raised to the highest priority among the cells that hold exactly the
    same people (linked by one-member relations: a role band whose people all have no tenure
    recorded is its own "not recorded" column; a unit's only executives are its own people).
    Withholding one of them withholds them all."""
    parent = {cell: cell for cell in tables.counts}

    def find(cell: str) -> str:
        while parent[cell] != cell:
            parent[cell] = parent[parent[cell]]
            cell = parent[cell]
        return cell

    for total, members in tables.relations:
        if len(members) == 1:
            parent[find(members[0])] = find(total)
    highest: dict[str, int] = defaultdict(int)
    for cell in tables.counts:
        root = find(cell)
        highest[root] = max(highest[root], cell_priority(cell))
    return {cell: highest[find(cell)] for cell in tables.counts}


def _demographic_question(cell: str) -> str | None:
    """The demographic question a cell belongs to, or None for a structural cell."""
    name = cell.removesuffix("~dir")
    if name.startswith(("D~skip|", "RD~skip|")):
        return name.rsplit("|", 1)[1]
    parts = name.split("|")
    if parts[0] == "D":
        return parts[2]
    if parts[0] == "RD":
        return parts[3]
    return None


def demographic_threshold(*, k: int, demographic_min: int | None = None) -> int:
    """The respondents a group needs before its demographic breakdowns are offered."""
    if demographic_min is None:
        demographic_min = DEMOGRAPHIC_MIN_FACTOR * k
    return max(demographic_min, k)


@dataclass
class _Decider:
    """The state of one `decide_pattern` run."""

    tables: LinkedTables
    k: int
    threshold: int
    max_lp_cells: int
    priority: dict[str, int] = field(init=False)
    family: dict[str | None, set[str]] = field(init=False)
    relations_of_family: dict[str | None, list[tuple[str, list[str]]]] = field(init=False)

    def __post_init__(self) -> None:
        self.priority = identical_priority(self.tables)
        self.family = defaultdict(set)
        for cell in self.tables.counts:
            self.family[_demographic_question(cell)].add(cell)
        self.relations_of_family = defaultdict(list)
        for total, members in self.tables.relations:
            questions = {_demographic_question(c) for c in (total, *members)} - {None}
            if len(questions) > 1:  # never built by linked_tables
                raise ValueError(f"relation of {total} mixes demographic questions")
            self.relations_of_family[next(iter(questions), None)].append((total, members))

    @property
    def questions(self) -> list[str]:
        return sorted((q for q in self.family if q is not None), key=int)

    def structural(self) -> set[str]:
        """The withheld structural cells: the engine runs with each of its strategies (up to
        STRATEGY_TRIAL_CELLS cells) and the pattern that shows the most, weighted by priority
        (a unit total counts four times a role x tenure cell), wins."""
        cells = self.family[None]
        counts = {c: self.tables.counts[c] for c in cells}
        best: tuple[int, set[str]] | None = None
        for strategy in STRATEGIES if len(cells) <= STRATEGY_TRIAL_CELLS else STRATEGIES[:1]:
            withheld = protect(
                counts=counts,
                relations=self.relations_of_family[None],
                k=self.k,
                max_lp_cells=self.max_lp_cells,
                priority=self.priority,
                sensitive_only=True,
                strategy=strategy,
                local_lp=len(counts) <= LOCAL_LP_CELLS,
            ).withheld
            shown = sum(cell_priority(c) for c in cells if c not in withheld and "~" not in c)
            if best is None or shown > best[0]:
                best = (shown, set(withheld))
        return best[1]

    def offered(self, question: str, published: set[str]) -> set[str]:
        """The question's cells that may be shown at all: breakdowns of a published unit
        total (D) or of a published role band of such a unit (RD) with at least `threshold`
        respondents."""
        counts = self.tables.counts

        def big(cell: str) -> bool:
            return cell in published and counts[cell] >= self.threshold

        cells = set()
        for cell in self.family[question]:
            if "~" in cell:
                continue
            kind, unit, rest = _split(cell)
            if not big(f"T|{unit}"):
                continue
            if kind == "D" or big(f"R|{unit}|{rest.split('|')[0]}"):
                cells.add(cell)
        return cells

    def hidden_residuals(self, cells: set[str], hidden: set[str]) -> set[str]:
        """Residuals nobody can compute: their defining relation has a hidden cell."""
        relations = self.tables.relations
        residuals = {c for c in cells if "~" in c}
        found: set[str] = set()
        changed = True
        while changed:
            changed = False
            for residual in residuals - found:
                total, members = relations[self.tables.defined_by[residual]]
                if any(c in hidden or c in found for c in (total, *members) if c != residual):
                    found.add(residual)
                    changed = True
        return found

    def question(
        self,
        question: str,
        withheld: set[str],
        context: set[str] = frozenset(),
    ) -> set[str]:
        """The cells of one demographic question to withhold, given the withheld structural
        cells (and the cells of the questions in `context`, already decided: those shown are
        frozen, the others hidden)."""
        counts = self.tables.counts
        cells = self.family[question]
        scope = self.family[None] | cells | set(context)
        relations = [
            *self.relations_of_family[None],
            *self.relations_of_family[question],
            *(
                rel
                for q in {_demographic_question(c) for c in context}
                for rel in self.relations_of_family[q]
            ),
        ]
        fixed = scope - cells
        published = self.family[None] - withheld
        offered = self.offered(question, published)
        blocked: set[int] = set()
        for _attempt in range(3):
            shown = {c for c in offered if cell_unit(c) not in blocked}
            hidden = (withheld & fixed) | {c for c in cells if "~" not in c and c not in shown}
            hidden |= self.hidden_residuals(cells, hidden)
            decision = protect(
                counts={c: counts[c] for c in scope},
                relations=relations,
                k=self.k,
                hidden=hidden,
                frozen=fixed - withheld,
                max_lp_cells=self.max_lp_cells,
                priority=self.priority,
                sensitive_only=True,
                local_lp=len(scope) <= LOCAL_LP_CELLS,
            )
            if not decision.unprotected:
                return set(decision.withheld & cells)
            units = {cell_unit(c) for c in decision.unprotected}
            if units <= blocked:
                break
            # Withhold the question where it fails (and, at the second try, around there).
            blocked |= units
        return set(cells)

    def joint_narrow(self, withheld: set[str]) -> list[str]:
        return narrow_cells(
            counts=self.tables.counts,
            relations=self.tables.relations,
            suppressed=withheld,
            k=self.k,
            sensitive_only=True,
            max_lp_cells=self.max_lp_cells,
            local_lp=len(self.tables.counts) <= LOCAL_LP_CELLS,
        )


def decide_pattern(
    *,
    rows: Iterable[GroupRow],
    parents: Mapping[int, int | None],
    k: int,
    demographic_min: int | None = None,
    max_lp_cells: int = MAX_LP_CELLS,
) -> list[str]:
    """The cells that may be published in one snapshot of a wave, sorted (default deny: a cell
    not in this list is never shown).

    Structural figures (units, role levels, tenure) are decided first; then each demographic
    question with the structural figures frozen, offered only for groups of at least
    `demographic_min` respondents (default DEMOGRAPHIC_MIN_FACTOR x k) and withheld where its
    small groups cannot be protected (see the module docstring).

    Guarantees, for the published cells together with every relation between cells: every
    group of 1..k-1 respondents (shown or not) has a feasible range (LP relaxation, counts
    >= 0) at least k wide (exactly audited up to `max_lp_cells` linked cells, conservatively
    beyond); and every relation obeys the engine's rule, so no withheld group can be solved
    for one unknown at a time, except that a demographic cell of k or more people may be,
    where only a frozen structural figure could prevent it (it identifies nobody)."""
    tables = linked_tables(rows=rows, parents=parents)
    decider = _Decider(
        tables=tables,
        k=k,
        threshold=demographic_threshold(k=k, demographic_min=demographic_min),
        max_lp_cells=max_lp_cells,
    )
    structural = decider.structural()
    withheld = set(structural)
    for question in decider.questions:
        withheld |= decider.question(question, structural)
    if decider.questions and decider.joint_narrow(withheld):
        # Together the questions narrow some range: decide them again one after the other,
        # each seeing the ones decided before it.
        withheld = set(structural)
        context: set[str] = set()
        for question in decider.questions:
            withheld |= decider.question(question, withheld, context)
            context |= decider.family[question]
    return sorted(c for c in tables.counts if c not in withheld and "~" not in c)


@dataclass(frozen=True)
class CellRange:
    """What all published figures allow for one small group: its size lies in [low, high]."""

    cell: str
    n: int
    low: float
    high: float

    @property
    def width(self) -> float:
        return self.high - self.low


@dataclass(frozen=True)
class PatternAudit:
    """The audit of one published snapshot (`audit_pattern`)."""

    k: int
    published: int
    withheld: int
    ranges: list[CellRange]  # every group of 1..k-1 people, narrowest range first
    derivable: list[str]  # small groups someone solving one equation at a time recovers

    @property
    def passed(self) -> bool:
        return not self.derivable and all(r.width >= self.k - 1e-6 for r in self.ranges)


def audit_pattern(
    *,
    rows: Iterable[GroupRow],
    parents: Mapping[int, int | None],
    k: int,
    published: Iterable[str],
) -> PatternAudit:
    """Check a published snapshot as an adversary would: every cell not in `published` is
    unknown (residuals included), every relation between cells holds and counts are at least
    zero. For every group of 1..k-1 people (shown or not) the smallest and largest size the
    published figures allow (one LP each way, HiGHS) must be at least k apart, and no such
    group may be the only unknown of an equation chain."""
    tables = linked_tables(rows=rows, parents=parents)
    counts = tables.counts
    shown = {c for c in published if c in counts}
    withheld = set(counts) - shown
    sensitive = sorted(c for c, n in counts.items() if 0 < n < k)
    intervals = audit_suppression(
        counts=counts,
        relations=tables.relations,
        suppressed=withheld,
        cells=[c for c in sensitive if c in withheld],
    )
    ranges = []
    for cell in sensitive:
        if cell in intervals:
            low, high = intervals[cell].low, intervals[cell].high
        else:  # published: everyone can read it
            low = high = counts[cell]
        ranges.append(CellRange(cell=cell, n=counts[cell], low=low, high=high))
    ranges.sort(key=lambda r: (r.width, r.cell))
    learnt = derivable_cells(counts=counts, relations=tables.relations, suppressed=withheld)
    return PatternAudit(
        k=k,
        published=len(shown),
        withheld=len(withheld),
        ranges=ranges,
        derivable=sorted(c for c in learnt if counts[c] < k),
    )


def decide_comment_units(
    *, totals: Mapping[int, int], parents: Mapping[int, int | None], k_comments: int
) -> list[int]:
    """Units whose comments may be shown: at least k_comments respondents, and never a set of
    units whose difference with its parent isolates fewer than k_comments people."""
    tables = LinkedTables(counts={f"T|{u}": n for u, n in totals.items()})
    children: dict[int, list[int]] = defaultdict(list)
    for unit, parent in parents.items():
        if parent is not None and unit in totals:
            children[parent].append(unit)
    for unit, kids in children.items():
        if unit in totals:
            tables.relate(f"T|{unit}", [f"T|{kid}" for kid in sorted(kids)], f"T|{unit}~dir")
    withheld = decide_suppression(counts=tables.counts, relations=tables.relations, k=k_comments)
    return sorted(u for u, n in totals.items() if n >= k_comments and f"T|{u}" not in withheld)


# --- The guard --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Guarded:
    """A figure that has passed the guard. Only `guard` creates these; everything that
    renders, exports or serialises figures accepts nothing else.

    A suppressed figure carries `note`, the same words whatever the reason (a group under k,
    or a larger group held back so that a smaller one cannot be worked out): telling the two
    apart would tell a reader which hidden groups are small."""

    cell: str
    n: int | None
    suppressed: bool
    measures: object | None
    note: str = ""


class Unguarded(TypeError):
    """Raised when something tries to publish a figure that did not pass the guard."""


def suppressed_note(*, k: int) -> str:
    """What a suppressed figure says instead of a number."""
    return _(
        "fewer than %(k)s responses, or held back so that a smaller group cannot be worked out"
    ) % {"k": k}


def guard(*, cell: str, n: int, measures: object, k: int, published: frozenset[str]) -> Guarded:
    """The one gate for every number leaving the reports app (page, chart, export, API).

    Returns the figure unchanged when its cell is in the publication's list of publishable
    cells (decided with complementary suppression) and has at least k respondents; otherwise
    a suppressed figure with no count and no measures, and a note saying why. Unknown cells
    are suppressed (default deny)."""
    if not shown(cell=cell, n=n, k=k, published=published):
        return Guarded(cell=cell, n=None, suppressed=True, measures=None, note=suppressed_note(k=k))
    return Guarded(cell=cell, n=n, suppressed=False, measures=measures)


def shown(*, cell: str, n: int, k: int, published: frozenset[str]) -> bool:
    """Whether `guard` shows this cell's figure: for callers that would rather not work out
    the measures of a figure it withholds."""
    return n >= k and cell in published


def require_guarded(items: Iterable[object]) -> None:
    """Refuse to render anything that did not come out of `guard`."""
    for item in items:
        if not isinstance(item, Guarded):
            raise Unguarded(f"{item!r} did not pass the anonymity guard")
