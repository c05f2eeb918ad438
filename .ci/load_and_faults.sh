#!/usr/bin/env bash
# Nothing lost under load and faults (issue 7), the short form: gunicorn on 127.0.0.1 with 64
# concurrent respondents for 20 s, PostgreSQL stopped for 10 s in the middle and started again,
# racing submissions of one link, a wave closed mid-survey; then every submission is checked
# to be stored exactly once. Under 3 minutes. Run it alone: it stops the local PostgreSQL.
# Whatever happens, PostgreSQL is left running and the scratch database is dropped.
set -euo pipefail
cd "$(dirname "$0")/.."
HOST=127.0.0.1
# A developer may point the run at a private cluster (pg_createcluster) to stop that one.
PORT=${LOAD_PG_PORT:-5432}
export LOAD_PG_CLUSTER=${LOAD_PG_CLUSTER:-main}
DB=powerclimate_load
export LOAD_DATABASE_URL="postgres://postgres@$HOST:$PORT/$DB"
# The runner's files (tokens, gunicorn log and pid): removed here even if it was killed.
export LOAD_WORKDIR LOAD_GUNICORN_PIDFILE
LOAD_WORKDIR=$(mktemp -d /tmp/powerclimate-load-XXXXXX)
LOAD_GUNICORN_PIDFILE=$LOAD_WORKDIR/gunicorn.pid

ensure_postgres() {
  pg_isready -q -h "$HOST" -p "$PORT" && return 0
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" "$LOAD_PG_CLUSTER" start \
    || true
  for _ in $(seq 90); do pg_isready -q -h "$HOST" -p "$PORT" && return 0; sleep 1; done
  echo "PostgreSQL did not come back" >&2
  return 1
}

cleanup() {
  status=$?
  # gunicorn outlives the runner only if the runner was killed outright: end it by its pid.
  pid=$(cat "$LOAD_GUNICORN_PIDFILE" 2>/dev/null || true)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    sleep 5
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -rf "$LOAD_WORKDIR"
  ensure_postgres || status=1
  psql -q -h "$HOST" -p "$PORT" -U postgres -d postgres \
    -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ensure_postgres
# The runner bounds every phase itself; the timeout is the last resort (TERM lets it clean up).
timeout --signal=TERM --kill-after=30 290 .venv/bin/python tests/load/run_load.py --short "$@"
