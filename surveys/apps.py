from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SurveysConfig(AppConfig):
    name = "surveys"
    verbose_name = _("Surveys")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.core.signals import request_finished
        from django.db.models.signals import post_delete, post_save

        from powerclimate import gc_freeze

        request_finished.connect(gc_freeze.request_finished, dispatch_uid="gc-freeze")

        from surveys.models import Dimension, Question, Section

        for model in (Section, Question, Dimension):
            post_save.connect(_renew_revision, sender=model, dispatch_uid=f"revision-{model}")
            post_delete.connect(_renew_revision, sender=model, dispatch_uid=f"revision-d-{model}")


def _renew_revision(sender, instance, **kwargs) -> None:
    """An edit of the instrument's content: caches keyed by its revision read it again."""
    import uuid

    from surveys.models import Instrument

    Instrument.objects.filter(pk=instance.instrument_id).update(revision=uuid.uuid4())
