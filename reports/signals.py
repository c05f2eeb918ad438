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
from django.db.models import Q
from django.dispatch import receiver
from django.utils import timezone

from surveys.signals import response_submitted

logger = logging.getLogger(__name__)
_in_flight: set[int] = set()
_lock = threading.Lock()


@receiver(response_submitted)
def publish_when_batch_is_full(sender, *, wave, **kwargs) -> None:
    from reports.publication import batch_size
    from surveys.models import Response

    mode = settings.POWERCLIMATE_PUBLISH_MODE
    # In the background mode the cheap check comes first, so that no thread starts for nothing.
    if mode == "background" and (
        Response.objects.for_wave(wave).unpublished().count() < batch_size(wave)
    ):
        return
    request_publication(wave.pk)


def publish_overdue_results() -> None:
    """Ask for the publication of waves that have closed while their figures waited for the
    close (no live results): a wave closes by its time with nobody clicking "Close", and the
    first report read after that starts its publication. One indexed query when none is due."""
    from reports.models import Publication
    from surveys.models import Wave

    overdue = Publication.objects.filter(results_hidden=True).filter(
        Q(wave__state=Wave.State.CLOSED) | Q(wave__closes_at__lte=timezone.now())
    )
    for wave_id in overdue.values_list("wave_id", flat=True)[:20]:
        request_publication(wave_id)


def request_publication(wave_id: int) -> None:
    """Publish the wave if a publication is due, where POWERCLIMATE_PUBLISH_MODE says."""
    from reports.publication import publish_if_due
    from surveys.models import Wave

    mode = settings.POWERCLIMATE_PUBLISH_MODE
    if mode == "worker":
        return
    if mode == "inline":
        publish_if_due(wave=Wave.objects.get(pk=wave_id))
        return
    with _lock:
        if wave_id in _in_flight:
            return
        _in_flight.add(wave_id)
    threading.Thread(target=_publish, args=(wave_id,), daemon=True).start()


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
