"""`invite` and `load_instrument`: good files work, bad files change nothing and say why."""

import csv
import datetime as dt
import json
import re
import stat

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from surveys import services
from surveys.models import Headcount, Instrument, Invitation, Question, Wave, hash_token
from tests.factories import UnitFactory, WaveFactory, level, small_instrument

pytestmark = pytest.mark.django_db


@pytest.fixture
def org():
    company = UnitFactory(external_id="acme", name="Acme")
    return {
        "company": company,
        "sales": UnitFactory(external_id="sales", name="Sales", parent=company),
        "outside": UnitFactory(external_id="other", name="Other company"),
    }


@pytest.fixture
def wave(org):
    return WaveFactory(name="Spring 2026", instrument=small_instrument(), units=[org["company"]])


def write(tmp_path, text, name="roster.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


GOOD = """email,unit,role_level,tenure_band
ana@example.org,sales,individual-contributor,1-3-years
bo@example.org,sales,Team lead,
cy@example.org,acme,EXECUTIVE,More than 10 years
"""


@override_settings(SITE_URL="https://climate.example.org")
def test_invite_creates_one_link_per_person_and_stores_no_email(tmp_path, wave, capsys):
    out = tmp_path / "links.csv"
    call_command("invite", str(wave.pk), str(write(tmp_path, GOOD)), "--out", str(out))
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [row["email"] for row in rows] == [
        "ana@example.org",
        "bo@example.org",
        "cy@example.org",
    ]
    tokens = []
    for row in rows:
        match = re.fullmatch(r"https://climate\.example\.org/s/i/([\w-]+)/", row["link"])
        assert match, row["link"]
        tokens.append(match.group(1))
    assert len(set(tokens)) == 3
    invitations = {hash_token(t): Invitation.objects.for_token(t).get() for t in tokens}
    ana = invitations[hash_token(tokens[0])]
    assert (ana.unit.external_id, ana.role_level.code, ana.tenure_band.code) == (
        "sales",
        "individual-contributor",
        "1-3-years",
    )
    assert invitations[hash_token(tokens[1])].tenure_band is None
    assert invitations[hash_token(tokens[2])].role_level == level("executive")
    assert Headcount.objects.filter(wave=wave).count() == 3
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM surveys_invitation")
        dump = repr(cursor.fetchall())
    assert "example.org" not in dump and tokens[0] not in dump
    assert "Created 3 invitations" in capsys.readouterr().out


def test_invite_finds_the_wave_by_name_and_writes_the_default_file(tmp_path, wave, monkeypatch):
    monkeypatch.chdir(tmp_path)
    call_command("invite", "Spring 2026", str(write(tmp_path, GOOD)), "--expires-days", "7")
    assert (tmp_path / f"invitations-{wave.pk}.csv").exists()
    expiry = Invitation.objects.values_list("expires_at", flat=True).distinct().get()
    assert abs(expiry - (timezone.now() + dt.timedelta(days=7))) < dt.timedelta(minutes=1)


def test_invitation_links_from_the_command_open_the_survey(tmp_path, wave, client):
    out = tmp_path / "links.csv"
    call_command("invite", str(wave.pk), str(write(tmp_path, GOOD)), "--out", str(out))
    link = next(csv.DictReader(out.open(encoding="utf-8")))["link"]
    path = re.sub(r"^https?://[^/]+", "", link)
    assert client.get(path).status_code == 200


def test_a_bad_roster_is_rejected_whole_with_every_bad_line(tmp_path, wave):
    bad = (
        "email,unit,role_level,tenure_band\n"
        "ok@example.org,sales,manager,\n"  # fine on its own
        "not-an-email,sales,manager,\n"  # line 3
        "x@example.org,nowhere,manager,\n"  # line 4
        "y@example.org,other,manager,\n"  # line 5: outside the wave
        "z@example.org,sales,intern,\n"  # line 6
        "w@example.org,sales,manager,forever\n"  # line 7
        "OK@example.org,sales,manager,\n"  # line 8: duplicate
        "short@example.org,sales\n"  # line 9
    )
    out = tmp_path / "links.csv"
    with pytest.raises(CommandError) as error:
        call_command("invite", str(wave.pk), str(write(tmp_path, bad)), "--out", str(out))
    message = str(error.value)
    assert "nothing was changed" in message or "no invitation was created" in message
    for expected in (
        "line 3: 'not-an-email' is not an e-mail address",
        "line 4: unit 'nowhere' is not a known unit id",
        "line 5: unit 'other' is not in the wave's units",
        "line 6: role level 'intern' is not known",
        "line 7: tenure band 'forever' is not known",
        "line 8: OK@example.org is already on line 2",
        "line 9: expected 4 columns, found 2",
    ):
        assert expected in message
    assert not Invitation.objects.exists() and not Headcount.objects.exists()
    assert not out.exists()


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "the file is empty"),
        ("email,unit\na@example.org,sales\n", "missing column(s) role_level"),
        ("email,unit,role_level\n", "nobody on it"),
    ],
)
def test_malformed_rosters_are_explained(tmp_path, wave, text, reason):
    with pytest.raises(CommandError, match=re.escape(reason)):
        call_command("invite", str(wave.pk), str(write(tmp_path, text)))
    assert not Invitation.objects.exists()


