"""`make bench`: the performance benchmark of issue 6 (see docs/performance.md).

    .venv/bin/python bench/run.py --size 100000          # the default of `make bench`
    .venv/bin/python bench/run.py --size 1000000         # `make bench SIZE=1000000`
    .venv/bin/python bench/run.py --size 20000 --quick   # a short development run

1. Data: generates SIZE responses over ten waves of a 2,049-unit organisation into its own
   PostgreSQL database (bench/generate.py), or reuses a complete data set of the same size.
2. Views: dashboard pages and read-API calls through the real Django stack (test client, HR
   user logged in), warm: median and p95 of the server time, SQL queries per request, and the
   ceiling: the same page's summary-table queries replayed with bare psycopg2.
3. Submissions: gunicorn on 127.0.0.1 (gunicorn.conf.py), wrk POSTing distinct invitation
   tokens at 16 and 64 connections; stored responses are counted afterwards. Beside it, the
   raw ceiling: the same inserts from psycopg2 with 4 connections.
4. Exports: CSV and XLSX of one wave by unit x role level, in a child process (time, peak RSS).
5. Peak RSS of the gunicorn workers after the dashboards ran through them.

Prints a table and writes bench/results/latest.json (and a dated copy). Never asserts times.
Everything runs on the loopback interface and stops by itself (bounded loops, timeouts).
"""

import argparse
import contextlib
import datetime as dt
import json
import math
import os
import platform
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
import warnings
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import env

WARM_REQUESTS = 3
TIMED_REQUESTS = 25
CONCURRENCY = (16, 64)
RAW_CONNECTIONS = 4
SUBMISSION_WAVE = "Bench submissions"
RAW_WAVE = "Bench raw ceiling"
GUNICORN_START_TIMEOUT = 60


def log(message: str) -> None:
    print(message, flush=True)


# --- Data -------------------------------------------------------------------------------------


# Above this size the generated waves get the stand-in suppression pattern unless asked for
# the full one (`--pattern`): 10,000-response waves take about 3 minutes each to decide,
# 100,000-response ones more than 8.
FULL_PATTERN_MAX_SIZE = 100_000


def prepare_data(*, size: int, seed: int, regenerate: bool, pattern: str):
    """A complete data set of this size in the benchmark database, generated if needed."""
    env.configure()
    env.ensure_database()
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from bench import generate

    call_command("migrate", verbosity=0, interactive=False)
    dataset = None if regenerate else generate.find_dataset(size=size, seed=seed)
    stored: dict = {}
    with contextlib.suppress(OSError, ValueError):
        stored = json.loads(generate.generation_file(size).read_text())
    if dataset is not None and stored.get("pattern", pattern) != pattern:
        log(
            f"The data set of {size:,} responses has the {stored['pattern']} suppression "
            f"pattern, not {pattern}: generating it again"
        )
        dataset = None
    if dataset is not None:
        log(f"Reusing the data set of {size:,} responses in {env.database_url()}")
        dataset.summary_rows = generate.table_rows()
        dataset.timings = stored.get("timings", {})
        return dataset
    log(f"Generating {size:,} responses into {env.database_url()} (a fresh database)")
    connection.close()
    env.ensure_database(recreate=True)
    call_command("migrate", verbosity=0, interactive=False)
    return generate.generate(size=size, seed=seed, pattern=pattern, log=log)


def _hr_user():
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(username="bench-hr")


# --- Views ------------------------------------------------------------------------------------


def view_specs(dataset) -> list[dict]:
    """The five views of issue 6, each as a dashboard page and/or a read-API call."""
    wave = dataset.wave_ids[-1]
    root, division, team = dataset.root_id, dataset.division_id, dataset.team_id
    page = "/reports/dashboard/?wave={wave}&unit={unit}"
    api = "/api/v1/waves/{wave}/summary?unit={unit}&by={by}"
    return [
        {
            "view": "organisation_by_role_level",
            "page": page.format(wave=wave, unit=root),
            "api": api.format(wave=wave, unit=root, by="role_level"),
        },
        {
            "view": "division_subtree",
            "page": page.format(wave=wave, unit=division),
            "api": api.format(wave=wave, unit=division, by="child_units"),
        },
        {
            "view": "one_team",
            "page": page.format(wave=wave, unit=team),
            "api": api.format(wave=wave, unit=team, by="role_level"),
        },
        {
            "view": "role_level_x_tenure",
            "page": None,  # the dashboard has no two-way page; the API and exports have it
            "api": api.format(wave=wave, unit=root, by="role_level,tenure_band"),
        },
        {
            "view": "trend_10_waves",
            "page": None,  # the dashboard page shows a shorter trend, timed with the pages
            "api": f"/api/v1/waves/{wave}/trend?unit={root}",
        },
    ]


