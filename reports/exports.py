"""Exports of a dashboard view: a tidy CSV (streamed) and an XLSX workbook with a sheet per
breakdown. Both carry exactly what the screen shows: the same guarded summaries, the same
rounding, suppressed groups as empty values flagged `suppressed` ("fewer than k responses").

Spreadsheet formula injection: a unit or group name such as `=HYPERLINK(...)` must never run.
CSV text cells starting with =, +, -, @, a tab or a carriage return get a leading single quote;
the XLSX writer stores every text cell as a string and turns formula and URL detection off.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO

import rustpy_xlsxwriter
import xlsxwriter
from django.utils import timezone
from django.utils.translation import gettext as _

from reports import aggregation, scoring
from reports.aggregation import BadBreakdown, Group, Summary
from reports.anonymity import require_guarded
from reports.dashboards import (
    SummaryReader,
    _reason_labels,
    all_figures,
    any_experienced,
    fmt,
    suppressed_text,
    topic_label,
)
from surveys.models import Question, Unit, Wave

CSV_COLUMNS = [
    "wave",
    "unit",
    "breakdown",
    "group",
    "measure",
    "value",
    "low",
    "high",
    "n",
    "suppressed",
]
# Every view an export may hold: its name in files, its breakdown and its sheet title.
BREAKDOWNS: list[tuple[str, tuple[str, ...]]] = [
    ("overall", ()),
    ("role_level", ("role_level",)),
    ("tenure_band", ("tenure_band",)),
    ("child_units", ("child_units",)),
    ("role_level_x_tenure_band", ("role_level", "tenure_band")),
]
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def sheet_title(name: str) -> str:
    titles = {
        "overall": _("Overall"),
        "role_level": _("Role level"),
        "tenure_band": _("Tenure band"),
        "child_units": _("Child units"),
        "role_level_x_tenure_band": _("Role level x tenure"),
    }
    title = titles.get(name, name.replace("_", " ").capitalize())
    for char in "[]:*?/\\":
        title = title.replace(char, " ")
    return title[:31]


def neutralise(text: str) -> str:
    """A CSV text cell that no spreadsheet will read as a formula."""
    return "'" + text if text.startswith(FORMULA_START) else text


def demographic_codes(wave: Wave) -> list[str]:
    """Codes of the wave's demographic questions (breakdowns an export may also ask for)."""
    return [
        code.lower()
        for code in Question.objects.filter(
            instrument_id=wave.instrument_id, purpose=Question.Purpose.DEMOGRAPHIC
        ).values_list("code", flat=True)
    ]


def parse_views(by: str | None, *, demographic_codes: Sequence[str] = ()) -> list[tuple]:
    """The views an export holds: all the standard breakdowns when `by` is empty, else the one
    named (e.g. "role_level", "role_level,tenure_band", "overall"). Raises BadBreakdown."""
    if not by:
        return list(BREAKDOWNS)
    if by.strip().lower() == "overall":
        return [("overall", ())]
    parsed = aggregation.parse_breakdown(by=by.split(","), demographic_codes=demographic_codes)
    names = {b: name for name, b in BREAKDOWNS}
    return [(names.get(parsed, "_x_".join(parsed)), parsed)]


@dataclass(frozen=True)
class ExportRow:
    breakdown: str
    group: str
    measure: str
    label: str
    value: str
    low: str
    high: str
    n: int | None
    suppressed: bool


@dataclass(frozen=True)
class ExportView:
    name: str
    summary: Summary


@dataclass(frozen=True)
class Export:
    """Everything an export file holds, already through the guard."""

    wave: Wave
    unit: Unit
    k: int
    views: list[ExportView]
    measures: list[tuple[str, str]]
    reasons: dict[int, str]
    published_at: object


def build_export(*, wave: Wave, unit: Unit, views: list[tuple]) -> Export:
    """Summaries for every requested view of one unit and wave, each checked by the guard."""
    reader = SummaryReader(wave)
    summaries = [
        ExportView(name=name, summary=reader.summarize(wave=wave, unit=unit, by=by))
        for name, by in views
    ]
    require_guarded(all_figures(v.summary for v in summaries))
    reasons = _reason_labels(reader.questions)
    topics = [
        q.topic
        for q in reader.questions.values()
        if q.purpose == Question.Purpose.EXPERIENCED and q.topic
    ]
    return Export(
        wave=wave,
        unit=unit,
        k=wave.k,
        views=summaries,
        measures=measure_list(
            dimensions=[(d.code, d.name) for d in reader.dimensions],
            topics=topics,
            reasons=reasons,
        ),
        reasons=reasons,
        published_at=reader.publication.published_at,
    )


