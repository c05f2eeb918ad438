"""Shared fixtures for the real-browser tests (Playwright + Debian's Chromium, all offline).

- `browser`: one headless Chromium per session, launched as in
  ../shared/recipes/browser-tests.md (never downloads a browser).
- `page` (desktop, 1280x900) and `phone_page` (360x740, touch): a fresh context each, with a
  `page.recorder` that records every request URL, console error and page error.
- `new_page(**context_options)`: the same for other contexts (e.g. java_script_enabled=False).
- `axe_check(page, name)`: runs axe-core, saves `artifacts/<name>.axe.json` and
  `artifacts/<name>.png`, fails on serious or critical violations.
- `assert_only_own_host(page, base_url)`: every recorded request went to the app itself.

- `migration_rows` (autouse): the rows that data migrations create (role levels, tenure bands,
  the HR group), put back before each test. A transactional test's flush removes them, and
  `serialized_rollback` does not bring them back reliably once Playwright runs in the session
  (the test thread ends up with a connection that lacks the serialized copy). Add a line here
  when a new data migration creates rows the tests rely on.

Use with `live_server` and `@pytest.mark.django_db(transaction=True)`: the live server runs in
another thread, so the data must be committed.
"""

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # Chromium resolves Google hosts on its own, unseen by page.on("request"); this stops it,
    # and makes any CDN reference fail fast (ERR_NAME_NOT_RESOLVED) so a test catches it.
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 360, "height": 740}


@dataclass
class Recorder:
    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def foreign_requests(self, base_url: str) -> list[str]:
        own = urlsplit(base_url).netloc
        return [
            url
            for url in self.requests
            if urlsplit(url).scheme not in ("data", "blob", "about") and urlsplit(url).netloc != own
        ]


@pytest.fixture(autouse=True)
def _browser_tests_need_migration_rows(migration_rows):
    """See tests/conftest.py: the rows data migrations create, put back before each test."""


@pytest.fixture(scope="session")
def browser():
    if not shutil.which(CHROMIUM):
        # Never a silent skip: `make test` installs Chromium (make browser-deps).
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (make browser-deps)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def new_page(browser):
    """Open a recorded page in a fresh context: new_page(viewport=..., **context_options)."""
    contexts = []

    def open_page(**options):
        options.setdefault("viewport", DESKTOP)
        context = browser.new_context(**options)
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        recorder = Recorder()
        page.on("request", lambda request: recorder.requests.append(request.url))
        page.on(
            "console",
            lambda message: message.type == "error"
            and recorder.console_errors.append(message.text),
        )
        page.on("pageerror", lambda error: recorder.page_errors.append(str(error)))
        page.recorder = recorder
        return page

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page):
    return new_page(viewport=DESKTOP)


@pytest.fixture
def phone_page(new_page):
    return new_page(viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)


@pytest.fixture
def axe_check():
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()

    def check(page, name: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        results = axe.run(page)
        (ARTIFACTS / f"{name}.axe.json").write_text(
            json.dumps(results.response, indent=2), encoding="utf-8"
        )
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        serious = [
            violation
            for violation in results.response["violations"]
            if violation["impact"] in ("serious", "critical")
        ]
        assert not serious, results.generate_report()

    return check


@pytest.fixture
def assert_only_own_host():
    def check(page, base_url: str) -> None:
        recorder = page.recorder
        assert recorder.requests, "no request was recorded"
        assert recorder.foreign_requests(base_url) == []
        assert recorder.page_errors == []
        assert recorder.console_errors == []

    return check
