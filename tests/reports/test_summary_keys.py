"""The summary tables are keyed by their natural key (migration 0008), and the migration that
made it so keeps every stored row in both directions."""

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

from reports.models import SummaryDimension, SummaryGroup, SummaryItem
from tests.factories import UnitFactory, WaveFactory

BEFORE, AFTER = ("reports", "0007_covering_summary_keys"), ("reports", "0008_summary_primary_keys")


def _rows():
    return {
        model: sorted(model.objects.values_list(*[f.attname for f in model._meta.concrete_fields]))
        for model in (SummaryGroup, SummaryItem, SummaryDimension)
    }


def _columns(model) -> list[str]:
    with connection.cursor() as cursor:
        described = connection.introspection.get_table_description(cursor, model._meta.db_table)
    return [column.name for column in described]


def _migrate(target) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate([target])


@pytest.mark.django_db(transaction=True)
def test_the_key_migration_keeps_every_summary_row_both_ways():
    wave, unit = WaveFactory(), UnitFactory()
    key = {"wave": wave, "unit": unit, "role_lo": 1, "role_hi": 2, "tenure": 0}
    for demo_value in (0, 1):
        SummaryGroup.objects.create(**key, demo_value=demo_value, respondents=7 + demo_value)
        for value in (1, 5):
            SummaryItem.objects.create(
                **key, demo_value=demo_value, question_id=3, value=value, count=value
            )
        SummaryDimension.objects.create(
            **key, demo_value=demo_value, dimension_id=2, n=7, total=21.5, total_sq=70.25
        )
    stored = _rows()
    try:
        _migrate(BEFORE)
        assert "id" in _columns(SummaryItem)
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM reports_summaryitem")
            assert cursor.fetchone()[0] == 4
    finally:
        _migrate(AFTER)
    assert "id" not in _columns(SummaryItem)
    assert _rows() == stored


@pytest.mark.django_db
def test_a_summary_row_is_identified_by_its_key():
    wave, unit = WaveFactory(), UnitFactory()
    key = {"wave": wave, "unit": unit, "role_lo": 1, "role_hi": 1, "tenure": 2}
    row = SummaryItem.objects.create(**key, question_id=4, value=3, count=6)
    assert row.pk == (wave.pk, unit.pk, 0, 0, 1, 1, 2, 4, 3)
    assert SummaryItem.objects.get(pk=row.pk).count == 6
    with pytest.raises(IntegrityError), transaction.atomic():
        SummaryItem.objects.create(**key, question_id=4, value=3, count=1)
