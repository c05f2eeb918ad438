"""Plain reads for the report pages that are not figures: pickers, waves, action plans,
comments and the audit log. Figures come from `reports.aggregation`; who may read what is
decided by `reports.access`. Every function is keyword-only, has no request argument and runs
a fixed number of queries.
"""

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from html import escape

from django.contrib.auth.models import AnonymousUser, User
from django.db import connections, router
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Window
from django.db.models.functions import Random, RowNumber
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from reports import access, aggregation, scoring
from reports import rates as rates_module
from reports.anonymity import guard, require_guarded
from reports.anonymity_engine import mask_comment, mentions_harassment, shuffled
from reports.models import ActionPlan, AuditEvent, Publication
from surveys.models import Comment, Headcount, Question, Unit, Wave

# A picker lists at most this many units; deeper units are reached through the breadcrumb and
# the child-unit links of the dashboard.
MAX_PICKER_UNITS = 500
# Comments shown per question on one page (the rest are counted, not shown).
MAX_COMMENTS_PER_QUESTION = 100


# --- Pickers ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class UnitOption:
    """One unit of a picker: its id, its name and its depth below the picker's top."""

    pk: int
    name: str
    depth: int

    @property
    def indented_name(self) -> str:
        return "\u2003" * self.depth + self.name


def _options(rows: list[tuple]) -> tuple[list[UnitOption], bool]:
    """The units a user may pick (the first ones they may read, in tree order, as rows of
    `_PICKER_FIELDS`), with their depth relative to the shallowest one, and whether the list
    was cut at MAX_PICKER_UNITS."""
    cut = len(rows) > MAX_PICKER_UNITS
    rows = rows[:MAX_PICKER_UNITS]
    top = min((row[_DEPTH] for row in rows), default=0)
    return [UnitOption(pk=row[0], name=row[_NAME], depth=row[_DEPTH] - top) for row in rows], cut


@dataclass(frozen=True)
class UnitPicker:
    """Everything a report page needs about units, from one read: the picker, and around the
    requested unit (when the user may read it) its breadcrumb and its children."""

    options: list[UnitOption]
    cut: bool
    unit: Unit | None
    breadcrumb: list[Unit]
    children: list[Unit]


def picker_options_html(options: list[UnitOption], *, selected: int) -> SafeString:
    """The picker's <option> elements (up to MAX_PICKER_UNITS of them on every report page),
    built in one pass instead of a template loop: names escaped, the unit shown selected."""
    marks = {selected: " selected"}
    return mark_safe(  # noqa: S308 (every name is escaped; the rest are integers)
        "".join(
            f'<option value="{option.pk:d}"{marks.get(option.pk, "")}>'
            f"{escape(option.indented_name)}</option>"
            for option in options
        )
    )


# The picker's read, as rows: a picker lists up to MAX_PICKER_UNITS units on every report
# page, and only the unit, its breadcrumb and its children become model instances.
_PICKER_FIELDS = tuple(f.attname for f in Unit._meta.concrete_fields)
_NAME, _DEPTH, _PARENT = (_PICKER_FIELDS.index(name) for name in ("name", "depth", "parent_id"))


def _unit(db: str, row: tuple) -> Unit:
    return Unit.from_db(db, _PICKER_FIELDS, row)


