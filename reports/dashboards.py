"""The leader and HR dashboard: headline cards, Plotly charts and their data tables, built on
the server from guarded summaries (`reports.aggregation`).

Every figure here comes out of `aggregation.summarize`'s machinery and is checked with
`anonymity.require_guarded` before a chart or table is built from it. Suppressed groups are
never drawn as zero or left out: charts grey them and say "fewer than k responses", tables
show the same words. Figures are serialised with `fig.to_json()` and drawn in the browser by
static/js/dashboard.js (no inline script: the page's CSP forbids it).

Colours: cividis for the heatmaps and the Okabe–Ito palette for categories, both readable with
the common colour-vision deficiencies; every chart also labels its values or uses patterns and
marker shapes, so nothing is told by colour alone.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import textwrap
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import plotly.graph_objects as go
from django.core.cache import cache
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from plotly.subplots import make_subplots

from reports import aggregation, scoring, selectors
from reports.aggregation import Group, Summary, SummaryReader
from reports.aggregation import reason_labels as _reason_labels
from reports.anonymity import require_guarded
from reports.models import ActionPlan, Publication
from reports.publication import batch_size
from reports.selectors import CommentGroup
from surveys.models import Unit, Wave

# Okabe & Ito (2008): distinguishable with every common colour-vision deficiency.
OKABE_ITO = [
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#D55E00",  # vermillion
    "#56B4E9",  # sky blue
    "#000000",  # black
    "#F0E442",  # yellow
]
PATTERNS = ["", "/", "\\", "x", ".", "+", "-", "|"]
SYMBOLS = ["circle", "square", "diamond", "triangle-up", "triangle-down", "cross", "x", "star"]
HEATMAP_SCALE = "Viridis"
SUPPRESSED_FILL = "#d9d9d9"
SUPPRESSED_TEXT = "#333333"
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
TREND_WAVES = 6


def topic_label(topic: str) -> str:
    labels = {
        "humiliation": _("Humiliated or belittled"),
        "sexual": _("Unwanted sexual attention"),
        "threat": _("Threats to job or career"),
        "exclusion": _("Deliberately left out"),
        "identity": _("Slights about who they are"),
    }
    return labels.get(topic, topic.replace("_", " ").capitalize())


# --- Formatting -------------------------------------------------------------------------------


def fmt(value: float | None, digits: int = 1) -> str:
    """A figure as the dashboard and the exports show it (one decimal by default)."""
    if value is None:
        return "–"
    return f"{round(value, digits):.{digits}f}"


def fmt_signed(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "–"
    rounded = round(value, digits)
    if rounded == 0:
        return f"{0:.{digits}f}"
    return f"{'+' if rounded > 0 else '−'}{abs(rounded):.{digits}f}"


def fmt_interval(low: float | None, high: float | None, signed: bool = False) -> str:
    if low is None or high is None:
        return ""
    f = fmt_signed if signed else fmt
    return _("95%% CI %(low)s to %(high)s") % {"low": f(low), "high": f(high)}


def suppressed_text(k: int) -> str:
    return _("fewer than %(k)s responses") % {"k": k}


def plotly_text(text: str) -> str:
    """Text for a Plotly label, legend, hover or note, shown as written. Plotly reads a small
    HTML dialect in these strings (<a href> links, <span style>, <b>), so a unit, role or wave
    named with markup would become a link or styling in the chart; its entities are decoded."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _wrap(label: str, width: int = 18) -> str:
    lines = textwrap.wrap(label, width, break_long_words=False) or [label]
    return "<br>".join(plotly_text(line) for line in lines)


# --- Data shapes ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """One table cell: the text a reader sees, and whether it stands for a suppressed group."""

    text: str
    suppressed: bool = False
    numeric: bool = False
    flag: str = ""


@dataclass(frozen=True)
class Table:
    caption: str
    columns: list[str]
    rows: list[list[Cell]]


@dataclass(frozen=True)
class Chart:
    """A chart (Plotly figure as a JSON-ready dict, or None when there is nothing to draw) and
    the data table that says the same in words."""

    key: str
    title: str
    description: str
    figure: dict | None
    table: Table
    note: str = ""
    height: int = 420
    # Set by cached_charts: the key of the chart's inputs, under which its rendered HTML is
    # cached too (templates/reports/_chart.html).
    digest: str = ""

    @property
    def plot_id(self) -> str:
        return f"plot-{self.key}"

    @property
    def data_id(self) -> str:
        return f"figure-{self.key}"


@dataclass(frozen=True)
class Change:
    """Change since the previous wave, in words."""

    text: str
    available: bool = False
    significant: bool = False
    direction: str = ""  # "up", "down" or "" (no change or none to show)


@dataclass(frozen=True)
class Card:
    key: str
    title: str
    value: str
    detail: str
    change: Change
    suppressed: bool = False
    flag: str = ""
    highlight: bool = False


@dataclass(frozen=True)
class TrendWave:
    wave: Wave
    total: Group
    plans: list[ActionPlan]


@dataclass(frozen=True)
class Dashboard:
    wave: Wave
    unit: Unit
    k: int
    batch: int
    published_at: object
    version: int
    previous: Wave | None
    summary: Summary
    children: Summary
    cards: list[Card]
    lead: list[str]
    charts: list[Chart]
    trend: list[TrendWave]
    dimensions: list[tuple[str, str]]
    plans: list[ActionPlan] = field(default_factory=list)
    comments: list[CommentGroup] | None = None
    show_flags: bool = False
    # The wave does not show live results: nothing until it closes (anonymity point 6).
    results_hidden: bool = False

    @property
    def charts_by_key(self) -> dict[str, Chart]:
        return {chart.key: chart for chart in self.charts}

    @property
    def earlier_plans(self) -> list[TrendWave]:
        return [point for point in self.trend if point.wave.pk != self.wave.pk and point.plans]


# --- Reading summaries ------------------------------------------------------------------------


