"""A request reads the pattern of published cells and the counts from one snapshot: a
publication that commits while a dashboard is being built cannot pair the old pattern with
the new counts."""

import threading

import pytest
from django.db import connection, connections
from django.test import Client
from django.urls import reverse

from reports.aggregation import summarize
from reports.publication import publish
from reports.snapshot import published_snapshot
from tests.attacks.insider import Person, build_world, hr_user, submit

pytestmark = pytest.mark.django_db(transaction=True)  # real commits, several connections

TREE = {"acme": None, "alpha": "acme", "beta": "acme"}


def in_another_connection(work) -> None:
    """Run `work` in a thread, so on its own database connection, committed when it ends."""
    failures = []

    def run():
        try:
            work()
        except Exception as error:  # pragma: no cover - reported below
            failures.append(error)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert not failures, failures


@pytest.fixture
def world():
    people = [
        *(Person(f"a{i}", "alpha", voice=1 + i % 5) for i in range(6)),
        *(Person(f"b{i}", "beta", voice=2, responds=False) for i in range(8)),
    ]
    return build_world(tree=TREE, people=people)


def figures(world) -> tuple:
    summary = summarize(wave=world.wave, unit=world.units["acme"], by=("child_units",))
    return summary.version, [(g.label, g.figure.n) for g in [summary.total, *summary.groups]]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite serialises writers")
def test_a_publication_during_a_request_is_not_seen_by_it(world):
    late = [Person(f"b{i}", "beta", voice=2) for i in range(8)]
    with published_snapshot():
        before = figures(world)

        def publish_more():
            for person in late:
                submit(world, person)
            publish(wave=world.wave, force=True)

        in_another_connection(publish_more)
        assert figures(world) == before  # still the snapshot the request started with
    after = figures(world)
    assert after[0] > before[0]
    assert dict(after[1])["Beta"] == 8


def test_dashboards_exports_and_the_api_read_in_one_transaction(world, client: Client):
    """Each of them runs inside one transaction (the snapshot), not statement by statement."""
    seen = []

    def spy(execute, sql, params, many, context):
        overdue_check = "results_hidden" in sql.rsplit("WHERE", 1)[-1]  # runs before, on purpose
        if ("reports_summary" in sql or "reports_publication" in sql) and not overdue_check:
            seen.append(context["connection"].in_atomic_block)
        return execute(sql, params, many, context)

    client.force_login(hr_user())
    query = {"wave": world.wave.pk, "unit": world.units["acme"].pk}
    urls = [
        (reverse("reports:dashboard"), query),
        (reverse("reports:report"), query),
        (reverse("reports:export_csv"), query),
        (reverse("reports:export_xlsx"), query),
        (reverse("reports:api_summary", args=[world.wave.pk]), {"unit": query["unit"]}),
        (reverse("reports:api_trend", args=[world.wave.pk]), {"unit": query["unit"]}),
    ]
    for url, params in urls:
        seen.clear()
        with connection.execute_wrapper(spy):
            response = client.get(url, params)
            if hasattr(response, "streaming_content"):
                b"".join(response.streaming_content)
        assert response.status_code == 200, url
        assert seen and all(seen), f"{url} read outside the snapshot transaction"
