"""Shared pieces of the fuzzing suite: the example budget of each hypothesis profile, the case
counter, hostile strategies, and the properties every answer must have.

Not a test module: imported by the tests/fuzz/test_*.py modules and by conftest.py.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from html import unescape

from django.db import transaction
from django.http import FileResponse, StreamingHttpResponse
from django.test import Client
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# --- Profiles and budget -----------------------------------------------------------------------

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "default")
COMMON = {
    "deadline": None,
    "suppress_health_check": [
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
}


def examples(default: int, ci: int) -> settings:
    """Settings for one fuzz test: `default` examples in the everyday suite, `ci` under the
    "ci" profile (HYPOTHESIS_PROFILE=ci), which together total at least 10,000 cases."""
    return settings(max_examples=ci if PROFILE == "ci" else default)


# Generated cases per test (node id), printed at the end of the session by conftest.py.
CASES: Counter[str] = Counter()
_current: list[str] = [""]


def counted() -> None:
    """Count one generated case for the running test (call it first in each example)."""
    CASES[_current[0]] += 1


def set_current_test(nodeid: str) -> None:
    _current[0] = nodeid


# --- Hostile values ------------------------------------------------------------------------------

# Text a browser or a script could send. Lone surrogates cannot be encoded by any client.
unicode_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)
PAYLOADS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    '=HYPERLINK("http://evil.example","x")',
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)",
    "'; DROP TABLE surveys_response; --",
    "%s %(name)s {0} {{ x }} {% now 'Y' %}",
    "../../../etc/passwd",
    "\x00",
    "a\x00b",
    "\u202egnp.exe",  # right-to-left override
    "\ufeffBOM",
    "\u200b\u200d",
    "e\u0301\u0301\u0301",
    "😀👩‍👩‍👧‍👦",
    "Ω≈ç√∫",
    "١٢٣",  # Arabic-Indic digits
    "１２",  # full-width digits
    "0",
    "-1",
    "1.0",
    "1e309",
    "NaN",
    "Infinity",
    "9" * 30,
    str(2**63),
    str(2**63 - 1),
    "-" + "9" * 20,
    "   ",
    "\t\r\n",
    "true",
    "null",
    "[]",
    "{}",
    '{"a": 1}',
    "%00",
    "%FF",
    "\\",
    "/",
    "?x=1&y=2",
    "#",
]
payloads = st.sampled_from(PAYLOADS)
small_integers = st.integers(min_value=-3, max_value=12).map(str)
huge_text = st.builds(
    lambda char, size: char * size,
    st.sampled_from(["a", "é", "\x00", "<", "9", " ", "😀"]),
    st.sampled_from([4_999, 5_000, 5_001, 20_000, 140_000]),
)
hostile = st.one_of(payloads, payloads, small_integers, unicode_text, huge_text)
hostile_short = st.one_of(payloads, small_integers, unicode_text)
# A form value: one string or a repeated key.
field_values = st.one_of(hostile, st.lists(hostile_short, min_size=0, max_size=4))


def hostile_id(real: list[int]) -> st.SearchStrategy[str]:
    """An id parameter: usually one of the real ids, often nonsense."""
    return st.one_of(
        st.sampled_from(real).map(str) if real else st.nothing(),
        st.integers(min_value=-(2**70), max_value=2**70).map(str),
        hostile_short,
    )


# --- A compact survey ----------------------------------------------------------------------------

# One question of every kind and purpose, with the codes of the default instrument; WHY_NOT
# depends on REPORTED, which depends on EXP_THREAT. Rendering it costs a fraction of the full
# survey, so the fuzzer can send thousands of submissions in CI.
COMPACT_CODES = [
    "VOICE_RAISE",
    "CIV_DISMISS",
    "EXP_THREAT",
    "REPORTED",
    "WHY_NOT",
    "SAFE_PLACE",
    "COMMENT_CHANGE",
    "DEMO_GENDER",
]


def default_instrument_data() -> dict:
    from surveys.services import DEFAULT_INSTRUMENT

    return json.loads(DEFAULT_INSTRUMENT.read_text(encoding="utf-8"))


def question_codes(data: dict, only: list[str] | None = None) -> dict[str, tuple[str, list[int]]]:
    """Code -> (kind, offered values) of the questions of an instrument's data file."""
    from surveys.services import KIND_VALUES

    codes = {}
    for section in data["sections"]:
        for question in section["questions"]:
            if only is not None and question["code"] not in only:
                continue
            offered = sorted(KIND_VALUES.get(question["kind"], ())) or [
                int(choice["value"]) for choice in question.get("choices", [])
            ]
            codes[question["code"]] = (question["kind"], offered)
    return codes