def measure_list(
    *, dimensions: Sequence[tuple[str, str]], topics: Sequence[str], reasons: dict[int, str]
) -> list[tuple[str, str]]:
    """(code, label) of every measure of a group, in export order."""
    measures = [
        ("respondents", _("Respondents")),
        ("climate_index", _("Climate index (0-100)")),
    ]
    for code, name in dimensions:
        measures.append((f"score:{code}", _("%(name)s: score (0-100)") % {"name": name}))
        measures.append((f"favourable:{code}", _("%(name)s: favourable (%%)") % {"name": name}))
    for topic in topics:
        measures.append(
            (f"experienced:{topic}", _("Experienced: %(t)s (%%)") % {"t": topic_label(topic)})
        )
    for topic in topics:
        measures.append(
            (f"witnessed:{topic}", _("Witnessed: %(t)s (%%)") % {"t": topic_label(topic)})
        )
    measures += [
        ("experienced_any", _("Experienced at least one behaviour (%)")),
        ("reported_share", _("Reported it, of those who answered (%)")),
    ]
    for value, label in sorted(reasons.items()):
        measures.append(
            (f"not_reported_reason:{value}", _("Did not report: %(r)s (%%)") % {"r": label})
        )
    measures.append(("safe_place", _("Safe place to work score (-100 to 100)")))
    return measures


def _estimate(estimate: scoring.Estimate | None) -> tuple[str, str, str, int | None]:
    if estimate is None or estimate.value is None:
        return "", "", "", None
    low = fmt(estimate.low) if estimate.low is not None else ""
    high = fmt(estimate.high) if estimate.high is not None else ""
    return fmt(estimate.value), low, high, estimate.n


def _group_values(group: Group, reasons: dict[int, str]) -> dict[str, scoring.Estimate | None]:
    measures = group.measures
    values: dict[str, scoring.Estimate | None] = {
        "respondents": scoring.Estimate(value=group.n, low=None, high=None, n=group.n),
        "climate_index": measures.climate_index,
        "safe_place": measures.safe_place,
    }
    for code, figures in measures.dimensions.items():
        values[f"score:{code}"] = figures.score
        values[f"favourable:{code}"] = figures.favourable
    for topic, estimate in measures.experienced.items():
        values[f"experienced:{topic}"] = estimate
    for topic, estimate in measures.witnessed.items():
        values[f"witnessed:{topic}"] = estimate
    estimate, which = any_experienced(group)
    values["experienced_any"] = estimate if which == "any" else None
    if measures.funnel is not None:
        funnel = measures.funnel
        values["reported_share"] = funnel.reported_share
        # A reason nobody chose is 0% of the non-reporters, not a missing figure.
        low, high = scoring.wilson(successes=0, n=funnel.not_reported)
        for value in reasons:
            values[f"not_reported_reason:{value}"] = scoring.Estimate(
                value=0.0 if funnel.not_reported else None,
                low=None if low is None else 100.0 * low,
                high=None if high is None else 100.0 * high,
                n=funnel.not_reported,
            )
        for reason in funnel.reasons:
            values[f"not_reported_reason:{reason.value}"] = reason.share
    return values


def export_rows(export: Export) -> Iterator[ExportRow]:
    """The tidy rows of an export: one per view x group x measure. A suppressed group has every
    measure with an empty value and `suppressed` true; so has a measure withheld for a small
    sub-group (the reporting funnel) or one that cannot be computed."""
    for view in export.views:
        summary = view.summary
        groups = [summary.total] if view.name == "overall" else summary.groups
        for group in groups:
            label = _("All respondents") if group is summary.total else group.label
            if group.suppressed:
                for code, measure_label in export.measures:
                    yield ExportRow(view.name, label, code, measure_label, "", "", "", None, True)
                continue
            values = _group_values(group, export.reasons)
            for code, measure_label in export.measures:
                value, low, high, n = _estimate(values.get(code))
                if code == "respondents":
                    value, low, high = str(group.n), "", ""
                yield ExportRow(
                    view.name, label, code, measure_label, value, low, high, n, value == ""
                )
        if summary.by == ("role_level",):
            names = dict(export.measures)
            for code, gap in summary.power_gaps.items():
                present = gap is not None and gap.value is not None
                yield ExportRow(
                    view.name,
                    _("Power gap (highest minus lowest role level)"),
                    f"power_gap:{code}",
                    names.get(f"score:{code}", code),
                    fmt(gap.value) if present else "",
                    fmt(gap.low) if present and gap.low is not None else "",
                    fmt(gap.high) if present and gap.high is not None else "",
                    None,
                    not present,
                )


