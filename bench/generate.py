"""Generate the benchmark data set in minutes: a deep organisation, ten waves of the default
instrument and SIZE responses in total, loaded with PostgreSQL COPY.

Organisation: root -> 8 divisions -> 5 departments each -> 50 teams each (2,049 units, 4
levels). Executives sit at the root, directors in divisions, managers in departments, team leads
and individual contributors in teams. Every wave has the same roster of SIZE / 10 / 0.7 people,
of whom SIZE / 10 answer (100,000 -> 10,000 per wave; 1,000,000 -> 100,000 per wave).

Answers come from a latent climate score per person (a lasting personal part, a team effect, a
power gradient by role level, a small improvement from wave to wave, a few harassment hot spots),
so items of a dimension correlate and higher role levels rate the climate better, as in
`seed_demo`. Attributes are coarsened against the roster exactly as `services.coarsen` does
(checked on a sample), and responses are stored already published. Each wave's summary rows
are counted by numpy (`bench/summaries.py`, held by a test to exactly the rows the app's fold
keeps) and written with binary COPY by a second connection while the next wave loads; worker
processes then decide each wave's publication pattern with the app's own code.

Run on its own: `.venv/bin/python bench/generate.py --size 20000` (run.py calls `generate`).
"""

import argparse
import datetime as dt
import io
import json
import math
import multiprocessing
import secrets
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import env, summaries
from bench.pgcopy import copy_binary

WAVES = 10
RESPONSE_RATE = 0.7
DIVISIONS, DEPARTMENTS, TEAMS = 8, 5, 50
# Role mix of the roster (rank: share); ranks 3-5 sit above the teams.
ROLE_SHARE = {5: 0.005, 4: 0.025, 3: 0.07, 2: 0.12}
ROLE_SHIFT = {1: -0.45, 2: -0.15, 3: 0.15, 4: 0.45, 5: 0.8}
TENURE_SHARE = [0.15, 0.3, 0.35, 0.2]
HOT_SPOT_SHARE = 0.02
COMMENT_SHARE = 0.15
ROOT_EXTERNAL_ID = "bench-root"
NULL = "\\N"  # NULL in PostgreSQL's text COPY format
VERSION = 1
COMMENTS = [
    "Please make it safe to disagree with senior people without it affecting reviews.",
    "Our team lead checks in every week and it makes a real difference.",
    "Rules seem to apply to some people and not to others.",
    "I would like to know who to talk to when something goes wrong.",
    "More training for managers on how much their words weigh.",
    "Shifts are handed out as rewards and punishments; that needs to stop.",
    "Generally a good place to work, people are respectful.",
    "Remote colleagues are left out of decisions.",
]


def marker(size: int, seed: int) -> str:
    """The root unit's name once a data set is complete: a run reuses a matching one."""
    return f"Bench Corp ({size} responses, seed {seed}, v{VERSION})"


# --- Organisation and roster -----------------------------------------------------------------


@dataclass
class Org:
    ids: np.ndarray  # unit ids, index = unit index
    parent: np.ndarray  # parent unit index, -1 for the root
    depth: np.ndarray
    divisions: list[int]  # unit indexes
    departments: list[int]
    teams: list[int]
    division_of: np.ndarray  # unit index -> its division's unit index (-1 for the root)

    def ancestors(self, index: int) -> list[int]:
        chain = [index]
        while self.parent[chain[-1]] >= 0:
            chain.append(int(self.parent[chain[-1]]))
        return chain


@dataclass
class Roster:
    unit: np.ndarray  # unit index per person
    rank: np.ndarray
    tenure: np.ndarray  # tenure rank 1..4
    effect: np.ndarray  # lasting part of the latent score (team + person + role)
    hot: np.ndarray