def history(wave: Wave, waves: int = TREND_WAVES, *, among: list[Wave] | None = None) -> list[Wave]:
    """Up to `waves` waves of the wave's instrument up to and including it, oldest first, with
    their publications (one query, or none from `among`: every wave, as
    `selectors.scoped_waves` reads them). The one before `wave` is
    `aggregation.previous_wave`."""
    return aggregation.history(wave, waves, among=among)


# --- Building the dashboard -------------------------------------------------------------------


# Building Plotly figures is most of a dashboard's time, and they change only when a batch is
# published: kept in Django's cache under a digest of everything they are drawn from.
CHARTS_CACHE_SECONDS = 24 * 3600


def cached_charts(*, inputs: object, build: Callable[[], list[Chart]]) -> list[Chart]:
    """`build()`, or the charts it built before from the same inputs (the guarded summaries,
    labels and thresholds they are drawn from, and the language). The key is a digest of the
    inputs' full text, so a different figure, pattern, label or language is a different key."""
    text = repr((CHARTS_CACHE_SECONDS, get_language(), inputs))
    key = "dashboard-charts:" + hashlib.sha256(text.encode()).hexdigest()
    charts = cache.get(key)
    if charts is None:
        charts = [dataclasses.replace(chart, digest=f"{key}:{chart.key}") for chart in build()]
        cache.set(key, charts, CHARTS_CACHE_SECONDS)
    return charts


def build_dashboard(
    *,
    wave: Wave,
    unit: Unit,
    show_flags: bool = False,
    children: list[Unit] | None = None,
    waves: list[Wave] | None = None,
) -> Dashboard:
    """Everything the dashboard page shows for one unit (and its subtree) in one wave.

    Reads a fixed number of queries, whatever the number of waves, groups or responses: the
    waves of the trend with their publications (none when `waves`, every wave as
    `selectors.scoped_waves` reads them, is given), the unit's children (none when given), one
    read per summary table for every figure (`SummaryReader.summarize_board`), the action
    plans and, for units whose comments may be shown, the comments. The instrument, role levels
    and tenure bands come from caches. `show_flags` adds the "mentions harassment" flag to
    comments (for HR only)."""
    waves = history(wave, among=waves)
    wave = waves[-1]  # with its publication, read with the others
    previous = waves[-2] if len(waves) > 1 else None
    reader = SummaryReader(
        wave, publication=selectors.publication_of(wave) or Publication(wave=wave)
    )
    if children is None:
        children = list(unit.children.all())
    # This wave and the previous one by role level, this wave by child unit and the totals of
    # the other waves of the trend: one read per summary table.
    board = reader.summarize_board(
        unit=unit, children=children, compared=[w for w in (previous,) if w], trend=waves
    )
    summary = board.by_role[wave.pk]
    children = board.children
    previous_summary = board.by_role[previous.pk] if previous else None
    totals = {wave_id: s.total for wave_id, s in board.by_role.items()}
    totals.update(board.totals)
    plans = selectors.action_plans(unit=unit, waves=waves)
    trend = [
        TrendWave(wave=point, total=totals[point.pk], plans=plans.get(point.pk, []))
        for point in waves
    ]
    rate = previous_rate = None
    if not summary.total.suppressed:
        rates = selectors.subtree_rates(waves=[w for w in (wave, previous) if w], unit=unit)
        rate = rates[wave.pk]
        previous_rate = rates.get(previous.pk) if previous else None
    comments = selectors.comments(wave=wave, unit=unit, publication=reader.publication)
    dimensions = [(d.code, d.name) for d in reader.dimensions]
    k = wave.k
    reasons = _reason_labels(reader.questions)

    def build_charts() -> list[Chart]:
        charts = [
            role_heatmap(summary=summary, dimensions=dimensions),
            gap_chart(summary=summary, previous=previous_summary, dimensions=dimensions),
        ]
        if children.groups:
            charts.append(child_heatmap(summary=children, dimensions=dimensions))
        return charts + [
            trend_chart(trend=trend, dimensions=dimensions, k=k, headline=summary.headline_gap),
            prevalence_chart(summary=summary),
            funnel_chart(summary=summary),
            reasons_chart(summary=summary, labels=reasons),
        ]

    charts = cached_charts(
        inputs=(
            unit.pk,
            [point.wave.pk for point in trend],
            summary,
            previous_summary,
            children,
            [(point.wave.name, point.total) for point in trend],
            dimensions,
            sorted(reasons.items()),
            k,
        ),
        build=build_charts,
    )
    return Dashboard(
        wave=wave,
        unit=unit,
        k=k,
        batch=batch_size(wave),
        published_at=summary.published_at,
        version=summary.version,
        previous=previous,
        summary=summary,
        children=children,
        cards=headline_cards(
            summary=summary,
            previous=previous_summary,
            rate=rate,
            previous_rate=previous_rate,
        ),
        lead=lead_sentences(summary=summary, previous=previous_summary, children=children),
        charts=charts,
        trend=trend,
        dimensions=dimensions,
        plans=plans.get(wave.pk, []),
        comments=comments,
        show_flags=show_flags,
        results_hidden=reader.publication.results_hidden,
    )


def _figure_dict(fig: go.Figure) -> dict:
    fig.update_layout(
        template="none",
        font={"family": FONT, "size": 13, "color": "#212529"},
        paper_bgcolor="#ffffff",
        plot_bgcolor="#ffffff",
        hoverlabel={"font": {"family": FONT}},
    )
    fig.update_xaxes(automargin=True)
    fig.update_yaxes(automargin=True)
    return json.loads(fig.to_json())


# --- Headline cards ---------------------------------------------------------------------------


def _change(
    difference: scoring.Difference | None,
    previous: Wave | None,
    *,
    unit_word: str = "",
    digits: int = 1,
) -> Change:
    if previous is None:
        return Change(text=_("no earlier wave to compare with"))
    if difference is None or difference.value is None:
        return Change(text=_("no comparable figure in %(wave)s") % {"wave": previous.name})
    direction = "up" if round(difference.value, 1) > 0 else "down" if difference.value < 0 else ""
    text = _("%(change)s%(unit)s since %(wave)s") % {
        "change": fmt_signed(difference.value, digits),
        "unit": unit_word,
        "wave": previous.name,
    }
    if difference.low is not None:
        interval = fmt_interval(difference.low, difference.high, signed=True)
        if difference.significant:
            text += " (" + _("%(interval)s: a real change") % {"interval": interval} + ")"
        else:
            text += " (" + _("%(interval)s: could be chance") % {"interval": interval} + ")"
    return Change(
        text=text, available=True, significant=difference.significant, direction=direction
    )


