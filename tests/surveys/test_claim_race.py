"""One link, many simultaneous submissions: exactly one response is stored, whatever the
database (on PostgreSQL the claim and the rows are one statement, elsewhere one transaction)."""

import threading

import pytest
from django.db import connection, connections

from surveys import services
from surveys.models import Answer, Invitation, Response
from tests.factories import UnitFactory, WaveFactory, level

pytestmark = pytest.mark.django_db(transaction=True)  # real commits, one connection per thread

RACERS = 8


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="the test database of SQLite is in memory and shared between threads, where a "
    "second writer fails at once instead of waiting (SQLite serialises writers anyway)",
)
def test_racing_submissions_of_one_link_store_one_response():
    wave = WaveFactory(instrument=services.load_default_instrument(), units=[UnitFactory()])
    roster = [services.RosterRow(wave.units.first(), level("manager"), None)] * 6
    token = services.create_invitations(wave=wave, roster=roster)[0]
    start = threading.Barrier(RACERS)
    outcomes: list[str] = []

    def submit(value: int) -> None:
        try:
            start.wait()
            services.submit_response(
                wave=wave, answers={"VOICE_RAISE": value}, invitation_token=token
            )
            outcomes.append("stored")
        except services.AlreadySubmitted:
            outcomes.append("already")
        except Exception as error:  # pragma: no cover - shown by the assertion below
            outcomes.append(repr(error))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=submit, args=(1 + i % 5,)) for i in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["already"] * (RACERS - 1) + ["stored"]
    assert Response.objects.count() == 1
    assert Answer.objects.count() == 1
    assert Invitation.objects.filter(used=True).count() == 1


def test_a_refused_claim_stores_nothing_and_says_why():
    wave = WaveFactory(instrument=services.load_default_instrument(), units=[UnitFactory()])
    roster = [services.RosterRow(wave.units.first(), level("manager"), None)] * 6
    first, second = services.create_invitations(wave=wave, roster=roster)[:2]
    services.submit_response(wave=wave, answers={"VOICE_RAISE": 2}, invitation_token=first)
    with pytest.raises(services.AlreadySubmitted):
        services.submit_response(wave=wave, answers={"VOICE_RAISE": 3}, invitation_token=first)
    wave.state = wave.State.CLOSED
    wave.save()
    with pytest.raises(services.WaveNotOpen):
        services.submit_response(wave=wave, answers={"VOICE_RAISE": 3}, invitation_token=second)
    assert Response.objects.count() == 1
    assert list(Answer.objects.values_list("value", flat=True)) == [2]
    assert Invitation.objects.filter(used=True).count() == 1
