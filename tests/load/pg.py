"""The local PostgreSQL cluster: the scratch database, and stopping and starting the server.

Only the scratch database of the load run is ever created or dropped (its name must contain
"load"), and `ensure_running` is called from every exit path, so the cluster the test suite
uses is always left running.
"""

import contextlib
import os
import subprocess
import time
from pathlib import Path
from urllib.parse import urlparse

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/powerclimate_load"
CONFIG_ROOT = Path("/etc/postgresql")


class ClusterError(RuntimeError):
    pass


def database_url() -> str:
    return os.getenv("LOAD_DATABASE_URL", DEFAULT_URL)


def _parts(url: str):
    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    if "load" not in name:
        raise ClusterError(f"refusing to use database {name!r}: its name must contain 'load'")
    return parsed, name


def _admin(url: str):
    import psycopg2

    parsed, name = _parts(url)
    connection = psycopg2.connect(
        host=parsed.hostname or "127.0.0.1",
        port=parsed.port or 5432,
        user=parsed.username or "postgres",
        password=parsed.password,
        dbname="postgres",
        connect_timeout=10,
    )
    connection.autocommit = True
    return connection, name


def recreate_database(url: str) -> None:
    """Drop the scratch database if it is left over from an earlier run, and create it empty."""
    connection, name = _admin(url)
    try:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            cursor.execute(f'CREATE DATABASE "{name}"')
    finally:
        connection.close()


def drop_database(url: str) -> None:
    connection, name = _admin(url)
    try:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        connection.close()


def _host_port(url: str) -> tuple[str, int]:
    parsed = urlparse(url)
    return parsed.hostname or "127.0.0.1", parsed.port or 5432


def is_ready(url: str) -> bool:
    host, port = _host_port(url)
    result = subprocess.run(
        ["pg_isready", "-q", "-h", host, "-p", str(port)],
        check=False,
        timeout=15,
    )
    return result.returncode == 0


def wait_ready(url: str, *, timeout: float = 60) -> float:
    """Wait until the server accepts connections; return the time (monotonic) it did."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if is_ready(url):
            return time.monotonic()
        time.sleep(0.2)
    raise ClusterError(f"PostgreSQL not ready after {timeout:.0f} s")


def cluster_version() -> str:
    versions = sorted(p.name for p in CONFIG_ROOT.iterdir()) if CONFIG_ROOT.is_dir() else []
    if not versions:
        raise ClusterError("no PostgreSQL cluster under /etc/postgresql")
    return versions[0]


def can_control() -> bool:
    """Whether this process can stop and start the local cluster (pg_ctlcluster, as root)."""
    try:
        cluster_version()
    except ClusterError:
        return False
    found = subprocess.run(["which", "pg_ctlcluster"], capture_output=True, check=False)
    return found.returncode == 0 and os.geteuid() == 0


def cluster_name() -> str:
    """The cluster serving the scratch database: "main" unless LOAD_PG_CLUSTER names another
    (a private cluster lets a developer stop it without disturbing anyone)."""
    return os.getenv("LOAD_PG_CLUSTER", "main")


def _ctl(action: str, *extra: str) -> None:
    command = [
        "pg_ctlcluster",
        "--skip-systemctl-redirect",
        cluster_version(),
        cluster_name(),
        action,
        *extra,
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
    if result.returncode != 0:
        raise ClusterError(f"{' '.join(command)} failed: {result.stderr.strip()}")


def stop() -> None:
    """Stop the server at once: open sessions are cut, as in a crash or failover."""
    _ctl("stop", "-m", "fast")


def start(url: str) -> float:
    """Start the server and wait until it accepts connections; return that moment."""
    _ctl("start")
    return wait_ready(url)


def ensure_running(url: str) -> None:
    """Start the cluster if it is down. Called from every exit path; never raises."""
    try:
        if is_ready(url):
            return
        with contextlib.suppress(ClusterError):  # already starting, or started meanwhile
            _ctl("start")
        wait_ready(url, timeout=90)
    except Exception as error:  # the last line of defence must not raise
        print(f"!! could not make sure PostgreSQL is running: {error}", flush=True)
