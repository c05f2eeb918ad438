"""Read a wave's published figures as one consistent snapshot.

A publication changes the summary tables and the publication's pattern of published cells in
one transaction. A request that read the pattern in one statement and the counts in the next
could, with a publication committed in between, pair an old pattern with new counts: a cell
safe to show in the old snapshot is not always safe in the new one. So every view that shows
figures reads everything it needs inside one transaction that sees one snapshot:
PostgreSQL's REPEATABLE READ (read-only, on the replica when one is configured), or SQLite's
transaction (its readers see the database as of their first read).
"""

from contextlib import contextmanager
from functools import wraps

from django.db import connections, router, transaction

from reports.models import Publication
from reports.signals import publish_overdue_results


@contextmanager
def published_snapshot():
    """Run the block in one transaction on the database the reports read from; on
    PostgreSQL at REPEATABLE READ, so every statement sees the same committed state. Inside
    an existing transaction (a test's, say) the block simply joins it."""
    alias = router.db_for_read(Publication)
    connection = connections[alias]
    fresh = not connection.in_atomic_block
    with transaction.atomic(using=alias):
        if fresh and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                # Must be the transaction's first statement.
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        yield


def consistent_reads(view):
    """Decorate a view so that everything it reads (and renders) comes from one snapshot."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        publish_overdue_results()  # before the snapshot, so that it can see the result
        with published_snapshot():
            return view(*args, **kwargs)

    return wrapper
