"""CSV and XLSX exports: the same guarded figures as the dashboard, suppression included, safe
to open in a spreadsheet, streamed, and audit-logged."""

import csv
import io

import openpyxl
import pytest
from django.http import FileResponse, StreamingHttpResponse
from django.urls import reverse

from reports import aggregation, dashboards
from reports.exports import CSV_COLUMNS, neutralise
from reports.models import AuditEvent
from surveys.models import Unit
from tests.factories import make_hr, make_leader
from tests.reports.dashboard_data import fast_password_hashing, published_org  # noqa: F401

pytestmark = pytest.mark.django_db


def _csv(client, org, unit, **extra) -> list[dict]:
    response = client.get(
        reverse("reports:export_csv"), {"wave": org.current.pk, "unit": unit.pk, **extra}
    )
    assert response.status_code == 200, response.content
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def _xlsx(client, org, unit) -> openpyxl.Workbook:
    response = client.get(reverse("reports:export_xlsx"), {"wave": org.current.pk, "unit": unit.pk})
    assert response.status_code == 200
    assert isinstance(response, FileResponse)
    return openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content)))


def _row(rows, breakdown, group, measure):
    [row] = [
        r
        for r in rows
        if r["breakdown"] == breakdown and r["group"] == group and r["measure"] == measure
    ]
    return row


def test_csv_is_tidy_and_matches_the_dashboard(client, published_org):  # noqa: F811
    org = published_org
    client.force_login(make_leader(org.root))
    rows = _csv(client, org, org.root)
    assert list(rows[0]) == CSV_COLUMNS
    assert {r["breakdown"] for r in rows} == {
        "overall",
        "role_level",
        "tenure_band",
        "child_units",
        "role_level_x_tenure_band",
    }
    summary = aggregation.summarize(wave=org.current, unit=org.root, by=["role_level"])
    total = summary.total.measures
    overall = _row(rows, "overall", "All respondents", "respondents")
    assert overall["value"] == str(summary.total.n) and overall["suppressed"] == "false"
    voice = _row(rows, "overall", "All respondents", "score:voice")
    assert voice["value"] == dashboards.fmt(total.dimensions["voice"].score.value)
    assert voice["low"] == dashboards.fmt(total.dimensions["voice"].score.low)
    # The same figure as the dashboard's heatmap table shows.
    html = client.get(
        reverse("reports:dashboard"), {"wave": org.current.pk, "unit": org.root.pk}
    ).content.decode()
    published = next(g for g in summary.groups if not g.suppressed)
    row = _row(rows, "role_level", published.label, "score:voice")
    assert row["value"] == dashboards.fmt(published.measures.dimensions["voice"].score.value)
    assert f'<td class=" text-end">{row["value"]}</td>' in html
    code, gap = summary.headline_gap
    gap_row = _row(
        rows, "role_level", "Power gap (highest minus lowest role level)", f"power_gap:{code}"
    )
    assert gap_row["value"] == dashboards.fmt(gap.value)


def test_suppressed_groups_are_flagged_with_empty_values(client, published_org):  # noqa: F811
    org = published_org
    client.force_login(make_hr())
    rows = _csv(client, org, org.sales, by="role_level")
    summary = aggregation.summarize(wave=org.current, unit=org.sales, by=["role_level"])
    hidden = {g.label for g in summary.groups if g.suppressed}
    assert hidden
    for row in rows:
        if row["group"] in hidden:
            assert row["suppressed"] == "true"
            assert row["value"] == row["low"] == row["high"] == row["n"] == ""
    assert {r["breakdown"] for r in rows} == {"role_level"}