def compact_instrument_data() -> dict:
    data = default_instrument_data()
    questions = {q["code"]: q for s in data["sections"] for q in s["questions"]}
    chosen = [dict(questions[code]) for code in COMPACT_CODES]
    for question in chosen:
        if question["code"] == "REPORTED":
            question["show_if"] = [{"question": "EXP_THREAT", "values": [2, 3, 4, 5]}]
    dimensions = {q.get("dimension") for q in chosen}
    return {
        **data,
        "slug": "fuzz-compact",
        "name": "Compact survey",
        "dimensions": [d for d in data["dimensions"] if d["code"] in dimensions],
        "sections": [
            {"title": "First", "questions": chosen[:5]},
            {"title": "Second", "questions": chosen[5:]},
        ],
    }


# --- Properties ---------------------------------------------------------------------------------

# A human sentence: a word and at least three more ("unit must be a unit id: ...").
SENTENCE = re.compile(r"\b[A-Za-z][a-z’']+(?:\s+\S+){3,}")
TAGS = re.compile(r"<[^>]*>")
REDIRECTS = (301, 302, 303)


def fuzz_client() -> Client:
    """A test client that returns 500 pages instead of raising (so a 500 fails as a status)."""
    return Client(raise_request_exception=False)


def body_of(response) -> bytes:
    """The whole body, consuming a streamed one (an exception while streaming surfaces here)."""
    if isinstance(response, StreamingHttpResponse | FileResponse):
        return b"".join(response.streaming_content)
    return response.content


def page_text(response) -> str:
    """The visible text of an HTML page: the <main> element when there is one."""
    html = body_of(response).decode("utf-8", "replace")
    main = re.search(r"<main\b.*?</main>", html, re.S)
    return unescape(TAGS.sub(" ", main.group() if main else html))


def assert_no_server_error(response, what: str = "") -> None:
    assert response.status_code < 500, f"{response.status_code} for {what}"


def assert_clear_html(response, what: str = "") -> None:
    """Never a 5xx; a refusal (4xx) explains itself in a sentence; a redirect has a target."""
    assert_no_server_error(response, what)
    if response.status_code in REDIRECTS:
        assert response["Location"], what
    elif response.status_code >= 400:
        text = page_text(response)
        assert SENTENCE.search(text), f"no explanation in the {response.status_code} for {what}"


def assert_clear_json(response, what: str = "") -> dict:
    """An API answer: never a 5xx, always JSON, and every error says what was wrong."""
    assert_no_server_error(response, what)
    assert response["Content-Type"].startswith("application/json"), what
    if response.request["REQUEST_METHOD"] == "HEAD":
        return {}
    data = json.loads(body_of(response))
    if response.status_code >= 400:
        assert isinstance(data.get("error"), str) and SENTENCE.search(data["error"]), data
    return data


@contextmanager
def rolled_back() -> Iterator[None]:
    """One example in a savepoint rolled back afterwards: every example starts from the same
    database, however much it wrote."""
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


def row_counts(*models) -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in models}


def assert_unchanged_or(before: dict, after: dict, allowed: Callable[[dict], bool], what=""):
    """Nothing partially stored: either no count changed, or the change is one `allowed`
    accepts (given {model: after - before})."""
    delta = {name: after[name] - before[name] for name in before}
    if any(delta.values()):
        assert allowed(delta), f"partial write {delta} for {what}"
