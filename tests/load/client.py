"""The respondents' side of the load run: a small HTTP client (stdlib only, loopback only) and
the flows a respondent goes through, recorded request by request.

Nothing here imports Django: the client only sees what a browser would see. A respondent
keeps their answers (the draft their browser keeps) and sends them again after a 503.
"""

import http.client
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlencode

HTTP_TIMEOUT = 120  # seconds; a request still unanswered by then is a failure of the run

THANKS = b"Thank you"
ALREADY = b"Your answers are already recorded"
TRY_AGAIN = b"Please try again"
NOT_OPEN = b"This survey is not open"
SURVEY_FORM = b'id="survey-form"'
CLEAR_DRAFT = b"data-clear-draft"  # only the thank-you page tells the browser to drop the draft

NONCE = re.compile(rb'name="about-nonce" value="([^"]+)"')
UNIT = re.compile(rb'<option value="(\d+)"')
ROLE = re.compile(rb'name="about-role_level" id="[^"]*" value="(\d+)"')
TENURE = re.compile(rb'name="about-tenure_band" id="about-tenure_band-\d+" value="(\d+)"')


# --- What was seen ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Hit:
    """One request as the respondent saw it. `status` 0 is a connection error or timeout;
    `problem` is empty when the page is the one that status should show."""

    phase: str
    what: str
    method: str
    status: int
    started: float
    ended: float
    problem: str = ""


class Recorder:
    """Every request of the run (appends are atomic under the GIL)."""

    def __init__(self) -> None:
        self.hits: list[Hit] = []

    def add(self, hit: Hit) -> None:
        self.hits.append(hit)


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    started: float
    ended: float
    error: str = ""

    @property
    def location(self) -> str:
        return self.headers.get("location", "")


def page_problem(reply: Reply) -> str:
    """What is wrong with a page, or "" when it is what its status should show."""
    if reply.status == 0:
        return f"no response ({reply.error})"
    if b"Traceback" in reply.body:
        return "stack trace in the page"
    if reply.status == 503:
        if TRY_AGAIN not in reply.body:
            return "503 without the 'Please try again' page"
        if "retry-after" not in reply.headers:
            return "503 without Retry-After"
        if CLEAR_DRAFT in reply.body:
            return "503 page would delete the respondent's draft"
        return ""
    if reply.status >= 500:
        return f"HTTP {reply.status}"
    return ""


# --- The client -------------------------------------------------------------------------------


class Client:
    """One browser: a keep-alive connection to 127.0.0.1, opened again when the server closed
    it (an idle connection closed by the server is retried once; nothing was processed)."""

    def __init__(self, port: int, *, cookie: str = "", timeout: float = HTTP_TIMEOUT) -> None:
        self.port = port
        self.cookie = cookie
        self.timeout = timeout
        self.connection: http.client.HTTPConnection | None = None

    def connect(self) -> None:
        self.close()
        self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        self.connection.connect()

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None

    def request(self, method: str, path: str, body: bytes | None = None) -> Reply:
        headers = {"Host": f"127.0.0.1:{self.port}", "User-Agent": "powerclimate-load"}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if self.cookie:
            headers["Cookie"] = self.cookie
        started = time.monotonic()
        for attempt in (1, 2):
            reused = self.connection is not None
            if self.connection is None:
                self.connection = http.client.HTTPConnection(
                    "127.0.0.1", self.port, timeout=self.timeout
                )
            try:
                self.connection.request(method, path, body=body, headers=headers)
                response = self.connection.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as e:
                self.close()
                if reused and attempt == 1:
                    continue  # the server had closed the idle connection: send again
                return Reply(0, {}, b"", started, time.monotonic(), error=type(e).__name__)
            except (OSError, http.client.HTTPException) as e:
                self.close()
                return Reply(0, {}, b"", started, time.monotonic(), error=type(e).__name__)
            reply_headers = {name.lower(): value for name, value in response.getheaders()}
            if response.will_close:
                self.close()
            return Reply(response.status, reply_headers, data, started, time.monotonic())
        raise AssertionError("unreachable")