def _summary_queries(captured) -> list[str]:
    """The statements of a request that read the published summary (the tables and the
    publication row with its pattern): what the bare-SQL ceiling replays."""
    tables = (
        '"reports_summarygroup"',
        '"reports_summaryitem"',
        '"reports_summarydimension"',
        '"reports_publication"',
    )
    return [q["sql"] for q in captured if any(t in q["sql"] for t in tables)]


def _groups_shown(response) -> int:
    """How many figures an API answer shows (a summary's total and groups, a trend's waves,
    not withheld). A small team's may all be withheld; the organisation's never should be."""
    data = response.json()
    if "points" in data:
        return sum(not point["suppressed"] for point in data["points"])
    return (not data["suppressed"]) + sum(not group["suppressed"] for group in data["groups"])


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))
    return ordered[index]


def _ceiling_ms(statements: list[str], repeats: int) -> float:
    """Median time of running the statements one after the other with bare psycopg2."""
    if not statements:
        return 0.0
    times = []
    with contextlib.closing(env.psycopg2_connect()) as connection:
        connection.autocommit = True
        with connection.cursor() as cursor:
            for round_ in range(repeats + WARM_REQUESTS):
                started = time.perf_counter()
                for sql in statements:
                    cursor.execute(sql)
                    cursor.fetchall()
                if round_ >= WARM_REQUESTS:
                    times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def measure_views(dataset, *, requests: int) -> list[dict]:
    """Server time of each page and API call through Django's full stack, in process."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from reports.models import ApiToken

    user = _hr_user()
    page_client = Client()
    page_client.force_login(user)
    _token, raw = ApiToken.issue(user=user, name=f"bench {uuid.uuid4().hex[:8]}")
    api_client = Client(headers={"authorization": f"Bearer {raw}"})
    results = []
    for spec in view_specs(dataset):
        for kind, client in (("page", page_client), ("api", api_client)):
            url = spec[kind]
            if url is None:
                continue
            for _ in range(WARM_REQUESTS):
                response = client.get(url)
            if response.status_code != 200:
                raise SystemExit(f"{url} answered {response.status_code}: the bench cannot time it")
            shown = _groups_shown(response) if kind == "api" else None
            if shown == 0 and spec["view"] == "organisation_by_role_level":
                raise SystemExit(
                    f"{url} shows no figure (the organisation's total and every role level "
                    "withheld): the bench would time empty dashboards"
                )
            times = []
            for _ in range(requests):
                started = time.perf_counter()
                response = client.get(url)
                times.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200
            with CaptureQueriesContext(connection) as captured:
                client.get(url)
            statements = _summary_queries(captured.captured_queries)
            ceiling = _ceiling_ms(statements, requests)
            median = statistics.median(times)
            results.append(
                {
                    "view": spec["view"],
                    "kind": kind,
                    "url": url,
                    "median_ms": round(median, 1),
                    "p95_ms": round(_percentile(times, 0.95), 1),
                    "queries": len(captured.captured_queries),
                    "summary_queries": len(statements),
                    "groups_shown": shown,
                    "bytes": len(response.content),
                    "ceiling_ms": round(ceiling, 2),
                    "ratio": round(median / ceiling, 1) if ceiling else None,
                }
            )
            row = results[-1]
            log(
                f"  {spec['view']:<28} {kind:<4} median {row['median_ms']:>7.1f} ms  "
                f"p95 {row['p95_ms']:>7.1f} ms  {row['queries']:>3} queries  "
                f"ceiling {row['ceiling_ms']:>6.1f} ms"
                + (f"  {shown} figures shown" if shown is not None else "")
            )
    return results


# --- gunicorn ---------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    """gunicorn with the shipped gunicorn.conf.py, bound to a free loopback port."""

    def __init__(self, environment: dict[str, str]):
        self.port = _free_port()
        self.environment = {**os.environ, **environment, "GUNICORN_BIND": f"127.0.0.1:{self.port}"}
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> "Gunicorn":
        gunicorn = Path(sys.executable).parent / "gunicorn"
        self.process = subprocess.Popen(
            [str(gunicorn), "powerclimate.wsgi", "-c", str(env.ROOT / "gunicorn.conf.py")],
            cwd=env.ROOT,
            env=self.environment,
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + GUNICORN_START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit("gunicorn stopped while starting; see its messages above")
            try:
                urllib.request.urlopen(self.url + "/", timeout=2).read()  # noqa: S310
                if len(self.workers()) >= self.expected_workers():
                    return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.3)
        self.__exit__(None, None, None)
        raise SystemExit("gunicorn did not answer within a minute")

    def expected_workers(self) -> int:
        return int(self.environment.get("GUNICORN_WORKERS", os.cpu_count() * 2))

    def workers(self) -> list[int]:
        """Worker process ids: the children of the gunicorn master."""
        pids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.process.pid:
                pids.append(int(stat.parent.name))
        return pids

    def peak_rss_mb(self) -> list[float]:
        """VmHWM (peak resident set) of every worker, in MB."""
        peaks = (vm_hwm_mb(pid) for pid in self.workers())
        return [peak for peak in peaks if peak is not None]

    def __exit__(self, *exc) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def http_dashboards(server: Gunicorn, dataset, *, requests: int) -> dict:
    """Every view through gunicorn over HTTP (so the workers hold what dashboards cost), with
    the client-side latency as a cross-check of the in-process figures."""
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(_hr_user())
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    results = {}
    workers = max(1, len(server.workers()))
    for spec in view_specs(dataset):
        for kind in ("page", "api"):
            url = spec[kind]
            if url is None:
                continue
            times = []
            for index in range(requests + workers):
                request = urllib.request.Request(  # noqa: S310 (loopback http only)
                    server.url + url, headers={"Cookie": cookie}
                )
                started = time.perf_counter()
                with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
                    response.read()
                if index >= workers:  # the first round warms every worker
                    times.append((time.perf_counter() - started) * 1000)
            results[f"{spec['view']}.{kind}"] = {
                "median_ms": round(statistics.median(times), 1),
                "p95_ms": round(_percentile(times, 0.95), 1),
            }
    return results


# --- Submissions ------------------------------------------------------------------------------


def _answer_bodies(count: int, seed: int) -> list[str]:
    """Url-encoded answer sets as the survey form posts them (question codes as names)."""
    from urllib.parse import urlencode

    import numpy as np

    from bench import generate
    from surveys import services
    from surveys.models import Instrument

    instrument = Instrument.objects.get(slug=services.load_default_instrument().slug)
    questions = generate.QuestionSet(services.instrument_questions(instrument_id=instrument.pk))
    codes = {q.pk: q.code for q in questions.questions}
    rng = np.random.default_rng(seed)
    person, question, value = generate.answers(
        rng, questions, rng.normal(0.0, 1.0, count), np.zeros(count, dtype=bool)
    )
    bodies: list[list[tuple[str, int]]] = [[] for _ in range(count)]
    for p, q, v in zip(person.tolist(), question.tolist(), value.tolist(), strict=True):
        bodies[p].append((codes[q], v))
    return [urlencode(pairs) for pairs in bodies]


def prepare_submission_wave(dataset, *, tokens: int, seed: int):
    """An open wave over the whole organisation with `tokens` invitations (the roster of the
    last wave, repeated as needed and shuffled), created with services.create_invitations."""
    import numpy as np
    from django.utils import timezone

    from surveys import services
    from surveys.models import Headcount, Instrument, RoleLevel, TenureBand, Unit, Wave

    for old in Wave.objects.filter(name__in=[SUBMISSION_WAVE, RAW_WAVE]):
        drop_wave(old.pk)
    last = Wave.objects.get(pk=dataset.wave_ids[-1])
    now = timezone.now()
    wave = Wave.objects.create(
        name=SUBMISSION_WAVE,
        instrument=Instrument.objects.get(pk=last.instrument_id),
        opens_at=now - dt.timedelta(hours=1),
        closes_at=now + dt.timedelta(days=7),
        state=Wave.State.OPEN,
    )
    wave.units.add(dataset.root_id)
    units = {u.pk: u for u in Unit.objects.all()}
    roles = {r.pk: r for r in RoleLevel.objects.all()}
    tenures = {t.pk: t for t in TenureBand.objects.all()}
    people = []
    for unit_id, role_id, tenure_id, count in Headcount.objects.filter(wave=last).values_list(
        "unit_id", "role_level_id", "tenure_band_id", "people"
    ):
        row = services.RosterRow(
            unit=units[unit_id], role_level=roles[role_id], tenure_band=tenures.get(tenure_id)
        )
        people += [row] * count
    rng = np.random.default_rng(seed)
    repeats = math.ceil(tokens / len(people))
    roster = [people[i] for i in rng.permutation(len(people) * repeats) % len(people)]
    started = time.perf_counter()
    raw = services.create_invitations(wave=wave, roster=roster[:tokens])
    log(f"  {len(raw):,} invitations created in {time.perf_counter() - started:.1f} s")
    return wave, raw


def drop_wave(wave_id: int) -> None:
    """Delete a benchmark wave and everything stored for it, in SQL (no per-row ORM work)."""
    from django.apps import apps
    from django.db import connection, transaction

    from surveys.models import Answer, Response, Wave

    quote = connection.ops.quote_name
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {quote(Answer._meta.db_table)} WHERE response_id IN "
            f"(SELECT id FROM {quote(Response._meta.db_table)} WHERE wave_id = %s)",
            [wave_id],
        )
        for model in apps.get_models(include_auto_created=True):
            if model is Wave:
                continue
            for field in model._meta.concrete_fields:
                if field.is_relation and field.related_model is Wave:
                    cursor.execute(
                        f"DELETE FROM {quote(model._meta.db_table)} "
                        f"WHERE {quote(field.column)} = %s",
                        [wave_id],
                    )
        cursor.execute(f"DELETE FROM {quote(Wave._meta.db_table)} WHERE id = %s", [wave_id])


def _stored(wave_id: int) -> int:
    from surveys.models import Response

    return Response.objects.filter(wave_id=wave_id).count()


def _wrk(url: str, *, connections: int, seconds: float, tokens: Path, bodies: Path) -> dict:
    """Run wrk for `seconds` of POSTing, plus a grace period in which nothing new is sent, so
    that every POST sent is answered and counted; returns the script's JSON and the window."""
    started = time.time()
    deadline = math.ceil(started + seconds)
    window = deadline - started
    grace = 20  # longer than any answer takes, so every POST sent is counted
    environment = {
        **os.environ,
        "BENCH_TOKENS": str(tokens),
        "BENCH_BODIES": str(bodies),
        "BENCH_DEADLINE": str(deadline),
        "BENCH_THREADS": "1",
    }
    completed = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{math.ceil(window) + grace}s",
            "--timeout",
            "30s",
            "-s",
            str(env.ROOT / "bench" / "wrk" / "submit.lua"),
            url,
        ],
        env=environment,
        capture_output=True,
        text=True,
        timeout=window + grace + 60,
        check=False,
    )
    lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    if completed.returncode != 0 or not lines:
        raise SystemExit(f"wrk failed:\n{completed.stdout}\n{completed.stderr}")
    result = json.loads(lines[-1])
    result["window_s"] = window
    return result


