"""Reads: turn the published summary rows of a wave into guarded figures per group.

Every function here reads the summary tables (never raw answers) with a fixed number of
queries, and every group it returns has passed `anonymity.guard` with the publication's
suppression pattern. Views, exports, the API and the benchmark all call `summarize`.
"""

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from operator import itemgetter

from django.core.cache import cache
from django.db import connections
from django.db.models import Case, F, Q, Sum, Value, When
from django.utils.translation import gettext as _

from reports import scoring
from reports.anonymity import Guarded, band, guard, require_guarded, shown
from reports.models import (
    BAND_TOTAL,
    Publication,
    SummaryDimension,
    SummaryGroup,
    SummaryItem,
)
from reports.publication import ANY_EXPERIENCED
from surveys.models import Dimension, Question, RoleLevel, TenureBand, Unit, Wave

BREAKDOWNS = ("role_level", "tenure_band", "child_units")
TOPICS = ("humiliation", "sexual", "threat", "exclusion", "identity")


class BadBreakdown(ValueError):
    """The requested breakdown does not exist or cannot be combined."""


@dataclass(frozen=True)
class DimensionFigures:
    code: str
    name: str
    score: scoring.Estimate
    favourable: scoring.Estimate


@dataclass(frozen=True)
class Measures:
    """Every measure of one group (DESIGN "Measures")."""

    dimensions: dict[str, DimensionFigures]
    experienced: dict[str, scoring.Estimate]
    witnessed: dict[str, scoring.Estimate]
    funnel: scoring.Funnel | None
    safe_place: scoring.Estimate
    climate_index: scoring.Estimate


@dataclass(frozen=True)
class Group:
    """One row of a breakdown: its label and attributes, and the guarded figure."""

    label: str
    attrs: dict
    figure: Guarded

    @property
    def n(self) -> int | None:
        return self.figure.n

    @property
    def suppressed(self) -> bool:
        return self.figure.suppressed

    @property
    def measures(self) -> Measures | None:
        return self.figure.measures


@dataclass(frozen=True)
class Summary:
    wave: Wave
    unit: Unit
    by: tuple[str, ...]
    k: int
    total: Group
    groups: list[Group]
    power_gaps: dict[str, scoring.Difference] = field(default_factory=dict)
    headline_gap: tuple[str, scoring.Difference] | None = None
    published_at: object = None
    version: int = 0
    # The wave shows its figures only once it has closed, and has not yet (every group is
    # suppressed until then).
    results_hidden: bool = False


@dataclass(frozen=True)
class _MeasurePlan:
    """Which questions each measure counts, worked out once per instrument instead of once per
    group: (dimension, [(question id, favourable values)]) for the scored items, and (question
    id, purpose, topic) for the rest, in question order."""

    scored: list[tuple[Dimension, list[tuple[int, tuple[int, int]]]]]
    others: list[tuple[int, str, str]]


def _measure_plan(questions: dict[int, Question], dimensions: list[Dimension]) -> _MeasurePlan:
    scored = []
    for dimension in dimensions:
        items = [
            (qid, (1, 2) if question.reverse_scored else (4, 5))
            for qid, question in questions.items()
            if question.dimension_id == dimension.pk and question.kind in ("agree5", "freq5")
        ]
        scored.append((dimension, items))
    others = [(qid, question.purpose, question.topic) for qid, question in questions.items()]
    return _MeasurePlan(scored=scored, others=others)


@dataclass
class _Context:
    """Everything about a wave's instrument and labels, read once per request."""

    wave: Wave
    publication: Publication
    published: frozenset[str]
    questions: dict[int, Question]
    dimensions: list[Dimension]
    roles: dict[int, RoleLevel]
    tenures: dict[int, TenureBand]
    demographics: dict[str, Question]
    plan: _MeasurePlan


# An instrument's questions, dimensions and measure plan per (instrument, revision): read once
# per process until the instrument is edited (`surveys.apps` renews its revision then).
_INSTRUMENTS: dict[tuple, tuple[dict[int, Question], list[Dimension], _MeasurePlan]] = {}


def _instrument_content(wave: Wave) -> tuple[dict[int, Question], list[Dimension], _MeasurePlan]:
    instrument = wave.instrument  # loaded with the wave where the caller can
    key = (instrument.pk, instrument.revision)
    content = _INSTRUMENTS.get(key)
    if content is None:
        questions = {q.pk: q for q in Question.objects.filter(instrument_id=instrument.pk)}
        dimensions = list(Dimension.objects.filter(instrument_id=instrument.pk))
        content = (questions, dimensions, _measure_plan(questions, dimensions))
        if len(_INSTRUMENTS) >= 16:
            _INSTRUMENTS.clear()
        _INSTRUMENTS[key] = content
    return content


