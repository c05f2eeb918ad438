from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReportsConfig(AppConfig):
    name = "reports"
    verbose_name = _("Reports")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from reports import signals  # noqa: F401  (connects to surveys' submission signal)
        from reports.permissions import sync_hr_permissions

        post_migrate.connect(sync_hr_permissions, sender=self)
