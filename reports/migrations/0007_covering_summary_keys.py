"""Reorder the summary tables' unique keys so that one unit's rows of one variant are one
range: (wave, unit, demo_question, demo_value, role_lo, role_hi, tenure, ...). On PostgreSQL
the key's index then also gets the counted columns (INCLUDE), so the readers' index-only
scans never visit the table. (Django's UniqueConstraint(include=...) would not create the key
at all on SQLite, so that part is written here, for PostgreSQL only.)"""

# Table, column and constraint names come from model metadata.
# ruff: noqa: S608

from django.db import migrations, models

_KEY = ("wave", "unit", "demo_question", "demo_value", "role_lo", "role_hi", "tenure")
_TABLES = {
    # model: (constraint name, extra key fields, counted columns)
    "summarygroup": ("summary_group_key", [], ["respondents"]),
    "summaryitem": ("summary_item_key", ["question_id", "value"], ["count"]),
    "summarydimension": ("summary_dimension_key", ["dimension_id"], ["n", "total", "total_sq"]),
}


def _replace_keys(apps, schema_editor, *, covering: bool) -> None:
    """On PostgreSQL, re-create each key with (or without) the counted columns."""
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    quote = connection.ops.quote_name
    for model_name, (name, extra, counted) in _TABLES.items():
        model = apps.get_model("reports", model_name)
        columns = ", ".join(quote(model._meta.get_field(f).column) for f in [*_KEY, *extra])
        include = f" INCLUDE ({', '.join(quote(c) for c in counted)})" if covering else ""
        schema_editor.execute(
            f"ALTER TABLE {quote(model._meta.db_table)} DROP CONSTRAINT {quote(name)}, "
            f"ADD CONSTRAINT {quote(name)} UNIQUE ({columns}){include}"
        )


def covering_keys(apps, schema_editor):
    _replace_keys(apps, schema_editor, covering=True)


def plain_keys(apps, schema_editor):
    _replace_keys(apps, schema_editor, covering=False)


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0006_publication_pattern_revision"),
    ]

    operations = [
        *(
            operation
            for model_name, (name, extra, _counted) in _TABLES.items()
            for operation in (
                migrations.RemoveConstraint(model_name=model_name, name=name),
                migrations.AddConstraint(
                    model_name=model_name,
                    constraint=models.UniqueConstraint(fields=[*_KEY, *extra], name=name),
                ),
            )
        ),
        migrations.RunPython(covering_keys, plain_keys),
    ]
