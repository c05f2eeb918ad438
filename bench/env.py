"""The benchmark's environment: its own PostgreSQL database and production-like settings.

Everything runs against `BENCH_DATABASE_URL` (default: the local PostgreSQL, database
`powerclimate_bench`), never against the database of a development checkout.
"""

import os
import secrets
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/powerclimate_bench"


def database_url() -> str:
    return os.getenv("BENCH_DATABASE_URL", DEFAULT_URL)


def configure() -> dict[str, str]:
    """Set the environment Django reads (before django.setup) and return it, for the gunicorn
    and child processes the benchmark starts."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    env = {
        "DATABASE_URL": database_url(),
        "DJANGO_SETTINGS_MODULE": "powerclimate.settings",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": os.getenv("DJANGO_SECRET_KEY") or "bench-" + secrets.token_urlsafe(48),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DJANGO_SECURE_COOKIES": "false",
        "DJANGO_HSTS_SECONDS": "0",
        "DJANGO_STATIC_MANIFEST": "false",
        "DJANGO_LOG_LEVEL": "WARNING",
        # An existing (empty) static root: WhiteNoise warns about a missing one in every process.
        "DJANGO_STATIC_ROOT": str(Path(tempfile.gettempdir()) / "powerclimate-bench-static"),
        "PYTHONPATH": str(ROOT),
    }
    for key, value in env.items():
        if key in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE", "PYTHONPATH"):
            os.environ[key] = value
        else:
            os.environ.setdefault(key, value)
    Path(os.environ["DJANGO_STATIC_ROOT"]).mkdir(parents=True, exist_ok=True)
    return {key: os.environ[key] for key in env}


def _admin_connection():
    import psycopg2

    url = urlparse(database_url())
    connection = psycopg2.connect(
        host=url.hostname or "127.0.0.1",
        port=url.port or 5432,
        user=url.username or "postgres",
        password=url.password,
        dbname="postgres",
    )
    connection.autocommit = True
    return connection, url.path.lstrip("/")


def ensure_database(*, recreate: bool = False) -> None:
    """Create the benchmark database if it is missing (or drop and create it again)."""
    connection, name = _admin_connection()
    try:
        with connection.cursor() as cursor:
            if recreate:
                cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            if cursor.fetchone() is None:
                cursor.execute(f'CREATE DATABASE "{name}"')
    finally:
        connection.close()


def psycopg2_connect():
    """A plain psycopg2 connection to the benchmark database (for COPY and the ceilings)."""
    import psycopg2

    return psycopg2.connect(database_url())


def setup_django(*, recreate: bool = False):
    """Configure, create the database if needed, set Django up and migrate."""
    configure()
    ensure_database(recreate=recreate)
    import django
    from django.core.management import call_command

    django.setup()
    started = time.perf_counter()
    call_command("migrate", verbosity=0, interactive=False)
    return time.perf_counter() - started
