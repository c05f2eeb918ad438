"""The benchmark's "unit x role level" export of a whole wave, built from reports/exports.py.

The app's exports hold the views of one unit (overall, role level, tenure, child units, role
level x tenure). An HR export of the whole organisation by unit x role level is the role-level
view of every unit: the same guarded summaries (`aggregation.SummaryReader.summarize_units`,
500 units per read), the same rows (`exports.export_rows`) and the same CSV lines
(`exports.csv_lines`); the XLSX puts them on one sheet with the writer options of
`exports.write_xlsx` (constant memory, no formulas or URLs).
"""

from collections.abc import Iterator
from typing import BinaryIO


def _exports_per_unit(wave_id: int, root_id: int) -> Iterator:
    from reports import exports
    from reports.dashboards import SummaryReader
    from surveys.models import Question, Unit, Wave

    wave = Wave.objects.get(pk=wave_id)
    root = Unit.objects.get(pk=root_id)
    reader = SummaryReader(wave)
    reasons = exports._reason_labels(reader.questions)
    topics = [
        q.topic
        for q in reader.questions.values()
        if q.purpose == Question.Purpose.EXPERIENCED and q.topic
    ]
    measures = exports.measure_list(
        dimensions=[(d.code, d.name) for d in reader.dimensions], topics=topics, reasons=reasons
    )
    units = list(Unit.objects.subtree(root).order_by("path"))
    for start in range(0, len(units), 500):
        chunk = units[start : start + 500]
        # A few queries per 500 units (`SummaryReader.summarize_units`), not three per unit.
        summaries = reader.summarize_units(wave=wave, units=chunk, by=["role_level"])
        yield from _unit_exports(exports, wave, chunk, summaries, measures, reasons, reader)


def _unit_exports(exports, wave, units, summaries, measures, reasons, reader) -> Iterator:
    from reports.anonymity import require_guarded
    from reports.dashboards import all_figures

    for unit in units:
        view = exports.ExportView(name="role_level", summary=summaries[unit.pk])
        require_guarded(all_figures([view.summary]))
        yield exports.Export(
            wave=wave,
            unit=unit,
            k=wave.k,
            views=[view],
            measures=measures,
            reasons=reasons,
            published_at=reader.publication.published_at,
        )


def write(*, fmt: str, wave_id: int, root_id: int, target: BinaryIO) -> int:
    """Write the export as CSV or XLSX to `target`; return the number of data rows."""
    if fmt == "csv":
        return _write_csv(wave_id, root_id, target)
    return _write_xlsx(wave_id, root_id, target)


def _write_csv(wave_id: int, root_id: int, target: BinaryIO) -> int:
    from reports import exports

    rows = 0
    first = True
    for export in _exports_per_unit(wave_id, root_id):
        lines = exports.csv_lines(export)
        header = next(lines)
        if first:
            target.write(header.encode())
            first = False
        for line in lines:
            target.write(line.encode())
            rows += 1
    return rows


def _write_xlsx(wave_id: int, root_id: int, target: BinaryIO) -> int:
    import xlsxwriter

    from reports import exports

    workbook = xlsxwriter.Workbook(
        target,
        {
            "constant_memory": True,
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "strings_to_numbers": False,
        },
    )
    sheet = workbook.add_worksheet("unit x role level")
    bold = workbook.add_format({"bold": True})
    number = workbook.add_format({"num_format": "0.0"})
    for column, name in enumerate(exports.CSV_COLUMNS):
        sheet.write_string(0, column, name, bold)
    row_index = 0
    for export in _exports_per_unit(wave_id, root_id):
        wave, unit = export.wave.name, export.unit.name
        for row in exports.export_rows(export):
            row_index += 1
            sheet.write_string(row_index, 0, wave)
            sheet.write_string(row_index, 1, unit)
            sheet.write_string(row_index, 2, row.breakdown)
            sheet.write_string(row_index, 3, row.group)
            sheet.write_string(row_index, 4, row.measure)
            for column, text in ((5, row.value), (6, row.low), (7, row.high)):
                value = exports._number(text)
                if value is not None:
                    sheet.write_number(row_index, column, value, number)
            if row.n is not None:
                sheet.write_number(row_index, 8, row.n)
            sheet.write_boolean(row_index, 9, row.suppressed)
    workbook.close()
    return row_index
