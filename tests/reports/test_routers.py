from django.db import transaction

from reports.models import AuditEvent, LeaderGrant, Publication, SummaryGroup
from reports.routers import ReplicaRouter
from surveys.models import Response


def test_summary_reads_go_to_the_replica_outside_a_transaction():
    router = ReplicaRouter()
    assert router.db_for_read(SummaryGroup) == "replica"
    assert router.db_for_read(Publication) == "replica"


def test_everything_else_and_every_write_stays_on_the_primary():
    router = ReplicaRouter()
    for model in (AuditEvent, LeaderGrant, Response):
        assert router.db_for_read(model) is None
    assert router.db_for_write(SummaryGroup) == "default"
    assert router.allow_migrate("replica", "reports") is False


def test_reads_inside_a_transaction_use_the_primary(db):
    router = ReplicaRouter()
    with transaction.atomic():
        assert router.db_for_read(SummaryGroup) == "default"