def build_org() -> Org:
    """Create the units level by level with bulk inserts, then their materialised paths."""
    from surveys.models import Unit

    parents: list[int] = [-1]
    specs = [(ROOT_EXTERNAL_ID, "Bench Corp (incomplete)")]
    divisions, departments, teams = [], [], []
    for d in range(1, DIVISIONS + 1):
        divisions.append(len(specs))
        specs.append((f"bench-d{d}", f"Division {d}"))
        parents.append(0)
    for d_index in list(divisions):
        d = d_index
        for p in range(1, DEPARTMENTS + 1):
            departments.append(len(specs))
            specs.append((f"{specs[d][0]}-{p}", f"{specs[d][1]} / Department {p}"))
            parents.append(d)
    for p_index in list(departments):
        for t in range(1, TEAMS + 1):
            teams.append(len(specs))
            specs.append((f"{specs[p_index][0]}-{t:02d}", f"{specs[p_index][1]} / Team {t}"))
            parents.append(p_index)
    units: list = [None] * len(specs)
    for level in ([0], divisions, departments, teams):
        batch = [
            Unit(
                external_id=specs[i][0],
                name=specs[i][1],
                parent_id=units[parents[i]].pk if parents[i] >= 0 else None,
            )
            for i in level
        ]
        Unit.objects.bulk_create(batch, batch_size=1000)
        for i, unit in zip(level, batch, strict=True):
            parent_path = units[parents[i]].path if parents[i] >= 0 else "/"
            unit.path = parent_path + f"{unit.pk:0{Unit.PATH_STEP}d}/"
            unit.depth = unit.path.count("/") - 2
            units[i] = unit
        Unit.objects.bulk_update(batch, ["path", "depth"], batch_size=1000)
    parent = np.array(parents)
    division_of = np.full(len(specs), -1)
    for i in range(1, len(specs)):
        j = i
        while parent[j] > 0:
            j = parent[j]
        division_of[i] = j
    return Org(
        ids=np.array([u.pk for u in units]),
        parent=parent,
        depth=np.array([u.depth for u in units]),
        divisions=divisions,
        departments=departments,
        teams=teams,
        division_of=division_of,
    )


def build_roster(org: Org, people: int, rng: np.random.Generator) -> Roster:
    """Who works where: executives at the root, directors in divisions, managers in
    departments, team leads and individual contributors in teams of varying size."""
    counts = {rank: max(6, round(share * people)) for rank, share in ROLE_SHARE.items()}
    counts[1] = people - sum(counts.values())
    unit = [np.zeros(counts[5], dtype=np.int64)]
    unit.append(rng.choice(org.divisions, size=counts[4]))
    unit.append(rng.choice(org.departments, size=counts[3]))
    weights = rng.lognormal(0.0, 0.5, size=len(org.teams))
    weights /= weights.sum()
    unit.append(rng.choice(org.teams, size=counts[2], p=weights))
    unit.append(rng.choice(org.teams, size=counts[1], p=weights))
    rank = np.concatenate([np.full(counts[r], r) for r in (5, 4, 3, 2, 1)])
    unit = np.concatenate(unit)
    team_effect = rng.normal(0.0, 0.25, size=len(org.ids))
    hot_units = np.zeros(len(org.ids), dtype=bool)
    hot_units[rng.choice(org.teams, size=max(1, round(HOT_SPOT_SHARE * len(org.teams))))] = True
    hot = hot_units[unit]
    shift = np.vectorize(ROLE_SHIFT.get)(rank)
    effect = shift + team_effect[unit] - 0.7 * hot + rng.normal(0.0, 0.6, size=len(unit))
    tenure = rng.choice([1, 2, 3, 4], size=len(unit), p=TENURE_SHARE)
    return Roster(unit=unit, rank=rank, tenure=tenure, effect=effect, hot=hot)


def coarsening(org: Org, roster: Roster, k: int) -> dict[tuple[int, int, int], tuple]:
    """The stored attributes of every roster cell, (unit, rank, tenure) -> (unit, lo, hi,
    tenure or 0): the algorithm of `surveys.services.coarsen`, run once per cell against the
    roster's headcounts instead of once per respondent."""
    sub: dict[tuple[int, int], int] = defaultdict(int)
    sub_t: dict[tuple[int, int, int], int] = defaultdict(int)
    cells, cell_counts = np.unique(
        np.stack([roster.unit, roster.rank, roster.tenure], axis=1), axis=0, return_counts=True
    )
    chains = {}
    for (u, r, t), n in zip(cells.tolist(), cell_counts.tolist(), strict=True):
        chain = chains.setdefault(u, org.ancestors(u))
        for a in chain:
            sub[(a, r)] += n
            sub_t[(a, r, t)] += n
    ranks = sorted(ROLE_SHIFT)

    def people(u: int, lo: int, hi: int, tenure: int | None = None) -> int:
        if tenure is None:
            return sum(sub.get((u, r), 0) for r in range(lo, hi + 1))
        return sum(sub_t.get((u, r, tenure), 0) for r in range(lo, hi + 1))

    result = {}
    for u0, r, t0 in cells.tolist():
        u, lo, hi, t = u0, r, r, t0
        if people(u, lo, hi, t) < k:
            t = 0
        while people(u, lo, hi) < k and org.parent[u] >= 0:
            u = int(org.parent[u])
        while people(u, lo, hi) < k and (ranks[0] < lo or hi < ranks[-1]):
            candidates = []
            if hi < ranks[-1]:
                candidates.append((people(u, hi + 1, hi + 1), 0, hi + 1))
            if lo > ranks[0]:
                candidates.append((people(u, lo - 1, lo - 1), 1, lo - 1))
            _n, _order, neighbour = min(candidates)
            if neighbour > hi:
                hi = neighbour
            else:
                lo = neighbour
        result[(u0, r, t0)] = (u, lo, hi, t)
    return result