def any_experienced(group: Group) -> tuple[scoring.Estimate | None, str]:
    """Harassment prevalence of a published group, and which measure it is.

    The share of respondents who experienced at least one of the behaviours at least once
    (the funnel's `experienced` count over the group's respondents, Wilson interval). The
    funnel is published only when at least k people experienced something, so when it is
    withheld the largest single-behaviour prevalence stands in for it (and says so)."""
    if group.suppressed:
        return None, ""
    measures = group.measures
    if measures.funnel is not None and group.n:
        low, high = scoring.wilson(successes=measures.funnel.experienced, n=group.n)
        estimate = scoring.Estimate(
            value=100.0 * measures.funnel.experienced / group.n,
            low=None if low is None else 100.0 * low,
            high=None if high is None else 100.0 * high,
            n=group.n,
        )
        return estimate, "any"
    candidates = [(topic, e) for topic, e in measures.experienced.items() if e.value is not None]
    if not candidates:
        return None, ""
    topic, estimate = max(candidates, key=lambda item: (item[1].value, item[0]))
    return estimate, topic


def _gap_estimate(gap: scoring.Difference | None) -> scoring.Estimate | None:
    if gap is None or gap.value is None:
        return None
    return scoring.Estimate(value=gap.value, low=gap.low, high=gap.high, n=0)


def gap_ends(summary: Summary) -> tuple[str, str] | None:
    """The labels of the highest and lowest published single role levels (the two ends of
    every power gap), or None."""
    ranks = [
        g
        for g in summary.groups
        if not g.suppressed
        and g.attrs.get("role_level")
        and g.attrs["role_level"]["lo"] == g.attrs["role_level"]["hi"]
    ]
    if len(ranks) < 2:
        return None
    ranks.sort(key=lambda g: g.attrs["role_level"]["lo"])
    return ranks[-1].label, ranks[0].label


def headline_cards(
    *,
    summary: Summary,
    previous: Summary | None,
    rate: tuple[int, int] | None,
    previous_rate: tuple[int, int] | None,
) -> list[Card]:
    """Responses and response rate, climate index, largest power gap, harassment prevalence;
    each with its change since the previous wave."""
    k = summary.k
    total = summary.total
    prev_wave = previous.wave if previous else None
    prev_total = previous.total if previous else None
    hidden = suppressed_text(k)
    cards = []

    # Responses and response rate (the rate only when the unit's total is published).
    if total.suppressed:
        cards.append(
            Card(
                key="responses",
                title=_("Responses"),
                value=hidden,
                detail=_("Figures for this unit appear once at least %(k)s people have answered.")
                % {"k": k},
                change=Change(text=_("no comparable figure")),
                suppressed=True,
            )
        )
    else:
        detail = _("published responses")
        rate_change = None
        if rate and rate[1]:
            estimate = scoring.response_rate(responded=rate[0], invited=rate[1])
            detail = _("response rate %(rate)s%% (%(used)s of %(invited)s invited)") % {
                "rate": fmt(estimate.value, 0),
                "used": rate[0],
                "invited": rate[1],
            }
            if previous_rate and previous_rate[1] and prev_total and not prev_total.suppressed:
                rate_change = scoring.trend(
                    current=estimate,
                    previous=scoring.response_rate(
                        responded=previous_rate[0], invited=previous_rate[1]
                    ),
                )
        n_change = (
            scoring.Difference(
                value=float(total.n - prev_total.n), low=None, high=None, significant=False
            )
            if prev_total and not prev_total.suppressed
            else None
        )
        change = _change(n_change, prev_wave, unit_word=" " + _("responses"), digits=0)
        if rate_change is not None and rate_change.value is not None:
            change = dataclasses.replace(
                change,
                text=change.text
                + "; "
                + _("response rate %(change)s points") % {"change": fmt_signed(rate_change.value)},
            )
        cards.append(
            Card(
                key="responses",
                title=_("Responses"),
                value=str(total.n),
                detail=detail,
                change=change,
            )
        )

    # Climate index.
    if total.suppressed:
        cards.append(
            Card(
                key="climate",
                title=_("Climate index"),
                value=hidden,
                detail="",
                change=Change(text=_("no comparable figure")),
                suppressed=True,
            )
        )
    else:
        index = total.measures.climate_index
        change = None
        if prev_total is not None and not prev_total.suppressed:
            change = scoring.trend(current=index, previous=prev_total.measures.climate_index)
        cards.append(
            Card(
                key="climate",
                title=_("Climate index"),
                value=fmt(index.value),
                detail=_("mean of the dimension scores, 0 (worst) to 100 (best)"),
                change=_change(change, prev_wave, unit_word=" " + _("points")),
            )
        )

    # Largest power gap.
    headline = summary.headline_gap
    if headline is None:
        cards.append(
            Card(
                key="gap",
                title=_("Largest power gap"),
                value=_("not available"),
                detail=_(
                    "A gap needs two role levels that can be shown: each with at least %(k)s "
                    "responses and not withheld to protect a smaller group."
                )
                % {"k": k},
                change=Change(text=_("no comparable figure")),
                suppressed=True,
            )
        )
    else:
        code, gap = headline
        names = {d.code: d.name for d in summary.total.measures.dimensions.values()}
        ends = gap_ends(summary)
        detail = names.get(code, code)
        if ends:
            detail += " · " + _("%(top)s minus %(bottom)s") % {"top": ends[0], "bottom": ends[1]}
        if gap.low is not None:
            detail += " · " + fmt_interval(gap.low, gap.high, signed=True)
        prev_gap = previous.power_gaps.get(code) if previous else None
        change = None
        if prev_gap is not None and prev_gap.value is not None:
            change = scoring.trend(current=_gap_estimate(gap), previous=_gap_estimate(prev_gap))
        cards.append(
            Card(
                key="gap",
                title=_("Largest power gap"),
                value=_("%(gap)s points") % {"gap": fmt_signed(gap.value)},
                detail=detail,
                change=_change(change, prev_wave, unit_word=" " + _("points")),
                flag=_("larger than chance") if gap.significant else _("could be chance"),
                highlight=gap.significant,
            )
        )

    # Harassment prevalence.
    estimate, which = any_experienced(total)
    if estimate is None:
        cards.append(
            Card(
                key="prevalence",
                title=_("Experienced harassment"),
                value=hidden if total.suppressed else _("not available"),
                detail="",
                change=Change(text=_("no comparable figure")),
                suppressed=True,
            )
        )
    else:
        if which == "any":
            detail = _("experienced at least one of the behaviours at least once")
        else:
            detail = _("most frequent behaviour: %(topic)s") % {"topic": topic_label(which)}
        if estimate.low is not None:
            detail += " · " + fmt_interval(estimate.low, estimate.high)
        change = None
        if prev_total is not None and not prev_total.suppressed:
            prev_estimate, prev_which = any_experienced(prev_total)
            if prev_estimate is not None and prev_which == which:
                change = scoring.trend(current=estimate, previous=prev_estimate)
        cards.append(
            Card(
                key="prevalence",
                title=_("Experienced harassment"),
                value=f"{fmt(estimate.value, 0)}%",
                detail=detail,
                change=_change(change, prev_wave, unit_word=" " + _("points")),
            )
        )
    return cards