def ensure_wrk() -> None:
    if shutil.which("wrk") is None:
        raise SystemExit(
            "wrk is not installed: apt-get install -y wrk (or run with --skip submissions)"
        )


def measure_submissions(server: Gunicorn, dataset, *, seconds: float, seed: int) -> list[dict]:
    """wrk at 16 and 64 connections against the invitation survey POST."""
    ensure_wrk()
    per_second_guess = 800  # tokens are cheap; running out would end a run early
    needed = int(per_second_guess * (seconds + 1)) * len(CONCURRENCY) + 2000
    wave, tokens = prepare_submission_wave(dataset, tokens=needed, seed=seed)
    results = []
    with tempfile.TemporaryDirectory(prefix="powerclimate-bench-") as folder:
        bodies = Path(folder) / "bodies.txt"
        bodies.write_text("\n".join(_answer_bodies(200, seed)) + "\n")
        offset = 0
        # A short warm-up run (its own tokens) so every worker has loaded the app.
        runs = [("warm-up", 16, 2.0, 1000)]
        share = (len(tokens) - 1000) // len(CONCURRENCY)
        runs += [(str(c), c, seconds, share) for c in CONCURRENCY]
        for name, connections, duration, count in runs:
            path = Path(folder) / f"tokens-{name}.txt"
            path.write_text("\n".join(tokens[offset : offset + count]) + "\n")
            offset += count
            before = _stored(wave.pk)
            outcome = _wrk(
                server.url, connections=connections, seconds=duration, tokens=path, bodies=bodies
            )
            time.sleep(1.0)
            stored = _stored(wave.pk) - before
            if name == "warm-up":
                continue
            succeeded = outcome["ok2xx"] + outcome["ok3xx"]
            result = {
                "connections": connections,
                "seconds": round(outcome["window_s"], 2),
                "rps": round(succeeded / outcome["window_s"], 1),
                "p50_ms": round(outcome["p50_us"] / 1000, 1),
                "p99_ms": round(outcome["p99_us"] / 1000, 1),
                "max_ms": round(outcome["max_us"] / 1000, 1),
                "requests_built": outcome["posted"],  # wrk also builds one at start-up
                "succeeded": succeeded,
                "redirected": outcome["ok3xx"],
                "stored": stored,
                "errors": outcome["client4xx"] + outcome["server5xx"] + outcome["other"],
                "socket_errors": sum(
                    outcome[k] for k in ("connect_errors", "read_errors", "write_errors")
                )
                + outcome["timeouts"],
                "tokens_ran_out": bool(outcome["exhausted"]),
                "stored_equals_succeeded": stored == succeeded,
            }
            results.append(result)
            log(
                f"  {connections:>3} connections: {result['rps']:>6.1f} responses/s  "
                f"p50 {result['p50_ms']:>6.1f} ms  p99 {result['p99_ms']:>6.1f} ms  "
                f"succeeded {succeeded}  stored {stored}  errors {result['errors']}"
            )
    return results