def test_invite_refuses_a_closed_wave_unknown_wave_and_existing_links_file(tmp_path, wave):
    roster = str(write(tmp_path, GOOD))
    with pytest.raises(CommandError, match="No wave has the id or name"):
        call_command("invite", "Autumn", roster)
    existing = write(tmp_path, "email,link\nold@example.org,https://x/s/i/abc/\n", "old.csv")
    with pytest.raises(CommandError, match="already exists"):
        call_command("invite", str(wave.pk), roster, "--out", str(existing))
    assert "old@example.org" in existing.read_text()
    with pytest.raises(CommandError, match="at least 1"):
        call_command("invite", str(wave.pk), roster, "--expires-days", "0")
    Wave.objects.filter(pk=wave.pk).update(state=Wave.State.CLOSED)
    with pytest.raises(CommandError, match="closed"):
        call_command("invite", str(wave.pk), roster)
    assert not Invitation.objects.exists()


def test_invite_asks_for_the_id_when_two_waves_share_a_name(tmp_path, wave):
    WaveFactory(name="Spring 2026", instrument=wave.instrument)
    with pytest.raises(CommandError, match="Several waves are named"):
        call_command("invite", "Spring 2026", str(write(tmp_path, GOOD)))


# --- load_instrument --------------------------------------------------------------------------


def test_load_instrument_loads_the_default_and_is_idempotent(capsys):
    call_command("load_instrument")
    instrument = Instrument.objects.get(slug="power-climate")
    count = instrument.questions.count()
    assert count == 50
    call_command("load_instrument")
    assert Question.objects.count() == count
    assert "power-climate" in capsys.readouterr().out


def instrument_json(**changes):
    data = {
        "slug": "mini",
        "name": "Mini",
        "dimensions": [{"code": "voice", "name": "Voice"}],
        "sections": [
            {
                "title": "One",
                "questions": [
                    {
                        "code": "A",
                        "kind": "agree5",
                        "text": "A?",
                        "dimension": "voice",
                        "purpose": "scale",
                    },
                    {
                        "code": "B",
                        "kind": "single",
                        "text": "B?",
                        "choices": [{"value": 1, "label": "x"}],
                        "show_if": [{"question": "A", "values": [4, 5]}],
                    },
                ],
            }
        ],
    }
    data.update(changes)
    return data


def test_load_instrument_loads_a_file(tmp_path):
    path = write(tmp_path, json.dumps(instrument_json()), "mini.json")
    call_command("load_instrument", str(path))
    assert list(Instrument.objects.get(slug="mini").questions.values_list("code", flat=True)) == [
        "A",
        "B",
    ]


def test_load_instrument_lists_every_problem_and_changes_nothing(tmp_path):
    data = instrument_json()
    questions = data["sections"][0]["questions"]
    questions[0]["kind"] = "stars"
    questions[1]["choices"] = []
    questions[1]["show_if"] = [{"question": "LATER", "values": [1]}]
    questions.append({"code": "A", "kind": "text", "text": ""})
    questions.append({"code": "bad code", "kind": "agree5", "text": "x", "dimension": "nope"})
    path = write(tmp_path, json.dumps(data), "bad.json")
    with pytest.raises(CommandError) as error:
        call_command("load_instrument", str(path))
    message = str(error.value)
    for expected in (
        "nothing was changed",
        "sections[0].questions[0].kind: 'stars' is not one of",
        "sections[0].questions[1].choices: a single question needs choices",
        "sections[0].questions[1].show_if[0].question: 'LATER' is not an earlier question",
        "sections[0].questions[2].code: 'A' is used twice",
        "sections[0].questions[2].text: required text",
        "sections[0].questions[3].code: required",
        "sections[0].questions[3].dimension: 'nope' is not a dimension",
    ):
        assert expected in message
    assert not Instrument.objects.filter(slug="mini").exists()


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("{not json", "not valid JSON at line 1, column 2"),
        ("[]", "one JSON object"),
        (json.dumps({"slug": "x"}), "sections: required"),
    ],
)
def test_load_instrument_explains_unreadable_files(tmp_path, content, reason):
    path = write(tmp_path, content, "broken.json")
    with pytest.raises(CommandError, match=re.escape(reason)):
        call_command("load_instrument", str(path))


def test_load_instrument_missing_file(tmp_path):
    with pytest.raises(CommandError, match="no such file"):
        call_command("load_instrument", str(tmp_path / "absent.json"))


def test_default_instrument_loads_the_same_through_the_service_and_the_command():
    call_command("load_instrument")
    before = list(Question.objects.values_list("code", "kind", "show_if"))
    services.load_default_instrument()
    assert list(Question.objects.values_list("code", "kind", "show_if")) == before