def forget_cached_instruments() -> None:
    """Empty the instrument cache (tests roll the database back under it)."""
    _INSTRUMENTS.clear()


# Role levels and tenure bands label every figure; they change rarely. Kept in Django's cache
# for a minute at most; a save or delete in this process forgets them at once (reports.apps).
LEVELS_KEY = "reports:levels"
LEVELS_CACHE_SECONDS = 60


def levels() -> tuple[dict[int, RoleLevel], dict[int, TenureBand]]:
    """Role levels and tenure bands by rank."""
    cached = cache.get(LEVELS_KEY)
    if cached is None:
        cached = (
            {r.rank: r for r in RoleLevel.objects.all()},
            {t.rank: t for t in TenureBand.objects.all()},
        )
        cache.set(LEVELS_KEY, cached, LEVELS_CACHE_SECONDS)
    return cached


@dataclass(frozen=True)
class _Published:
    """What a publication holds beyond its counters, parsed: its pattern as a set, and the
    units whose comments and the response rates it shows."""

    cells: frozenset[str]
    comment_units: tuple[int, ...]
    rates: dict


# Each publication's pattern, comment units and rates, per (publication, pattern revision,
# which every save renews): a wave's pattern holds thousands of cells and its rates one entry
# per unit, parsed once per process instead of once per wave and request.
_PATTERNS: dict[tuple, _Published] = {}
_MAX_PATTERNS = 256
# The JSON fields a wave list leaves out of its publications, for `published_patterns` to load
# (or take from its cache) when needed:
# `Wave.objects.select_related("publication").defer(*WITHOUT_PATTERN)`.
_HEAVY_FIELDS = ("published_cells", "comment_units", "rates")
WITHOUT_PATTERN = tuple(f"publication__{name}" for name in _HEAVY_FIELDS)


def _remember(key: tuple, cells, comment_units, rates) -> _Published:
    if len(_PATTERNS) >= _MAX_PATTERNS:
        _PATTERNS.clear()
    published = _PATTERNS[key] = _Published(frozenset(cells), tuple(comment_units), dict(rates))
    return published


def _fill(publication: Publication, published: _Published) -> None:
    """Set the fields a wave list left out (copies: the cached ones are shared)."""
    deferred = publication.get_deferred_fields()
    if "comment_units" in deferred:
        publication.comment_units = list(published.comment_units)
    if "rates" in deferred:
        publication.rates = dict(published.rates)


def published_patterns(publications: Iterable[Publication]) -> dict[int, frozenset[str]]:
    """The published cells of these publications, by publication id: from the process's cache
    when their revision is there, else from the loaded fields, else (loaded without them,
    `WITHOUT_PATTERN`) from one query for all of them, which a snapshot read sees as of the
    rest of the request (`reports.snapshot`). Publications loaded without their comment units
    and rates get them from the same place, so that reading them makes no query."""
    patterns: dict[int, frozenset[str]] = {}
    missing: dict[int, list[Publication]] = defaultdict(list)
    for publication in publications:
        if publication.pk is None:
            patterns[publication.pk] = frozenset(publication.published_cells)
            continue
        key = (publication.pk, publication.pattern_revision)
        published = _PATTERNS.get(key)
        if published is None and not set(_HEAVY_FIELDS) & publication.get_deferred_fields():
            published = _remember(
                key, publication.published_cells, publication.comment_units, publication.rates
            )
        if published is None:
            missing[publication.pk].append(publication)
            continue
        patterns[publication.pk] = published.cells
        _fill(publication, published)
    if missing:
        rows = Publication.objects.filter(pk__in=list(missing)).values_list(
            "pk", "pattern_revision", *_HEAVY_FIELDS
        )
        for pk, revision, *fields in rows:
            published = _remember((pk, revision), *fields)
            patterns[pk] = published.cells
            for publication in missing[pk]:
                _fill(publication, published)
    return patterns


def forget_cached_patterns() -> None:
    """Empty the pattern cache (tests roll the database back under it)."""
    _PATTERNS.clear()


def _context(wave: Wave, publication: Publication | None = None) -> _Context:
    if publication is None:
        publication = Publication.objects.filter(wave=wave).defer(
            *_HEAVY_FIELDS
        ).first() or Publication(wave=wave)
    questions, dimensions, plan = _instrument_content(wave)
    roles, tenures = levels()
    return _Context(
        wave=wave,
        publication=publication,
        published=published_patterns([publication])[publication.pk],
        questions=questions,
        dimensions=dimensions,
        roles=roles,
        tenures=tenures,
        demographics={
            q.code.lower(): q
            for q in questions.values()
            if q.purpose == Question.Purpose.DEMOGRAPHIC
        },
        plan=plan,
    )