def lead_sentences(*, summary: Summary, previous: Summary | None, children: Summary) -> list[str]:
    """Two or three sentences answering "where is power felt most unevenly, and is it getting
    better?" for this unit."""
    sentences = []
    unit = summary.unit.name
    headline = summary.headline_gap
    if summary.total.suppressed:
        return [
            _("%(unit)s has fewer than %(k)s published responses in this wave: nothing is shown.")
            % {"unit": unit, "k": summary.k}
        ]
    names = {f.code: f.name for f in summary.total.measures.dimensions.values()}
    if headline is None:
        sentences.append(
            _(
                "No power gap can be shown for %(unit)s: fewer than two of its role levels can "
                "be shown (each needs at least %(k)s responses, and some are withheld to "
                "protect smaller groups). The units under it and the trend are below."
            )
            % {"unit": unit, "k": summary.k}
        )
    else:
        code, gap = headline
        ends = gap_ends(summary)
        values = {
            "unit": unit,
            "dimension": names.get(code, code),
            "gap": fmt(abs(gap.value)),
            "top": ends[0] if ends else _("highest"),
            "bottom": ends[1] if ends else _("lowest"),
            "direction": _("higher") if gap.value >= 0 else _("lower"),
        }
        if gap.significant:
            sentences.append(
                _(
                    "In %(unit)s power is felt most unevenly in “%(dimension)s”: "
                    "the %(top)s level rates it %(gap)s points %(direction)s than the "
                    "%(bottom)s level, a gap larger than chance."
                )
                % values
            )
        else:
            sentences.append(
                _(
                    "The largest gap between role levels in %(unit)s is in “%(dimension)s” "
                    "(the %(top)s level %(gap)s points %(direction)s than the %(bottom)s "
                    "level), but it could be chance."
                )
                % values
            )
        prev_gap = previous.power_gaps.get(code) if previous else None
        if previous is None:
            sentences.append(_("This is the first wave: there is no trend yet."))
        elif prev_gap is None or prev_gap.value is None:
            sentences.append(
                _("%(wave)s has no comparable gap for this dimension.")
                % {"wave": previous.wave.name}
            )
        else:
            change = scoring.trend(current=_gap_estimate(gap), previous=_gap_estimate(prev_gap))
            narrower = abs(gap.value) < abs(prev_gap.value)
            values = {
                "wave": previous.wave.name,
                "before": fmt(abs(prev_gap.value)),
                "now": fmt(abs(gap.value)),
            }
            if change.significant:
                text = (
                    _("Since %(wave)s the gap has narrowed from %(before)s to %(now)s points.")
                    if narrower
                    else _("Since %(wave)s the gap has widened from %(before)s to %(now)s points.")
                )
            else:
                text = _(
                    "Since %(wave)s it moved from %(before)s to %(now)s points, within what "
                    "chance could explain."
                )
            sentences.append(text % values)
    published = [g for g in children.groups if not g.suppressed]
    if len(published) >= 2:
        lowest = min(published, key=lambda g: (g.measures.climate_index.value or 0, g.label))
        sentences.append(
            _("Of the units under it, %(child)s has the lowest climate index (%(value)s).")
            % {"child": lowest.label, "value": fmt(lowest.measures.climate_index.value)}
        )
    return sentences


# --- Charts -----------------------------------------------------------------------------------


def _score(group: Group, code: str) -> scoring.Estimate | None:
    if group.suppressed:
        return None
    figures = group.measures.dimensions.get(code)
    return figures.score if figures else None


def _estimate_cell(estimate: scoring.Estimate | None, suffix: str = "") -> Cell:
    if estimate is None or estimate.value is None:
        return Cell(text="–", numeric=True)
    text = fmt(estimate.value) + suffix
    return Cell(text=text, numeric=True)


def _hidden_cells(count: int, k: int) -> list[Cell]:
    return [Cell(text=suppressed_text(k), suppressed=True) for _ in range(count)]


