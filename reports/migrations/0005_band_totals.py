"""Store every role band's total over its tenure groups (`reports.models.BAND_TOTAL`) for the
summary rows folded before these rows existed: one INSERT ... SELECT ... GROUP BY per summary
table, in the database (standard SQL, on SQLite and PostgreSQL alike)."""

# Table and column names come from model metadata; the one value is a query parameter.
# ruff: noqa: S608

from django.db import migrations

BAND_TOTAL = 2_147_483_647  # reports.models.BAND_TOTAL, frozen here as migrations should be

_KEY = ["wave_id", "unit_id", "role_lo", "role_hi"]
_TABLES = {
    "SummaryGroup": ([], {"respondents": "sum(respondents)"}),
    "SummaryItem": (["question_id", "value"], {"count": "sum(count)"}),
    "SummaryDimension": (
        ["dimension_id"],
        {"n": "sum(n)", "total": "sum(total)", "total_sq": "sum(total_sq)"},
    ),
}


def add_band_totals(apps, schema_editor):
    quote = schema_editor.connection.ops.quote_name
    with schema_editor.connection.cursor() as cursor:
        for model_name, (extra, sums) in _TABLES.items():
            table = quote(apps.get_model("reports", model_name)._meta.db_table)
            key = ", ".join(quote(c) for c in [*_KEY, *extra])
            values = ", ".join(quote(c) for c in sums)
            totals = ", ".join(f"{expression}" for expression in sums.values())
            cursor.execute(
                f"INSERT INTO {table} ({key}, tenure, demo_question, demo_value, {values}) "
                f"SELECT {key}, 0, %s, 0, {totals} FROM {table} WHERE demo_question = 0 "
                f"GROUP BY {key}",
                [BAND_TOTAL],
            )


def remove_band_totals(apps, schema_editor):
    for model_name in _TABLES:
        apps.get_model("reports", model_name).objects.filter(demo_question=BAND_TOTAL).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0004_results_after_close"),
    ]

    operations = [migrations.RunPython(add_band_totals, remove_band_totals)]