def test_xlsx_has_a_formatted_sheet_per_breakdown_and_the_same_figures(client, published_org):  # noqa: F811
    org = published_org
    client.force_login(make_hr())
    rows = _csv(client, org, org.sales)
    book = _xlsx(client, org, org.sales)
    assert book.sheetnames == [
        "README",
        "Overall",
        "Role level",
        "Tenure band",
        "Child units",
        "Role level x tenure",
    ]
    readme = " ".join(str(c.value) for c in book["README"]["A"] if c.value)
    assert "fewer than 5 responses" in readme and "Sales" in readme
    sheet = book["Child units"]
    assert sheet.freeze_panes == "B2"
    assert sheet["A1"].font.bold and sheet["A1"].value == "Group"
    assert sheet.column_dimensions["B"].width > 30
    assert sheet.auto_filter.ref
    by_key = {}
    for group, _label, measure, value, low, _high, n, suppressed in sheet.iter_rows(
        min_row=2, values_only=True
    ):
        by_key[(group, measure)] = (value, low, n, suppressed)
    for row in rows:
        if row["breakdown"] != "child_units":
            continue
        value, low, n, suppressed = by_key[(row["group"], row["measure"])]
        assert suppressed == (row["suppressed"] == "true")
        if suppressed:
            assert value == "fewer than 5 responses"
        else:
            assert f"{value:.1f}" == f"{float(row['value']):.1f}"
            assert (n or "") == (int(row["n"]) if row["n"] else "")


def test_formula_injection_is_neutralised(client, published_org):  # noqa: F811
    org = published_org
    org.sales.name = '=HYPERLINK("http://evil.example","click")'
    org.sales.save()
    org.north.name = "+cmd|' /C calc'!A0"
    org.north.save()
    org.south.name = "@SUM(1+1)"
    org.south.save()
    client.force_login(make_hr())
    rows = _csv(client, org, org.sales)
    assert {r["unit"] for r in rows} == {"'" + org.sales.name}
    groups = {r["group"] for r in rows if r["breakdown"] == "child_units"}
    assert groups == {"'" + org.north.name, "'" + org.south.name}
    book = _xlsx(client, org, org.sales)
    cells = [c for row in book["Child units"].iter_rows(min_row=2) for c in row[:1]]
    assert {c.value for c in cells} == {org.north.name, org.south.name}
    assert all(c.data_type == "s" for c in cells)  # text, never a formula
    readme = [c for c in book["README"]["A"] if c.value and "HYPERLINK" in str(c.value)]
    assert readme and all(c.data_type == "s" for c in readme)


def test_negative_numbers_stay_numbers(client, published_org):  # noqa: F811
    org = published_org
    client.force_login(make_hr())
    rows = _csv(client, org, org.root, by="role_level")
    values = [r["value"] for r in rows if r["value"].startswith("-")]
    assert all(float(v) < 0 for v in values)  # a negative figure is not prefixed


def test_exports_are_audit_logged_with_their_parameters(client, published_org):  # noqa: F811
    org = published_org
    hr = make_hr()
    client.force_login(hr)
    _csv(client, org, org.sales, by="tenure_band")
    _xlsx(client, org, org.sales)
    csv_event, xlsx_event = AuditEvent.objects.filter(user=hr).order_by("at", "pk")
    assert csv_event.action == xlsx_event.action == AuditEvent.Action.EXPORT
    assert csv_event.detail["format"] == "csv" and csv_event.detail["views"] == ["tenure_band"]
    assert csv_event.detail["params"]["by"] == ["tenure_band"]
    assert xlsx_event.detail["format"] == "xlsx" and len(xlsx_event.detail["views"]) == 5
    assert xlsx_event.detail["unit"] == org.sales.pk


@pytest.mark.parametrize("by", ["nonsense", "child_units,role_level", "role_level,role_level"])
def test_a_bad_breakdown_gets_a_clear_message(client, published_org, by):  # noqa: F811
    org = published_org
    client.force_login(make_hr())
    response = client.get(
        reverse("reports:export_csv"), {"wave": org.current.pk, "unit": org.root.pk, "by": by}
    )
    assert response.status_code == 400
    assert "breakdown" in response.content.decode().lower()


def test_printable_report_has_every_chart_as_a_table(client, published_org):  # noqa: F811
    org = published_org
    client.force_login(make_leader(org.root))
    response = client.get(reverse("reports:report"), {"wave": org.current.pk, "unit": org.root.pk})
    html = response.content.decode()
    for chart in response.context["board"].charts:
        assert f'id="table-{chart.key}"' in html
    assert "<details" not in html  # tables are always open in print
    assert 'data-static="true"' in html
    assert AuditEvent.objects.get(action=AuditEvent.Action.EXPORT).detail["format"] == "print"


def _every_unit(client, org, unit, fmt="csv", **extra):
    url = reverse(f"reports:export_{fmt}")
    return client.get(url, {"wave": org.current.pk, "unit": unit.pk, "units": "each", **extra})


