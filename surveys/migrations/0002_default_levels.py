"""The default role levels and tenure bands: rank is what "higher" means everywhere."""

from django.db import migrations

ROLE_LEVELS = [
    ("individual-contributor", "Individual contributor", 1),
    ("team-lead", "Team lead", 2),
    ("manager", "Manager", 3),
    ("director", "Director", 4),
    ("executive", "Executive", 5),
]
TENURE_BANDS = [
    ("under-1-year", "Less than 1 year", 1),
    ("1-3-years", "1 to 3 years", 2),
    ("3-10-years", "3 to 10 years", 3),
    ("over-10-years", "More than 10 years", 4),
]


def create_defaults(apps, schema_editor):
    RoleLevel = apps.get_model("surveys", "RoleLevel")
    TenureBand = apps.get_model("surveys", "TenureBand")
    for code, name, rank in ROLE_LEVELS:
        RoleLevel.objects.get_or_create(code=code, defaults={"name": name, "rank": rank})
    for code, name, rank in TENURE_BANDS:
        TenureBand.objects.get_or_create(code=code, defaults={"name": name, "rank": rank})


class Migration(migrations.Migration):
    dependencies = [("surveys", "0001_initial")]

    operations = [migrations.RunPython(create_defaults, migrations.RunPython.noop)]