# --- Answers ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class QuestionSpec:
    code: str
    kind: str
    values: tuple[int, ...]  # the values offered (empty for text)


def make_answers(questions: list[QuestionSpec], rng: random.Random) -> dict[str, object]:
    """A respondent's answers: most questions answered at random, some skipped, now and then a
    comment. Conditional questions are answered whatever the condition; the server drops
    those not shown, and the expected stored answers are worked out the same way."""
    answers: dict[str, object] = {}
    for question in questions:
        if rng.random() < 0.08:
            continue  # every question may be skipped
        if question.kind == "text":
            if rng.random() < 0.15:
                answers[question.code] = f"Load-test comment {rng.getrandbits(48):x}"
        elif question.kind == "multi":
            answers[question.code] = sorted(rng.sample(question.values, rng.randint(1, 3)))
        else:
            answers[question.code] = rng.choice(question.values)
    return answers


def form_pairs(answers: dict[str, object]) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for code, value in answers.items():
        for item in value if isinstance(value, list) else [value]:
            pairs.append((code, str(item)))
    return pairs


# --- Respondents ------------------------------------------------------------------------------


@dataclass
class Outcome:
    """How one respondent's submission ended. `key` is the invitation token or the open-link
    form nonce; `answers` is what they sent (the draft kept by their browser)."""

    kind: str  # "invitation" | "open"
    key: str
    answers: dict[str, object]
    result: str  # "stored" | "already" | "refused" | "unresolved" | "unexpected"
    failed_posts: int = 0
    detail: str = ""


@dataclass
class Deadline:
    """Until when a respondent keeps retrying after a 503 (moved when the load ends)."""

    at: float = float("inf")
    lock: threading.Lock = field(default_factory=threading.Lock)

    def passed(self) -> bool:
        return time.monotonic() >= self.at


@dataclass
class Session:
    """What a respondent flow needs: their browser, where to record, and when to give up."""

    client: Client
    recorder: Recorder
    phase: str
    deadline: Deadline
    rng: random.Random

    def send(self, what: str, method: str, path: str, body: bytes | None = None) -> Reply:
        reply = self.client.request(method, path, body)
        self.recorder.add(
            Hit(
                self.phase,
                what,
                method,
                reply.status,
                reply.started,
                reply.ended,
                page_problem(reply),
            )
        )
        return reply

    def backoff(self) -> None:
        time.sleep(0.5 + self.rng.random())  # "go back and submit again in a moment"

    def get(self, what: str, path: str) -> Reply:
        """GET a page, trying again after a 503 until the deadline."""
        while True:
            reply = self.send(what, "GET", path)
            if reply.status != 503 or self.deadline.passed():
                return reply
            self.backoff()


def _submit(
    session: Session, *, path: str, thanks: str, pairs: list[tuple[str, str]], outcome: Outcome
) -> Outcome:
    """POST the answers until they are stored, refused or the deadline passes."""
    body = urlencode(pairs).encode()
    while True:
        reply = session.send("post", "POST", path, body)
        if reply.status == 302 and reply.location.endswith(thanks):
            outcome.result = "stored"
        elif reply.status == 200 and ALREADY in reply.body:
            outcome.result = "already"
        elif reply.status == 503 and not page_problem(reply):
            outcome.failed_posts += 1
            if not session.deadline.passed():
                session.backoff()
                continue
            outcome.result, outcome.detail = "unresolved", "still 503 at the deadline"
        else:
            outcome.result = "unexpected"
            outcome.detail = f"POST answered {reply.status} {page_problem(reply)}".strip()
        break
    if outcome.result in ("stored", "already"):
        page = session.get("thanks", thanks)
        if page.status != 200 or (THANKS not in page.body and ALREADY not in page.body):
            outcome.detail = f"thank-you page answered {page.status}"
    return outcome


