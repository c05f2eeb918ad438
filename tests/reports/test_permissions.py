import pytest
from django.contrib.auth.models import Group

from reports.access import HR_GROUP

pytestmark = pytest.mark.django_db


def test_hr_admins_manage_surveys_but_cannot_change_the_audit_log():
    codenames = set(Group.objects.get(name=HR_GROUP).permissions.values_list("codename", flat=True))
    assert {"change_wave", "add_instrument", "change_question", "add_leadergrant"} <= codenames
    assert "view_auditevent" in codenames
    assert not {"change_auditevent", "delete_auditevent", "add_auditevent"} & codenames
