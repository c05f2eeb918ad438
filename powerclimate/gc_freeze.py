"""Keep the garbage collector's full passes short in a long-running process.

A full collection walks every object the collector tracks. Most of a worker's objects are
long-lived and only read once its first requests have built them: URL patterns, compiled
templates, the instrument content and the waves' suppression patterns (tens of thousands of
cells at a million responses). Walking them made every full collection a pause of tens of
milliseconds inside whichever request triggered it: the benchmark's p95 tails
(docs/performance.md).

After each number of requests in `POWERCLIMATE_GC_FREEZE_AFTER` (default 10, 100 and 1,000)
the process collects once and moves every object that survived to the permanent generation
(`gc.freeze()`), so later collections walk only what came after. Frozen objects are still
freed by reference counting; only a reference cycle among them that becomes garbage later is
kept until the process ends, and gunicorn recycles its workers (`max_requests`).
"""

import gc
import threading

from django.conf import settings

_lock = threading.Lock()
_served = 0


def freeze_points() -> frozenset[int]:
    """The request counts after which the process freezes (none: never)."""
    return frozenset(getattr(settings, "POWERCLIMATE_GC_FREEZE_AFTER", ()))


def request_finished(**kwargs) -> None:
    """Count a finished request; at a freeze point, collect and freeze what survived."""
    global _served
    with _lock:
        _served += 1
        due = _served in freeze_points()
    if due:
        gc.collect()
        gc.freeze()


def served() -> int:
    """Requests this process has finished."""
    return _served
