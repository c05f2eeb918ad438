"""The leader's dashboard in a real browser: log in through the log-in page, every chart drawn
by Plotly, a suppressed group visible as such, an XLSX export that downloads and opens, no
request to another host, no console error, and no serious axe-core violation."""

import io

import openpyxl
import pytest
from django.urls import reverse

from tests.browser.conftest import ARTIFACTS
from tests.factories import make_leader
from tests.reports.dashboard_data import build_org

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

PASSWORD = "a-long-test-password"  # tests.factories.UserFactory


def test_leader_reads_the_dashboard_and_exports_it(
    live_server, page, axe_check, assert_only_own_host, settings
):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    org = build_org()
    make_leader(org.root, username="lena")

    page.goto(live_server.url + reverse("reports:dashboard"))
    assert "/login/" in page.url  # anonymous: to the log-in page first
    page.fill("#id_username", "lena")
    page.fill("#id_password", PASSWORD)
    page.click("form [type=submit]")
    page.wait_for_url("**/reports/**")
    page.goto(live_server.url + reverse("reports:dashboard"))

    # The page leads with the answer.
    assert "power is felt most unevenly" in page.locator(".lead-answer").inner_text()
    charts = page.locator("[data-figure]")
    count = charts.count()
    assert count == 7
    page.wait_for_function(
        "n => document.querySelectorAll('[data-rendered=true]').length === n", arg=count
    )
    for index in range(count):
        chart = charts.nth(index)
        assert chart.locator(".main-svg").first.is_visible(), chart.get_attribute("id")

    # A suppressed role level is drawn as a labelled grey band, and said so in the table.
    heatmap = page.locator("#plot-heatmap")
    assert heatmap.get_by_text("fewer than 5 responses").first.is_visible()
    page.locator("#chart-heatmap summary").click()
    assert page.locator("#table-heatmap td[data-suppressed=true]").first.is_visible()

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard-leader.png"), full_page=True)

    # The XLSX export downloads and opens.
    with page.expect_download() as download_info:
        page.click("#export-xlsx")
    download = download_info.value
    assert download.suggested_filename.endswith(".xlsx")
    book = openpyxl.load_workbook(io.BytesIO(open(download.path(), "rb").read()))  # noqa: SIM115
    assert "Role level" in book.sheetnames
    values = [row[3] for row in book["Role level"].iter_rows(min_row=2, values_only=True)]
    assert "fewer than 5 responses" in values

    axe_check(page, "dashboard-leader")
    assert_only_own_host(page, live_server.url)