def _heatmap(
    *,
    rows: list[str],
    columns: list[str],
    values: dict[tuple[int, int], scoring.Estimate | None],
    hidden_rows: set[int] = frozenset(),
    hidden_columns: set[int] = frozenset(),
    k: int,
    wrap: int = 14,
    tickangle: int | str = 0,
) -> go.Figure:
    """A 0-100 heatmap (cividis) with each value written in its cell. Suppressed rows or
    columns are grey bands that say "fewer than k responses" (never blank, never zero).
    Plotly draws the first row at the bottom, so `rows` are given top first and reversed."""
    top_first = list(range(len(rows)))
    order = list(reversed(top_first))
    z, text = [], []
    for r in order:
        z_row, text_row = [], []
        for c in range(len(columns)):
            estimate = None if r in hidden_rows or c in hidden_columns else values.get((r, c))
            value = estimate.value if estimate is not None else None
            z_row.append(value)
            text_row.append(fmt(value, 0) if value is not None else "")
        z.append(z_row)
        text.append(text_row)
    x = [_wrap(c, wrap) for c in columns]
    y = [_wrap(rows[r], 24) for r in order]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=x,
            y=y,
            text=text,
            texttemplate="%{text}",
            textfont={"size": 13},
            zmin=0,
            zmax=100,
            colorscale=HEATMAP_SCALE,
            hoverongaps=False,
            xgap=2,
            ygap=2,
            colorbar={"title": {"text": _("Score"), "side": "right"}, "thickness": 12},
            hovertemplate="%{y}<br>%{x}: %{z:.1f}<extra></extra>",
        )
    )
    note = suppressed_text(k)
    for r in hidden_rows:
        position = order.index(r)
        fig.add_shape(
            type="rect",
            xref="paper",
            x0=0,
            x1=1,
            yref="y",
            y0=position - 0.47,
            y1=position + 0.47,
            fillcolor=SUPPRESSED_FILL,
            line={"width": 0},
            layer="below",
        )
        fig.add_annotation(
            xref="paper",
            x=0.5,
            yref="y",
            y=position,
            text=note,
            showarrow=False,
            font={"color": SUPPRESSED_TEXT, "size": 13, "style": "italic"},
        )
    for c in hidden_columns:
        fig.add_shape(
            type="rect",
            yref="paper",
            y0=0,
            y1=1,
            xref="x",
            x0=c - 0.48,
            x1=c + 0.48,
            fillcolor=SUPPRESSED_FILL,
            line={"width": 0},
            layer="below",
        )
        fig.add_annotation(
            yref="paper",
            y=0.5,
            xref="x",
            x=c,
            text=note,
            textangle=-90,
            showarrow=False,
            font={"color": SUPPRESSED_TEXT, "size": 13, "style": "italic"},
        )
    fig.update_yaxes(
        type="category", automargin=True, categoryorder="array", categoryarray=y, showgrid=False
    )
    fig.update_xaxes(
        type="category",
        side="top",
        automargin=True,
        tickangle=tickangle,
        categoryarray=x,
        showgrid=False,
    )
    fig.update_layout(margin={"l": 10, "r": 10, "t": 10, "b": 10})
    return fig


def role_heatmap(*, summary: Summary, dimensions: list[tuple[str, str]]) -> Chart:
    """Dimension scores (0-100) by role level: one row per dimension, role levels from the
    lowest (left) to the highest (right); suppressed levels are grey columns."""
    k = summary.k
    require_guarded([g.figure for g in summary.groups])
    names = [name for _code, name in dimensions]
    groups = summary.groups
    values = {
        (r, c): _score(group, code)
        for r, (code, _n) in enumerate(dimensions)
        for c, group in enumerate(groups)
    }
    hidden = {c for c, group in enumerate(groups) if group.suppressed}
    table_rows = []
    for group in [summary.total, *groups]:
        label = _("All respondents") if group is summary.total else group.label
        head = Cell(text=label)
        if group.suppressed:
            table_rows.append([head, Cell(text="–"), *_hidden_cells(len(dimensions), k)])
        else:
            table_rows.append(
                [
                    head,
                    Cell(text=str(group.n), numeric=True),
                    *[_estimate_cell(_score(group, code)) for code, _n in dimensions],
                ]
            )
    table = Table(
        caption=_("Dimension scores (0–100) by role level; higher is a better climate."),
        columns=[_("Role level"), _("Responses"), *names],
        rows=table_rows,
    )
    figure = None
    if groups:
        fig = _heatmap(
            rows=names,
            columns=[g.label for g in groups],
            values=values,
            hidden_columns=hidden,
            k=k,
            wrap=12,
            tickangle=-35 if len(groups) > 3 else 0,
        )
        figure = _figure_dict(fig)
    return Chart(
        key="heatmap",
        title=_("How each role level experiences the climate"),
        description=_(
            "Scores from 0 (worst) to 100 (best) per dimension, role levels from the lowest "
            "(left) to the highest (right). A row whose colour changes along it is a dimension "
            "where power is felt unevenly."
        ),
        figure=figure,
        table=table,
        note="" if groups else _("No role-level figures are published for this unit yet."),
        height=60 * len(dimensions) + 110,
    )


def child_heatmap(*, summary: Summary, dimensions: list[tuple[str, str]]) -> Chart:
    """Climate index and dimension scores per child unit, lowest climate index first."""
    k = summary.k
    require_guarded([g.figure for g in summary.groups])
    published = sorted(
        (g for g in summary.groups if not g.suppressed),
        key=lambda g: (
            g.measures.climate_index.value if g.measures.climate_index.value is not None else 999,
            g.label,
        ),
    )
    hidden = [g for g in summary.groups if g.suppressed]
    ordered = published + hidden
    columns = [_("Climate index"), *[name for _code, name in dimensions]]

    def values(group: Group):
        if group.suppressed:
            return None
        return [group.measures.climate_index, *[_score(group, code) for code, _n in dimensions]]

    cells = {
        (r, c): value
        for r, group in enumerate(ordered)
        if not group.suppressed
        for c, value in enumerate(values(group))
    }
    fig = _heatmap(
        rows=[g.label for g in ordered],
        columns=columns,
        values=cells,
        hidden_rows={r for r, g in enumerate(ordered) if g.suppressed},
        k=k,
        wrap=12,
    )
    table_rows = []
    for group in ordered:
        if group.suppressed:
            table_rows.append(
                [Cell(text=group.label), Cell(text="–"), *_hidden_cells(len(columns), k)]
            )
        else:
            table_rows.append(
                [
                    Cell(text=group.label),
                    Cell(text=str(group.n), numeric=True),
                    *[_estimate_cell(v) for v in values(group)],
                ]
            )
    return Chart(
        key="children",
        title=_("Units under %(unit)s, lowest climate first") % {"unit": summary.unit.name},
        description=_(
            "Climate index and dimension scores (0–100) of each unit directly under this one. "
            "Open a unit from the picker to see its own role-level gaps."
        ),
        figure=_figure_dict(fig),
        table=Table(
            caption=_("Scores (0–100) per unit, lowest climate index first."),
            columns=[_("Unit"), _("Responses"), *columns],
            rows=table_rows,
        ),
        height=max(260, 48 * len(ordered) + 140),
    )