PUBLICATION_TIMEOUT = 300


def publish_submissions(dataset) -> dict:
    """Publish everything the load stored, as a background publisher would, in a child
    process stopped after PUBLICATION_TIMEOUT seconds (its transaction then rolls back)."""
    from surveys.models import Wave

    wave = Wave.objects.get(name=SUBMISSION_WAVE)
    try:
        completed = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--publish-child", str(wave.pk)],
            capture_output=True,
            text=True,
            timeout=PUBLICATION_TIMEOUT,
            check=False,
            cwd=env.ROOT,
        )
    except subprocess.TimeoutExpired:
        log(f"  background publication did not finish within {PUBLICATION_TIMEOUT} s")
        return {"timed_out": True, "seconds": PUBLICATION_TIMEOUT}
    lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    if completed.returncode != 0 or not lines:
        raise SystemExit(f"publication failed:\n{completed.stdout}\n{completed.stderr}")
    result = json.loads(lines[-1])
    log(
        f"  background publication of {result['responses']:,} responses: "
        f"fold {result['fold_s']} s, rewrite {result['rewrite_s']} s, "
        f"pattern {result['pattern_s']} s"
    )
    return result


def publish_child(wave_id: int) -> None:
    """Publish the wave's pending responses as `publication.publish` does, in one
    transaction: fold (fold_sql), mark the batch published (`services.rewrite_batch`), decide
    the pattern. Prints the time of each step as JSON."""
    env.configure()
    import django

    django.setup()
    from django.db import transaction
    from django.utils import timezone

    from reports import publication as publication_module
    from reports.fold_sql import fold_sql
    from reports.models import Publication
    from surveys import services
    from surveys.models import Response, Wave

    wave = Wave.objects.get(pk=wave_id)
    started = time.perf_counter()
    with transaction.atomic():
        Publication.objects.get_or_create(wave=wave)
        publication = Publication.objects.select_for_update().get(wave=wave)
        pending = list(Response.objects.for_wave(wave).unpublished().values_list("pk", flat=True))
        fold_sql(wave=wave, response_ids=pending)
        folded = time.perf_counter()
        services.rewrite_batch(wave=wave, response_ids=pending)
        rewritten = time.perf_counter()
        publication.responses += len(pending)
        publication.version += 1
        publication.published_at = timezone.now()
        publication_module._refresh_pattern(wave, publication)
    done = time.perf_counter()
    result = {
        "responses": len(pending),
        "fold_s": round(folded - started, 2),
        "rewrite_s": round(rewritten - folded, 2),
        "pattern_s": round(done - rewritten, 2),
        "seconds": round(done - started, 2),
        "timed_out": False,
    }
    print(json.dumps(result))


