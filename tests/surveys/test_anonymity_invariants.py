"""DESIGN anonymity points 1 and 2, checked on the models and on stored rows.

If one of these fails, a change has made it possible to tie an answer to a person or a moment.
Do not relax the test: remove the field.
"""

import re
import uuid

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import connection, models
from django.forms.models import model_to_dict

from surveys import services
from surveys.models import Answer, Comment, FormNonce, Invitation, Response, hash_token
from tests.factories import UnitFactory, WaveFactory, level, small_instrument

pytestmark = pytest.mark.django_db

RESPONSE_SIDE = [Response, Answer, Comment]
FORBIDDEN_WORDS = re.compile(
    r"(^|_)(ip|ips|address|addr|agent|ua|token|user|users|email|mail|created|submitted|time|"
    r"timestamp|date|datetime|when|at|on|session|nonce|invitation|host|device|browser|seq|"
    r"sequence|order|position)(_|$)"
)
FORBIDDEN_SUBSTRINGS = ("time", "date", "token", "email", "user", "agent", "address", "created")
TIME_FIELDS = (models.DateTimeField, models.DateField, models.TimeField, models.DurationField)
AUTO_FIELDS = (models.AutoField, models.BigAutoField, models.SmallAutoField)


@pytest.mark.parametrize("model", RESPONSE_SIDE, ids=lambda m: m.__name__)
def test_response_side_models_hold_no_time_person_or_link(model):
    forbidden_targets = {get_user_model(), Invitation, FormNonce}
    for field in model._meta.get_fields():
        name = field.name.lower()
        assert not isinstance(field, TIME_FIELDS), f"{model.__name__}.{field.name} is a time"
        assert not FORBIDDEN_WORDS.search(name), f"{model.__name__}.{field.name}: forbidden name"
        assert not any(word in name for word in FORBIDDEN_SUBSTRINGS), field.name
        if field.is_relation:
            assert field.related_model not in forbidden_targets, (
                f"{model.__name__}.{field.name} links to {field.related_model.__name__}"
            )
        assert not isinstance(field, models.GenericIPAddressField)


@pytest.mark.parametrize("model", RESPONSE_SIDE, ids=lambda m: m.__name__)
def test_response_side_primary_keys_are_random_not_sequential(model):
    pk = model._meta.pk
    assert not isinstance(pk, AUTO_FIELDS)
    if isinstance(pk, models.CompositePrimaryKey):
        # Answers are keyed by (response, question, value): ordered by the random response id.
        assert pk.field_names[0] == "response_id"
    else:
        assert isinstance(pk, models.UUIDField)
        # uuid1 would embed the time; only the random uuid4 is acceptable.
        assert pk.default is uuid.uuid4


def test_no_model_links_an_invitation_or_nonce_to_a_response():
    link_side = {Invitation, FormNonce}
    for model in apps.get_models():
        # Forward links only: a wave is pointed at by both sides, which joins nothing.
        related = {
            field.related_model
            for field in model._meta.get_fields()
            if field.is_relation and not field.auto_created
        }
        touches_links = bool(related & link_side) or model in link_side
        touches_responses = bool(related & set(RESPONSE_SIDE)) or model in RESPONSE_SIDE
        assert not (touches_links and touches_responses), f"{model.__name__} joins the two sides"


@pytest.fixture
def wave():
    root = UnitFactory()
    return WaveFactory(instrument=small_instrument(), units=[root])


def submit_open(wave, answers):
    return services.submit_response(
        wave=wave,
        answers=answers,
        nonce=services.issue_form_nonce(wave=wave),
        unit=wave.units.first(),
        role_level=level("individual-contributor"),
    )


def test_stored_order_does_not_follow_submission_order(wave):
    submitted = [
        submit_open(wave, {"AGREE": 1 + i % 5, "NOTE": f"comment {i}"}).pk for i in range(30)
    ]
    stored = list(Response.objects.order_by("pk").values_list("pk", flat=True))
    assert sorted(stored) == sorted(submitted)
    assert stored != submitted
    assert stored != submitted[::-1]
    # Far from either order: at most a few adjacent pairs kept by chance.
    kept_pairs = sum(
        stored.index(a) < stored.index(b) for a, b in zip(submitted, submitted[1:], strict=False)
    )
    assert 2 < kept_pairs < 27
    comments = list(Comment.objects.order_by("pk").values_list("text", flat=True))
    assert comments != [f"comment {i}" for i in range(30)]
    answers = [a.response_id for a in Answer.objects.order_by("pk")]
    assert answers != submitted


def test_a_used_invitation_row_changes_only_its_used_flag(wave):
    roster = [services.RosterRow(wave.units.first(), level("manager"), None)] * 5
    tokens = services.create_invitations(wave=wave, roster=roster)
    invitation = Invitation.objects.for_token(tokens[0]).get()
    before = model_to_dict(invitation)
    untouched = model_to_dict(Invitation.objects.for_token(tokens[1]).get())
    services.submit_response(wave=wave, answers={"AGREE": 4}, invitation_token=tokens[0])
    invitation.refresh_from_db()
    after = model_to_dict(invitation)
    assert after.pop("used") is True and before.pop("used") is False
    assert after == before
    # And it looks like any other invitation of the same group except for that flag.
    for row in (after, untouched):
        row.pop("id"), row.pop("token_hash"), row.pop("used", None)
    assert after == untouched


def dump_database() -> str:
    chunks = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            chunks.extend(repr(row) for row in cursor.fetchall())
    return "\n".join(chunks)


def test_tokens_and_nonces_are_stored_only_as_hashes(wave):
    roster = [services.RosterRow(wave.units.first(), level("manager"), None)] * 5
    tokens = services.create_invitations(wave=wave, roster=roster)
    services.submit_response(wave=wave, answers={"AGREE": 2}, invitation_token=tokens[0])
    nonce = services.issue_form_nonce(wave=wave)
    services.submit_response(
        wave=wave,
        answers={"AGREE": 3},
        nonce=nonce,
        unit=wave.units.first(),
        role_level=level("manager"),
    )
    dump = dump_database()
    for secret in [*tokens, nonce]:
        assert secret not in dump
        assert hash_token(secret) in dump
    assert Invitation.objects.filter(token_hash=hash_token(tokens[0]), used=True).exists()


def test_invitation_rows_do_not_follow_roster_order(wave):
    roster = [services.RosterRow(wave.units.first(), level("manager"), None)] * 30
    tokens = services.create_invitations(wave=wave, roster=roster)
    ids = [Invitation.objects.for_token(token).get().pk for token in tokens]
    assert ids != sorted(ids) and ids != sorted(ids, reverse=True)
