"""Reads: turn the published summary rows of a wave into guarded figures per group.

Every function here reads the summary tables (never raw answers) with a fixed number of
queries, and every group it returns has passed `anonymity.guard` with the publication's
suppression pattern. Views, exports, the API and the benchmark all call `summarize`.
"""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db.models import Q, Sum
from django.utils.translation import gettext as _

from reports import scoring
from reports.anonymity import Guarded, band, guard
from reports.models import Publication, SummaryDimension, SummaryGroup, SummaryItem
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


def _context(wave: Wave) -> _Context:
    publication = Publication.objects.filter(wave=wave).first() or Publication(wave=wave)
    questions = {q.pk: q for q in Question.objects.filter(instrument_id=wave.instrument_id)}
    return _Context(
        wave=wave,
        publication=publication,
        published=frozenset(publication.published_cells),
        questions=questions,
        dimensions=list(Dimension.objects.filter(instrument_id=wave.instrument_id)),
        roles={r.rank: r for r in RoleLevel.objects.all()},
        tenures={t.rank: t for t in TenureBand.objects.all()},
        demographics={
            q.code.lower(): q
            for q in questions.values()
            if q.purpose == Question.Purpose.DEMOGRAPHIC
        },
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
    wave = ctx.wave
    units = [unit]
    if "child_units" in by:
        units += list(unit.children.order_by("name"))
    demo = next((ctx.demographics[b] for b in by if b in ctx.demographics), None)
    group_fields = ["unit_id"]
    if "role_level" in by:
        group_fields += ["role_lo", "role_hi"]
    if "tenure_band" in by:
        group_fields += ["tenure"]
    if demo is not None:
        group_fields += ["demo_value"]
        rows_filter = Q(demo_question=demo.pk)
    else:
        rows_filter = Q(demo_question=0)
    base = Q(wave=wave, unit_id__in=[u.pk for u in units]) & rows_filter
    totals_filter = Q(wave=wave, unit_id=unit.pk, demo_question=0)

    def grouped(model, fields, value_fields, condition):
        return (
            model.objects.filter(condition)
            .values(*fields)
            .annotate(**{f"sum_{v}": Sum(v) for v in value_fields})
        )

    # Groups of the breakdown, then the unit total (the same three reads each).
    raw: dict[tuple, dict] = defaultdict(lambda: {"n": 0, "items": defaultdict(dict), "dims": {}})
    unit_total_key = ("__total__",)
    for condition, fields, keyer in (
        (base, group_fields, lambda r: tuple(r[f] for f in group_fields)),
        (totals_filter, [], lambda r: unit_total_key),
    ):
        if condition is base and not by:
            continue
        for row in grouped(SummaryGroup, fields, ["respondents"], condition):
            raw[keyer(row)]["n"] += row["sum_respondents"] or 0
        for row in grouped(SummaryItem, [*fields, "question_id", "value"], ["count"], condition):
            raw[keyer(row)]["items"][row["question_id"]][row["value"]] = row["sum_count"]
        for row in grouped(
            SummaryDimension, [*fields, "dimension_id"], ["n", "total", "total_sq"], condition
        ):
            raw[keyer(row)]["dims"][row["dimension_id"]] = (
                row["sum_n"],
                row["sum_total"],
                row["sum_total_sq"],
            )

    total_data = raw.pop(unit_total_key, {"n": 0, "items": {}, "dims": {}})
    total = Group(
        label=unit.name,
        attrs={"unit": unit.pk},
        figure=guard(
            cell=f"T|{unit.pk}",
            n=total_data["n"],
            measures=_measures(ctx, total_data),
            k=wave.k,
            published=ctx.published,
        ),
    )
    names = {u.pk: u.name for u in units}
    groups = []
    for key in sorted(raw, key=lambda key: _sort_key(key, group_fields, names)):
        data = raw[key]
        values = dict(zip(group_fields, key, strict=True))
        cell, label, attrs = _describe(ctx, unit, values, by, demo, names)
        groups.append(
            Group(
                label=label,
                attrs=attrs,
                figure=guard(
                    cell=cell,
                    n=data["n"],
                    measures=_measures(ctx, data),
                    k=wave.k,
                    published=ctx.published,
                ),
            )
        )
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
    )


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
    for dimension in ctx.dimensions:
        n, total, total_sq = dims.get(dimension.pk, (0, 0.0, 0.0))
        favourable = answered = 0
        for qid, question in ctx.questions.items():
            if question.dimension_id != dimension.pk or question.kind not in ("agree5", "freq5"):
                continue
            counts = items.get(qid, {})
            good = (1, 2) if question.reverse_scored else (4, 5)
            favourable += sum(counts.get(v, 0) for v in good)
            answered += sum(counts.get(v, 0) for v in range(1, 6))
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
    for qid, question in ctx.questions.items():
        counts = items.get(qid, {})
        if question.purpose == Question.Purpose.EXPERIENCED:
            experienced[question.topic] = scoring.prevalence(counts=counts)
        elif question.purpose == Question.Purpose.WITNESSED:
            witnessed[question.topic] = scoring.prevalence(counts=counts)
        elif question.purpose == Question.Purpose.SAFE_PLACE:
            safe_place = scoring.safe_place_score(counts=counts)
        elif question.purpose == Question.Purpose.REPORTED:
            reported, not_reported = counts.get(1, 0), counts.get(2, 0)
        elif question.purpose == Question.Purpose.WHY_NOT_REPORTED:
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


def trend(*, wave: Wave, unit: Unit, waves: int = 10) -> list[TrendPoint]:
    """The unit's guarded totals in up to `waves` waves of the same instrument, oldest first,
    ending with `wave`."""
    history = list(
        Wave.objects.filter(instrument_id=wave.instrument_id, opens_at__lte=wave.opens_at).order_by(
            "-opens_at"
        )[:waves]
    )
    return [TrendPoint(wave=w, total=summarize(wave=w, unit=unit).total) for w in reversed(history)]


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
