"""Send the reports' reads to a PostgreSQL read replica when one is configured.

Only the published summary tables are read from the replica: they change in batches, so a
replica a moment behind shows the previous batch, which is exactly what a reader could have
seen anyway. Everything else, and every read made inside a transaction on the primary (the
publication itself), uses the primary.
"""

from django.db import connections

REPLICA = "replica"
REPLICA_MODELS = {"summarygroup", "summaryitem", "summarydimension", "publication"}


class ReplicaRouter:
    def db_for_read(self, model, **hints):
        if model._meta.app_label != "reports" or model._meta.model_name not in REPLICA_MODELS:
            return None
        if connections["default"].in_atomic_block:
            return "default"
        return REPLICA

    def db_for_write(self, model, **hints):
        return "default"

    def allow_relation(self, obj1, obj2, **hints):
        return True

    def allow_migrate(self, db, app_label, **hints):
        return db == "default"
