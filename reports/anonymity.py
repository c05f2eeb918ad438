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
"""

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from reports.anonymity_engine import audit_suppression, decide_suppression

ROLE, TENURE = "role_level", "tenure_band"


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


@dataclass
class LinkedTables:
    counts: dict[str, int]
    relations: list[tuple[str, list[str]]] = field(default_factory=list)

    def relate(self, total: str, members: list[str], residual: str | None = None) -> None:
        """total = sum(members) (+ a residual cell holding whatever the members miss).

        A residual (a unit's own people outside its children, the people who skipped a
        demographic question) is never shown, but anyone can compute it by subtraction, so it
        is an ordinary cell: protected like any group when it holds fewer than k people, and
        harmless when it holds more."""
        members = [m for m in members if m in self.counts]
        missing = self.counts.get(total, 0) - sum(self.counts.get(m, 0) for m in members)
        if residual is not None and missing:
            self.counts[residual] = missing
            members.append(residual)
        if total not in self.counts:
            return
        if members:
            self.relations.append((total, members))


def linked_tables(*, rows: Iterable[GroupRow], parents: Mapping[int, int | None]) -> LinkedTables:
    """Build every additive relation between the cells of one wave: within a unit (a one-way
    breakdown sums to the total, a two-way table to its margins) and across the tree (a unit's
    cell is the sum of the same cell in its children plus the unit's own residual)."""
    counts = cell_counts(rows)
    tables = LinkedTables(counts=dict(counts))
    by_unit: dict[str, list[str]] = defaultdict(list)
    for cell in counts:
        by_unit[_split(cell)[1]].append(cell)
    for unit, cells in by_unit.items():
        roles = sorted({_split(c)[2] for c in cells if c.startswith("R|")})
        tenures = sorted({_split(c)[2] for c in cells if c.startswith("N|")})
        tables.relate(f"T|{unit}", [f"R|{unit}|{r}" for r in roles])
        tables.relate(f"T|{unit}", [f"N|{unit}|{t}" for t in tenures])
        for r in roles:
            tables.relate(f"R|{unit}|{r}", [f"RN|{unit}|{r}|{t}" for t in tenures])
        for t in tenures:
            tables.relate(f"N|{unit}|{t}", [f"RN|{unit}|{r}|{t}" for r in roles])
        demo: dict[str, set[str]] = defaultdict(set)
        for cell in cells:
            if cell.startswith("D|"):
                q, v = _split(cell)[2].split("|")
                demo[q].add(v)
        for q, values in demo.items():
            tables.relate(
                f"T|{unit}", [f"D|{unit}|{q}|{v}" for v in sorted(values)], f"D~skip|{unit}|{q}"
            )
            for r in roles:
                tables.relate(
                    f"R|{unit}|{r}",
                    [f"RD|{unit}|{r}|{q}|{v}" for v in sorted(values)],
                    f"RD~skip|{unit}|{r}|{q}",
                )
            for v in values:
                tables.relate(f"D|{unit}|{q}|{v}", [f"RD|{unit}|{r}|{q}|{v}" for r in roles])
    children: dict[int, list[int]] = defaultdict(list)
    for unit, parent in parents.items():
        if parent is not None:
            children[parent].append(unit)
    for unit, kids in children.items():
        for cell in by_unit.get(str(unit), []):
            kind, _, rest = _split(cell)
            suffix = f"|{rest}" if rest else ""
            members = [f"{kind}|{kid}{suffix}" for kid in sorted(kids)]
            tables.relate(cell, members, f"{cell}~dir")
    return tables


# Which cells to give up first when a small group needs company: residuals and detailed
# cells before one-way breakdowns, one-way breakdowns before a unit's whole total.
PRIORITY = {"T": 3, "R": 2, "N": 1}


def cell_priority(cell: str) -> int:
    return 0 if "~" in cell else PRIORITY.get(cell.split("|", 1)[0], 0)


def _demographic_question(cell: str) -> str | None:
    """The demographic question a cell belongs to, or None for a structural cell."""
    if cell.startswith(("D~skip|", "RD~skip|")):
        return cell.rsplit("|", 1)[1]
    parts = cell.split("~", 1)[0].split("|")
    if parts[0] == "D":
        return parts[2]
    if parts[0] == "RD":
        return parts[3]
    return None


def decide_pattern(
    *,
    rows: Iterable[GroupRow],
    parents: Mapping[int, int | None],
    k: int,
    max_lp_cells: int = 4000,
) -> list[str]:
    """The cells that may be published in one snapshot of a wave, sorted (default deny: a cell
    not in this list is never shown).

    Decided in two stages so that optional demographic breakdowns can never cost the
    structural figures (units, role levels, tenure): first the structural tables alone, then
    each demographic question with the structural cells frozen as decided. A demographic
    question whose small groups cannot be protected without touching a structural figure is
    withheld whole for the wave."""
    tables = linked_tables(rows=rows, parents=parents)
    family: dict[str | None, set[str]] = defaultdict(set)
    for cell in tables.counts:
        family[_demographic_question(cell)].add(cell)
    priority = {cell: cell_priority(cell) for cell in tables.counts}

    def relations_within(cells: set[str]):
        return [(t, m) for t, m in tables.relations if t in cells and all(x in cells for x in m)]

    structural = family.pop(None, set())
    structural_relations = relations_within(structural)
    withheld = set(
        decide_suppression(
            counts={c: tables.counts[c] for c in structural},
            relations=structural_relations,
            k=k,
            max_lp_cells=max_lp_cells,
            priority=priority,
        )
    )
    for _question, cells in sorted(family.items()):
        scope = structural | cells
        counts = {c: tables.counts[c] for c in scope}
        relations = relations_within(scope)
        decided = decide_suppression(
            counts=counts,
            relations=relations,
            k=k,
            max_lp_cells=max_lp_cells,
            priority=priority,
            hidden=withheld & structural,
            frozen=structural - withheld,
        )
        sensitive = [c for c in decided if c in cells and 0 < counts[c] < k]
        ranges = audit_suppression(counts=counts, relations=relations, suppressed=decided)
        if all(ranges[c].high - ranges[c].low >= k - 1e-6 for c in sensitive):
            withheld |= decided & cells
        else:
            withheld |= cells
    return sorted(c for c in tables.counts if c not in withheld and "~" not in c)


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
    renders, exports or serialises figures accepts nothing else."""

    cell: str
    n: int | None
    suppressed: bool
    measures: object | None


class Unguarded(TypeError):
    """Raised when something tries to publish a figure that did not pass the guard."""


def guard(*, cell: str, n: int, measures: object, k: int, published: frozenset[str]) -> Guarded:
    """The one gate for every number leaving the reports app (page, chart, export, API).

    Returns the figure unchanged when its cell is in the publication's list of publishable
    cells (decided with complementary suppression) and has at least k respondents; otherwise
    a suppressed figure with no count and no measures. Unknown cells are suppressed."""
    if n < k or cell not in published:
        return Guarded(cell=cell, n=None, suppressed=True, measures=None)
    return Guarded(cell=cell, n=n, suppressed=False, measures=measures)


def require_guarded(items: Iterable[object]) -> None:
    """Refuse to render anything that did not come out of `guard`."""
    for item in items:
        if not isinstance(item, Guarded):
            raise Unguarded(f"{item!r} did not pass the anonymity guard")