# --- Answers ----------------------------------------------------------------------------------


@dataclass
class QuestionSet:
    """The instrument's questions as numpy-friendly columns, in the order respondents see
    them."""

    questions: list
    ids: np.ndarray = field(init=False)

    def __post_init__(self):
        self.ids = np.array([q.pk for q in self.questions])


def answers(rng: np.random.Generator, qs: QuestionSet, theta: np.ndarray, hot: np.ndarray):
    """Answers of n people as (person index, question id, value) arrays sorted like the
    Answer primary key, generated column by column; conditional questions follow show_if."""
    from surveys.models import Question

    n = len(theta)
    columns: list[tuple[int, np.ndarray]] = []
    extra_rows, extra_q, extra_v = [], [], []
    dimension_shift: dict[int, np.ndarray] = {}
    experienced_any = np.zeros(n, dtype=bool)
    reported = np.full(n, -1)
    purpose = Question.Purpose
    for q in qs.questions:
        if q.kind == Question.Kind.TEXT:
            continue
        skip = rng.random(n) < 0.03
        if q.dimension_id and q.kind in ("agree5", "freq5"):
            shift = dimension_shift.setdefault(q.dimension_id, rng.normal(0, 0.35, n))
            if q.kind == "freq5":
                latent = 2.0 - 0.8 * (theta + shift) + rng.normal(0, 0.6, n)
                value = np.clip(np.rint(latent), 1, 5)
            else:
                latent = 3.3 + 0.9 * (theta + shift) + rng.normal(0, 0.6, n)
                value = np.clip(np.rint(latent), 1, 5)
                if q.reverse_scored:
                    value = 6 - value
        elif q.purpose in (purpose.EXPERIENCED, purpose.WITNESSED):
            base = 0.25 if q.purpose == purpose.EXPERIENCED else 0.35
            chance = base + 0.35 * hot - 0.12 * theta
            if q.topic == "sexual":
                chance = chance * 0.5
            hit = rng.random(n) < np.clip(chance, 0.02, 0.9)
            severity = rng.choice([2, 3, 4, 5], size=n, p=[0.5, 0.3, 0.15, 0.05])
            value = np.where(hit, severity, 1)
            if q.purpose == purpose.EXPERIENCED:
                experienced_any |= hit & ~skip
        elif q.purpose == purpose.REPORTED:
            value = rng.choice([1, 2, 9], size=n, p=[0.3, 0.62, 0.08])
            skip |= ~experienced_any
            reported = np.where(skip, -1, value)
        elif q.purpose == purpose.WHY_NOT_REPORTED:
            shown = np.flatnonzero((reported == 2) & ~skip)
            picks = rng.integers(1, 4, size=len(shown))
            order = np.argsort(rng.random((len(shown), 7)), axis=1)  # a random ranking of 1..7
            chosen = order < picks[:, None]
            people, index = np.nonzero(chosen)
            extra_rows.append(shown[people])
            extra_q.append(np.full(len(people), q.pk))
            extra_v.append(index + 1)
            continue
        elif q.purpose == purpose.SAFE_PLACE:
            value = np.clip(np.rint(6.5 + 2.2 * theta + rng.normal(0, 1.2, n)), 0, 10)
        elif q.purpose == purpose.DEMOGRAPHIC:
            skip = rng.random(n) < 0.25
            values = [int(c["value"]) for c in q.choices]
            weights = np.array([3.0 if v == 99 else 10.0 for v in values])
            value = rng.choice(values, size=n, p=weights / weights.sum())
        elif q.kind == "agree5":
            value = np.clip(np.rint(3.3 + 0.9 * theta + rng.normal(0, 0.7, n)), 1, 5)
        else:
            continue
        columns.append((q.pk, np.where(skip, -1, value).astype(np.int64)))
    columns.sort(key=lambda c: c[0])
    matrix = np.stack([c[1] for c in columns], axis=1)
    qids = np.array([c[0] for c in columns])
    rows, cols = np.nonzero(matrix >= 0)
    person = np.concatenate([rows, *extra_rows])
    question = np.concatenate([qids[cols], *extra_q])
    value = np.concatenate([matrix[rows, cols], *extra_v])
    order = np.lexsort((value, question, person))
    return person[order], question[order], value[order]