def unit_picker(*, user: User | AnonymousUser, unit_id: int | None) -> UnitPicker:
    """The units a user may pick (`_options`), and the unit `unit_id` with its readable
    ancestors (root first, ending with it: the breadcrumb) and its children (by name), if the
    user may read it (`unit` None otherwise: it does not exist, or is outside the user's
    scope). One query:
    the first MAX_PICKER_UNITS + 1 readable units in tree order, with the unit's ancestors
    and children wherever they are in the tree."""
    readable = access.readable_units(user)
    wanted = Q(pk__in=readable.order_by("path").values("pk")[: MAX_PICKER_UNITS + 1])
    if unit_id is not None:
        wanted |= Q(parent_id=unit_id) | Q(
            Exists(Unit.objects.filter(pk=unit_id, path__startswith=OuterRef("path")))
        )
    query = readable.filter(wanted).order_by("path").values_list(*_PICKER_FIELDS)
    rows = list(query)
    # Every readable unit before the picker's last one is in the picker: the first rows here
    # are the picker's; the unit's ancestors and children may follow them.
    options, cut = _options(rows[: MAX_PICKER_UNITS + 1])
    row = next((row for row in rows if row[0] == unit_id), None)
    unit = None if row is None else _unit(query.db, row)
    breadcrumb: list[Unit] = []
    children: list[Unit] = []
    if unit is not None:
        ancestors = set(unit.ancestor_ids)
        breadcrumb = [
            unit if row[0] == unit_id else _unit(query.db, row)
            for row in rows
            if row[0] in ancestors
        ]
        children = sorted(
            (_unit(query.db, row) for row in rows if row[_PARENT] == unit_id),
            key=lambda u: u.name,
        )
    return UnitPicker(options=options, cut=cut, unit=unit, breadcrumb=breadcrumb, children=children)


def scoped_waves(*, user: User | AnonymousUser) -> list[Wave]:
    """Every wave, newest first, with its publication and instrument, each marked `readable`
    (in the user's scope: `access.readable_waves`), in one query: a page's picker and the
    history of its trend (`aggregation.history`, which reads every wave of the instrument)
    from the same rows."""
    return list(
        Wave.objects.select_related("publication", "instrument")
        .defer(*aggregation.WITHOUT_PATTERN)
        .annotate(readable=access.wave_in_scope(user))
        .order_by("-opens_at", "pk")
    )


def published_at(wave: Wave):
    """When the wave's figures were last published, or None (uses a prefetched publication)."""
    try:
        return wave.publication.published_at
    except Publication.DoesNotExist:
        return None


def default_wave(waves: list[Wave]) -> Wave | None:
    """The newest wave with figures to show, else the newest wave."""
    return next(
        (w for w in waves if published_at(w) and not w.publication.results_hidden),
        waves[0] if waves else None,
    )


def ancestors_within_scope(*, user: User | AnonymousUser, unit: Unit) -> list[Unit]:
    """The unit's ancestors the user may read, root first, ending with the unit (breadcrumb;
    `unit_picker` reads it with the picker)."""
    return list(access.readable_units(user).filter(pk__in=unit.ancestor_ids).order_by("depth"))


# --- Action plans -----------------------------------------------------------------------------


def action_plans(*, unit: Unit, waves: list[Wave]) -> dict[int, list[ActionPlan]]:
    """The unit's action plans recorded in these waves, by wave id (one query)."""
    plans: dict[int, list[ActionPlan]] = defaultdict(list)
    for plan in ActionPlan.objects.filter(unit=unit, wave__in=waves).order_by("due", "pk"):
        plans[plan.wave_id].append(plan)
    return dict(plans)


# --- Comments ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShownComment:
    text: str
    mentions_harassment: bool


@dataclass(frozen=True)
class CommentGroup:
    question: str
    comments: list[ShownComment]
    total: int


