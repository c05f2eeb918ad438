"""Data lifecycle: comments are purged on demand or after the retention period, and deleting
a wave deletes its responses, answers, comments and summary tables together."""

import datetime as dt

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import timezone

from reports.models import Publication, SummaryDimension, SummaryGroup, SummaryItem
from reports.publication import publish
from surveys import services
from surveys.models import Answer, Comment, Invitation, Response, RoleLevel
from tests.factories import UnitFactory, WaveFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def wave_with_answers():
    unit = UnitFactory()
    instrument = services.load_default_instrument()
    wave = WaveFactory(instrument=instrument, units=[unit], k=3, k_comments=3)
    role = RoleLevel.objects.get(rank=1)
    for number in range(4):
        services.submit_response(
            wave=wave,
            answers={"VOICE_RAISE": 4, "COMMENT_CHANGE": f"comment {number}"},
            nonce=services.issue_form_nonce(wave=wave),
            unit=unit,
            role_level=role,
        )
    publish(wave=wave, force=True)
    return wave


def test_purge_wave_comments_deletes_only_that_waves_comments(wave_with_answers, capsys):
    other = WaveFactory(instrument=wave_with_answers.instrument)
    Comment.objects.create(
        wave=other,
        question=Comment.objects.first().question,
        unit=wave_with_answers.units.first(),
        role_level=RoleLevel.objects.first(),
        text="keep me",
    )
    call_command("purge_wave_comments", str(wave_with_answers.pk))
    assert "Deleted 4 comments" in capsys.readouterr().out
    assert list(Comment.objects.values_list("text", flat=True)) == ["keep me"]
    assert Response.objects.filter(wave=wave_with_answers).count() == 4  # answers stay


def test_purge_by_name_and_clear_errors(wave_with_answers):
    call_command("purge_wave_comments", wave_with_answers.name)
    assert not Comment.objects.exists()
    with pytest.raises(CommandError, match="no wave"):
        call_command("purge_wave_comments", "no such wave")
    with pytest.raises(CommandError, match="either a WAVE or --expired"):
        call_command("purge_wave_comments")


@override_settings(POWERCLIMATE_COMMENT_RETENTION_DAYS=30)
def test_expired_comments_are_purged_after_the_retention_period(wave_with_answers):
    call_command("purge_wave_comments", "--expired")
    assert Comment.objects.count() == 4  # the wave is still open
    wave_with_answers.opens_at = timezone.now() - dt.timedelta(days=90)
    wave_with_answers.closes_at = timezone.now() - dt.timedelta(days=31)
    wave_with_answers.save()
    call_command("purge_wave_comments", "--expired")
    assert Comment.objects.count() == 0


@override_settings(POWERCLIMATE_COMMENT_RETENTION_DAYS=0)
def test_retention_zero_keeps_comments(wave_with_answers):
    wave_with_answers.closes_at = timezone.now() - dt.timedelta(days=3650)
    wave_with_answers.opens_at = wave_with_answers.closes_at - dt.timedelta(days=10)
    wave_with_answers.save()
    call_command("purge_wave_comments", "--expired")
    assert Comment.objects.count() == 4


def test_deleting_a_wave_deletes_its_responses_and_summary_tables(wave_with_answers):
    assert SummaryGroup.objects.filter(wave=wave_with_answers).exists()
    wave_with_answers.delete()
    for model in (
        Response,
        Answer,
        Comment,
        Invitation,
        SummaryGroup,
        SummaryItem,
        SummaryDimension,
        Publication,
    ):
        assert not model.objects.exists(), model.__name__