def uuid_bytes(rng: np.random.Generator, n: int) -> np.ndarray:
    """n random version-4 UUIDs as an (n, 16) byte array, sorted as PostgreSQL sorts uuids."""
    raw = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    keys = raw.view(">u8")
    order = np.lexsort((keys[:, 1], keys[:, 0]))
    return raw[order]


def uuid_text(raw: np.ndarray) -> list[str]:
    hexes = [row.tobytes().hex() for row in raw]
    return [f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}" for h in hexes]


def _text_copy(cursor, table: str, columns: list[str], lines: list[str]) -> None:
    if lines:
        cursor.copy_expert(
            f"COPY {table} ({', '.join(columns)}) FROM STDIN", io.StringIO("".join(lines))
        )


# --- The data set -----------------------------------------------------------------------------


@dataclass
class Dataset:
    size: int
    root_id: int
    division_id: int
    team_id: int
    wave_ids: list[int]
    people_per_wave: int
    timings: dict[str, float]
    summary_rows: dict[str, int] = field(default_factory=dict)


class Timer:
    def __init__(self, log: Callable[[str], None]):
        self.log = log
        self.totals: dict[str, float] = defaultdict(float)

    def step(self, name: str, started: float, detail: str = "") -> float:
        now = time.perf_counter()
        self.totals[name] += now - started
        if detail:
            self.log(f"  {detail}: {now - started:.1f} s")
        return now


def find_dataset(*, size: int, seed: int) -> "Dataset | None":
    """The complete data set of this size and seed already in the database, if any."""
    from reports.models import Publication
    from surveys.models import Unit, Wave

    root = Unit.objects.filter(external_id=ROOT_EXTERNAL_ID, name=marker(size, seed)).first()
    if root is None:
        return None
    waves = list(
        Wave.objects.filter(units=root, name__startswith="Bench wave ")
        .order_by("opens_at")
        .values_list("pk", flat=True)
    )
    if len(waves) != WAVES or Publication.objects.filter(wave_id__in=waves).count() != WAVES:
        return None
    division = Unit.objects.get(external_id="bench-d1")
    team = Unit.objects.get(external_id="bench-d1-1-01")
    return Dataset(
        size=size,
        root_id=root.pk,
        division_id=division.pk,
        team_id=team.pk,
        wave_ids=waves,
        people_per_wave=people_per_wave(size),
        timings={},
    )


def generation_file(size: int) -> Path:
    """Where the generation times of a data set are kept, for runs that reuse it."""
    return env.RESULTS / f"generation-{size}.json"


def people_per_wave(size: int) -> int:
    return math.ceil(size / WAVES / RESPONSE_RATE)