def _comment_sample(*, wave: Wave, unit: Unit) -> Iterable[tuple[int, str, str, str, int]]:
    """(question order, code, text, comment, the question's total) for at most
    MAX_COMMENTS_PER_QUESTION published comments per question of the unit's subtree, picked at
    random by the database (the reports' database, as the router reads): a large unit's
    thousands of comments stay there.

    PostgreSQL: the subtree's comment ids and questions are read once, each question's sample
    is a bounded sort of those ids, and only the picked comments' text is read (a whole
    organisation's 15,000 comments of a wave: 9 ms instead of 30-40 ms for sorting every
    comment with its text through two window functions). Elsewhere: a window query over the
    comments."""
    database = connections[router.db_for_read(Comment)]
    if database.vendor != "postgresql":
        return (
            Comment.objects.filter(wave=wave, published=True, unit__path__startswith=unit.path)
            .annotate(
                pick=Window(RowNumber(), partition_by=[F("question_id")], order_by=Random()),
                total=Window(Count("pk"), partition_by=[F("question_id")]),
            )
            .filter(pick__lte=MAX_COMMENTS_PER_QUESTION)
            .values_list("question__order", "question__code", "question__text", "text", "total")
        )
    quote = database.ops.quote_name
    comment, unit_table = quote(Comment._meta.db_table), quote(Unit._meta.db_table)
    question = quote(Question._meta.db_table)
    with database.cursor() as cursor:
        cursor.execute(
            f"""WITH pool AS MATERIALIZED (
                    SELECT c.id, c.question_id FROM {comment} c
                    JOIN {unit_table} u ON u.id = c.unit_id
                    WHERE c.wave_id = %(wave)s AND c.published AND u.path LIKE %(path)s)
                SELECT q."order", q.code, q.text, c.text, t.total
                FROM (SELECT question_id, count(*) AS total FROM pool GROUP BY question_id) t
                JOIN {question} q ON q.id = t.question_id
                CROSS JOIN LATERAL (
                    SELECT p.id FROM pool p WHERE p.question_id = t.question_id
                    ORDER BY random() LIMIT %(limit)s) picked
                JOIN {comment} c ON c.id = picked.id""",  # noqa: S608 (names from metadata)
            {
                "wave": wave.pk,
                "path": unit.path + "%",  # digits and slashes: nothing to escape
                "limit": MAX_COMMENTS_PER_QUESTION,
            },
        )
        return cursor.fetchall()


def comments(*, wave: Wave, unit: Unit, publication: Publication) -> list[CommentGroup] | None:
    """The published comments of a unit's subtree, per question, in random order and masked
    (DESIGN point 5). None when the unit is not among the publication's comment units (fewer
    than k_comments respondents, or its comments could be isolated by difference)."""
    if unit.pk not in set(publication.comment_units or []):
        return None
    rows = _comment_sample(wave=wave, unit=unit)
    by_question: dict[tuple[int, str, str], list[str]] = defaultdict(list)
    totals: dict[tuple[int, str, str], int] = {}
    for order, code, question, text, total in rows:
        by_question[order, code, question].append(text)
        totals[order, code, question] = total
    groups = []
    for key in sorted(by_question):
        shown = [
            ShownComment(
                text=mask_comment(text, names=[]), mentions_harassment=mentions_harassment(text)
            )
            for text in shuffled(by_question[key])
        ]
        groups.append(CommentGroup(question=key[2], comments=shown, total=totals[key]))
    return groups


# --- Waves (HR) -------------------------------------------------------------------------------


@dataclass(frozen=True)
class UnitRate:
    """A unit's response rate as published; responded and invited are None when the unit is
    too small to show (fewer than k invitations, or needed to protect one that is)."""

    unit: Unit
    depth: int
    responded: int | None
    invited: int | None
    rate: scoring.Estimate | None

    @property
    def withheld(self) -> bool:
        return self.invited is None


@dataclass(frozen=True)
class WaveRow:
    wave: Wave
    publication: Publication | None
    has_headcounts: bool
    responded: int | None
    invited: int | None
    rate: scoring.Estimate | None
    top_units: list[UnitRate]


def publication_of(wave: Wave) -> Publication | None:
    try:
        return wave.publication
    except Publication.DoesNotExist:
        return None


def published_rate(publication: Publication | None, key: str, *, k: int) -> tuple[int, int] | None:
    """(invitations used, invitations sent) as counted at the last publication, for a unit id
    (str) or "wave", through the anonymity guard like every other figure (cell "RATE|key",
    n = invitations sent; the publishable cells are the rates `reports.rates` kept); None when
    nothing is published or the rate is withheld."""
    if publication is None:
        return None
    counts = publication.rates.get(key)
    figure = guard(
        cell=f"RATE|{key}",
        n=counts[1] if counts else 0,
        measures=tuple(counts) if counts else None,
        k=k,
        published=frozenset(f"RATE|{shown}" for shown in publication.rates),
    )
    require_guarded([figure])
    return None if figure.suppressed else figure.measures


