"""The group whose members are HR admins (see reports/access.py)."""

from django.db import migrations

HR_GROUP = "HR admins"


def create_group(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Group.objects.get_or_create(name=HR_GROUP)


class Migration(migrations.Migration):
    dependencies = [("reports", "0001_initial"), ("auth", "0012_alter_user_first_name_max_length")]

    operations = [migrations.RunPython(create_group, migrations.RunPython.noop)]
