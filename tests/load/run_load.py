"""Nothing lost under load and faults (issue 7): one run, on 127.0.0.1 only, bounded in time.

    .venv/bin/python tests/load/run_load.py --short          # CI: under 3 minutes
    .venv/bin/python tests/load/run_load.py --duration 60    # the full run
    .venv/bin/python tests/load/run_load.py --short --no-fault   # without stopping PostgreSQL

1. A scratch PostgreSQL database (LOAD_DATABASE_URL, default .../powerclimate_load), migrated,
   with the default instrument, a small organisation, an open wave and its invitations.
2. gunicorn with gunicorn.conf.py and production settings (DEBUG off, a random secret key).
3. Load: CONCURRENCY respondents at once, each with a fresh invitation (one in eight with the
   open link): privacy page, survey page, POST of a full set of answers, thank-you page.
   In the middle of it PostgreSQL is stopped (`pg_ctlcluster ... stop -m fast`) for OUTAGE
   seconds and started again: respondents must get the 503 "Please try again" page, keep their
   answers and send them again until they are stored; the same gunicorn workers must serve
   again within RECOVERY seconds. Sixteen of the respondents have their survey open when the
   database stops and submit during the outage. A logged-in staff user visits pages
   throughout (a 503 page must not need the session, which lives in the database).
4. Races: two browsers POST the same invitation (or open-link form) at the same moment:
   exactly one is stored, the other sees "already recorded" (200).
5. A second wave is closed while respondents have its survey page open: their POST gets the
   410 "not open" page and nothing is stored.
6. Checks: every submission that reached its thank-you page is stored exactly once with all
   its answers, nothing else is stored, used invitations = stored responses, no 5xx outside
   the outage and only the 503 page inside it, no worker restarted or timed out.

Prints a summary and exits 1 on any violation (2 if the run could not be set up). PostgreSQL
is started again and the scratch database dropped on every exit path.
"""

import argparse
import fcntl
import itertools
import json
import os
import random
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.load import client as web  # noqa: E402
from tests.load import pg  # noqa: E402

OPEN_LINK_EVERY = 8  # one respondent in eight uses the open link
OUTAGE_DRAFTERS = 16  # respondents (of CONCURRENCY) who submit while PostgreSQL is down
STAFF_EVERY = 1.0  # seconds between the staff user's page views
GUNICORN_START_TIMEOUT = 60


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- Options ----------------------------------------------------------------------------------


@dataclass
class Options:
    duration: float
    concurrency: int
    max_respondents: int
    outage: float
    fault_at: float
    recovery_bound: float
    race_pairs: int
    open_race_pairs: int
    closing_invitations: int
    closing_open: int
    fault: bool
    seed: int
    json_path: str
    keep_log: str


