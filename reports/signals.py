"""Fold new responses into the published figures in batches (DESIGN point 6)."""

from django.dispatch import receiver

from surveys.signals import response_submitted


@receiver(response_submitted)
def publish_when_batch_is_full(sender, *, wave, **kwargs) -> None:
    from reports.publication import publish_if_due

    publish_if_due(wave=wave)