def parse_breakdown(*, by: Sequence[str], demographic_codes: Sequence[str]) -> tuple[str, ...]:
    """Validate a breakdown: one attribute, or role level x one other attribute."""
    by = tuple(b.strip().lower() for b in by if b.strip())
    allowed = set(BREAKDOWNS) | {c.lower() for c in demographic_codes}
    for item in by:
        if item not in allowed:
            raise BadBreakdown(
                _("Unknown breakdown %(b)s; use one of: %(allowed)s")
                % {"b": item, "allowed": ", ".join(sorted(allowed))}
            )
    if len(by) > 2 or len(set(by)) != len(by):
        raise BadBreakdown(_("Use at most two different breakdowns."))
    if len(by) == 2:
        if "role_level" not in by or "child_units" in by:
            raise BadBreakdown(
                _("Two-way breakdowns are role level x tenure band or role level x a demographic.")
            )
        by = ("role_level", next(b for b in by if b != "role_level"))
    return by


def role_label(ctx: _Context, lo: int, hi: int) -> str:
    low, high = ctx.roles.get(lo), ctx.roles.get(hi)
    if low is None:
        return str(lo)
    return low.name if lo == hi or high is None else f"{low.name}–{high.name}"


def tenure_label(ctx: _Context, rank: int) -> str:
    return ctx.tenures[rank].name if rank in ctx.tenures else _("Tenure not recorded")


def demo_label(question: Question, value: int) -> str:
    for choice in question.choices:
        if int(choice["value"]) == value:
            return choice["label"]
    return str(value)


def summarize(*, wave: Wave, unit: Unit, by: Sequence[str] = ()) -> Summary:
    """Guarded figures for a unit's subtree in one wave, overall and per group of `by`.

    Reads only published summary rows: a fixed handful of queries whatever the number of
    responses. Every group (and the total) has passed the anonymity guard; power gaps are
    computed from published role-level groups only. Raises BadBreakdown for a bad `by`."""
    ctx = _context(wave)
    by = parse_breakdown(by=by, demographic_codes=list(ctx.demographics))
    return _summarize(ctx, unit, by)


def _summarize(ctx: _Context, unit: Unit, by: tuple[str, ...]) -> Summary:
    return _summarize_waves([ctx], unit, by)[ctx.wave.pk]


_TOTAL = ("__total__",)


def _bucket() -> dict:
    return {"n": 0, "items": defaultdict(dict), "dims": {}}


def _merged(buckets) -> dict:
    """The sum of several groups' counts (a unit total from its role x tenure groups)."""
    total = _bucket()
    for data in buckets:
        total["n"] += data["n"]
        for qid, values in data["items"].items():
            counts = total["items"][qid]
            for value, count in values.items():
                counts[value] = counts.get(value, 0) + count
        for dimension_id, (n, s, sq) in data["dims"].items():
            n0, s0, sq0 = total["dims"].get(dimension_id, (0, 0.0, 0.0))
            total["dims"][dimension_id] = (n0 + n, s0 + s, sq0 + sq)
    return total


def _grouping(ctx: _Context, by: tuple[str, ...]) -> tuple[Question | None, list[str], Q]:
    """For a breakdown: its demographic question (or None), the summary columns its groups
    are keyed by, and the filter that picks its rows (a demographic's own variant rows, the
    base rows when it shows tenure, else the role bands' totals over every tenure)."""
    demo = next((ctx.demographics[b] for b in by if b in ctx.demographics), None)
    fields = ["unit_id"]
    if "role_level" in by:
        fields += ["role_lo", "role_hi"]
    if "tenure_band" in by:
        fields += ["tenure"]
    if demo is not None:
        fields += ["demo_value"]
        return demo, fields, Q(demo_question=demo.pk)
    return demo, fields, Q(demo_question=0 if "tenure_band" in by else BAND_TOTAL)