def answer_invitation(
    session: Session,
    *,
    token: str,
    answers: dict[str, object],
    privacy: bool = True,
    before_post: Callable[[], object] | None = None,
) -> Outcome:
    """A respondent with a personal link: privacy page, survey, submit, thank-you page.
    `before_post` runs while the survey page is open (e.g. to wait for an outage)."""
    outcome = Outcome("invitation", token, answers, "unresolved")
    base = f"/s/i/{token}/"
    if privacy:
        page = session.get("privacy", base)
        if page.status != 200:
            outcome.result = "unresolved" if page.status == 503 else "unexpected"
            outcome.detail = f"privacy page answered {page.status}"
            return outcome
    form = session.get("form", base + "answer/")
    if form.status != 200 or SURVEY_FORM not in form.body:
        outcome.result = "unresolved" if form.status == 503 else "unexpected"
        outcome.detail = f"survey page answered {form.status}"
        return outcome
    if before_post is not None:
        before_post()
    return _submit(
        session,
        path=base + "answer/",
        thanks=base + "thanks/",
        pairs=form_pairs(answers),
        outcome=outcome,
    )


def open_form(session: Session, key: str) -> tuple[Reply, list[tuple[str, str]] | None]:
    """Load an open-link survey page and fill in "about your role" (None if it did not load)."""
    form = session.get("form", f"/s/w/{key}/answer/")
    nonce = NONCE.search(form.body)
    units, roles = UNIT.findall(form.body), ROLE.findall(form.body)
    if form.status != 200 or not nonce or not units or not roles:
        return form, None
    tenures = [*TENURE.findall(form.body), b""]
    about = [
        ("about-nonce", nonce.group(1).decode()),
        ("about-unit", session.rng.choice(units).decode()),
        ("about-role_level", session.rng.choice(roles).decode()),
        ("about-tenure_band", session.rng.choice(tenures).decode()),
    ]
    return form, about


def answer_open_link(session: Session, *, key: str, answers: dict[str, object]) -> Outcome:
    """A respondent with the open link: the form carries a one-time nonce, sent again as is
    when the first POST met a 503."""
    form, about = open_form(session, key)
    if about is None:
        return Outcome(
            "open",
            "",
            answers,
            "unresolved" if form.status == 503 else "unexpected",
            detail=f"open survey page answered {form.status}",
        )
    outcome = Outcome("open", about[0][1], answers, "unresolved")
    path = f"/s/w/{key}/answer/"
    return _submit(
        session,
        path=path,
        thanks=f"/s/w/{key}/thanks/",
        pairs=about + form_pairs(answers),
        outcome=outcome,
    )


def race(
    *, port: int, path: str, body: bytes, recorder: Recorder, phase: str, racers: int = 2
) -> list[Reply]:
    """Several browsers POST the same form at the same moment (connections opened first, then
    released together by a barrier)."""
    barrier = threading.Barrier(racers)
    replies: list[Reply | None] = [None] * racers

    def run(index: int) -> None:
        client = Client(port)
        try:
            client.connect()
            barrier.wait(timeout=30)
            reply = client.request("POST", path, body)
        except (OSError, threading.BrokenBarrierError) as error:
            now = time.monotonic()
            reply = Reply(0, {}, b"", now, now, error=type(error).__name__)
        finally:
            client.close()
        problem = page_problem(reply)
        recorder.add(Hit(phase, "race", "POST", reply.status, reply.started, reply.ended, problem))
        replies[index] = reply

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(HTTP_TIMEOUT + 35)
    return [r or Reply(0, {}, b"", 0, 0, error="racer hung") for r in replies]


def in_threads(count: int, target: Callable[[int], None], *, timeout: float) -> bool:
    """Run target(0..count-1) in threads; False if any is still running after timeout."""
    threads = [threading.Thread(target=target, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    end = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, end - time.monotonic()))
    return not any(thread.is_alive() for thread in threads)
