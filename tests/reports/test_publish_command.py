import pytest
from django.core.management import call_command

from reports.models import Publication
from surveys import services
from surveys.models import Response, RoleLevel
from tests.factories import UnitFactory, WaveFactory

pytestmark = pytest.mark.django_db


def submit(wave, unit, count):
    role = RoleLevel.objects.get(rank=1)
    for _ in range(count):
        services.submit_response(
            wave=wave,
            answers={"VOICE_RAISE": 3},
            nonce=services.issue_form_nonce(wave=wave),
            unit=unit,
            role_level=role,
        )


def test_publish_results_waits_for_a_full_batch_unless_forced(capsys):
    unit = UnitFactory()
    wave = WaveFactory(instrument=services.load_default_instrument(), units=[unit], k=5)
    submit(wave, unit, 3)
    call_command("publish_results")
    assert Response.objects.unpublished().count() == 3
    assert not Publication.objects.filter(wave=wave, version__gt=0).exists()
    call_command("publish_results", "--force")
    assert Response.objects.unpublished().count() == 0
    assert Publication.objects.get(wave=wave).responses == 3
    assert "3 responses published" in capsys.readouterr().out


@pytest.mark.django_db(transaction=True)
def test_background_mode_publishes_a_full_batch_after_the_response(settings):
    import time

    settings.POWERCLIMATE_PUBLISH_MODE = "background"
    unit = UnitFactory()
    wave = WaveFactory(instrument=services.load_default_instrument(), units=[unit], k=5)
    submit(wave, unit, 5)
    for _ in range(100):
        if not Response.objects.unpublished().exists():
            break
        time.sleep(0.1)
    assert Publication.objects.get(wave=wave).responses == 5


def test_worker_mode_leaves_publication_to_the_worker(settings):
    settings.POWERCLIMATE_PUBLISH_MODE = "worker"
    unit = UnitFactory()
    wave = WaveFactory(instrument=services.load_default_instrument(), units=[unit], k=5)
    submit(wave, unit, 5)
    assert Response.objects.unpublished().count() == 5
    call_command("publish_results")
    assert Response.objects.unpublished().count() == 0