def _summarize_waves(
    contexts: Sequence[_Context], unit: Unit, by: tuple[str, ...]
) -> dict[int, Summary]:
    """One summary per wave (of one instrument), reading each summary table once for all of
    them: three queries whatever the number of waves, groups or responses."""
    base_ctx = contexts[0]
    wave_ids = [ctx.wave.pk for ctx in contexts]
    units = [unit]
    if "child_units" in by:
        units += list(unit.children.order_by("name"))
    demo, group_fields, rows_filter = _grouping(base_ctx, by)
    base = Q(wave_id__in=wave_ids, unit_id__in=[u.pk for u in units]) & rows_filter
    totals_filter = Q(wave_id__in=wave_ids, unit_id=unit.pk, demo_question=BAND_TOTAL)
    # Without a demographic, a breakdown's groups partition the unit (every response is
    # counted once per unit, in its role band, and in its tenure group when tenure is shown):
    # the total is their sum, no extra read.
    derive_total = bool(by) and demo is None

    raw: dict[int, dict[tuple, dict]] = defaultdict(lambda: defaultdict(_bucket))
    if by:
        _read_groups(raw, base, group_fields, outer="wave_id")
    if not derive_total:
        _read_groups(raw, totals_filter, [], outer="wave_id")
    names = {u.pk: u.name for u in units}
    return {
        ctx.wave.pk: _build_summary(
            ctx, unit, by, demo, group_fields, names, dict(raw.get(ctx.wave.pk, {})), derive_total
        )
        for ctx in contexts
    }


def _read_groups(raw: dict, condition: Q, fields: list[str], *, outer: str) -> None:
    """Add the summary rows matching `condition`, summed per `fields` (the unit total when
    empty), into raw[row[outer]][group key]: one query per summary table."""

    names = list(dict.fromkeys([outer, *fields]))
    at = {name: index for index, name in enumerate(names)}
    outer_at = at[outer]
    key_of = itemgetter(*(at[f] for f in fields)) if fields else (lambda _row: _TOTAL)
    if len(fields) == 1:  # itemgetter of one index gives the value, not a tuple
        one = key_of
        key_of = lambda row: (one(row),)  # noqa: E731

    def bucket(row):
        return raw[row[outer_at]][key_of(row)]

    _read_rows(condition, {name: name for name in names}, bucket)


def _read_rows(conditions: Q | Sequence[Q], columns: dict, bucket: Callable[[tuple], dict]) -> None:
    """Add the summary rows matching `conditions` (one filter, or several disjoint ones),
    summed per `columns` (name: field name or expression), into the bucket `bucket(row)` names
    for each sum (`row`: the tuple of the columns' values): one query per summary table.

    Several filters are read as one UNION ALL of them: each is a range of the summary keys,
    read from the index alone on PostgreSQL (migration 0007), where their OR would be a
    bitmap scan visiting the table's pages."""
    parts = [conditions] if isinstance(conditions, Q) else list(conditions)
    names = list(columns)
    width = len(names)
    fields = [column for column in columns.values() if isinstance(column, str)]
    expressions = {name: column for name, column in columns.items() if not isinstance(column, str)}

    def grouped(model, extra, value_fields):
        # Tuples straight from the cursor: thousands of rows for a large unit over several
        # waves, whose values (integer keys, integer and float sums) need none of the ORM's
        # per-row conversion.
        if len(parts) == 1:
            sums = {f"sum_{v}": Sum(v) for v in value_fields}
            query = (
                model.objects.filter(parts[0])
                .values(*fields, *extra, **expressions)
                .annotate(**sums)
                .values_list(*names, *extra, *sums)
            )
            sql, params = query.query.sql_with_params()
        else:
            rows = [
                model.objects.filter(part)
                .order_by()
                .annotate(**expressions)
                .values_list(*names, *extra, *value_fields)
                for part in parts
            ]
            query = rows[0].union(*rows[1:], all=True)
            inner, params = query.query.sql_with_params()
            quote = connections[query.db].ops.quote_name
            keys = ", ".join(quote(name) for name in [*names, *extra])
            sums = ", ".join(f"SUM({quote(v)})" for v in value_fields)
            sql = f"SELECT {keys}, {sums} FROM ({inner}) parts GROUP BY {keys}"  # noqa: S608
        with connections[query.db].cursor() as cursor:
            cursor.execute(sql, params)
            yield from cursor

    for row in grouped(SummaryGroup, [], ["respondents"]):
        bucket(row)["n"] += row[width] or 0
    for row in grouped(SummaryItem, ["question_id", "value"], ["count"]):
        bucket(row)["items"][row[width]][row[width + 1]] = row[width + 2]
    for row in grouped(SummaryDimension, ["dimension_id"], ["n", "total", "total_sq"]):
        bucket(row)["dims"][row[width]] = row[width + 1 : width + 4]


@dataclass(frozen=True)
class BoardSummaries:
    """What a dashboard shows of one unit: by role level in its wave and the one it is
    compared with, by child unit in its wave, and the totals of the other waves of its trend."""

    by_role: dict[int, Summary]
    children: Summary
    totals: dict[int, Group]