def gap_chart(
    *, summary: Summary, previous: Summary | None, dimensions: list[tuple[str, str]]
) -> Chart:
    """Power gap per dimension (highest minus lowest published role level) with its 95%
    interval, largest first, and the previous wave's gap as a hollow marker."""
    gaps = summary.power_gaps
    ends = gap_ends(summary)
    shown = [(code, name, gaps.get(code)) for code, name in dimensions]
    available = [(c, n, g) for c, n, g in shown if g is not None and g.value is not None]
    missing = [(c, n) for c, n, g in shown if g is None or g.value is None]
    available.sort(key=lambda item: abs(item[2].value))  # largest ends up on top
    rows = []
    for code, name, gap in reversed(available):
        prev = previous.power_gaps.get(code) if previous else None
        rows.append(
            [
                Cell(text=name),
                Cell(text=fmt_signed(gap.value), numeric=True),
                Cell(text=fmt_interval(gap.low, gap.high, signed=True)),
                Cell(
                    text=_("yes") if gap.significant else _("no (could be chance)"),
                    flag="significant" if gap.significant else "",
                ),
                Cell(
                    text=fmt_signed(prev.value) if prev and prev.value is not None else "–",
                    numeric=True,
                ),
            ]
        )
    for _code, name in missing:
        rows.append(
            [
                Cell(text=name),
                Cell(text=_("not available"), suppressed=True),
                Cell(text=""),
                Cell(text=""),
                Cell(text="–"),
            ]
        )
    between = (
        _("%(top)s minus %(bottom)s") % {"top": ends[0], "bottom": ends[1]}
        if ends
        else _("highest minus lowest role level")
    )
    table = Table(
        caption=_("Power gap per dimension (%(between)s), in points on 0–100.")
        % {"between": between},
        columns=[
            _("Dimension"),
            _("Gap"),
            _("95% interval"),
            _("Larger than chance"),
            _("Previous wave"),
        ],
        rows=rows,
    )
    figure = None
    if available:
        fig = go.Figure()
        for significant, label, colour, pattern in (
            (True, _("Gap larger than chance"), OKABE_ITO[4], ""),
            (False, _("Could be chance"), "#8c8c8c", "/"),
        ):
            part = [item for item in available if item[2].significant == significant]
            if not part:
                continue
            fig.add_trace(
                go.Bar(
                    orientation="h",
                    name=plotly_text(label),
                    y=[_wrap(n, 30) for _c, n, _g in part],
                    x=[g.value for _c, _n, g in part],
                    marker={"color": colour, "pattern": {"shape": pattern}},
                    error_x={
                        "type": "data",
                        "symmetric": False,
                        "array": [
                            (g.high - g.value) if g.high is not None else 0 for *_x, g in part
                        ],
                        "arrayminus": [
                            (g.value - g.low) if g.low is not None else 0 for *_x, g in part
                        ],
                        "color": "#333333",
                        "thickness": 1.5,
                    },
                    hovertemplate="%{y}: %{x:.1f}<extra>" + plotly_text(label) + "</extra>",
                )
            )
        if previous is not None:
            prev_points = [
                (n, previous.power_gaps.get(c))
                for c, n, _g in available
                if previous.power_gaps.get(c) is not None
                and previous.power_gaps[c].value is not None
            ]
            if prev_points:
                fig.add_trace(
                    go.Scatter(
                        mode="markers",
                        name=plotly_text(previous.wave.name),
                        y=[_wrap(n, 30) for n, _g in prev_points],
                        x=[g.value for _n, g in prev_points],
                        marker={
                            "symbol": "diamond-open",
                            "size": 12,
                            "color": "#000000",
                            "line": {"width": 2},
                        },
                        hovertemplate="%{y}: %{x:.1f}<extra>"
                        + plotly_text(previous.wave.name)
                        + "</extra>",
                    )
                )
        order = [_wrap(n, 30) for _c, n, _g in available]
        fig.update_yaxes(categoryorder="array", categoryarray=order, automargin=True)
        fig.update_xaxes(
            title={"text": _("Gap in points")},
            zeroline=True,
            zerolinecolor="#212529",
            zerolinewidth=1.5,
        )
        fig.update_layout(
            barmode="overlay",
            margin={"l": 10, "r": 10, "t": 10, "b": 10},
            legend={"orientation": "h", "y": -0.18},
        )
        figure = _figure_dict(fig)
    note = ""
    if missing:
        note = _("Not available (fewer than two role levels can be shown): %(names)s.") % {
            "k": summary.k,
            "names": ", ".join(n for _c, n in missing),
        }
    return Chart(
        key="gaps",
        title=_("Power gap by dimension"),
        description=_(
            "How much better the highest role level rates each dimension than the lowest, with "
            "its 95% interval (the whiskers). A bar whose whiskers cross zero could be chance."
        ),
        figure=figure,
        table=table,
        note=note,
        height=60 * len(dimensions) + 110,
    )