def generate(
    *, size: int, seed: int = 2026, pattern: str = "full", log: Callable[[str], None] = print
) -> Dataset:
    """Load the whole data set into the (empty) benchmark database; print the time per step.

    `pattern="full"` decides each wave's suppression pattern with the app's own publication
    code; `"primary"` only withholds cells under k (a stand-in of the same size, for quick
    development runs: never for published figures)."""
    from django.db import connection
    from django.utils import timezone

    from surveys import services
    from surveys.models import Question, RoleLevel, TenureBand, Unit, Wave

    if not connection.vendor == "postgresql":
        raise SystemExit("The benchmark needs PostgreSQL (BENCH_DATABASE_URL).")
    timer = Timer(log)
    rng = np.random.default_rng(seed)
    started_all = t = time.perf_counter()
    _skip_foreign_key_triggers(log)
    instrument = services.load_default_instrument()
    org = build_org()
    root = Unit.objects.get(external_id=ROOT_EXTERNAL_ID)
    t = timer.step("org", t, f"organisation: {len(org.ids)} units, 4 levels")

    people = people_per_wave(size)
    roster = build_roster(org, people, rng)
    roles = dict(RoleLevel.objects.values_list("rank", "pk"))
    tenures = dict(TenureBand.objects.values_list("rank", "pk"))
    k = Wave._meta.get_field("k").default
    stored = coarsening(org, roster, k)
    qs = QuestionSet(services.instrument_questions(instrument_id=instrument.pk))
    comment_question = next(q for q in qs.questions if q.purpose == Question.Purpose.COMMENT)
    t = timer.step("roster", t, f"roster: {people} people per wave, coarsened per cell")

    per_wave = [size // WAVES + (1 if w < size % WAVES else 0) for w in range(WAVES)]
    # Random version-4 keys, sorted once and handed out in order, so that COPY appends to the
    # answer index instead of inserting all over it (keys still reveal nothing of a person).
    all_uuids = uuid_bytes(rng, size)
    next_uuid = 0
    # Three lanes keep both cores busy: this thread generates the answers and counts each
    # wave's summary rows with numpy; a loader thread COPYs each division's responses and
    # answers (threads: COPY waits on PostgreSQL, not on Python), a writer thread the rosters
    # and summary rows, each with its own connection; worker processes (spawned, each with its
    # own connection) decide the suppression patterns once a wave's rows are in.
    pool = ProcessPoolExecutor(
        max_workers=PATTERN_PROCESSES,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_pattern_worker_init,
    )
    loader = ThreadPoolExecutor(max_workers=1)
    writer = ThreadPoolExecutor(max_workers=1)
    tree = summaries.Tree(ids=org.ids, parent=org.parent)
    # The answers and summary rows are loaded without their primary keys, which are built once
    # at the end: a sort, instead of 141 million index insertions at a million responses.
    keys = _drop_primary_keys(UNKEYED_TABLES)
    jobs = []
    now = timezone.now()
    wave_ids = []
    cell_keys = np.stack([roster.unit, roster.rank, roster.tenure], axis=1)
    stores = []
    for w in range(WAVES):
        if w >= AHEAD:  # at most AHEAD waves generated and not yet stored (memory)
            stores[w - AHEAD].result()
            t = timer.step("ahead", t)
        opens = now - dt.timedelta(days=182 * (WAVES - w) + 30)
        wave = Wave.objects.create(
            name=f"Bench wave {w + 1}",
            instrument=instrument,
            opens_at=opens,
            closes_at=opens + dt.timedelta(days=28),
            state=Wave.State.CLOSED,
        )
        wave.units.add(root)
        wave_ids.append(wave.pk)
        answering = np.zeros(people, dtype=bool)
        answering[rng.choice(people, size=min(per_wave[w], people), replace=False)] = True
        if w == 0:  # the check needs the first wave's roster in the database
            _roster_rows(wave.pk, org, roster, answering, roles, tenures)
            _check_coarsening(wave, org, roster, stored, rng)
        else:
            jobs.append(
                writer.submit(_roster_rows, wave.pk, org, roster, answering, roles, tenures)
            )
        t = timer.step("roster", t)
        drift = 0.03 * w
        loaded: dict[str, list] = defaultdict(list)  # the wave's responses and answers
        loads = []
        for division in org.divisions:
            members = np.flatnonzero(answering & (org.division_of[roster.unit] == division))
            if division == org.divisions[0]:  # the root's executives travel with division 1
                members = np.concatenate([np.flatnonzero(answering & (roster.unit == 0)), members])
            n = len(members)
            if not n:
                continue
            theta = roster.effect[members] + drift + rng.normal(0.0, 0.5, n)
            person, question, value = answers(rng, qs, theta, roster.hot[members])
            raw = all_uuids[next_uuid : next_uuid + n]
            next_uuid += n
            ids = uuid_text(raw)
            t = timer.step("answers", t)
            response_lines, comment_lines = [], []
            loaded["person"].append(person + sum(len(u) for u in loaded["unit"]))
            loaded["question"].append(question)
            loaded["value"].append(value)
            attributes = [stored[tuple(key)] for key in cell_keys[members].tolist()]
            loaded["unit"].append(np.array([a[0] for a in attributes], dtype=np.int64))
            loaded["role_lo"].append(np.array([a[1] for a in attributes], dtype=np.int64))
            loaded["role_hi"].append(np.array([a[2] for a in attributes], dtype=np.int64))
            loaded["tenure"].append(np.array([a[3] for a in attributes], dtype=np.int64))
            for i, (u, lo, hi, tenure) in enumerate(attributes):
                role_to = roles[hi] if hi != lo else NULL
                attrs = (
                    f"{wave.pk}\t{org.ids[u]}\t{roles[lo]}\t{role_to}\t"
                    f"{tenures[tenure] if tenure else NULL}"
                )
                response_lines.append(f"{ids[i]}\t{attrs}\tt\n")
                if rng.random() < COMMENT_SHARE:
                    text = COMMENTS[int(rng.integers(len(COMMENTS)))]
                    comment_lines.append(f"{_uuid4()}\t{comment_question.pk}\t{text}\tt\t{attrs}\n")
            loads.append(
                loader.submit(
                    _load_division,
                    response_lines,
                    comment_lines,
                    raw[person].view("V16").ravel(),
                    question,
                    value,
                    analyze=w == 0 and division == org.divisions[0],
                )
            )
            t = timer.step("lines", t)
        responses = summaries.Responses(**{k: np.concatenate(v) for k, v in loaded.items()})
        del loaded
        counted = summaries.summarise(tree, responses, qs.questions)
        t = timer.step("summaries", t)
        log(
            f"  wave {w + 1}: {len(responses.unit)} responses generated, {len(counted.items)} "
            "item rows counted"
        )
        stores.append(
            writer.submit(
                _store_wave,
                wave.pk,
                counted,
                len(responses.unit),
                wave.closes_at,
                pattern,
                pool,
                loads,
            )
        )
        jobs.append(stores[-1])
        del responses, counted
    # The answers' primary key is built by the loader as soon as the last division is in,
    # beside the writer's last waves; the summary tables' keys once those are stored.
    answer_keys = loader.submit(
        _restore_primary_keys, [key for key in keys if key[0] not in SUMMARY_TABLES]
    )
    t = time.perf_counter()
    for future in jobs:
        result = future.result()
        if result is None:  # a wave's roster
            continue
        store_seconds, copy_seconds, pattern_job = result
        name, pattern_seconds = pattern_job.result()
        timer.totals["copy"] += copy_seconds
        log(
            f"  {name}: summary rows stored in {store_seconds:.1f} s, suppression pattern "
            f"({pattern}) {pattern_seconds:.1f} s"
        )
        timer.totals["store"] += store_seconds
        timer.totals["pattern"] += pattern_seconds
    for lane in (loader, writer):
        lane.submit(_close_connection).result()
        lane.shutdown()
    pool.shutdown()
    t = timer.step("wait", t, "waiting for the last summary rows and suppression patterns")
    _restore_primary_keys([key for key in keys if key[0] in SUMMARY_TABLES])
    t = timer.step("keys", t, "primary keys of the summary tables")
    log(f"  primary key of the answers: {answer_keys.result():.1f} s, beside the last waves")
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = DEFAULT")
        cursor.execute(f"VACUUM ANALYZE {', '.join(VACUUMED)}")
    t = timer.step("vacuum", t, "vacuum analyze")
    _create_users()
    Unit.objects.filter(pk=root.pk).update(name=marker(size, seed))
    timer.totals["total"] = time.perf_counter() - started_all
    dataset = find_dataset(size=size, seed=seed)
    dataset.timings = {name: round(value, 1) for name, value in timer.totals.items()}
    dataset.summary_rows = table_rows()
    env.RESULTS.mkdir(parents=True, exist_ok=True)
    generation_file(size).write_text(
        json.dumps({"size": size, "seed": seed, "pattern": pattern, "timings": dataset.timings})
    )
    summary = (
        "  generated in {total:.0f} s (org {org:.1f}, roster {roster:.1f}, answers {answers:.1f},"
        " lines {lines:.1f}, summaries counted {summaries:.1f}, waiting for the writer"
        " {ahead:.1f}; beside it: divisions loaded"
        " {copy:.1f}, summary rows stored {store:.1f}, patterns {pattern:.1f}; waiting for"
        " them {wait:.1f}; primary keys {keys:.1f}; vacuum {vacuum:.1f})"
    )
    log(summary.format_map(defaultdict(float, timer.totals)))
    return dataset


PATTERN_PROCESSES = 2
# Waves generated ahead of the writer: each holds about 300 MB of counted rows at a million
# responses (all ten ahead took 5 GB at the peak).
AHEAD = 2


def _load_division(response_lines, comment_lines, response_ids, question, value, *, analyze):
    """In the loader thread (its own connection): one division's responses, answers and
    comments in one transaction. Returns the seconds it took."""
    from django.db import connection, transaction

    started = time.perf_counter()
    _skip_foreign_key_triggers(lambda _message: None)
    with transaction.atomic(), connection.cursor() as cursor:
        _text_copy(
            cursor,
            "surveys_response",
            [
                "id",
                "wave_id",
                "unit_id",
                "role_level_id",
                "role_level_to_id",
                "tenure_band_id",
                "published",
            ],
            response_lines,
        )
        copy_binary(
            cursor,
            "surveys_answer",
            {
                "response_id": ("uuid", response_ids),
                "question_id": ("int8", question),
                "value": ("int2", value),
            },
        )
        _text_copy(
            cursor,
            "surveys_comment",
            [
                "id",
                "question_id",
                "text",
                "published",
                "wave_id",
                "unit_id",
                "role_level_id",
                "role_level_to_id",
                "tenure_band_id",
            ],
            comment_lines,
        )
    if analyze:  # the first division: statistics for the rest of the load
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE surveys_response, surveys_answer")
    return time.perf_counter() - started


def _close_connection() -> None:
    """The last job of a loading thread: close its connection."""
    from django.db import connection

    connection.close()


def _store_wave(
    wave_id: int,
    counted: summaries.Summaries,
    responses: int,
    published_at,
    pattern: str,
    pool,
    loads: list,
):
    """In the writer thread (its own connection): once the wave's divisions are loaded (the
    `loads` futures), write its summary rows and its publication in one transaction, then hand
    its suppression pattern to a worker process. Returns the seconds it took, the seconds of
    its divisions' loading and the pattern's future."""
    from django.db import connection, transaction

    from reports.models import Publication

    copy_seconds = sum(load.result() for load in loads)
    started = time.perf_counter()
    try:
        _skip_foreign_key_triggers(lambda _message: None)
        with transaction.atomic(), connection.cursor() as cursor:
            summaries.store(cursor, wave_id, counted)
            Publication.objects.create(
                wave_id=wave_id, version=1, responses=responses, published_at=published_at
            )
        # Vacuum what the waves so far added (pages already all-visible are skipped), so that
        # the last VACUUM finds little left to do and the views get index-only scans; a table
        # whose primary key is being built is left to the last one.
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM (SKIP_LOCKED) {', '.join(VACUUMED)}")
    finally:
        connection.close()
    seconds = time.perf_counter() - started
    return seconds, copy_seconds, pool.submit(_decide_pattern, wave_id, pattern)


SUMMARY_TABLES = ["reports_summarygroup", "reports_summaryitem", "reports_summarydimension"]
UNKEYED_TABLES = [*SUMMARY_TABLES, "surveys_answer"]
VACUUMED = [
    *SUMMARY_TABLES,
    "surveys_response",
    "surveys_answer",
    "surveys_comment",
    "surveys_invitation",
    "surveys_headcount",
    "surveys_unit",
]
# For building the primary keys at the end (the default 64 MB sorts on disk).
KEY_BUILD_MEMORY = "1GB"


def _drop_primary_keys(tables: list[str]) -> list[tuple[str, str, str]]:
    """Drop the tables' (empty) primary keys; returns (table, name, definition) of each."""
    from django.db import connection

    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
            "FROM pg_constraint WHERE contype = 'p' AND conrelid = ANY(%s::regclass[])",
            [tables],
        )
        keys = cursor.fetchall()
        for table, name, _definition in keys:
            cursor.execute(f"ALTER TABLE {quote(table)} DROP CONSTRAINT {quote(name)}")
    return keys