def _summarize_board(
    contexts: Sequence[_Context],
    unit: Unit,
    children: Sequence[Unit],
    *,
    compared: Sequence[int],
) -> BoardSummaries:
    """`BoardSummaries` from one read per summary table. The first context is the wave shown;
    `compared` (ids, with it) are the waves read by role level, the others only as totals.

    The rows read never overlap: the unit's own rows in the compared waves, summed per role
    band; its rows in the other waves, summed to one total each; the children's rows in the
    wave shown, summed per child. The unit's total in a wave is the sum of its role bands (they
    partition it), so the children's breakdown takes it from there, as `summarize` does."""
    wave = contexts[0].wave
    by_wave = {ctx.wave.pk: ctx for ctx in contexts}
    compared = [pk for pk in dict.fromkeys(compared) if pk in by_wave]
    banded = Q(unit_id=unit.pk, wave_id__in=compared)
    conditions = [Q(demo_question=BAND_TOTAL, unit_id=unit.pk, wave_id__in=list(by_wave))]
    if children:
        conditions.append(
            Q(demo_question=BAND_TOTAL, unit_id__in=[u.pk for u in children], wave_id=wave.pk)
        )
    role: dict[int, dict[tuple, dict]] = defaultdict(lambda: defaultdict(_bucket))
    totals: dict[int, dict[tuple, dict]] = defaultdict(lambda: defaultdict(_bucket))
    by_child: dict[tuple, dict] = defaultdict(_bucket)
    compared_set = set(compared)

    def bucket(row):
        wave_id, unit_id, lo, hi = row[:4]
        if unit_id != unit.pk:
            return by_child[(unit_id,)]
        if wave_id in compared_set:
            return role[wave_id][(unit_id, lo, hi)]
        return totals[wave_id][_TOTAL]

    # Role bands only where they are shown: every other row is summed over them (0, 0).
    _read_rows(
        conditions,
        {
            "wave_id": "wave_id",
            "unit_id": "unit_id",
            "band_lo": Case(When(banded, then=F("role_lo")), default=Value(0)),
            "band_hi": Case(When(banded, then=F("role_hi")), default=Value(0)),
        },
        bucket,
    )
    role_fields = ["unit_id", "role_lo", "role_hi"]
    names = {unit.pk: unit.name}
    by_role = {
        pk: _build_summary(
            by_wave[pk], unit, ("role_level",), None, role_fields, names, dict(role[pk]), True
        )
        for pk in compared
    }
    by_child[(unit.pk,)] = _merged(role[wave.pk].values())
    names.update({u.pk: u.name for u in children})
    child_summary = _build_summary(
        contexts[0], unit, ("child_units",), None, ["unit_id"], names, dict(by_child), True
    )
    other_totals = {
        pk: _build_summary(ctx, unit, (), None, [], names, dict(totals[pk]), False).total
        for pk, ctx in by_wave.items()
        if pk not in compared_set
    }
    return BoardSummaries(by_role=by_role, children=child_summary, totals=other_totals)


def _summarize_units(
    ctx: _Context, units: Sequence[Unit], by: tuple[str, ...], chunk: int = 500
) -> dict[int, Summary]:
    """One summary per unit (of one wave, a breakdown without child units), reading each
    summary table once per `chunk` units: an export of every unit of a large organisation
    in a few queries."""
    if "child_units" in by:
        raise BadBreakdown(_("Child units cannot be combined with every unit at once."))
    demo, group_fields, rows_filter = _grouping(ctx, by)
    derive_total = bool(by) and demo is None
    raw: dict[int, dict[tuple, dict]] = defaultdict(lambda: defaultdict(_bucket))
    for start in range(0, len(units), chunk):
        ids = [u.pk for u in units[start : start + chunk]]
        if by:
            _read_groups(
                raw, Q(wave_id=ctx.wave.pk, unit_id__in=ids) & rows_filter, group_fields,
                outer="unit_id",
            )  # fmt: skip
        if not derive_total:
            _read_groups(
                raw, Q(wave_id=ctx.wave.pk, unit_id__in=ids, demo_question=BAND_TOTAL), [],
                outer="unit_id",
            )  # fmt: skip
    return {
        unit.pk: _build_summary(
            ctx,
            unit,
            by,
            demo,
            group_fields,
            {unit.pk: unit.name},
            dict(raw.get(unit.pk, {})),
            derive_total,
        )  # fmt: skip
        for unit in units
    }