def prevalence_chart(*, summary: Summary) -> Chart:
    """Share who experienced and who witnessed each behaviour, overall and by role level."""
    k = summary.k
    groups = [summary.total, *summary.groups]
    require_guarded([g.figure for g in groups])
    labels = [_("All respondents"), *[g.label for g in summary.groups]]
    topics: list[str] = []
    for group in groups:
        if not group.suppressed:
            for topic in [*group.measures.experienced, *group.measures.witnessed]:
                if topic not in topics:
                    topics.append(topic)
    figure = None
    if topics:
        fig = make_subplots(
            rows=1,
            cols=2,
            shared_yaxes=True,
            subplot_titles=[_("Experienced"), _("Witnessed")],
            horizontal_spacing=0.06,
        )
        shown = [(label, g) for label, g in zip(labels, groups, strict=True) if not g.suppressed]
        for index, (label, group) in enumerate(shown):
            colour = OKABE_ITO[index % len(OKABE_ITO)]
            pattern = PATTERNS[index % len(PATTERNS)]
            for col, estimates in ((1, group.measures.experienced), (2, group.measures.witnessed)):
                values = [estimates.get(t) for t in topics]
                fig.add_trace(
                    go.Bar(
                        name=plotly_text(label),
                        legendgroup=label,
                        showlegend=col == 1,
                        x=[_wrap(topic_label(t), 14) for t in topics],
                        y=[v.value if v else None for v in values],
                        error_y={
                            "type": "data",
                            "symmetric": False,
                            "array": [
                                (v.high - v.value) if v and v.high is not None else 0
                                for v in values
                            ],
                            "arrayminus": [
                                (v.value - v.low) if v and v.low is not None else 0 for v in values
                            ],
                            "color": "#333333",
                            "thickness": 1,
                        },
                        marker={
                            "color": colour,
                            "pattern": {
                                "shape": pattern,
                                "fillmode": "overlay",
                                "fgcolor": "#ffffff",
                                "size": 7,
                                "solidity": 0.35,
                            },
                            "line": {"color": "#333333", "width": 0.5},
                        },
                        hovertemplate="%{x}: %{y:.0f}%<extra>" + plotly_text(label) + "</extra>",
                    ),
                    row=1,
                    col=col,
                )
        hidden = [label for label, g in zip(labels, groups, strict=True) if g.suppressed]
        if hidden:
            fig.add_annotation(
                xref="paper",
                yref="paper",
                x=0,
                y=-0.32,
                xanchor="left",
                showarrow=False,
                align="left",
                font={"color": SUPPRESSED_TEXT, "style": "italic"},
                text=plotly_text(
                    _("Not shown, %(hidden)s: %(names)s")
                    % {"hidden": suppressed_text(k), "names": ", ".join(hidden)}
                ),
            )
        fig.update_yaxes(title={"text": "%"}, range=[0, 100], row=1, col=1)
        fig.update_layout(
            barmode="group",
            margin={"l": 10, "r": 10, "t": 30, "b": 90 if hidden else 40},
            legend={"orientation": "h", "y": -0.45 if hidden else -0.3},
        )
        figure = _figure_dict(fig)
    rows = []
    for kind, attr in ((_("Experienced"), "experienced"), (_("Witnessed"), "witnessed")):
        for topic in topics:
            row = [Cell(text=f"{kind}: {topic_label(topic)}")]
            for group in groups:
                if group.suppressed:
                    row.append(Cell(text=suppressed_text(k), suppressed=True))
                else:
                    estimate = getattr(group.measures, attr).get(topic)
                    row.append(_estimate_cell(estimate, "%"))
            rows.append(row)
    return Chart(
        key="prevalence",
        title=_("Harassment: experienced and witnessed"),
        description=_(
            "Share of respondents who experienced or witnessed each behaviour at least once in "
            "the period, with 95% intervals."
        ),
        figure=figure,
        table=Table(
            caption=_("Share (%) who experienced or witnessed each behaviour, by role level."),
            columns=[_("Behaviour"), *labels],
            rows=rows,
        ),
        note="" if topics else _("No published figures yet."),
        height=470,
    )


def funnel_chart(*, summary: Summary) -> Chart:
    """From experiencing a behaviour to reporting it, for the unit as a whole."""
    total = summary.total
    require_guarded([total.figure])
    funnel = None if total.suppressed else total.measures.funnel
    note = ""
    figure = None
    rows = []
    if funnel is None:
        note = _(
            "The reporting funnel is shown only when at least %(k)s people experienced a "
            "behaviour and at least %(k)s of them said whether they reported it."
        ) % {"k": summary.k}
    else:
        answered = funnel.reported + funnel.not_reported
        stages = [
            (_("Respondents"), total.n),
            (_("Experienced at least one behaviour"), funnel.experienced),
            (_("Said whether they reported it"), answered),
            (_("Reported it"), funnel.reported),
        ]
        fig = go.Figure(
            go.Funnel(
                y=[label for label, _n in stages],
                x=[n for _l, n in stages],
                textinfo="value+percent previous",
                marker={"color": OKABE_ITO[0]},
                connector={"fillcolor": "#e9ecef"},
                textfont={"color": "#ffffff"},
                hovertemplate="%{y}: %{x}<extra></extra>",
            )
        )
        fig.update_yaxes(automargin=True)
        fig.update_layout(margin={"l": 10, "r": 10, "t": 10, "b": 10})
        figure = _figure_dict(fig)
        previous_n = None
        for label, n in stages:
            share = f"{fmt(100.0 * n / previous_n, 0)}%" if previous_n else "100%"
            rows.append(
                [Cell(text=label), Cell(text=str(n), numeric=True), Cell(text=share, numeric=True)]
            )
            previous_n = n
        share = funnel.reported_share
        note = _("Reported: %(value)s%% of those who answered (%(interval)s).") % {
            "value": fmt(share.value, 0),
            "interval": fmt_interval(share.low, share.high),
        }
    return Chart(
        key="funnel",
        title=_("From experiencing to reporting"),
        description=_(
            "How many of those who experienced a behaviour reported it through a formal channel."
        ),
        figure=figure,
        table=Table(
            caption=_("Reporting funnel for the whole unit."),
            columns=[_("Stage"), _("People"), _("Share of the stage before")],
            rows=rows,
        ),
        note=note,
        height=320,
    )


