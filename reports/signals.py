"""Fold new responses into the published figures in batches (DESIGN point 6), without making a
respondent wait for it.

POWERCLIMATE_PUBLISH_MODE chooses where publication runs once a batch is full:
- "background" (default): a thread of the same process, after the respondent's response is
  sent; at most one per wave per process, and a cheap indexed count decides whether to start;
- "worker": nowhere in the web process: `manage.py publish_results --loop 30` does it;
- "inline": in the request that completes the batch (tests, and single-user demos).
"""

import logging
import threading

from django.conf import settings
from django.db import connections
from django.dispatch import receiver

from surveys.signals import response_submitted

logger = logging.getLogger(__name__)
_in_flight: set[int] = set()
_lock = threading.Lock()


@receiver(response_submitted)
def publish_when_batch_is_full(sender, *, wave, **kwargs) -> None:
    from reports.publication import batch_size, publish_if_due
    from surveys.models import Response

    mode = settings.POWERCLIMATE_PUBLISH_MODE
    if mode == "worker":
        return
    if mode == "inline":
        publish_if_due(wave=wave)
        return
    if Response.objects.for_wave(wave).unpublished().count() < batch_size(wave):
        return
    with _lock:
        if wave.pk in _in_flight:
            return
        _in_flight.add(wave.pk)
    threading.Thread(target=_publish, args=(wave.pk,), daemon=True).start()


def _publish(wave_id: int) -> None:
    from reports.publication import publish_if_due
    from surveys.models import Wave

    try:
        publish_if_due(wave=Wave.objects.get(pk=wave_id))
    except Exception:
        logger.exception("publishing wave %s failed; publish_results will retry", wave_id)
    finally:
        with _lock:
            _in_flight.discard(wave_id)
        connections.close_all()
