"""What the database keeps about how rows were written must not link an invitation to its
response, nor give away the order of submission, once the batch is published."""

import pytest
from django.db import connection

from reports.publication import publish
from surveys import services
from surveys.models import Answer, Invitation, Response, RoleLevel
from tests.factories import UnitFactory, WaveFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def submitted():
    unit = UnitFactory()
    wave = WaveFactory(instrument=services.load_default_instrument(), units=[unit], k=3)
    role = RoleLevel.objects.get(rank=1)
    roster = [services.RosterRow(unit=unit, role_level=role, tenure_band=None)] * 10
    tokens = services.create_invitations(wave=wave, roster=roster)
    order = []
    for number, token in enumerate(tokens):
        response = services.submit_response(
            wave=wave, answers={"VOICE_RAISE": 1 + number % 5}, invitation_token=token
        )
        order.append(response.pk)
    publish(wave=wave)  # two full batches of 5 were published as they filled
    return wave, order


def physical_order(table: str, column: str) -> list:
    marker = "ctid" if connection.vendor == "postgresql" else "rowid"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} ORDER BY {marker}")  # noqa: S608
        return [row[0] for row in cursor.fetchall()]


def test_stored_order_does_not_follow_submission_order(submitted):
    wave, order = submitted
    stored = [str(pk).replace("-", "") for pk in physical_order("surveys_response", "id")]
    submitted_ids = [str(pk).replace("-", "") for pk in order]
    assert sorted(stored) == sorted(submitted_ids)
    assert stored != submitted_ids  # 1 in 5!^2 chance of a false failure
    assert stored != submitted_ids[::-1]
    assert Response.objects.filter(wave=wave, published=True).count() == 10


@pytest.mark.skipif(connection.vendor != "postgresql", reason="xmin exists only on PostgreSQL")
def test_transaction_ids_do_not_pair_invitations_with_responses(submitted):
    wave, _ = submitted
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT xmin::text, count(*) FROM surveys_response WHERE wave_id = %s GROUP BY 1",
            [wave.pk],
        )
        responses_per_stamp = dict(cursor.fetchall())
        cursor.execute(
            "SELECT a.xmin::text, count(DISTINCT a.response_id) FROM surveys_answer a "
            "JOIN surveys_response r ON a.response_id = r.id WHERE r.wave_id = %s GROUP BY 1",
            [wave.pk],
        )
        answers_per_stamp = dict(cursor.fetchall())
        cursor.execute(
            "SELECT DISTINCT xmin::text FROM surveys_invitation WHERE wave_id = %s AND used",
            [wave.pk],
        )
        invitation_stamps = {row[0] for row in cursor.fetchall()}
    # Each stamp is a whole published batch: no stamp singles out one response.
    assert sorted(responses_per_stamp.values()) == [5, 5]
    assert answers_per_stamp == responses_per_stamp
    # Every used invitation was rewritten together by the last publication.
    assert len(invitation_stamps) == 1
    assert Invitation.objects.filter(wave=wave, used=True).count() == 10
    assert Answer.objects.filter(response__wave=wave).count() == 10
