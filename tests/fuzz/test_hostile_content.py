"""Hostile content: unit, wave and role names and comments holding HTML, scripts and
spreadsheet formulas are shown as text on every page that shows them (dashboard, printable
report, unit and home pages, waves, survey pages, the admin), as text in the charts, as JSON
strings in the API, and neutralised in CSV and XLSX exports.

tests/reports/test_exports.py already checks unit names starting with =, + and @ in both
exports; this module adds -, tab and carriage return, wave and role names, and every page."""

import csv
import io
import json

import openpyxl
import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from reports import dashboards
from surveys import services
from surveys.models import Comment, RoleLevel, Unit, Wave

pytestmark = pytest.mark.django_db

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
LINK = '<a href="https://evil.example/">click</a>'
RAW = ("<script>alert(1)", "<img src=x", '<a href="https://evil.example/')
FORMULAS = ['=HYPERLINK("http://evil.example","x")', "-2+3+cmd|' /C calc'!A0", "\t=1+1", "\r=1+1"]


@pytest.fixture
def hostile(fuzzed):
    """The published organisation with hostile names everywhere and a hostile comment."""
    org = fuzzed.org
    Unit.objects.filter(pk=org.sales.pk).update(name=f"Sales {SCRIPT}")
    Unit.objects.filter(pk=org.north.pk).update(name=f"North {IMG}")
    Unit.objects.filter(pk=org.south.pk).update(name=f"South {LINK}")
    Wave.objects.filter(pk=org.current.pk).update(name=f"Autumn {SCRIPT}")
    RoleLevel.objects.filter(rank=1).update(name=f"Staff {IMG}")
    comment = Comment.objects.filter(wave=org.current, published=True).first()
    Comment.objects.filter(pk=comment.pk).update(text=f"My comment {SCRIPT} {IMG} {LINK}")
    for unit in (org.sales, org.north, org.south):
        unit.refresh_from_db()
    org.current.refresh_from_db()
    return fuzzed


def assert_shown_as_text(html: str, *names: str) -> None:
    for raw in RAW:
        assert raw not in html, raw
    for name in names:
        escaped = name.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        assert escaped.replace('"', "&quot;") in html or escaped in html, name


def test_report_pages_show_hostile_names_and_comments_as_text(client, hostile):
    org = hostile.org
    client.force_login(hostile.hr)
    query = {"wave": org.current.pk, "unit": org.sales.pk}
    pages = {
        reverse("reports:dashboard"): [f"Sales {SCRIPT}", f"North {IMG}", f"Autumn {SCRIPT}"],
        reverse("reports:report"): [f"Sales {SCRIPT}", f"Autumn {SCRIPT}"],
        reverse("reports:unit", args=[org.sales.pk]): [f"Sales {SCRIPT}", f"South {LINK}"],
        reverse("reports:home"): [],
        reverse("reports:waves"): [f"Autumn {SCRIPT}"],
        reverse("reports:wave_detail", args=[org.current.pk]): [f"North {IMG}"],
    }
    for path, names in pages.items():
        response = client.get(path, query)
        assert response.status_code == 200, path
        assert_shown_as_text(response.content.decode(), *names)
    dashboard = client.get(reverse("reports:dashboard"), query).content.decode()
    assert "My comment &lt;script&gt;" in dashboard


def test_charts_show_hostile_names_as_text_not_as_plotly_markup(hostile):
    """Plotly reads <a href>, <span style> and <b> in labels; names must reach it escaped."""
    org = hostile.org
    board = dashboards.build_dashboard(wave=org.current, unit=org.sales)
    figures = json.dumps([chart.figure for chart in board.charts if chart.figure])
    for raw in ("<script", "<img", "<a href"):
        assert raw not in figures, raw
    # The child units' chart (labels wrapped with <br> between words) and the role levels'.
    assert "South &lt;a" in figures and "click&lt;/a&gt;" in figures
    assert "Staff" in figures and "&lt;img" in figures


def test_survey_pages_show_hostile_unit_names_as_text(client, hostile):
    org = hostile.org
    role = RoleLevel.objects.get(rank=1)
    [token] = services.create_invitations(
        wave=org.current, roster=[services.RosterRow(org.sales, role, None)] * 6
    )[:1]
    for path in (f"/s/i/{token}/", f"/s/w/{org.current.open_link_key}/answer/"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert_shown_as_text(response.content.decode(), f"Sales {SCRIPT}")


def test_admin_lists_show_hostile_names_as_text(client, hostile):
    admin = get_user_model().objects.create(username="root", is_staff=True, is_superuser=True)
    client.force_login(admin)
    for path in ("/admin/surveys/unit/", "/admin/surveys/wave/", "/admin/surveys/rolelevel/"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert_shown_as_text(response.content.decode())


def test_api_sends_hostile_names_as_json_strings(client, hostile):
    org = hostile.org
    client.force_login(hostile.hr)
    response = client.get(
        reverse("reports:api_summary", args=[org.current.pk]),
        {"unit": org.sales.pk, "by": "child_units"},
    )
    assert response["Content-Type"] == "application/json"
    assert response["X-Content-Type-Options"] == "nosniff"
    data = response.json()
    assert data["label"] == f"Sales {SCRIPT}"
    assert {group["label"] for group in data["groups"]} == {f"North {IMG}", f"South {LINK}"}


@pytest.mark.parametrize("formula", FORMULAS, ids=["equals", "minus", "tab", "return"])
def test_formula_names_are_neutralised_in_csv_exports(client, fuzzed, formula):
    org = fuzzed.org
    Unit.objects.filter(pk=org.north.pk).update(name=formula)
    Wave.objects.filter(pk=org.current.pk).update(name=formula)
    RoleLevel.objects.filter(rank=1).update(name=formula)
    client.force_login(fuzzed.hr)
    for by in ("child_units", "role_level"):
        response = client.get(
            reverse("reports:export_csv"), {"wave": org.current.pk, "unit": org.sales.pk, "by": by}
        )
        text = b"".join(response.streaming_content).decode("utf-8-sig")
        rows = list(csv.DictReader(io.StringIO(text)))
        assert {row["wave"] for row in rows} == {"'" + formula}
        groups = {row["group"] for row in rows}
        assert "'" + formula in groups, groups
        assert formula not in groups
        for row in rows:
            for column in ("wave", "unit", "breakdown", "group", "measure"):
                assert not row[column].startswith(("=", "+", "-", "@", "\t", "\r")), row


def test_formula_names_stay_text_in_xlsx_exports(client, fuzzed):
    org = fuzzed.org
    Unit.objects.filter(pk=org.north.pk).update(name=FORMULAS[1])
    Wave.objects.filter(pk=org.current.pk).update(name=FORMULAS[0])
    RoleLevel.objects.filter(rank=1).update(name=FORMULAS[2])
    client.force_login(fuzzed.hr)
    response = client.get(
        reverse("reports:export_xlsx"), {"wave": org.current.pk, "unit": org.sales.pk}
    )
    book = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    seen = set()
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                if isinstance(cell.value, str):
                    assert cell.data_type == "s", (sheet.title, cell.value)  # never a formula
                    seen |= {f for f in FORMULAS[:3] if f in cell.value}
    assert seen == set(FORMULAS[:3])
