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

        from django.db.models.signals import post_delete, post_save

        from surveys.models import RoleLevel, TenureBand

        for model in (RoleLevel, TenureBand):
            post_save.connect(_forget_levels, sender=model, dispatch_uid=f"levels-{model}")
            post_delete.connect(_forget_levels, sender=model, dispatch_uid=f"levels-d-{model}")


def _forget_levels(sender, **kwargs) -> None:
    """A role level or tenure band changed: the reports read them again (other processes
    within `aggregation.LEVELS_CACHE_SECONDS`)."""
    from django.core.cache import cache

    from reports.aggregation import LEVELS_KEY

    cache.delete(LEVELS_KEY)