def _restore_primary_keys(keys: list[tuple[str, str, str]]) -> float:
    """Build the primary keys dropped by `_drop_primary_keys` again, as they were (which also
    checks that no key was written twice). Returns the seconds it took."""
    from django.db import connection

    started = time.perf_counter()
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = %s", [KEY_BUILD_MEMORY])
        for table, name, definition in keys:
            cursor.execute(f"ALTER TABLE {quote(table)} ADD CONSTRAINT {quote(name)} {definition}")
        cursor.execute("RESET maintenance_work_mem")
    return time.perf_counter() - started


def _pattern_worker_init() -> None:
    """A spawned pattern process: the benchmark's settings, then Django."""
    env.configure()
    import django

    django.setup()


def _decide_pattern(wave_id: int, pattern: str) -> tuple[str, float]:
    """Decide and store one wave's pattern (in a pattern process); returns its name and the
    seconds it took."""
    from django.db import connection

    from reports import publication as publication_module
    from reports.models import Publication
    from surveys.models import Wave

    started = time.perf_counter()
    try:
        wave = Wave.objects.get(pk=wave_id)
        publication = Publication.objects.get(wave=wave)
        if pattern == "full":
            publication_module._refresh_pattern(wave, publication)
        else:
            _primary_pattern(wave, publication)
    finally:
        connection.close()
    return wave.name, time.perf_counter() - started