def parse_options(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60, help="seconds of load")
    parser.add_argument("--concurrency", type=int, default=64, help="respondents at once")
    parser.add_argument("--max-respondents", type=int, default=0, help="count bound")
    parser.add_argument("--outage", type=float, default=10, help="seconds PostgreSQL is down")
    parser.add_argument("--recovery-bound", type=float, default=30, help="seconds allowed")
    parser.add_argument("--races", type=int, default=0, help="invitation race pairs")
    parser.add_argument("--short", action="store_true", help="the CI form: 20 s of load")
    parser.add_argument("--no-fault", action="store_true", help="do not stop PostgreSQL")
    parser.add_argument("--seed", type=int, default=0, help="answers' random seed (0: random)")
    parser.add_argument("--json", default="", help="also write the figures to this file")
    parser.add_argument("--keep-log", default="", help="copy gunicorn's log to this file")
    args = parser.parse_args(argv)
    duration = 20 if args.short and args.duration == 60 else args.duration
    races = args.races or (24 if args.short else 120)
    return Options(
        duration=duration,
        concurrency=args.concurrency,
        # Generous: a 2-core machine stores well under 100 submissions a second.
        max_respondents=args.max_respondents or int(max(2000, duration * 150)),
        outage=min(args.outage, max(1.0, duration * 0.6)),
        fault_at=max(3.0, duration * 0.3),
        recovery_bound=args.recovery_bound,
        race_pairs=races,
        open_race_pairs=max(5, races // 4),
        closing_invitations=24,
        closing_open=8,
        fault=not args.no_fault,
        seed=args.seed or secrets.randbelow(2**31),
        json_path=args.json,
        keep_log=args.keep_log,
    )


# --- Environment and server -------------------------------------------------------------------


def production_env(database_url: str, port: int, static_root: str) -> dict[str, str]:
    """The settings gunicorn runs with: production-like, loopback only."""
    return {
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "powerclimate.settings",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DJANGO_SECURE_COOKIES": "false",
        "DJANGO_STATIC_MANIFEST": "false",
        "DJANGO_STATIC_ROOT": static_root,
        "DJANGO_LOG_LEVEL": "WARNING",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        # Workers are never recycled during the run, so "the same workers serve again after
        # the outage" can be checked by their process ids.
        "GUNICORN_MAX_REQUESTS": "0",
        "PYTHONPATH": str(ROOT),
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """gunicorn with gunicorn.conf.py (workers x threads as in production), its log in a file."""

    def __init__(self, *, env: dict[str, str], port: int, log_path: Path, pid_path: Path):
        self.env, self.port, self.log_path, self.pid_path = env, port, log_path, pid_path
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        gunicorn = Path(sys.executable).parent / "gunicorn"
        with self.log_path.open("wb") as log_file:
            self.process = subprocess.Popen(
                [
                    str(gunicorn),
                    "powerclimate.wsgi",
                    "-c",
                    "gunicorn.conf.py",
                    "--pid",
                    str(self.pid_path),
                ],
                cwd=ROOT,
                env={**os.environ, **self.env},
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + GUNICORN_START_TIMEOUT
        probe = web.Client(self.port, timeout=10)
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited: see {self.log_path}")
            if probe.request("GET", "/s/load-probe/").status:
                probe.close()
                if len(self.workers()) >= self.expected_workers():
                    return
            time.sleep(0.3)
        raise RuntimeError("gunicorn did not answer in time")

    def expected_workers(self) -> int:
        return int(os.getenv("GUNICORN_WORKERS", (os.cpu_count() or 1) * 2))

    def workers(self) -> set[int]:
        if self.process is None:
            return set()
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            return {int(pid) for pid in children.read_text().split()}
        except OSError:
            return set()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(40)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


# --- Phases -----------------------------------------------------------------------------------


@dataclass
class Fault:
    stopped_at: float = 0.0  # monotonic, when the stop command was issued
    down_at: float = 0.0  # when the stop command returned
    started_at: float = 0.0  # when the start command was issued
    ready_at: float = 0.0  # when pg_isready succeeded
    workers_before: set[int] = field(default_factory=set)
    workers_after: set[int] = field(default_factory=set)
    error: str = ""


@dataclass
class LoadRun:
    started: float
    new_respondents_until: float = 0.0
    outcomes: list[web.Outcome] = field(default_factory=list)
    fault: Fault | None = None
    tokens_ran_out: bool = False
    hung: bool = False


def run_load(opts: Options, scenario, server: Server, recorder: web.Recorder, db_url: str):
    """The load, with PostgreSQL stopped in its middle (unless --no-fault)."""
    from django.db import connections

    tokens = iter(scenario.tokens)
    token_lock = threading.Lock()
    counter = itertools.count()
    stop_new = threading.Event()
    db_down = threading.Event()
    drafters = min(OUTAGE_DRAFTERS, opts.concurrency // 2) if opts.fault else 0
    drafts_open = threading.Semaphore(0)  # released once per drafter whose survey is open
    deadline = web.Deadline()
    run = LoadRun(started=time.monotonic())

    def next_respondent() -> tuple[str, str] | None:
        with token_lock:
            number = next(counter)
            if number >= opts.max_respondents:
                run.tokens_ran_out = True
                return None
            if number % OPEN_LINK_EVERY == OPEN_LINK_EVERY - 1:
                return "open", scenario.open_key
            token = next(tokens, None)
            if token is None:
                run.tokens_ran_out = True
                return None
            return "invitation", token

    def respondent(index: int) -> None:
        rng = random.Random(opts.seed * 1000 + index)
        session = web.Session(web.Client(server.port), recorder, "load", deadline, rng)
        if opts.fault and index < drafters:
            # Some respondents have the survey open when PostgreSQL stops and submit during
            # the outage: they get the 503 page and send their draft again until it is stored.
            with token_lock:
                token = next(tokens, None)

            def wait_for_outage() -> None:
                drafts_open.release()
                db_down.wait(opts.fault_at + 120)

            if token is not None:
                answers = web.make_answers(scenario.questions, rng)
                run.outcomes.append(
                    web.answer_invitation(
                        session, token=token, answers=answers, before_post=wait_for_outage
                    )
                )
        while not stop_new.is_set():
            job = next_respondent()
            if job is None:
                return
            kind, key = job
            answers = web.make_answers(scenario.questions, rng)
            if kind == "open":
                outcome = web.answer_open_link(session, key=key, answers=answers)
            else:
                outcome = web.answer_invitation(session, token=key, answers=answers)
            run.outcomes.append(outcome)

    def staff(_index: int) -> None:
        """A logged-in staff member checks a survey link and the reports now and then."""
        session = web.Session(
            web.Client(server.port, cookie=scenario.staff_cookie),
            recorder,
            "staff",
            web.Deadline(at=0),
            random.Random(),
        )
        pages = [f"/s/i/{scenario.probe_token}/", "/reports/", "/"]
        for page in itertools.cycle(pages):
            if stop_new.is_set():
                return
            session.send("staff", "GET", page)
            time.sleep(STAFF_EVERY)

    threads = [
        threading.Thread(target=respondent, args=(i,), daemon=True) for i in range(opts.concurrency)
    ]
    threads.append(threading.Thread(target=staff, args=(0,), daemon=True))
    # The drafters open their survey first; then the rest of the load starts.
    for thread in threads[:drafters]:
        thread.start()
    open_by = time.monotonic() + 30
    for _ in range(drafters):
        drafts_open.acquire(timeout=max(0.0, open_by - time.monotonic()))
    run.started = time.monotonic()
    for thread in threads[drafters:]:
        thread.start()
    end = run.started + opts.duration
    if opts.fault:
        fault = run.fault = Fault()
        time.sleep(max(0.0, run.started + opts.fault_at - time.monotonic()))
        fault.workers_before = server.workers()
        connections.close_all()  # this process's own connection would be cut too
        log(f"stopping PostgreSQL for {opts.outage:.0f} s")
        fault.stopped_at = time.monotonic()
        try:
            pg.stop()
            fault.down_at = time.monotonic()
            db_down.set()
            time.sleep(max(0.0, fault.stopped_at + opts.outage - time.monotonic()))
        except pg.ClusterError as error:
            fault.error = str(error)
        finally:
            db_down.set()
            fault.started_at = time.monotonic()
            try:
                fault.ready_at = pg.start(db_url)
            except pg.ClusterError as error:
                fault.error = fault.error or str(error)
                pg.ensure_running(db_url)
                fault.ready_at = time.monotonic()
        log(f"PostgreSQL accepts connections again ({fault.ready_at - fault.stopped_at:.1f} s)")
        # Keep the load going for a while after the restart, to see it served again.
        end = max(end, fault.ready_at + min(10.0, opts.recovery_bound))
    time.sleep(max(0.0, end - time.monotonic()))
    stop_new.set()
    run.new_respondents_until = time.monotonic()
    # Respondents half-way through may still retry for a bounded time.
    deadline.at = time.monotonic() + opts.recovery_bound
    wait = opts.recovery_bound + web.HTTP_TIMEOUT + 10
    end_join = time.monotonic() + wait
    for thread in threads:
        thread.join(max(0.0, end_join - time.monotonic()))
    run.hung = any(thread.is_alive() for thread in threads)
    if run.fault is not None:
        run.fault.workers_after = server.workers()
    return run


@dataclass
class RaceRun:
    pairs: int = 0
    one_stored: int = 0
    problems: list[str] = field(default_factory=list)
    outcomes: list[web.Outcome] = field(default_factory=list)


def run_races(opts: Options, scenario, server: Server, recorder: web.Recorder) -> RaceRun:
    """Two browsers POST the same link (or open-link form nonce) at the same moment."""
    result = RaceRun()
    lock = threading.Lock()
    jobs = [("invitation", t) for t in scenario.race_tokens]
    jobs += [("open", "")] * opts.open_race_pairs
    queue = iter(enumerate(jobs))

    def worker(index: int) -> None:
        rng = random.Random(opts.seed * 7 + index)
        session = web.Session(web.Client(server.port), recorder, "race", web.Deadline(), rng)
        while True:
            with lock:
                item = next(queue, None)
            if item is None:
                return
            number, (kind, token) = item
            answers = web.make_answers(scenario.questions, rng)
            pairs = web.form_pairs(answers)
            if kind == "invitation":
                path, thanks, key = f"/s/i/{token}/answer/", f"/s/i/{token}/thanks/", token
            else:
                _form, about = web.open_form(session, scenario.open_key)
                if about is None:
                    with lock:
                        result.problems.append(f"race {number}: open survey page did not load")
                    continue
                path = f"/s/w/{scenario.open_key}/answer/"
                thanks, key, pairs = f"/s/w/{scenario.open_key}/thanks/", about[0][1], about + pairs
            replies = web.race(
                port=server.port,
                path=path,
                body=urlencode(pairs).encode(),
                recorder=recorder,
                phase="race",
            )
            stored = [r for r in replies if r.status == 302 and r.location.endswith(thanks)]
            already = [r for r in replies if r.status == 200 and web.ALREADY in r.body]
            with lock:
                result.pairs += 1
                if len(stored) == 1 and len(already) == 1:
                    result.one_stored += 1
                else:
                    statuses = sorted(r.status for r in replies)
                    result.problems.append(
                        f"race on one {kind} link: {len(stored)} stored, {len(already)} 'already"
                        f" recorded', statuses {statuses}"
                    )
                if stored or already:
                    result.outcomes.append(web.Outcome(kind, key, answers, "stored"))
                else:
                    result.outcomes.append(web.Outcome(kind, key, answers, "unexpected"))

    if not web.in_threads(8, worker, timeout=300):
        result.problems.append("race phase did not finish in 300 s")
    return result


@dataclass
class ClosingRun:
    respondents: int = 0
    refused: int = 0
    problems: list[str] = field(default_factory=list)
    outcomes: list[web.Outcome] = field(default_factory=list)


def run_closing(opts: Options, scenario, server: Server, recorder: web.Recorder) -> ClosingRun:
    """Respondents have the survey page open; HR closes the wave; they submit."""
    from tests.load import scenario as scenarios

    result = ClosingRun()
    rng = random.Random(opts.seed + 99)
    ready: list[tuple[str, str, list[tuple[str, str]], dict]] = []
    session = web.Session(web.Client(server.port), recorder, "closing", web.Deadline(), rng)
    for token in scenario.closing_tokens:
        page = session.get("form", f"/s/i/{token}/answer/")
        if page.status != 200 or web.SURVEY_FORM not in page.body:
            result.problems.append(f"closing wave: survey page answered {page.status}")
            continue
        answers = web.make_answers(scenario.questions, rng)
        ready.append((f"/s/i/{token}/answer/", token, web.form_pairs(answers), answers))
    for _ in range(opts.closing_open):
        _page, about = web.open_form(session, scenario.closing_open_key)
        if about is None:
            result.problems.append("closing wave: open survey page did not load")
            continue
        answers = web.make_answers(scenario.questions, rng)
        path = f"/s/w/{scenario.closing_open_key}/answer/"
        ready.append((path, about[0][1], about + web.form_pairs(answers), answers))
    session.client.close()
    scenarios.close_wave(scenario.closing_wave_id)
    lock = threading.Lock()

    def submit(index: int) -> None:
        path, key, pairs, answers = ready[index]
        client = web.Client(server.port)
        reply = client.request("POST", path, urlencode(pairs).encode())
        client.close()
        problem = web.page_problem(reply)
        recorder.add(
            web.Hit("closing", "post", "POST", reply.status, reply.started, reply.ended, problem)
        )
        kind = "open" if "/s/w/" in path else "invitation"
        with lock:
            result.respondents += 1
            if reply.status == 410 and web.NOT_OPEN in reply.body and web.THANKS not in reply.body:
                result.refused += 1
                result.outcomes.append(web.Outcome(kind, key, answers, "refused"))
            else:
                result.problems.append(f"closed wave: POST answered {reply.status} {problem}")
                result.outcomes.append(web.Outcome(kind, key, answers, "unexpected"))

    if not web.in_threads(len(ready), submit, timeout=web.HTTP_TIMEOUT + 10):
        result.problems.append("closing phase did not finish")
    return result


# --- Figures and checks -----------------------------------------------------------------------


def classify(recorder: web.Recorder, fault: Fault | None, opts: Options) -> dict:
    """Per phase: requests by status class; and the outage figures."""
    figures: dict = {"phases": {}}
    violations: list[str] = []
    window = None
    if fault is not None and fault.stopped_at:
        window = (fault.stopped_at, fault.ready_at + opts.recovery_bound)
    for hit in recorder.hits:
        row = figures["phases"].setdefault(
            hit.phase,
            {"requests": 0, "2xx/3xx": 0, "4xx": 0, "503": 0, "other 5xx": 0, "no response": 0},
        )
        row["requests"] += 1
        if hit.status == 0:
            row["no response"] += 1
        elif hit.status < 400:
            row["2xx/3xx"] += 1
        elif hit.status < 500:
            row["4xx"] += 1
        elif hit.status == 503:
            row["503"] += 1
        else:
            row["other 5xx"] += 1
        in_outage = window is not None and hit.ended >= window[0] and hit.started <= window[1]
        if hit.problem:
            violations.append(f"{hit.phase} {hit.method} {hit.what}: {hit.problem}")
        elif hit.status == 503 and not in_outage:
            violations.append(f"{hit.phase} {hit.method} {hit.what}: 503 outside the outage")
    posts = [h for h in recorder.hits if h.phase == "load" and h.method == "POST" and h.status]
    latencies = sorted((h.ended - h.started) * 1000 for h in posts if h.status != 503)
    if latencies:
        figures["post_p50_ms"] = round(statistics.median(latencies), 1)
        figures["post_p95_ms"] = round(latencies[int(len(latencies) * 0.95) - 1], 1)
        figures["post_max_ms"] = round(latencies[-1], 1)
    by_page: dict[str, list[float]] = {}
    for hit in recorder.hits:
        if hit.phase == "load" and hit.status in (200, 302):
            by_page.setdefault(f"{hit.method} {hit.what}", []).append(hit.ended - hit.started)
    figures["p50_ms"] = {
        page: round(statistics.median(times) * 1000, 1) for page, times in sorted(by_page.items())
    }
    if fault is not None and fault.stopped_at:
        during = [h for h in recorder.hits if h.status == 503 and window[0] <= h.ended]
        figures["outage_503"] = len(during)
        figures["outage_503_posts"] = sum(1 for h in during if h.method == "POST")
        figures["outage_503_staff"] = sum(1 for h in during if h.phase == "staff")
        # Recovered: the first page served after PostgreSQL is back, and no 503 after it for
        # a request sent after PostgreSQL was back.
        ready = fault.ready_at
        first_ok = min(
            (h.ended for h in recorder.hits if h.ended >= ready and h.status in (200, 302)),
            default=None,
        )
        late = [h for h in recorder.hits if h.started >= ready and h.status == 503]
        figures["503_sent_after_restart"] = len(late)
        figures["late_503_pages"] = dict(Counter(f"{h.method} {h.what}" for h in late))
        figures["last_503_after_restart_s"] = round(
            max((h.ended for h in late), default=ready) - ready, 2
        )
        if first_ok is None:
            violations.append("no page was served after PostgreSQL came back")
            figures["recovery_s"] = None
        else:
            figures["first_page_after_restart_s"] = round(first_ok - ready, 2)
            figures["recovery_s"] = round(max([first_ok, *(h.ended for h in late)]) - ready, 2)
            if figures["recovery_s"] > opts.recovery_bound:
                violations.append(f"recovery took {figures['recovery_s']} s")
        figures["db_down_s"] = round(fault.ready_at - fault.stopped_at, 1)
        if not during:
            violations.append("no 503 during the outage: the fault did not reach the app")
    return {"figures": figures, "violations": violations}


def check_log(text: str) -> list[str]:
    """The server log: no worker killed or crashed, no 500."""
    violations = []
    for needle in ("WORKER TIMEOUT", "Worker exited", "was sent SIGKILL", "Internal Server Error"):
        count = text.count(needle)
        if count:
            violations.append(f"gunicorn log: {count} x '{needle}'")
    return violations


def print_summary(report: dict) -> None:
    f, s, opts = report["figures"], report["stored"], report["options"]
    print()
    print("=" * 78)
    fault = f"PostgreSQL stopped {f['db_down_s']} s" if "db_down_s" in f else "no fault"
    print(
        f"Load and fault run: {opts['concurrency']} respondents, {opts['duration']:.0f} s of"
        f" load, {fault}, seed {opts['seed']}"
    )
    print(f"{'phase':<9}" + "".join(f"{c:>13}" for c in next(iter(f["phases"].values()))))
    for phase, row in f["phases"].items():
        print(f"{phase:<9}" + "".join(f"{v:>13}" for v in row.values()))
    load = report["load"]
    print(
        f"submissions: {load['submitted']} reached the thank-you page in {load['seconds']} s"
        f" ({load['per_second']}/s; {load['open_link']} by open link), "
        f"{load['already']} 'already recorded' after a 503;"
        f" POST p50 {f.get('post_p50_ms')} ms, p95 {f.get('post_p95_ms')} ms,"
        f" max {f.get('post_max_ms')} ms"
    )
    print("median time per page: " + ", ".join(f"{k} {v} ms" for k, v in f["p50_ms"].items()))
    if "db_down_s" in f:
        print(
            f"outage: {f['outage_503']} x 503 while down ({f['outage_503_posts']} POSTs,"
            f" {f['outage_503_staff']} staff pages); PostgreSQL back after {f['db_down_s']} s;"
            f" first page served {f.get('first_page_after_restart_s')} s later,"
            f" {f['503_sent_after_restart']} x 503 for requests sent after it (last at"
            f" +{f['last_503_after_restart_s']} s): recovered in {f['recovery_s']} s;"
            f" {load['resubmitted']} respondents sent their draft again"
            f" and were stored; workers {report['workers']}"
        )
    race = report["race"]
    print(
        f"races: {race['pairs']} pairs on one link, {race['one_stored']} stored exactly once"
        f" (other got 'already recorded')"
    )
    closing = report["closing"]
    print(
        f"wave closed mid-survey: {closing['respondents']} submissions, {closing['refused']}"
        f" refused with 410, {closing['stored']} stored"
    )
    print(
        f"database: responses {s['responses']} (expected {s['expected_responses']}),"
        f" answers {s['answers']} ({s['expected_answers']}), comments {s['comments']}"
        f" ({s['expected_comments']}), used invitations {s['used_invitations']} + form nonces"
        f" {s['used_nonces']}; duplicates {s['duplicates']}, lost {s['lost']},"
        f" half-stored {s['half_stored']}"
    )
    violations = report["violations"]
    if violations:
        print(f"FAIL: {len(violations)} violation(s)")
        shown = {}
        for v in violations:
            shown[v] = shown.get(v, 0) + 1
        for v, n in list(shown.items())[:40]:
            print(f"  - {v}" + (f" (x{n})" if n > 1 else ""))
    else:
        print("PASS: nothing lost, nothing stored twice, no 5xx outside the outage")
    print("=" * 78, flush=True)


# --- Main -------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    opts = parse_options(argv)
    db_url = pg.database_url()
    if opts.fault and not pg.can_control():
        print("cannot stop PostgreSQL here (needs root and pg_ctlcluster); use --no-fault")
        return 2

    # One run at a time on a machine: a second one would drop the first one's database.
    with Path(tempfile.gettempdir(), "powerclimate-load.lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print("another load run is in progress on this machine")
            return 2
        return run(opts, db_url)


def run(opts: Options, db_url: str) -> int:
    """Set up, run the phases, check, report; clean up on every path."""

    def terminate(signum, _frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)
    work = Path(os.getenv("LOAD_WORKDIR") or tempfile.mkdtemp(prefix="powerclimate-load-"))
    work.mkdir(mode=0o700, exist_ok=True)
    port = free_port()
    env = production_env(db_url, port, str(work / "static"))
    (work / "static").mkdir(exist_ok=True)
    os.environ.update({k: v for k, v in env.items() if not k.startswith("GUNICORN_")})
    pid_path = Path(os.getenv("LOAD_GUNICORN_PIDFILE") or work / "gunicorn.pid")
    server = Server(env=env, port=port, log_path=work / "gunicorn.log", pid_path=pid_path)
    tokens_file = work / "tokens.txt"
    began = time.monotonic()
    try:
        log(f"scratch database {db_url.rsplit('/', 1)[-1]}: create and migrate")
        pg.recreate_database(db_url)
        import django

        django.setup()
        from tests.load import scenario as scenarios

        scenario = scenarios.build(
            invitations=opts.max_respondents,
            race_pairs=opts.race_pairs,
            closing_invitations=opts.closing_invitations,
        )
        tokens_file.touch(mode=0o600)
        tokens_file.write_text("\n".join(scenario.tokens) + "\n")
        log(f"{len(scenario.tokens)} invitations (tokens in {tokens_file}); starting gunicorn")
        server.start()
        workers = server.workers()
        log(
            f"gunicorn on 127.0.0.1:{port}, {len(workers)} workers; load for {opts.duration:.0f}"
            f" s at {opts.concurrency} respondents" + (", with a fault" if opts.fault else "")
        )
        recorder = web.Recorder()
        load = run_load(opts, scenario, server, recorder, db_url)
        log(f"load done: {len(load.outcomes)} respondents; races")
        races = run_races(opts, scenario, server, recorder)
        log("races done; closing a wave mid-survey")
        closing = run_closing(opts, scenario, server, recorder)
        log("checking the database")
        outcomes = load.outcomes + races.outcomes
        stored = scenarios.check_wave(wave_id=scenario.wave_id, outcomes=outcomes)
        closed = scenarios.check_wave(wave_id=scenario.closing_wave_id, outcomes=closing.outcomes)
        server_alive = server.alive()
        server.stop()
        report = build_report(
            opts, load, races, closing, stored, closed, recorder, server, server_alive
        )
        report["total_seconds"] = round(time.monotonic() - began, 1)
        print_summary(report)
        log(f"total {report['total_seconds']} s")
        if opts.json_path:
            Path(opts.json_path).write_text(json.dumps(report, indent=2, default=str))
        return 1 if report["violations"] else 0
    except SystemExit:
        log("interrupted: cleaning up")
        raise
    except Exception as error:
        log(f"the run could not complete: {type(error).__name__}: {error}")
        traceback.print_exc()
        tail = server.log_text()[-3000:]
        if tail:
            print("--- gunicorn log (end) ---\n" + tail, flush=True)
        return 2
    finally:
        server.stop()
        if opts.keep_log:
            Path(opts.keep_log).write_text(server.log_text())
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # noqa: S110 - Django may not be set up yet
            pass
        pg.ensure_running(db_url)
        try:
            pg.drop_database(db_url)
        except Exception as error:
            log(f"could not drop the scratch database: {error}")
        pid_path.unlink(missing_ok=True)
        shutil.rmtree(work, ignore_errors=True)


def build_report(opts, load, races, closing, stored, closed, recorder, server, server_alive):
    checked = classify(recorder, load.fault, opts)
    violations = list(checked["violations"])
    done = [o for o in load.outcomes if o.result in ("stored", "already")]
    seconds = max(0.001, load.new_respondents_until - load.started)
    for outcome in load.outcomes:
        if outcome.result not in ("stored", "already"):
            violations.append(f"respondent ({outcome.kind}): {outcome.result} {outcome.detail}")
        elif outcome.detail:
            violations.append(f"respondent ({outcome.kind}): {outcome.detail}")
    if load.hung:
        violations.append("respondents still waiting after the load's deadline")
    violations += races.problems + closing.problems
    violations += [f"load wave: {v}" for v in stored.violations]
    violations += [f"closed wave: {v}" for v in closed.violations]
    if closed.responses or closed.used_invitations or closed.used_nonces or closed.comments:
        violations.append("closed wave: something was stored")
    log_problems = check_log(server.log_text())
    if log_problems:
        errors = [
            line
            for line in server.log_text().splitlines()
            if line.startswith(("ERROR", "[")) and "Service Unavailable" not in line
        ]
        print("--- gunicorn log, errors ---\n" + "\n".join(errors[:40]), flush=True)
    violations += log_problems
    if not done:
        violations.append("no submission was stored")
    if not server_alive:
        violations.append("gunicorn died during the run")
    workers = "not checked"
    if load.fault is not None:
        if load.fault.error:
            violations.append(f"fault: {load.fault.error}")
        if not any(o.failed_posts for o in done):
            violations.append("no respondent submitted during the outage and was stored later")
        before, after = load.fault.workers_before, load.fault.workers_after
        workers = f"same {len(before)} processes" if before == after else f"{before} -> {after}"
        if before != after:
            violations.append(f"gunicorn workers changed over the outage: {before} -> {after}")
    return {
        "options": asdict(opts),
        "figures": checked["figures"],
        "load": {
            "respondents": len(load.outcomes),
            "submitted": len(done),
            "already": sum(1 for o in done if o.result == "already"),
            "open_link": sum(1 for o in done if o.kind == "open"),
            "resubmitted": sum(1 for o in done if o.failed_posts),
            "seconds": round(seconds, 1),
            "per_second": round(len(done) / seconds, 1),
            "tokens_ran_out": load.tokens_ran_out,
        },
        "race": {"pairs": races.pairs, "one_stored": races.one_stored},
        "closing": {
            "respondents": closing.respondents,
            "refused": closing.refused,
            "stored": closed.responses,
        },
        "stored": {k: v for k, v in asdict(stored).items() if k != "violations"},
        "workers": workers,
        "violations": violations,
    }


if __name__ == "__main__":
    sys.exit(main())