def _build_summary(ctx, unit, by, demo, group_fields, names, raw, derive_total) -> Summary:
    wave = ctx.wave
    if not derive_total:
        total_data = raw.pop(_TOTAL, _bucket())
    elif "child_units" in by:
        total_data = raw.get((unit.pk,), _bucket())
    else:
        total_data = _merged(raw.values())
    total = Group(
        label=unit.name, attrs={"unit": unit.pk}, figure=_guarded(ctx, f"T|{unit.pk}", total_data)
    )
    groups = []
    for key in sorted(raw, key=lambda key: _sort_key(key, group_fields, names)):
        data = raw[key]
        values = dict(zip(group_fields, key, strict=True))
        cell, label, attrs = _describe(ctx, unit, values, by, demo, names)
        groups.append(Group(label=label, attrs=attrs, figure=_guarded(ctx, cell, data)))
    if "child_units" in by:
        groups = [g for g in groups if g.attrs.get("unit") != unit.pk]
    gaps, headline = {}, None
    if by == ("role_level",):
        gaps = power_gaps(ctx, groups)
        headline = scoring.headline_gap(gaps=gaps)
    return Summary(
        wave=wave,
        unit=unit,
        by=by,
        k=wave.k,
        total=total,
        groups=groups,
        power_gaps=gaps,
        headline_gap=headline,
        published_at=ctx.publication.published_at,
        version=ctx.publication.version,
        results_hidden=ctx.publication.results_hidden,
    )


def _guarded(ctx: _Context, cell: str, data: dict):
    """One group's figure through the guard; its measures are worked out only where the guard
    will show them (a withheld group's would be thrown away)."""
    n, k, published = data["n"], ctx.wave.k, ctx.published
    measures = _measures(ctx, data) if shown(cell=cell, n=n, k=k, published=published) else None
    return guard(cell=cell, n=n, measures=measures, k=k, published=published)


def _sort_key(key, fields, names):
    values = dict(zip(fields, key, strict=True))
    return (
        names.get(values.get("unit_id"), ""),
        values.get("role_lo", 0),
        values.get("role_hi", 0),
        values.get("tenure", 0),
        values.get("demo_value", 0),
    )


def _describe(ctx, unit, values, by, demo, names):
    u = values["unit_id"]
    attrs: dict = {}
    labels = []
    if "child_units" in by:
        attrs["unit"] = u
        labels.append(names[u])
        return f"T|{u}", names[u], attrs
    role = band(values["role_lo"], values["role_hi"]) if "role_level" in by else None
    if role:
        attrs["role_level"] = {"lo": values["role_lo"], "hi": values["role_hi"]}
        labels.append(role_label(ctx, values["role_lo"], values["role_hi"]))
    if "tenure_band" in by:
        attrs["tenure_band"] = values["tenure"]
        labels.append(tenure_label(ctx, values["tenure"]))
    if demo is not None:
        attrs[demo.code.lower()] = values["demo_value"]
        labels.append(demo_label(demo, values["demo_value"]))
    if role and "tenure_band" in by:
        cell = f"RN|{u}|{role}|{values['tenure']}"
    elif role and demo is not None:
        cell = f"RD|{u}|{role}|{demo.pk}|{values['demo_value']}"
    elif role:
        cell = f"R|{u}|{role}"
    elif "tenure_band" in by:
        cell = f"N|{u}|{values['tenure']}"
    else:
        cell = f"D|{u}|{demo.pk}|{values['demo_value']}"
    return cell, " · ".join(labels), attrs


def _measures(ctx: _Context, data: dict) -> Measures:
    items = data["items"]
    dims = data["dims"]
    dimensions = {}
    scores = []
    empty: dict[int, int] = {}
    for dimension, scored_items in ctx.plan.scored:
        n, total, total_sq = dims.get(dimension.pk, (0, 0.0, 0.0))
        favourable = answered = 0
        for qid, (good_a, good_b) in scored_items:
            count = items.get(qid, empty).get
            favourable += count(good_a, 0) + count(good_b, 0)
            answered += count(1, 0) + count(2, 0) + count(3, 0) + count(4, 0) + count(5, 0)
        score = scoring.dimension_score(n=n or 0, total=total or 0.0, total_sq=total_sq or 0.0)
        scores.append(score)
        dimensions[dimension.code] = DimensionFigures(
            code=dimension.code,
            name=dimension.name,
            score=score,
            favourable=scoring.pooled_favourable(
                favourable=favourable, answered=answered, respondents=n or 0
            ),
        )
    experienced, witnessed = {}, {}
    funnel = None
    safe_place = scoring.safe_place_score(counts={})
    reported = not_reported = 0
    why_not: dict[int, int] = {}
    for qid, purpose, topic in ctx.plan.others:
        counts = items.get(qid, empty)
        if purpose == Question.Purpose.EXPERIENCED:
            experienced[topic] = scoring.prevalence(counts=counts)
        elif purpose == Question.Purpose.WITNESSED:
            witnessed[topic] = scoring.prevalence(counts=counts)
        elif purpose == Question.Purpose.SAFE_PLACE:
            safe_place = scoring.safe_place_score(counts=counts)
        elif purpose == Question.Purpose.REPORTED:
            reported, not_reported = counts.get(1, 0), counts.get(2, 0)
        elif purpose == Question.Purpose.WHY_NOT_REPORTED:
            why_not = dict(counts)
    any_experienced = items.get(ANY_EXPERIENCED, {}).get(1, 0)
    # The funnel describes a sub-group (those who experienced something): it is shown only
    # when that sub-group itself reaches k, so it never describes a handful of people.
    if any_experienced >= ctx.wave.k and reported + not_reported >= ctx.wave.k:
        funnel = scoring.reporting_funnel(
            experienced=any_experienced,
            reported=reported,
            why_not=why_not,
            not_reported=not_reported,
        )
    return Measures(
        dimensions=dimensions,
        experienced=experienced,
        witnessed=witnessed,
        funnel=funnel,
        safe_place=safe_place,
        climate_index=_climate_index(scores, data["n"]),
    )