class _Echo:
    """A file-like object whose write returns the line, for streaming csv.writer output."""

    def write(self, value: str) -> str:
        return value


def csv_lines(export: Export) -> Iterator[str]:
    """The CSV export, line by line (for StreamingHttpResponse)."""
    writer = csv.writer(_Echo())
    yield "\ufeff" + writer.writerow(CSV_COLUMNS)  # BOM: spreadsheets then read UTF-8
    wave, unit = neutralise(export.wave.name), neutralise(export.unit.name)
    for row in export_rows(export):
        yield writer.writerow(
            [
                wave,
                unit,
                neutralise(row.breakdown),
                neutralise(row.group),
                neutralise(row.measure),
                row.value,
                row.low,
                row.high,
                "" if row.n is None else row.n,
                "true" if row.suppressed else "false",
            ]
        )


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _workbook(target: BinaryIO | str) -> xlsxwriter.Workbook:
    """A workbook written in constant memory that never turns text into formulas, links or
    numbers (names and comments stay text, whatever they start with)."""
    return xlsxwriter.Workbook(
        target,
        {
            "constant_memory": True,
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "strings_to_numbers": False,
        },
    )


def write_xlsx(export: Export, target: BinaryIO | str) -> None:
    """Write the XLSX export: a README sheet explaining the figures and the suppression, then
    one sheet per view with bold frozen headers, column widths and a filter."""
    workbook = _workbook(target)
    bold = workbook.add_format({"bold": True, "bg_color": "#E9ECEF", "border": 1})
    title = workbook.add_format({"bold": True, "font_size": 14})
    wrap = workbook.add_format({"text_wrap": True, "valign": "top"})
    hidden = workbook.add_format({"italic": True, "font_color": "#555555"})
    number = workbook.add_format({"num_format": "0.0"})
    integer = workbook.add_format({"num_format": "0"})

    readme = workbook.add_worksheet(_("README"))
    readme.set_column(0, 0, 110, wrap)
    published = (
        timezone.localtime(export.published_at).strftime("%Y-%m-%d %H:%M")
        if export.published_at
        else _("not published yet")
    )
    lines = [
        (_("Power Climate export"), title),
        (_("Wave: %(wave)s") % {"wave": export.wave.name}, None),
        (_("Unit: %(unit)s (with every unit under it)") % {"unit": export.unit.name}, None),
        (_("Figures published: %(at)s") % {"at": published}, None),
        (
            _("Exported: %(at)s")
            % {"at": timezone.localtime(timezone.now()).strftime("%Y-%m-%d %H:%M")},
            None,
        ),
        ("", None),
        (_("Suppression"), bold),
        (
            _(
                "A group with fewer than %(k)s responses is never shown: its rows have an empty "
                "value, the words “%(text)s” and Suppressed = TRUE. Some larger groups are "
                "suppressed too, so that no hidden figure can be worked out by subtracting "
                "published ones (complementary suppression). The reporting funnel of a group "
                "is shown only when at least %(k)s of its people experienced a behaviour."
            )
            % {"k": export.k, "text": suppressed_text(export.k)},
            None,
        ),
        ("", None),
        (_("Measures"), bold),
        (
            _(
                "Scores are 0-100 (the mean answer rescaled; higher is better). Favourable, "
                "experienced, witnessed and reported are percentages. Low and High are the "
                "95% interval; n is the number of people or answers behind the figure. The "
                "power gap is the score of the highest published role level minus the lowest."
            ),
            None,
        ),
        ("", None),
        (_("Sheets"), bold),
    ]
    lines += [(f"{sheet_title(view.name)}", None) for view in export.views]
    for index, (text, fmt_) in enumerate(lines):
        if fmt_ is None:
            readme.write_string(index, 0, text)
        else:
            readme.write_string(index, 0, text, fmt_)

    headers = [
        _("Group"),
        _("Measure"),
        _("Measure code"),
        _("Value"),
        _("Low"),
        _("High"),
        _("n"),
        _("Suppressed"),
    ]
    widths = [34, 52, 30, 22, 9, 9, 8, 12]
    sheets = {}
    rows_written = {}
    for view in export.views:
        sheet = workbook.add_worksheet(sheet_title(view.name))
        for col, width in enumerate(widths):
            sheet.set_column(col, col, width)
        for col, header in enumerate(headers):
            sheet.write_string(0, col, header, bold)
        sheet.freeze_panes(1, 1)
        sheets[view.name] = sheet
        rows_written[view.name] = 0
    hidden_text = suppressed_text(export.k)
    for row in export_rows(export):
        sheet = sheets[row.breakdown]
        r = rows_written[row.breakdown] + 1
        rows_written[row.breakdown] = r
        sheet.write_string(r, 0, row.group)
        sheet.write_string(r, 1, row.label)
        sheet.write_string(r, 2, row.measure)
        if row.suppressed:
            sheet.write_string(r, 3, hidden_text, hidden)
        else:
            value = _number(row.value)
            sheet.write_number(r, 3, value, integer if row.measure == "respondents" else number)
        for col, text in ((4, row.low), (5, row.high)):
            value = _number(text)
            if value is not None:
                sheet.write_number(r, col, value, number)
        if row.n is not None:
            sheet.write_number(r, 6, row.n, integer)
        sheet.write_boolean(r, 7, row.suppressed)
    for name, sheet in sheets.items():
        sheet.autofilter(0, 0, max(rows_written[name], 1), len(headers) - 1)
    workbook.close()


