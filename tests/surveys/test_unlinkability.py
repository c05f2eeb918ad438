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
    roster = [services.RosterRow(unit=unit, role_level=role, tenure_band=None)] * 12
    tokens = services.create_invitations(wave=wave, roster=roster)
    order = []
    for number, token in enumerate(tokens):
        response = services.submit_response(
            wave=wave, answers={"VOICE_RAISE": 1 + number % 5}, invitation_token=token
        )
        order.append(response.pk)
    publish(wave=wave, force=True)
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
    assert stored != submitted_ids  # 1 in 12! chance of a false failure
    assert stored != submitted_ids[::-1]
    assert Response.objects.filter(wave=wave, published=True).count() == 12


@pytest.mark.skipif(connection.vendor != "postgresql", reason="xmin exists only on PostgreSQL")
def test_transaction_ids_do_not_pair_invitations_with_responses(submitted):
    wave, _ = submitted
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT xmin::text FROM surveys_response WHERE wave_id = %s", [wave.pk]
        )
        response_stamps = {row[0] for row in cursor.fetchall()}
        cursor.execute(
            "SELECT DISTINCT xmin::text FROM surveys_answer a JOIN surveys_response r "
            "ON a.response_id = r.id WHERE r.wave_id = %s",
            [wave.pk],
        )
        answer_stamps = {row[0] for row in cursor.fetchall()}
        cursor.execute(
            "SELECT DISTINCT xmin::text FROM surveys_invitation WHERE wave_id = %s AND used",
            [wave.pk],
        )
        invitation_stamps = {row[0] for row in cursor.fetchall()}
    # One stamp for the whole batch: no invitation shares a stamp with one response only.
    assert len(response_stamps) == len(answer_stamps) == len(invitation_stamps) == 1
    assert Invitation.objects.filter(wave=wave, used=True).count() == 12
    assert Answer.objects.filter(response__wave=wave).count() == 12