def _climate_index(scores: list[scoring.Estimate], n: int) -> scoring.Estimate:
    """Overall climate index: the mean of the dimension scores (0-100), no interval."""
    values = [s.value for s in scores if s.value is not None]
    if not values:
        return scoring.Estimate(value=None, low=None, high=None, n=n)
    return scoring.Estimate(value=sum(values) / len(values), low=None, high=None, n=n)


def power_gaps(ctx: _Context, groups: list[Group]) -> dict[str, scoring.Difference]:
    """Per dimension: highest published role level minus lowest (merged bands excluded)."""
    gaps = {}
    for dimension in ctx.dimensions:
        by_rank = {}
        for group in groups:
            role = group.attrs.get("role_level")
            if group.suppressed or not role or role["lo"] != role["hi"]:
                continue
            by_rank[role["lo"]] = group.measures.dimensions[dimension.code].score
        gaps[dimension.code] = scoring.power_gap(by_rank=by_rank)
    return gaps


def previous_wave(wave: Wave) -> Wave | None:
    """The wave before this one on the same instrument (by opening time)."""
    return (
        Wave.objects.filter(instrument_id=wave.instrument_id, opens_at__lt=wave.opens_at)
        .exclude(pk=wave.pk)
        .order_by("-opens_at")
        .first()
    )


@dataclass(frozen=True)
class TrendPoint:
    wave: Wave
    total: Group


def history(wave: Wave, waves: int = 10, *, among: Iterable[Wave] | None = None) -> list[Wave]:
    """Up to `waves` waves of the wave's instrument up to and including it, oldest first, with
    their publications (one query; none when `among`, every wave newest first with its
    publication and instrument, as `selectors.scoped_waves` reads them, is given)."""
    if among is None:
        rows = list(
            Wave.objects.filter(instrument_id=wave.instrument_id, opens_at__lte=wave.opens_at)
            .select_related("publication", "instrument")
            .defer(*WITHOUT_PATTERN)
            .order_by("-opens_at", "pk")[: waves + 1]
        )
    else:
        rows = [
            w
            for w in among
            if w.instrument_id == wave.instrument_id and w.opens_at <= wave.opens_at
        ][: waves + 1]
    current = [w for w in rows if w.pk == wave.pk] or [wave]
    earlier = [w for w in rows if w.pk != wave.pk and w.opens_at < wave.opens_at]
    return list(reversed(earlier[: waves - 1])) + current


