#!/usr/bin/env bash
# Backup and restore, as docs/operations.md describes them, run once on a small database:
# seed the demo into a scratch PostgreSQL database, pg_dump it, pg_restore into another,
# and check that the restored copy holds the same rows and serves the same published figures.
set -euo pipefail
cd "$(dirname "$0")/.."
HOST=${PGHOST:-127.0.0.1}
SOURCE=powerclimate_backup_src
TARGET=powerclimate_backup_restored
DUMP=$(mktemp /tmp/powerclimate-XXXXXX.dump)
trap 'rm -f "$DUMP"' EXIT
psql() { command psql -q -h "$HOST" -U postgres -v ON_ERROR_STOP=1 "$@"; }
for db in "$SOURCE" "$TARGET"; do
  psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
done
export DJANGO_DEBUG=true
DATABASE_URL="postgres://postgres@$HOST:5432/$SOURCE" .venv/bin/python manage.py migrate -v0
DATABASE_URL="postgres://postgres@$HOST:5432/$SOURCE" .venv/bin/python manage.py seed_demo >/dev/null
pg_dump -h "$HOST" -U postgres --format=custom --no-owner --file="$DUMP" "$SOURCE"
pg_restore -h "$HOST" -U postgres --no-owner --dbname="$TARGET" "$DUMP"
fingerprint() {
  DATABASE_URL="postgres://postgres@$HOST:5432/$1" .venv/bin/python manage.py shell -c "
from reports.aggregation import summarize
from reports.models import AuditEvent, Publication, SummaryItem
from surveys.models import Answer, Comment, Invitation, Response, Unit, Wave
counts = [m.objects.count() for m in (Unit, Wave, Response, Answer, Comment, Invitation, SummaryItem, Publication)]
root = Unit.objects.get(parent__isnull=True)
figures = [(w.name, summarize(wave=w, unit=root, by=['role_level']).total.n) for w in Wave.objects.order_by('pk')]
print(counts, figures)"
}
before=$(fingerprint "$SOURCE")
after=$(fingerprint "$TARGET")
echo "source:   $before"
echo "restored: $after"
[ "$before" = "$after" ] || { echo "restored database differs"; exit 1; }
for db in "$SOURCE" "$TARGET"; do psql -d postgres -c "DROP DATABASE IF EXISTS $db"; done
echo "backup and restore: OK"