def _primary_pattern(wave, publication) -> None:
    """Publish every cell of at least k respondents (no complementary suppression)."""
    from reports import publication as publication_module
    from reports.anonymity import cell_counts

    rows, _parents = publication_module.snapshot_rows(wave)
    counts = cell_counts(rows)
    publication.published_cells = sorted(c for c, n in counts.items() if n >= wave.k)
    publication.comment_units = sorted(
        int(c[2:]) for c, n in counts.items() if c.startswith("T|") and n >= wave.k_comments
    )
    publication.reliability = publication_module._reliability(wave)
    publication.save()


def _skip_foreign_key_triggers(log: Callable[[str], None]) -> None:
    """Bulk-load without per-row foreign-key triggers (PostgreSQL checks every deferred
    reference at commit: tens of microseconds per summary row). The generator writes only
    references it has just created. Needs a superuser, as the local `postgres` role is; other
    roles load with the checks, more slowly."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        if cursor.fetchone()[0]:
            cursor.execute("SET session_replication_role = replica")
        else:
            log("  (not a superuser: foreign keys are checked row by row, loading is slower)")


def _uuid4() -> str:
    h = bytearray(secrets.token_bytes(16))
    h[6] = (h[6] & 0x0F) | 0x40
    h[8] = (h[8] & 0x3F) | 0x80
    x = h.hex()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


def _roster_rows(wave_id: int, org: Org, roster: Roster, answering, roles, tenures) -> None:
    """The wave's headcounts and invitations (hashes of tokens nobody holds; the respondents'
    ones marked used, as `submit_response` leaves them). Runs in the writer thread too, on
    that thread's connection."""
    from django.db import connection, transaction

    _skip_foreign_key_triggers(lambda _message: None)
    with transaction.atomic(), connection.cursor() as cursor:
        _roster_copy(cursor, wave_id, org, roster, answering, roles, tenures)