def reasons_chart(*, summary: Summary, labels: dict[int, str]) -> Chart:
    """Why people who experienced a behaviour did not report it (share of non-reporters; several
    reasons could be ticked)."""
    total = summary.total
    require_guarded([total.figure])
    funnel = None if total.suppressed else total.measures.funnel
    figure = None
    rows = []
    note = ""
    reasons = list(funnel.reasons) if funnel else []
    if not reasons:
        note = _("Shown together with the reporting funnel.")
    else:
        ordered = list(reversed(reasons))  # most frequent on top
        fig = go.Figure(
            go.Bar(
                orientation="h",
                y=[_wrap(labels.get(r.value, str(r.value)), 40) for r in ordered],
                x=[r.share.value for r in ordered],
                marker={"color": OKABE_ITO[0]},
                error_x={
                    "type": "data",
                    "symmetric": False,
                    "array": [
                        (r.share.high - r.share.value) if r.share.high is not None else 0
                        for r in ordered
                    ],
                    "arrayminus": [
                        (r.share.value - r.share.low) if r.share.low is not None else 0
                        for r in ordered
                    ],
                    "color": "#333333",
                    "thickness": 1,
                },
                hovertemplate="%{y}: %{x:.0f}%<extra></extra>",
            )
        )
        highest = max((r.share.high or r.share.value or 0) for r in reasons)
        fig.update_xaxes(
            title={"text": _("% of those who did not report")},
            range=[0, min(100, highest + 5)],
            ticksuffix="%",
        )
        fig.update_yaxes(automargin=True)
        fig.update_layout(margin={"l": 10, "r": 10, "t": 10, "b": 10})
        figure = _figure_dict(fig)
        rows = [
            [
                Cell(text=labels.get(r.value, str(r.value))),
                Cell(text=f"{fmt(r.share.value)}%", numeric=True),
                Cell(text=fmt_interval(r.share.low, r.share.high)),
            ]
            for r in reasons
        ]
    return Chart(
        key="reasons",
        title=_("Why people did not report"),
        description=_(
            "Reasons given by those who experienced a behaviour and did not report it; several "
            "could be chosen, so the shares add up to more than 100%."
        ),
        figure=figure,
        table=Table(
            caption=_("Reasons for not reporting (% of non-reporters)."),
            columns=[_("Reason"), _("Share"), _("95% interval")],
            rows=rows,
        ),
        note=note,
        height=max(260, 40 * len(reasons) + 90),
    )


def trend_chart(
    *,
    trend: list[TrendWave],
    dimensions: list[tuple[str, str]],
    k: int,
    headline: tuple[str, scoring.Difference] | None,
) -> Chart:
    """Climate index and dimension scores across the waves of this instrument."""
    require_guarded([point.total.figure for point in trend])
    names = [plotly_text(point.wave.name) for point in trend]
    series: list[tuple[str, str, list[scoring.Estimate | None]]] = [
        (
            "climate",
            _("Climate index"),
            [None if p.total.suppressed else p.total.measures.climate_index for p in trend],
        )
    ]
    for code, name in dimensions:
        series.append((code, name, [_score(p.total, code) for p in trend]))
    headline_code = headline[0] if headline else None
    fig = go.Figure()
    for index, (code, name, values) in enumerate(series):
        is_index = code == "climate"
        colour = "#000000" if is_index else OKABE_ITO[(index - 1) % 6]
        fig.add_trace(
            go.Scatter(
                x=names,
                y=[v.value if v and v.value is not None else None for v in values],
                name=plotly_text(name),
                mode="lines+markers",
                visible=True if is_index or code == headline_code else "legendonly",
                line={"color": colour, "width": 3 if is_index else 2},
                marker={"symbol": SYMBOLS[index % len(SYMBOLS)], "size": 9},
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": [
                        (v.high - v.value) if v and v.high is not None else 0 for v in values
                    ],
                    "arrayminus": [
                        (v.value - v.low) if v and v.low is not None else 0 for v in values
                    ],
                    "color": colour,
                    "thickness": 1,
                    "visible": not is_index,
                },
                hovertemplate="%{x}: %{y:.1f}<extra>" + plotly_text(name) + "</extra>",
            )
        )
    for point in trend:
        if point.total.suppressed:
            fig.add_annotation(
                x=plotly_text(point.wave.name),
                y=50,
                text=_wrap(suppressed_text(k), 14),
                showarrow=False,
                font={"color": SUPPRESSED_TEXT, "style": "italic"},
                bgcolor=SUPPRESSED_FILL,
            )
    fig.update_yaxes(range=[0, 100], title={"text": _("Score (0–100)")})
    fig.update_xaxes(type="category")
    fig.update_layout(
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        legend={"orientation": "h", "y": -0.15, "yanchor": "top"},
        hovermode="closest",
    )
    rows = []
    for _code, name, values in series:
        row = [Cell(text=name)]
        for point, value in zip(trend, values, strict=True):
            if point.total.suppressed:
                row.append(Cell(text=suppressed_text(k), suppressed=True))
            else:
                row.append(_estimate_cell(value))
        change = "–"
        flag = ""
        if len(values) >= 2 and values[-1] is not None and values[-2] is not None:
            difference = scoring.trend(current=values[-1], previous=values[-2])
            if difference.value is not None:
                change = fmt_signed(difference.value)
                if difference.significant:
                    flag = "significant"
                    change += " ✱"
        row.append(Cell(text=change, numeric=True, flag=flag))
        rows.append(row)
    return Chart(
        key="trend",
        title=_("Scores across waves"),
        description=_(
            "The climate index and the dimension with the largest power gap across waves of "
            "this survey; pick other dimensions in the legend. Whiskers are 95% intervals; ✱ in "
            "the table marks a change larger than chance."
        ),
        figure=_figure_dict(fig) if len(trend) >= 1 else None,
        table=Table(
            caption=_("Scores (0–100) per wave, and the change since the previous wave."),
            columns=[_("Measure"), *names, _("Change")],
            rows=rows,
        ),
        height=560,
    )


def all_figures(summaries: Iterable[Summary]) -> list:
    """Every guarded figure of these summaries (for `require_guarded`)."""
    return [f for s in summaries for f in [s.total.figure, *(g.figure for g in s.groups)]]