def raw_ceiling(dataset, *, seconds: float, seed: int) -> dict:
    """The same rows as one submission (a response and 40 answers, one transaction) inserted
    by bare psycopg2 from RAW_CONNECTIONS threads for `seconds`: what the database allows."""
    from django.utils import timezone

    from surveys.models import Question, Response, RoleLevel, TenureBand, Wave

    last = Wave.objects.get(pk=dataset.wave_ids[-1])
    now = timezone.now()
    wave = Wave.objects.create(
        name=RAW_WAVE,
        instrument_id=last.instrument_id,
        opens_at=now - dt.timedelta(hours=1),
        closes_at=now + dt.timedelta(days=1),
        state=Wave.State.OPEN,
    )
    questions = list(
        Question.objects.filter(instrument_id=last.instrument_id, kind__in=["agree5", "freq5"])
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    answers = [(q, 1 + (i % 5)) for i, q in enumerate(questions)]
    answers += [(q, 1 + (i % 4)) for i, q in enumerate(questions)][: max(0, 40 - len(answers))]
    answers = sorted(set(answers))[:40]
    role = RoleLevel.objects.order_by("rank").first().pk
    tenure = TenureBand.objects.order_by("rank").first().pk
    unit = dataset.team_id
    counts = [0] * RAW_CONNECTIONS
    stop = time.monotonic() + seconds

    def worker(index: int) -> None:
        with (
            contextlib.closing(env.psycopg2_connect()) as connection,
            connection.cursor() as cursor,
        ):
            while time.monotonic() < stop:
                response_id = str(uuid.uuid4())
                cursor.execute(
                    f"INSERT INTO {Response._meta.db_table} (id, wave_id, unit_id, "
                    "role_level_id, role_level_to_id, tenure_band_id, published) "
                    "VALUES (%s, %s, %s, %s, NULL, %s, false)",
                    [response_id, wave.pk, unit, role, tenure],
                )
                values = ",".join(
                    cursor.mogrify("(%s,%s,%s)", (response_id, q, v)).decode() for q, v in answers
                )
                cursor.execute(
                    "INSERT INTO surveys_answer (response_id, question_id, value) VALUES " + values
                )
                connection.commit()
                counts[index] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(RAW_CONNECTIONS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 60)
    elapsed = time.perf_counter() - started
    stored = _stored(wave.pk)
    drop_wave(wave.pk)
    result = {
        "connections": RAW_CONNECTIONS,
        "seconds": round(elapsed, 2),
        "answers_per_response": len(answers),
        "raw_ceiling_rps": round(sum(counts) / elapsed, 1),
        "stored": stored,
    }
    log(
        f"  raw psycopg2 ceiling ({RAW_CONNECTIONS} connections): "
        f"{result['raw_ceiling_rps']:.1f} responses/s"
    )
    return result


def vm_hwm_mb(pid: int | str = "self") -> float | None:
    """A process's peak resident set (VmHWM) in MB, None if it cannot be read. Unlike
    getrusage's ru_maxrss, which a child started by fork and exec inherits from its parent
    (a benchmark process of 300 MB after generating would make every export look that big),
    VmHWM belongs to the program's own memory."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return None


# --- Exports ----------------------------------------------------------------------------------


def export_child(fmt: str, wave_id: int, root_id: int) -> None:
    """Run in a child process: write the unit x role level export of a wave to a temporary
    file, print seconds, rows, bytes and the process's peak RSS as JSON."""
    env.configure()
    import django

    django.setup()
    from bench import exports as bench_exports

    baseline = vm_hwm_mb() or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with tempfile.TemporaryFile() as target:
        started = time.perf_counter()
        rows = bench_exports.write(fmt=fmt, wave_id=wave_id, root_id=root_id, target=target)
        seconds = time.perf_counter() - started
        size = target.tell()
    peak = vm_hwm_mb() or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "format": fmt,
                "seconds": round(seconds, 2),
                "rows": rows,
                "bytes": size,
                "peak_mb": round(peak, 1),
                "baseline_mb": round(baseline, 1),
            }
        )
    )