def wave_overview(*, waves: list[Wave] | None = None) -> list[WaveRow]:
    """Every wave with its state, publication, invitations used and the response rate of each
    of its scope units (their whole subtree) as published, and whether it has roster
    headcounts."""
    waves = (
        waves
        if waves is not None
        else list(
            Wave.objects.select_related("instrument", "publication")
            .prefetch_related("units")
            .order_by("-opens_at", "pk")
        )
    )
    with_headcounts = set(
        Headcount.objects.filter(wave__in=waves).values_list("wave_id", flat=True).distinct()
    )
    rows = []
    for wave in waves:
        publication = publication_of(wave)
        whole = published_rate(publication, rates_module.WAVE, k=wave.k)
        rows.append(
            WaveRow(
                wave=wave,
                publication=publication,
                has_headcounts=wave.pk in with_headcounts,
                responded=whole[0] if whole else None,
                invited=whole[1] if whole else None,
                rate=scoring.response_rate(responded=whole[0], invited=whole[1]) if whole else None,
                top_units=unit_rates(
                    wave=wave, units=list(wave.units.all()), depth=0, publication=publication
                ),
            )
        )
    return rows


def unit_rates(
    *,
    wave: Wave,
    units: list[Unit],
    depth: int | None = None,
    publication: Publication | None = None,
) -> list[UnitRate]:
    """Response rates (invitations used / sent) over each given unit's whole subtree, as
    counted at the wave's last publication (read unless given); `depth` None keeps each
    unit's own depth."""
    if publication is None:
        publication = Publication.objects.filter(wave=wave).first()
    result = []
    for unit in units:
        counts = published_rate(publication, str(unit.pk), k=wave.k)
        result.append(
            UnitRate(
                unit=unit,
                depth=unit.depth if depth is None else depth,
                responded=counts[0] if counts else None,
                invited=counts[1] if counts else None,
                rate=scoring.response_rate(responded=counts[0], invited=counts[1])
                if counts
                else None,
            )
        )
    return result


def subtree_rates(*, waves: list[Wave], unit: Unit) -> dict[int, tuple[int, int] | None]:
    """(invitations used, invitations sent) over the unit's subtree as published, per wave id
    (None where withheld or not published)."""
    # The waves of a dashboard come with their publication (select_related): no query then.
    return {wave.pk: published_rate(publication_of(wave), str(unit.pk), k=wave.k) for wave in waves}


def wave_units_for_rates(*, wave: Wave, max_depth: int = 2) -> list[Unit]:
    """The wave's scope units and their descendants down to `max_depth` levels below them."""
    result: list[Unit] = []
    for top in wave.units.order_by("path"):
        result += list(
            Unit.objects.subtree(top).filter(depth__lte=top.depth + max_depth).order_by("path")
        )
    return result


# --- Audit log --------------------------------------------------------------------------------


def audit_events(
    *,
    username: str = "",
    action: str = "",
    since: dt.date | None = None,
    until: dt.date | None = None,
    path_contains: str = "",
) -> QuerySet[AuditEvent]:
    """Audit events, newest first, filtered by user name (exact, case-insensitive), action,
    date range (inclusive, in the current time zone) and a path fragment."""
    events = AuditEvent.objects.order_by("-at", "-pk")
    if username:
        events = events.filter(username__iexact=username)
    if action:
        events = events.filter(action=action)
    tz = timezone.get_current_timezone()
    if since:
        events = events.filter(at__gte=dt.datetime.combine(since, dt.time.min, tzinfo=tz))
    if until:
        end = dt.datetime.combine(until + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
        events = events.filter(at__lt=end)
    if path_contains:
        events = events.filter(path__icontains=path_contains)
    return events
