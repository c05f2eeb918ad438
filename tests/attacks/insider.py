"""The insider's toolkit: small deterministic organisations stored through the real services,
and the reads and sums an insider with a leader's or HR's account and the roster would try.

Not a test module: imported by the tests/attacks/test_*.py modules.

An organisation is a tree of unit keys and a roster of named people. Each person gets an
invitation (the insider holds the links file, so knows whose token is whose), the ones who
respond submit through `surveys.services.submit_response` (coarsening included), and the wave
is published with `reports.publication.publish`. The compact survey of tests/fuzz has one item
per dimension, so a group's voice score gives away the exact sum of its VOICE_RAISE answers.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from reports.access import readable_units
from reports.aggregation import Summary, summarize
from reports.publication import publish
from surveys import services
from surveys.models import Instrument, Response, RoleLevel, TenureBand, Unit, Wave
from tests.factories import WaveFactory
from tests.fuzz.support import compact_instrument_data
from tests.reports import anonymity_data

K = 5
# Every breakdown a dashboard, export or API call can ask for in the compact survey.
BREAKDOWNS: list[tuple[str, ...]] = [
    (),
    ("role_level",),
    ("tenure_band",),
    ("child_units",),
    ("demo_gender",),
    ("role_level", "tenure_band"),
    ("role_level", "demo_gender"),
]


@dataclass(frozen=True)
class Person:
    """One line of the roster, and what the person answers if they respond."""

    name: str
    unit: str
    rank: int = 1
    tenure: int | None = None
    voice: int | None = 3  # VOICE_RAISE, 1..5: the secret the insider is after
    gender: int | None = None  # DEMO_GENDER
    comment: str = ""
    responds: bool = True


@dataclass
class World:
    wave: Wave
    units: dict[str, Unit]
    people: list[Person]
    tokens: dict[str, str]  # person -> invitation token: the links file the insider holds
    instrument: Instrument


def compact_instrument() -> Instrument:
    data = compact_instrument_data()
    existing = Instrument.objects.filter(slug=data["slug"]).first()
    return existing or services.load_instrument(data=data)


def build_units(tree: dict[str, str | None]) -> dict[str, Unit]:
    """Units from {key: parent key}, parents first; each named after its key."""
    units: dict[str, Unit] = {}
    for key, parent in tree.items():
        units[key] = Unit.objects.create(
            external_id=f"attack-{key}", name=key.title(), parent=units[parent] if parent else None
        )
    return units


def new_wave(
    *, units: dict[str, Unit], instrument: Instrument, k: int = K, k_comments: int = 10
) -> Wave:
    root = next(unit for unit in units.values() if unit.parent_id is None)
    return WaveFactory(instrument=instrument, units=[root], k=k, k_comments=k_comments)


def invite(*, wave: Wave, units: dict[str, Unit], people: Sequence[Person]) -> dict[str, str]:
    """One invitation per person, as `invite` creates them from the roster."""
    roles = {role.rank: role for role in RoleLevel.objects.all()}
    tenures = {band.rank: band for band in TenureBand.objects.all()}
    roster = [
        services.RosterRow(
            unit=units[p.unit],
            role_level=roles[p.rank],
            tenure_band=tenures[p.tenure] if p.tenure else None,
        )
        for p in people
    ]
    tokens = services.create_invitations(wave=wave, roster=roster)
    return {p.name: token for p, token in zip(people, tokens, strict=True)}


def answers_of(person: Person) -> dict[str, object]:
    answers: dict[str, object] = {}
    if person.voice is not None:
        answers["VOICE_RAISE"] = person.voice
    if person.gender is not None:
        answers["DEMO_GENDER"] = person.gender
    if person.comment:
        answers["COMMENT_CHANGE"] = person.comment
    return answers


def submit(world: World, person: Person) -> Response:
    """The person answers through their own link (the real service, coarsening included)."""
    return services.submit_response(
        wave=world.wave, answers=answers_of(person), invitation_token=world.tokens[person.name]
    )


def build_world(
    *,
    tree: dict[str, str | None],
    people: Sequence[Person],
    k: int = K,
    k_comments: int = 10,
    publish_now: bool = True,
) -> World:
    units = build_units(tree)
    instrument = compact_instrument()
    wave = new_wave(units=units, instrument=instrument, k=k, k_comments=k_comments)
    world = World(
        wave=wave,
        units=units,
        people=list(people),
        tokens=invite(wave=wave, units=units, people=people),
        instrument=instrument,
    )
    for person in people:
        if person.responds:
            submit(world, person)
    if publish_now:
        publish(wave=wave, force=True)
    return world


def next_wave(world: World, people: Sequence[Person], *, publish_now: bool = True) -> World:
    """The same organisation and survey, a new wave with a new roster."""
    wave = new_wave(units=world.units, instrument=world.instrument, k=world.wave.k, k_comments=10)
    later = World(
        wave=wave,
        units=world.units,
        people=list(people),
        tokens=invite(wave=wave, units=world.units, people=people),
        instrument=world.instrument,
    )
    for person in people:
        if person.responds:
            submit(later, person)
    if publish_now:
        publish(wave=wave, force=True)
    return later


# --- Accounts -----------------------------------------------------------------------------------


# The same accounts as the adversary tests use (no password: these tests never log in).
hr_user = anonymity_data.hr_user
leader_of = anonymity_data.leader_of


# --- What the insider reads ---------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """One published group: the unit whose subtree it covers, the attributes that define it,
    its count and the sum of its VOICE_RAISE answers (exact: one item per dimension)."""

    unit: int
    band: tuple[int, int] | None = None
    tenure: int | None = None
    gender: int | None = None
    n: int | None = None
    voice_n: int = 0
    voice_sum: float = 0.0
    label: str = field(default="", compare=False)

    @property
    def published(self) -> bool:
        return self.n is not None


def _voice(group) -> tuple[int, float]:
    if group.suppressed:
        return 0, 0.0
    score = group.measures.dimensions["voice"].score
    if score.value is None:
        return 0, 0.0
    return score.n, score.n * (1 + score.value / 25)


def figures_of(summary: Summary) -> list[Figure]:
    """Every group of a summary (the total first) as the insider records it."""
    unit = summary.unit.pk
    result = []
    for group in [summary.total, *summary.groups]:
        attrs = group.attrs
        band = attrs.get("role_level")
        voice_n, voice_sum = _voice(group)
        result.append(
            Figure(
                unit=attrs.get("unit", unit),
                band=(band["lo"], band["hi"]) if band else None,
                tenure=attrs.get("tenure_band"),
                gender=attrs.get("demo_gender"),
                n=group.n,
                voice_n=voice_n,
                voice_sum=voice_sum,
                label=f"{summary.unit.name}: {group.label}",
            )
        )
    return result


def everything_readable(*, wave: Wave, user, breakdowns=BREAKDOWNS) -> set[Figure]:
    """Every figure the user can request: every readable unit, every breakdown."""
    figures: set[Figure] = set()
    for unit in readable_units(user):
        for by in breakdowns:
            figures.update(figures_of(summarize(wave=wave, unit=unit, by=by)))
    return figures


# --- The sums the insider tries -----------------------------------------------------------------


class Tree:
    def __init__(self):
        self.parent = dict(Unit.objects.values_list("pk", "parent_id"))

    def within(self, unit: int, ancestor: int) -> bool:
        while unit is not None:
            if unit == ancestor:
                return True
            unit = self.parent.get(unit)
        return False


def contains(outer: Figure, inner: Figure, tree: Tree) -> bool:
    """Every member of `inner` is a member of `outer`, by definition."""
    if outer == inner or not tree.within(inner.unit, outer.unit):
        return False
    for attribute in ("band", "tenure", "gender"):
        value = getattr(outer, attribute)
        if value is not None and getattr(inner, attribute) != value:
            return False
    return True


def disjoint(a: Figure, b: Figure, tree: Tree) -> bool:
    """No one can be in both, by definition."""
    if not (tree.within(a.unit, b.unit) or tree.within(b.unit, a.unit)):
        return True
    for attribute in ("band", "tenure", "gender"):
        x, y = getattr(a, attribute), getattr(b, attribute)
        if x is not None and y is not None and x != y:
            return True
    return False


@dataclass(frozen=True)
class Isolated:
    """A group of 1..k-1 people the insider pinned down: `outer` minus `inners`."""

    outer: Figure
    inners: tuple[Figure, ...]
    n: int
    voice_mean: float | None

    def __str__(self) -> str:
        minus = " - ".join(f.label for f in self.inners)
        mean = "?" if self.voice_mean is None else f"{self.voice_mean:.2f}"
        return f"{self.outer.label} - {minus} = {self.n} people, voice {mean}"


def differences(figures: Iterable[Figure], *, k: int, max_terms: int = 4) -> list[Isolated]:
    """Subtract every set of up to `max_terms` pairwise disjoint published figures from every
    published figure that contains them all; return every remainder of 1..k-1 people (with
    their voice mean, when the figures carry it)."""
    tree = Tree()
    published = sorted((f for f in figures if f.published), key=lambda f: f.label)
    found = []
    for outer in published:
        inside = [f for f in published if contains(outer, f, tree)]
        for size in range(1, min(max_terms, len(inside)) + 1):
            for inners in itertools.combinations(inside, size):
                if not all(disjoint(a, b, tree) for a, b in itertools.combinations(inners, 2)):
                    continue
                rest = outer.n - sum(f.n for f in inners)
                if 0 < rest < k:
                    voice_n = outer.voice_n - sum(f.voice_n for f in inners)
                    voice = outer.voice_sum - sum(f.voice_sum for f in inners)
                    mean = voice / voice_n if voice_n > 0 else None
                    found.append(Isolated(outer, inners, rest, mean))
    return found


def assert_nobody_isolated(figures: Iterable[Figure], *, k: int) -> None:
    found = differences(figures, k=k)
    assert not found, "the insider isolated:\n" + "\n".join(map(str, found[:10]))


def figure(figures: Iterable[Figure], **attributes) -> Figure:
    """The one figure with these attributes (unit, band, tenure, gender; others None)."""
    wanted = {"band": None, "tenure": None, "gender": None, **attributes}
    matches = [
        f for f in figures if all(getattr(f, name) == value for name, value in wanted.items())
    ]
    assert len(matches) == 1, (attributes, matches)
    return matches[0]


def true_count(wave: Wave, **filters) -> int:
    """What the raw rows say (the insider's truth check, never shown by the product)."""
    return Response.objects.filter(wave=wave, **filters).count()
