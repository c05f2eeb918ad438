"""What the database keeps (DESIGN anonymity points 1 and 2): an insider who can read the
tables (a database administrator, a backup) and holds the links file knows which invitation
row is whose (its token hash) and in which order people said they answered. They try to pair
responses with invitations by keys, row order, transaction stamps and times."""

import pytest
from django.db import connection

from reports.publication import publish
from surveys.models import Answer, Comment, FormNonce, Invitation, Response, hash_token
from tests.attacks.insider import Person, build_world, submit

pytestmark = pytest.mark.django_db(transaction=True)

TREE = {"acme": None, "alpha": "acme", "beta": "acme"}
TIME_TYPES = ("DateTimeField", "DateField", "TimeField", "DurationField")
PEOPLE = 20


def people() -> list[Person]:
    return [
        Person(f"p{i}", "alpha" if i % 2 else "beta", voice=1 + i % 5, comment=f"note {i}",
               responds=False)
        for i in range(PEOPLE)
    ]  # fmt: skip


@pytest.fixture
def answered(settings):
    """Twenty people answer one after the other, in a known order; then the wave publishes
    them as one batch (the worker's job). A batch is shuffled as a whole; batches themselves
    follow each other in time, which the published figures show anyway."""
    settings.POWERCLIMATE_PUBLISH_MODE = "worker"
    roster = people()
    world = build_world(tree=TREE, people=roster, k=3, publish_now=False)
    submitted = [submit(world, person).pk for person in roster]
    publish(wave=world.wave, force=True)
    return world, roster, submitted


def physical(table: str, column: str, where: str = "", params=()) -> list:
    """A column in the order the rows sit on disk (PostgreSQL ctid, SQLite rowid)."""
    marker = "ctid" if connection.vendor == "postgresql" else "rowid"
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {column} FROM {table} {where} ORDER BY {marker}",  # noqa: S608
            list(params),
        )
        return [row[0] for row in cursor.fetchall()]


def _same(a, b) -> bool:
    return str(a).replace("-", "") == str(b).replace("-", "")


def test_response_keys_are_random_and_sorting_them_gives_no_order(answered):
    _world, _roster, submitted = answered
    assert all(_uuid(pk).version == 4 for pk in submitted)  # random, not time-based (uuid1)
    keys = [str(pk) for pk in submitted]
    assert sorted(keys) != keys and sorted(keys, reverse=True) != keys
    stored = list(Response.objects.order_by("pk").values_list("pk", flat=True))
    assert [str(pk) for pk in stored] != keys


def test_row_order_on_disk_does_not_follow_the_order_of_submission(answered):
    world, _roster, submitted = answered
    on_disk = physical("surveys_response", "id", "WHERE wave_id = %s", [world.wave.pk])
    assert len(on_disk) == len(submitted)
    # A shuffled batch of twenty leaves one row in place on average; ten or more in place
    # happens by chance about once in ten million runs.
    in_order = sum(_same(a, b) for a, b in zip(on_disk, submitted, strict=True))
    assert in_order < len(submitted) // 2, "responses sit on disk in submission order"
    texts = physical("surveys_comment", "text", "WHERE wave_id = %s", [world.wave.pk])
    assert texts != [f"note {i}" for i in range(PEOPLE)]


def test_used_invitations_cannot_be_paired_with_responses_by_row_order(answered):
    """The insider lines up used invitations (whose owner they know) and responses, both in
    disk order, and reads each person's answer off the pairs."""
    world, roster, _submitted = answered
    owner = {hash_token(token): name for name, token in world.tokens.items()}
    invitations = physical(
        "surveys_invitation", "token_hash", "WHERE wave_id = %s AND used", [world.wave.pk]
    )
    responses = physical("surveys_response", "id", "WHERE wave_id = %s", [world.wave.pk])
    voice = dict(
        Answer.objects.filter(question__code="VOICE_RAISE").values_list("response_id", "value")
    )
    truth = {p.name: p.voice for p in roster}
    guessed = [
        truth[owner[token_hash]] == voice[_uuid(response)]
        for token_hash, response in zip(invitations, responses, strict=True)
    ]
    # Five distinct answers: a blind guess is right for about one in five.
    assert sum(guessed) < len(guessed) * 0.6, "row order pairs people with their answers"


def _uuid(value):
    import uuid

    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


@pytest.mark.skipif(connection.vendor != "postgresql", reason="xmin exists only on PostgreSQL")
def test_transaction_stamps_do_not_pair_invitations_with_responses(answered):
    """PostgreSQL stamps every row with the transaction that wrote it (xmin). A response and
    the invitation it used are written by one transaction; after publication they must not
    share a stamp that no other response has."""
    world, _roster, _submitted = answered
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.token_hash, count(r.id) FROM surveys_invitation i "
            "JOIN surveys_response r ON r.xmin::text = i.xmin::text "
            "WHERE i.wave_id = %s AND i.used GROUP BY i.token_hash",
            [world.wave.pk],
        )
        pairs = cursor.fetchall()
    assert all(matches != 1 for _token_hash, matches in pairs), pairs


def test_no_time_is_stored_with_responses_answers_comments_or_nonces():
    """Every column of the response-side tables, as the database describes it: none holds a
    date or a time (the wave is their only clock)."""
    tables = {
        "surveys_response": Response,
        "surveys_answer": Answer,
        "surveys_comment": Comment,
        "surveys_formnonce": FormNonce,
    }
    with connection.cursor() as cursor:
        for table in tables:
            for column in connection.introspection.get_table_description(cursor, table):
                kind = connection.introspection.get_field_type(column.type_code, column)
                assert kind not in TIME_TYPES, f"{table}.{column.name} is a {kind}"
                assert column.default is None or "now" not in str(column.default).lower()


def test_the_only_time_on_an_invitation_is_its_expiry_set_for_the_whole_roster(answered):
    world, _roster, _submitted = answered
    with connection.cursor() as cursor:
        columns = connection.introspection.get_table_description(cursor, "surveys_invitation")
        times = [
            column.name
            for column in columns
            if connection.introspection.get_field_type(column.type_code, column) in TIME_TYPES
        ]
    assert times == ["expires_at"]
    # Set when the roster is invited, the same for everyone, untouched by answering.
    expiries = set(Invitation.objects.filter(wave=world.wave).values_list("expires_at", flat=True))
    assert len(expiries) == 1


def test_database_triggers_add_no_hidden_time_or_link():
    """No trigger copies rows elsewhere or stamps them (a trigger would escape the models)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT tgname FROM pg_trigger t JOIN pg_class c ON t.tgrelid = c.oid "
                "WHERE NOT t.tgisinternal AND c.relname LIKE 'surveys_%%'"
            )
        else:
            cursor.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name LIKE "
                "'surveys_%'"
            )
        assert cursor.fetchall() == []
