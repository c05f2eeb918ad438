"""Exports and the API under attack: an insider downloads every export and calls every API
endpoint for every unit and breakdown, looking for a figure about fewer than k people that
the screens hide (DESIGN anonymity point 4: one guard for every number)."""

import csv
import io

import openpyxl
import pytest
from django.test import override_settings
from django.urls import reverse

from tests.attacks.insider import (
    BREAKDOWNS,
    K,
    Person,
    assert_nobody_isolated,
    build_world,
    everything_readable,
    hr_user,
    leader_of,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("small_groups")]

TREE = {"acme": None, "ops": "acme", "alpha": "ops", "beta": "ops", "gamma": "ops"}


@pytest.fixture
def small_groups():
    """Groups of every size around k: Gamma has 2 respondents, Alpha's managers 3, Beta's
    newcomers 1, two women among Beta's managers; Dana answers alone from Operations."""
    people = [
        *(Person(f"a{i}", "alpha", voice=1 + i % 5, gender=1 + i % 2) for i in range(7)),
        *(Person(f"am{i}", "alpha", rank=2, voice=2, gender=2) for i in range(3)),
        *(Person(f"ams{i}", "alpha", rank=2, responds=False) for i in range(3)),
        *(Person(f"b{i}", "beta", tenure=3, voice=4, gender=2) for i in range(8)),
        Person("Newton", "beta", tenure=1, voice=1, gender=2),
        *(Person(f"bn{i}", "beta", tenure=1, responds=False) for i in range(5)),
        *(Person(f"bm{i}", "beta", rank=2, voice=5, gender=1 if i < 2 else 2) for i in range(6)),
        Person("g1", "gamma", voice=1),
        Person("g2", "gamma", voice=5),
        *(Person(f"gs{i}", "gamma", responds=False) for i in range(4)),
        Person("Dana", "ops", voice=3),
    ]
    with override_settings(POWERCLIMATE_DEMOGRAPHIC_MIN=0):
        return build_world(tree=TREE, people=people)


def _csv_rows(client, world, unit, by: str) -> list[dict]:
    response = client.get(
        reverse("reports:export_csv"), {"wave": world.wave.pk, "unit": unit.pk, "by": by}
    )
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def _assert_row_protected(row: dict, k: int) -> None:
    if row["suppressed"] == "true":
        assert row["value"] == row["low"] == row["high"] == row["n"] == "", row
        return
    if row["measure"] == "respondents":
        assert int(row["value"]) >= k, row
    if row["n"]:
        assert int(row["n"]) >= k, row


def test_no_csv_export_holds_a_figure_or_an_n_under_k(client, small_groups):
    world = small_groups
    client.force_login(hr_user())
    seen = 0
    for unit in world.units.values():
        for by in ["", *(",".join(b) for b in BREAKDOWNS if b)]:
            for row in _csv_rows(client, world, unit, by):
                _assert_row_protected(row, K)
                seen += 1
    assert seen > 500


def test_no_xlsx_export_holds_a_figure_or_an_n_under_k(client, small_groups):
    world = small_groups
    client.force_login(hr_user())
    for unit in world.units.values():
        response = client.get(
            reverse("reports:export_xlsx"), {"wave": world.wave.pk, "unit": unit.pk}
        )
        book = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content)))
        for sheet in book.worksheets[1:]:
            for _group, _label, code, value, _low, _high, n, suppressed in sheet.iter_rows(
                min_row=2, values_only=True
            ):
                if suppressed:
                    assert value == f"fewer than {K} responses" and n is None
                    continue
                if code == "respondents":
                    assert value >= K
                assert n is None or n >= K, (sheet.title, code, n)


def test_no_api_answer_holds_a_figure_or_an_n_under_k(client, small_groups):
    world = small_groups
    client.force_login(hr_user())

    def walk(node):
        if isinstance(node, dict):
            if "suppressed" in node:
                if node["suppressed"]:
                    assert node["n"] is None and node.get("measures") is None, node
                else:
                    assert node["n"] >= K, node
            if isinstance(node.get("n"), int):
                assert node["n"] == 0 or node["n"] >= K, node  # 0: nobody answered it
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for unit in world.units.values():
        for by in BREAKDOWNS:
            url = reverse("reports:api_summary", args=[world.wave.pk])
            walk(client.get(url, {"unit": unit.pk, "by": ",".join(by)}).json())
        walk(
            client.get(reverse("reports:api_trend", args=[world.wave.pk]), {"unit": unit.pk}).json()
        )


def test_exports_and_the_api_give_the_same_figures_as_the_screens(client, small_groups):
    """Nothing extra: every count an export or the API publishes is one the guard publishes
    for the dashboards, so the insider gains nothing by downloading."""
    world = small_groups
    hr = hr_user()
    client.force_login(hr)
    guarded = {
        (f.label.split(": ", 1)[1], f.n) for f in everything_readable(wave=world.wave, user=hr)
    }
    published_counts = {n for _label, n in guarded if n is not None}
    for unit in world.units.values():
        for by in ["", *(",".join(b) for b in BREAKDOWNS if b)]:
            for row in _csv_rows(client, world, unit, by):
                if row["measure"] == "respondents" and row["value"]:
                    assert int(row["value"]) in published_counts
    assert_nobody_isolated(everything_readable(wave=world.wave, user=hr), k=K)


def test_a_leaders_export_of_their_team_holds_nothing_from_outside_it(client, small_groups):
    world = small_groups
    client.force_login(leader_of(world.units["alpha"]))
    rows = _csv_rows(client, world, world.units["alpha"], "")
    assert {row["unit"] for row in rows} == {"Alpha"}
    response = client.get(
        reverse("reports:export_csv"), {"wave": world.wave.pk, "unit": world.units["ops"].pk}
    )
    assert response.status_code == 403