def measure_exports(dataset) -> dict:
    results = {}
    for fmt in ("csv", "xlsx"):
        completed = subprocess.run(
            [
                sys.executable,
                str(Path(__file__).resolve()),
                "--export-child",
                fmt,
                str(dataset.wave_ids[-1]),
                str(dataset.root_id),
            ],
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
            cwd=env.ROOT,
        )
        lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
        if completed.returncode != 0 or not lines:
            raise SystemExit(f"export {fmt} failed:\n{completed.stdout}\n{completed.stderr}")
        results[fmt] = json.loads(lines[-1])
        row = results[fmt]
        log(
            f"  {fmt:<4} {row['seconds']:>6.1f} s  peak {row['peak_mb']:>6.1f} MB  "
            f"{row['rows']:,} rows  {row['bytes'] / 2**20:.1f} MB"
        )
    return results


# --- Report -----------------------------------------------------------------------------------


def machine() -> dict:
    memory = 0
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = round(int(line.split()[1]) / 2**20, 1)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        postgres = cursor.fetchone()[0]
        cursor.execute("SHOW shared_buffers")
        shared_buffers = cursor.fetchone()[0]
    return {
        "cores": os.cpu_count(),
        "memory_gb": memory,
        "python": platform.python_version(),
        "postgresql": postgres,
        "shared_buffers": shared_buffers,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def scaling(result: dict) -> dict | None:
    """Each view's median and p95 divided by the same view's in the newest full run of the
    other size (1,000,000 against 100,000 or the reverse): the issue's "at most 1.5 times"."""
    size = result["size"]
    candidates = []
    for path in env.RESULTS.glob("*-*.json"):
        try:
            other = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if other.get("size") not in (None, size) and other.get("views") and not other.get("quick"):
            candidates.append((path.name, other))
    if not candidates or not result.get("views"):
        return None
    _name, other = max(candidates, key=lambda c: c[0])
    small, large = (other, result) if other["size"] < size else (result, other)
    before = {(v["view"], v["kind"]): v for v in small["views"]}
    rows = []
    for view in large["views"]:
        base = before.get((view["view"], view["kind"]))
        if base and base["median_ms"] and base["p95_ms"]:
            rows.append(
                {
                    "view": view["view"],
                    "kind": view["kind"],
                    "median_ratio": round(view["median_ms"] / base["median_ms"], 2),
                    "p95_ratio": round(view["p95_ms"] / base["p95_ms"], 2),
                }
            )
    return {
        "small": {"size": small["size"], "date": small["date"]},
        "large": {"size": large["size"], "date": large["date"]},
        "views": rows,
    }


def print_table(result: dict) -> None:
    out = []
    out.append(f"\nPower Climate benchmark: {result['size']:,} responses, {result['date']}")
    m = result["machine"]
    out.append(
        f"machine: {m['cores']} cores, {m['memory_gb']} GB, PostgreSQL {m['postgresql']}, "
        f"load {m['load_average_at_start']}"
    )
    generation = result.get("generation") or {}
    if generation.get("total"):
        out.append(f"generation: {generation['total']:.0f} s ({generation})")
    out.append("")
    out.append(
        f"{'view':<28} {'kind':<4} {'median ms':>10} {'p95 ms':>8} {'queries':>8} "
        f"{'ceiling ms':>11} {'ratio':>6}"
    )
    for v in result.get("views", []):
        out.append(
            f"{v['view']:<28} {v['kind']:<4} {v['median_ms']:>10.1f} {v['p95_ms']:>8.1f} "
            f"{v['queries']:>8} {v['ceiling_ms']:>11.2f} {v['ratio'] or 0:>6.1f}"
        )
    subs = result.get("submissions") or {}
    if subs.get("runs"):
        raw = subs["raw"]
        out.append("")
        out.append(
            f"{'submissions':<14} {'rps':>8} {'p50 ms':>8} {'p99 ms':>8} {'succeeded':>10} "
            f"{'stored':>8} {'raw rps':>8} {'ratio':>6}"
        )
        for run in subs["runs"]:
            out.append(
                f"{str(run['connections']) + ' connections':<14} {run['rps']:>8.1f} "
                f"{run['p50_ms']:>8.1f} {run['p99_ms']:>8.1f} {run['succeeded']:>10} "
                f"{run['stored']:>8} {raw['raw_ceiling_rps']:>8.1f} {run['ratio']:>6.2f}"
            )
    if result.get("exports"):
        out.append("")
        out.append(f"{'export':<8} {'seconds':>8} {'peak MB':>8} {'rows':>9}")
        for fmt, row in result["exports"].items():
            out.append(f"{fmt:<8} {row['seconds']:>8.1f} {row['peak_mb']:>8.1f} {row['rows']:>9,}")
    if result.get("gunicorn_worker_peak_rss_mb"):
        out.append("")
        out.append(f"gunicorn worker peak RSS (MB): {result['gunicorn_worker_peak_rss_mb']}")
    if result.get("scaling"):
        small, large = result["scaling"]["small"], result["scaling"]["large"]
        out.append("")
        out.append(
            f"{large['size']:,} ({large['date']}) against {small['size']:,} ({small['date']}):"
        )
        out.append(f"{'view':<28} {'kind':<4} {'median x':>9} {'p95 x':>7}")
        for v in result["scaling"]["views"]:
            out.append(
                f"{v['view']:<28} {v['kind']:<4} {v['median_ratio']:>9.2f} {v['p95_ratio']:>7.2f}"
            )
    print("\n".join(out), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--quick", action="store_true", help="short runs (development)")
    parser.add_argument("--regenerate", action="store_true", help="generate even if present")
    parser.add_argument(
        "--pattern",
        choices=["auto", "full", "primary"],
        default="auto",
        help="suppression pattern of the generated waves: full (the app's), primary (every "
        "cell of at least k, no complementary suppression), auto (full up to "
        f"{FULL_PATTERN_MAX_SIZE:,} responses, primary above)",
    )
    parser.add_argument(
        "--skip",
        default="",
        help="comma-separated parts to leave out: views, submissions, exports",
    )
    parser.add_argument(
        "--publication",
        choices=["worker", "app-default"],
        default="worker",
        help="worker: POWERCLIMATE_PUBLISH_MODE=worker (docs/scaling.md), submissions only "
        "store their rows and the worker's publication of them is timed afterwards; "
        "app-default: the mode as configured (a background thread in the web process)",
    )
    parser.add_argument("--export-child", nargs=3, metavar=("FORMAT", "WAVE", "ROOT"))
    parser.add_argument("--publish-child", type=int, metavar="WAVE")
    args = parser.parse_args()
    if args.publish_child:
        publish_child(args.publish_child)
        return
    if args.export_child:
        fmt, wave_id, root_id = args.export_child
        export_child(fmt, int(wave_id), int(root_id))
        return
    # WhiteNoise warns once per process that collectstatic has not run: irrelevant here.
    warnings.filterwarnings("ignore", message="No directory at")
    skip = {part.strip() for part in args.skip.split(",") if part.strip()}
    requests = 20 if args.quick else TIMED_REQUESTS
    submit_seconds = 5.0 if args.quick else 20.0
    raw_seconds = 3.0 if args.quick else 10.0

    environment = env.configure()
    pattern = args.pattern
    if pattern == "auto":
        pattern = "full" if args.size <= FULL_PATTERN_MAX_SIZE else "primary"
        if pattern == "primary":
            log(
                "Suppression pattern: the stand-in (cells of at least k, no complementary "
                "suppression): the full one takes more than 8 CPU-minutes a wave at 100,000 "
                "responses a wave (--pattern full to run it; docs/performance.md)"
            )
    dataset = prepare_data(
        size=args.size, seed=args.seed, regenerate=args.regenerate, pattern=pattern
    )
    result = {
        "size": args.size,
        "pattern": pattern,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "quick": args.quick,
        "machine": machine(),
        "generation": dataset.timings,
        "tables": dataset.summary_rows,
        "views": [],
        "submissions": {},
        "exports": {},
    }
    if "views" not in skip:
        log("Views (in process, warm):")
        result["views"] = measure_views(dataset, requests=requests)
    if args.publication == "worker":
        # Submissions only store their rows; the publication worker's job is timed afterwards.
        environment = {**environment, "POWERCLIMATE_PUBLISH_MODE": "worker"}
    if not {"views", "submissions"} <= skip:
        with Gunicorn(environment) as server:
            log(f"gunicorn on {server.url} with {len(server.workers())} workers")
            if "views" not in skip:
                result["http"] = http_dashboards(server, dataset, requests=requests)
                result["gunicorn_worker_peak_rss_mb"] = peaks = server.peak_rss_mb()
                log(f"  worker peak RSS after the dashboards (MB): {peaks}")
            if "submissions" not in skip:
                log("Submissions:")
                runs = measure_submissions(
                    server, dataset, seconds=submit_seconds, seed=args.seed + 1
                )
    if "submissions" not in skip:
        publication = publish_submissions(dataset) if args.publication == "worker" else None
        raw = raw_ceiling(dataset, seconds=raw_seconds, seed=args.seed)
        for run in runs:
            run["raw_ceiling_rps"] = raw["raw_ceiling_rps"]
            run["ratio"] = round(run["rps"] / raw["raw_ceiling_rps"], 2)
        result["submissions"] = {
            "publication_mode": args.publication,
            "runs": runs,
            "raw": raw,
            "background_publication": publication,
        }
    if "exports" not in skip:
        log("Exports (child process):")
        result["exports"] = measure_exports(dataset)
    env.RESULTS.mkdir(parents=True, exist_ok=True)
    if not args.quick:
        result["scaling"] = scaling(result)
    text = json.dumps(result, indent=2, default=str)
    (env.RESULTS / "latest.json").write_text(text + "\n")
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    (env.RESULTS / f"{stamp}-{args.size}.json").write_text(text + "\n")
    print_table(result)
    log(f"\nWritten: {env.RESULTS / 'latest.json'}")


if __name__ == "__main__":
    main()
