"""The HR admins group can manage everything in the admin except the audit log, which nobody
can change. Kept in sync after every migrate (permissions only exist once apps are migrated)."""

from django.contrib.auth.models import Group, Permission

from reports.access import HR_GROUP

HR_APPS = ("surveys", "reports", "auth")
READ_ONLY_MODELS = {"auditevent"}


def sync_hr_permissions(**kwargs) -> None:
    group, _ = Group.objects.get_or_create(name=HR_GROUP)
    permissions = Permission.objects.filter(content_type__app_label__in=HR_APPS).select_related(
        "content_type"
    )
    allowed = [
        permission
        for permission in permissions
        if permission.content_type.model not in READ_ONLY_MODELS
        or permission.codename.startswith("view_")
    ]
    group.permissions.set(allowed)