# --- Every unit of a subtree (an organisation-wide export) ----------------------------------


def build_unit_exports(*, wave: Wave, unit: Unit, view: tuple[str, tuple]) -> list[Export]:
    """One view (a breakdown without child units) of the unit and of every unit under it,
    each through the guard: the organisation by unit x role level, say. Reads a few queries
    per 500 units (`SummaryReader.summarize_units`)."""
    name, by = view
    if "child_units" in by:
        raise BadBreakdown(_("Every unit is already listed: choose another breakdown."))
    reader = SummaryReader(wave)
    units = list(Unit.objects.subtree(unit).order_by("path"))
    summaries: dict[int, Summary] = {}
    for start in range(0, len(units), 500):
        summaries.update(reader.summarize_units(wave=wave, units=units[start : start + 500], by=by))
    require_guarded(all_figures(summaries.values()))
    reasons = _reason_labels(reader.questions)
    topics = [
        q.topic
        for q in reader.questions.values()
        if q.purpose == Question.Purpose.EXPERIENCED and q.topic
    ]
    measures = measure_list(
        dimensions=[(d.code, d.name) for d in reader.dimensions], topics=topics, reasons=reasons
    )
    return [
        Export(
            wave=wave,
            unit=each,
            k=wave.k,
            views=[ExportView(name=name, summary=summaries[each.pk])],
            measures=measures,
            reasons=reasons,
            published_at=reader.publication.published_at,
        )
        for each in units
    ]


def write_units_csv(exports: Sequence[Export], target: BinaryIO) -> int:
    """The exports of `build_unit_exports` as one CSV (one header); returns the data rows."""
    rows = 0
    for index, export in enumerate(exports):
        lines = csv_lines(export)
        header = next(lines)
        if index == 0:
            target.write(header.encode())
        for line in lines:
            target.write(line.encode())
            rows += 1
    return rows


def write_units_xlsx(exports: Sequence[Export], target: BinaryIO | str) -> int:
    """The exports of `build_unit_exports` on one sheet (text is never a formula or a URL);
    returns the data rows.

    An organisation of 2,000 units gives 170,000 rows of 10 cells: written by rust_xlsxwriter
    (`rustpy_xlsxwriter`) from a stream of rows, about 12 times faster than xlsxwriter's
    per-cell calls. Labels and figures repeat, so each is neutralised or parsed once."""
    safe: dict[str, str] = {}
    numbers: dict[str, float | None] = {"": None}
    rows = 0

    def text(value: str) -> str:
        cell = safe.get(value)
        if cell is None:
            cell = safe[value] = neutralise(value)
        return cell

    def number(figure: str) -> float | None:
        value = numbers.get(figure, numbers)
        if value is numbers:  # figures repeat: "62.3" is parsed once
            value = numbers[figure] = _number(figure)
        return value

    def records() -> Iterator[dict]:
        nonlocal rows
        for export in exports:
            wave, unit = text(export.wave.name), text(export.unit.name)
            for row in export_rows(export):
                rows += 1
                yield dict(
                    zip(
                        CSV_COLUMNS,
                        (
                            wave,
                            unit,
                            text(row.breakdown),
                            text(row.group),
                            text(row.measure),
                            number(row.value),
                            number(row.low),
                            number(row.high),
                            row.n,
                            row.suppressed,
                        ),
                        strict=True,
                    )
                )

    name = exports[0].views[0].name if exports else "units"
    one_decimal = rustpy_xlsxwriter.Format().set_num_format("0.0")
    rustpy_xlsxwriter.write_worksheet(
        records(),
        target,
        sheet_name=sheet_title(f"units x {name}"),
        freeze_row=1,
        bold_headers=True,
        column_formats={"value": one_decimal, "low": one_decimal, "high": one_decimal},
    )
    return rows
