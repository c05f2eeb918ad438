"""Survey links never reach the logs: the token is in the path (DESIGN point 1)."""

import logging

import pytest

from surveys import services
from surveys.logging import RedactSurveyPaths, redact
from tests.factories import UnitFactory, WaveFactory, level, small_instrument

pytestmark = pytest.mark.django_db


def test_a_404_for_an_invitation_link_leaves_no_token_in_the_logs(client, caplog):
    token = "AbCdEfGhIjKlMnOpQrStUvWxYz012345"
    with caplog.at_level(logging.INFO):
        response = client.get(f"/s/i/{token}/")
    assert response.status_code == 404
    assert caplog.records, "the 404 should still be logged"
    assert token not in caplog.text
    assert "/s/i/[redacted]" in caplog.text
    for record in caplog.records:
        assert token not in record.getMessage()
        assert getattr(record, "request", None) is None  # no address, no full path


def test_a_410_for_a_closed_open_link_leaves_no_key_in_the_logs(client, caplog):
    wave = WaveFactory(instrument=small_instrument(), units=[UnitFactory()], state="closed")
    with caplog.at_level(logging.INFO):
        assert client.post(f"/s/w/{wave.open_link_key}/answer/", {"AGREE": "1"}).status_code == 410
    assert wave.open_link_key not in caplog.text
    assert "/s/w/[redacted]" in caplog.text


def test_used_and_expired_links_leave_no_token_in_the_logs(client, caplog):
    wave = WaveFactory(instrument=small_instrument(), units=[UnitFactory()])
    roster = [services.RosterRow(wave.units.first(), level("manager"), None)]
    [token] = services.create_invitations(wave=wave, roster=roster)
    with caplog.at_level(logging.DEBUG):
        client.post(f"/s/i/{token}/answer/", {"AGREE": "2"})
        client.post(f"/s/i/{token}/answer/", {"AGREE": "2"})
        client.get(f"/s/i/{token}/?utm={token}")
        client.get(f"/s/i/{token}")
    assert token not in caplog.text


def test_the_development_server_access_line_is_redacted():
    record = logging.LogRecord(
        "django.server",
        logging.WARNING,
        __file__,
        1,
        '"%s" %s %s',
        ("GET /s/i/secret-token/answer/?x=1 HTTP/1.1", "404", "123"),
        None,
    )
    assert RedactSurveyPaths().filter(record) is True
    assert record.getMessage() == '"GET /s/i/[redacted] HTTP/1.1" 404 123'


def test_other_paths_are_left_alone():
    record = logging.LogRecord(
        "django.request", logging.WARNING, __file__, 1, "Not Found: %s", ("/reports/x/",), None
    )
    RedactSurveyPaths().filter(record)
    assert record.getMessage() == "Not Found: /reports/x/"
    assert redact("/static/css/survey.css") == "/static/css/survey.css"
    assert redact("https://climate.example.org/s/w/key123/") == (
        "https://climate.example.org/s/w/[redacted]"
    )