def _roster_copy(cursor, wave_id: int, org: Org, roster: Roster, answering, roles, tenures):
    cells, counts = np.unique(
        np.stack([roster.unit, roster.rank, roster.tenure], axis=1), axis=0, return_counts=True
    )
    _text_copy(
        cursor,
        "surveys_headcount",
        ["wave_id", "unit_id", "role_level_id", "tenure_band_id", "people"],
        [
            f"{wave_id}\t{org.ids[u]}\t{roles[r]}\t{tenures[t]}\t{n}\n"
            for (u, r, t), n in zip(cells.tolist(), counts.tolist(), strict=True)
        ],
    )
    _text_copy(
        cursor,
        "surveys_invitation",
        ["wave_id", "token_hash", "unit_id", "role_level_id", "tenure_band_id", "used"],
        [
            f"{wave_id}\t{secrets.token_hex(32)}\t{org.ids[u]}\t{roles[r]}\t{tenures[t]}\t"
            f"{'t' if used else 'f'}\n"
            for u, r, t, used in zip(
                roster.unit.tolist(),
                roster.rank.tolist(),
                roster.tenure.tolist(),
                answering.tolist(),
                strict=True,
            )
        ],
    )


def _check_coarsening(wave, org: Org, roster: Roster, stored: dict, rng) -> None:
    """The vectorised coarsening must agree with `services.coarsen` (a sample of cells)."""
    from surveys import services
    from surveys.models import RoleLevel, TenureBand, Unit

    units = {u.pk: u for u in Unit.objects.all()}
    roles = {r.rank: r for r in RoleLevel.objects.all()}
    tenures = {t.rank: t for t in TenureBand.objects.all()}
    keys = list(stored)
    for index in rng.choice(len(keys), size=min(40, len(keys)), replace=False):
        u, r, t = keys[index]
        got = services.coarsen(
            wave=wave,
            attributes=services.Attributes(
                unit=units[int(org.ids[u])], role_level=roles[r], tenure_band=tenures[t]
            ),
        )
        cu, lo, hi, ct = stored[keys[index]]
        expected = (int(org.ids[cu]), lo, hi, ct)
        actual = (
            got.unit.pk,
            got.role_level.rank,
            (got.role_level_to or got.role_level).rank,
            got.tenure_band.rank if got.tenure_band else 0,
        )
        if expected != actual:
            raise AssertionError(f"coarsening differs for {keys[index]}: {expected} {actual}")


def _create_users() -> None:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from reports.access import HR_GROUP

    user, _ = get_user_model().objects.get_or_create(username="bench-hr")
    user.set_unusable_password()
    user.save()
    user.groups.add(Group.objects.get(name=HR_GROUP))


def table_rows() -> dict[str, int]:
    """Row counts (planner estimates, exact after VACUUM ANALYZE) and sizes of the big tables."""
    from django.db import connection

    tables = [
        "surveys_response",
        "surveys_answer",
        "surveys_invitation",
        "reports_summarygroup",
        "reports_summaryitem",
        "reports_summarydimension",
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, reltuples::bigint, pg_total_relation_size(oid) FROM pg_class "
            "WHERE relname = ANY(%s)",
            [tables],
        )
        rows = {name: (n, size) for name, n, size in cursor.fetchall()}
        cursor.execute("SELECT pg_database_size(current_database())")
        database = cursor.fetchone()[0]
    result = {f"{name}_rows": rows[name][0] for name in tables}
    result |= {f"{name}_mb": round(rows[name][1] / 2**20) for name in tables}
    result["database_mb"] = round(database / 2**20)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--pattern", choices=["full", "primary"], default="full")
    args = parser.parse_args()
    env.setup_django(recreate=True)
    dataset = generate(size=args.size, seed=args.seed, pattern=args.pattern)
    print(dataset)


if __name__ == "__main__":
    main()