class SummaryReader:
    """Summaries of one unit in waves of one instrument, reading the instrument, its questions
    and the role levels once (`summarize` is one summary with a reader of its own): the same
    guard and the same published pattern, with the per-wave context shared."""

    def __init__(self, wave: Wave, *, publication: Publication | None = None):
        """`publication`: the wave's, when the caller read it in the same snapshot (with the
        wave, say); else it is read here."""
        self._base = _context(wave, publication)
        self._contexts = {wave.pk: self._base}

    @property
    def questions(self) -> dict[int, Question]:
        return self._base.questions

    @property
    def dimensions(self) -> list:
        return self._base.dimensions

    @property
    def publication(self) -> Publication:
        return self._base.publication

    def context(self, wave: Wave) -> _Context:
        """The context of another wave of the instrument, with the publication loaded with the
        wave (`select_related("publication")`, as `history` does): no query, unless its
        pattern was left out (`WITHOUT_PATTERN`) and is not cached (`contexts` reads every
        missing one at once)."""
        return self.contexts([wave])[0]

    def contexts(self, waves: Iterable[Wave]) -> list[_Context]:
        """`context` of each wave, reading the patterns missing from the cache in one query."""
        waves = list(waves)
        new: dict[int, tuple[Wave, Publication]] = {}
        for wave in waves:
            if wave.pk in self._contexts or wave.pk in new:
                continue
            if wave.instrument_id != self._base.wave.instrument_id:
                raise ValueError("A reader serves the waves of one instrument.")
            try:
                publication = wave.publication
            except Publication.DoesNotExist:
                publication = Publication(wave=wave)
            new[wave.pk] = (wave, publication)
        if new:
            patterns = published_patterns(publication for _, publication in new.values())
            for pk, (wave, publication) in new.items():
                self._contexts[pk] = replace(
                    self._base,
                    wave=wave,
                    publication=publication,
                    published=patterns[publication.pk],
                )
        return [self._contexts[wave.pk] for wave in waves]

    def summarize(self, *, wave: Wave, unit: Unit, by: Sequence[str] = ()) -> Summary:
        """As `summarize`; raises BadBreakdown for a bad `by`."""
        ctx = self.context(wave)
        parsed = parse_breakdown(by=by, demographic_codes=list(ctx.demographics))
        summary = _summarize(ctx, unit, parsed)
        require_guarded([summary.total.figure, *(g.figure for g in summary.groups)])
        return summary

    def summarize_waves(
        self, *, waves: Sequence[Wave], unit: Unit, by: Sequence[str] = ()
    ) -> dict[int, Summary]:
        """`summarize` for several waves of the instrument at once, reading each summary
        table once for all of them; by wave id."""
        contexts = self.contexts(waves)
        parsed = parse_breakdown(by=by, demographic_codes=list(self._base.demographics))
        summaries = _summarize_waves(contexts, unit, parsed)
        require_guarded(
            figure
            for summary in summaries.values()
            for figure in [summary.total.figure, *(g.figure for g in summary.groups)]
        )
        return summaries

    def summarize_units(
        self, *, wave: Wave, units: Sequence[Unit], by: Sequence[str] = ()
    ) -> dict[int, Summary]:
        """`summarize` for many units of one wave at once (exports of a whole organisation),
        a few queries per 500 units; by unit id. Child units are not offered here."""
        ctx = self.context(wave)
        parsed = parse_breakdown(by=by, demographic_codes=list(ctx.demographics))
        summaries = _summarize_units(ctx, list(units), parsed)
        require_guarded(
            figure
            for summary in summaries.values()
            for figure in [summary.total.figure, *(g.figure for g in summary.groups)]
        )
        return summaries

    def summarize_board(
        self,
        *,
        unit: Unit,
        children: Sequence[Unit],
        compared: Sequence[Wave],
        trend: Sequence[Wave],
    ) -> BoardSummaries:
        """A dashboard's summaries of `unit` in the reader's wave, in one read per summary
        table: by role level in the `compared` waves (the reader's wave and the one before
        it), by child unit (`children`: every child of `unit`) in the reader's wave, and the
        totals of the other `trend` waves. Each figure as `summarize` gives it."""
        waves = {w.pk: w for w in [self._base.wave, *compared, *trend]}
        board = _summarize_board(
            self.contexts(waves.values()),
            unit,
            list(children),
            compared=[self._base.wave.pk, *(w.pk for w in compared)],
        )
        require_guarded(
            figure
            for summary in [*board.by_role.values(), board.children]
            for figure in [summary.total.figure, *(g.figure for g in summary.groups)]
        )
        require_guarded(total.figure for total in board.totals.values())
        return board

    def totals(self, *, waves: Sequence[Wave], unit: Unit) -> dict[int, Group]:
        """The unit's guarded total in each wave (one read per summary table for all)."""
        if not waves:
            return {}
        summaries = _summarize_waves(self.contexts(waves), unit, ())
        totals = {wave_id: summary.total for wave_id, summary in summaries.items()}
        require_guarded(total.figure for total in totals.values())
        return totals


def reason_labels(questions: dict[int, Question]) -> dict[int, str]:
    """The answer labels of the "why did you not report it?" question (choices that are not
    well-formed are left out)."""
    for question in questions.values():
        if question.purpose != Question.Purpose.WHY_NOT_REPORTED:
            continue
        labels = {}
        for choice in question.choices:
            try:
                labels[int(choice["value"])] = str(choice["label"])
            except (KeyError, TypeError, ValueError):
                continue
        return labels
    return {}


def changes(*, current: Group, previous: Group | None) -> dict[str, scoring.Difference]:
    """Per dimension score: current minus previous wave, flagged when the interval excludes 0.
    Both groups must be published; otherwise there is no change to show."""
    if previous is None or current.suppressed or previous.suppressed:
        return {}
    return {
        code: scoring.trend(
            current=figures.score, previous=previous.measures.dimensions[code].score
        )
        for code, figures in current.measures.dimensions.items()
        if code in previous.measures.dimensions
    }
