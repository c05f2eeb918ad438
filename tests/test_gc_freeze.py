"""After its first requests a process freezes its long-lived objects out of the collector's
full passes (powerclimate/gc_freeze.py), at the request counts the settings name."""

import gc

import pytest

from powerclimate import gc_freeze


@pytest.fixture
def fresh_process(monkeypatch):
    """A process that has served nothing yet and has nothing frozen; unfrozen afterwards."""
    gc.unfreeze()
    monkeypatch.setattr(gc_freeze, "_served", 0)
    yield
    gc.unfreeze()


@pytest.mark.django_db
def test_the_process_freezes_at_each_request_count_in_the_settings(client, settings, fresh_process):
    settings.POWERCLIMATE_GC_FREEZE_AFTER = [2, 4]
    assert gc.get_freeze_count() == 0
    client.get("/")
    assert gc_freeze.served() == 1
    assert gc.get_freeze_count() == 0
    client.get("/")
    frozen = gc.get_freeze_count()
    assert frozen > 0
    cached = {"pattern": [["cell", n] for n in range(1000)]}  # long-lived, built later
    client.get("/")
    assert gc.get_freeze_count() <= frozen  # frozen objects can still be freed
    client.get("/")
    assert gc.get_freeze_count() > frozen + 1000
    assert gc.is_tracked(cached)


@pytest.mark.django_db
def test_no_schedule_never_freezes(client, settings, fresh_process):
    settings.POWERCLIMATE_GC_FREEZE_AFTER = []
    for _ in range(3):
        client.get("/")
    assert gc_freeze.served() == 3
    assert gc.get_freeze_count() == 0