def test_every_unit_export_lists_each_unit_by_role_level_with_its_own_figures(
    client,
    published_org,  # noqa: F811
):
    """HR's organisation-wide export: every unit under the chosen one, each by role level,
    with exactly the figures of that unit's own export."""
    org = published_org
    client.force_login(make_hr())
    response = _every_unit(client, org, org.root)
    assert response.status_code == 200
    assert "every-unit" in response["Content-Disposition"]
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    event = AuditEvent.objects.filter(action=AuditEvent.Action.EXPORT).latest("at")
    assert event.detail["units"] == "each"
    everyone = list(Unit.objects.subtree(org.root))  # as stored (tests rename some in memory)
    assert {r["unit"] for r in rows} == {neutralise(u.name) for u in everyone}
    assert {r["breakdown"] for r in rows} == {"role_level"}
    for unit in everyone:
        own = _csv(client, org, unit, by="role_level")
        mine = [r for r in rows if r["unit"] == neutralise(unit.name)]
        assert mine == own
    suppressed = [r for r in rows if r["suppressed"] == "true"]
    assert suppressed and all(r["value"] == "" and r["n"] == "" for r in suppressed)

    book = openpyxl.load_workbook(
        io.BytesIO(b"".join(_every_unit(client, org, org.root, fmt="xlsx").streaming_content))
    )
    [sheet] = book.worksheets
    values = list(sheet.iter_rows(values_only=True))
    assert list(values[0]) == CSV_COLUMNS
    assert len(values) - 1 == len(rows)
    # The same cells as the CSV, typed: text, figures as numbers shown to one decimal,
    # counts as whole numbers, suppression as a boolean; a bold header that stays in view.
    for line, cells in zip(rows, sheet.iter_rows(min_row=2), strict=True):
        got = dict(zip(CSV_COLUMNS, cells, strict=True))
        assert got["unit"].value == line["unit"] and got["unit"].data_type == "s"
        assert got["suppressed"].value is (line["suppressed"] == "true")
        for column in ("value", "low", "high"):
            if line[column] == "":
                assert got[column].value is None
            else:
                assert got[column].value == pytest.approx(float(line[column]))
                assert got[column].number_format == "0.0"
        assert got["n"].value == (int(line["n"]) if line["n"] else None)
    assert all(cell.font.b for cell in sheet[1])
    assert sheet.freeze_panes == "A2"


def test_every_unit_export_keeps_a_leader_inside_their_units(client, published_org):  # noqa: F811
    org = published_org
    client.force_login(make_leader(org.sales))
    response = _every_unit(client, org, org.sales)
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    units = {r["unit"] for r in csv.DictReader(io.StringIO(text))}
    assert units == {neutralise(u.name) for u in Unit.objects.subtree(org.sales)}
    assert neutralise(Unit.objects.get(pk=org.root.pk).name) not in units
    assert _every_unit(client, org, org.root).status_code == 403


@pytest.mark.parametrize("by", ["child_units", "", "role_level,tenure_band"])
def test_every_unit_export_takes_one_breakdown_without_child_units(client, published_org, by):  # noqa: F811
    org = published_org
    client.force_login(make_hr())
    response = _every_unit(client, org, org.root, by=by)
    if by == "child_units":
        assert response.status_code == 400
        assert "Every unit is already listed" in response.content.decode()
    else:
        assert response.status_code == 200


def test_every_unit_xlsx_keeps_formula_like_names_as_text(client, published_org):  # noqa: F811
    """A unit named like a formula or a link is text in the organisation-wide workbook."""
    org = published_org
    name = '=HYPERLINK("http://example.com","Open")'
    Unit.objects.filter(pk=org.north.pk).update(name=name)
    client.force_login(make_hr())
    book = openpyxl.load_workbook(
        io.BytesIO(b"".join(_every_unit(client, org, org.root, fmt="xlsx").streaming_content))
    )
    cells = [row[1] for row in book.worksheets[0].iter_rows(min_row=2)]
    mine = [cell for cell in cells if cell.value == neutralise(name)]
    assert mine and all(cell.data_type == "s" for cell in cells)
    assert not book.worksheets[0]._hyperlinks
