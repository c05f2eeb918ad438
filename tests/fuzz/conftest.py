"""Hypothesis profiles for the fuzzing suite, the published organisation it attacks, and the
count of generated cases printed at the end of the session.

HYPOTHESIS_PROFILE chooses the profile: "default" (the everyday suite, a modest number of
examples per test) or "ci" (`HYPOTHESIS_PROFILE=ci pytest tests/fuzz`: at least 10,000 cases
in all). Each test states both budgets with `support.examples(default=, ci=)`. The total of
generated cases is printed at the end, also when the run is spread over workers (`-n 2`).
"""

from dataclasses import dataclass

import pytest
from hypothesis import settings

from tests.fuzz import support

# This file is loaded before Django is set up when tests/fuzz is named on the command line:
# everything that touches models is imported inside the fixtures.

settings.register_profile("default", **support.COMMON)
settings.register_profile("ci", **support.COMMON, print_blob=True, database=None)
settings.load_profile(support.PROFILE)


@dataclass
class Fuzzed:
    """The published organisation of tests/reports/dashboard_data.py with its users."""

    org: object  # tests.reports.dashboard_data.Org
    hr: object
    leader: object  # leads Sales (and everything under it)
    outsider: object  # leads Tech only
    plan: object
    hr_token: str
    leader_token: str


def _user(username: str, *, hr: bool = False, units=()):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from reports.access import HR_GROUP
    from reports.models import LeaderGrant

    # No password: hashing one is slow and these users log in with force_login.
    user = get_user_model().objects.create(username=username)
    if hr:
        user.groups.add(Group.objects.get(name=HR_GROUP))
    for unit in units:
        LeaderGrant.objects.create(user=user, unit=unit)
    return user


@pytest.fixture(scope="module")
def fuzzed(django_db_setup, django_db_blocker):
    """Built once per module inside a transaction rolled back at its end; every example runs
    in its own savepoint on top of it (support.rolled_back)."""
    from django.db import transaction

    from reports.models import ActionPlan, ApiToken
    from tests.reports.dashboard_data import build_org

    with django_db_blocker.unblock(), transaction.atomic():
        org = build_org()
        hr = _user("fuzz-hr", hr=True)
        leader = _user("fuzz-leader", units=[org.sales])
        outsider = _user("fuzz-outsider", units=[org.tech])
        plan = ActionPlan.objects.create(
            unit=org.sales, wave=org.current, dimension_code="voice", what="Listen", owner="Ann"
        )
        _token, hr_raw = ApiToken.issue(user=hr, name="fuzz HR")
        _token, leader_raw = ApiToken.issue(user=leader, name="fuzz leader")
        yield Fuzzed(
            org=org,
            hr=hr,
            leader=leader,
            outsider=outsider,
            plan=plan,
            hr_token=hr_raw,
            leader_token=leader_raw,
        )
        transaction.set_rollback(True)


@pytest.fixture(scope="module")
def clients(fuzzed, django_db_blocker):
    """One test client per kind of user for the whole module ("anonymous", "hr", "leader",
    "outsider"). A new client loads the middleware again, which costs more than a request, so
    examples share these. Their sessions live as long as the organisation."""
    with django_db_blocker.unblock():
        result = {"anonymous": support.fuzz_client()}
        for who in ("hr", "leader", "outsider"):
            client = support.fuzz_client()
            client.force_login(getattr(fuzzed, who))
            result[who] = client
    return result


@pytest.fixture(scope="module", autouse=True)
def _plain_template_rendering():
    """The test environment instruments every template render so that the test client can
    keep each context; the fuzzer never reads them, and the copies cost more than the page."""
    from django.template.base import Template
    from django.test.utils import _TestState

    saved = getattr(_TestState, "saved_data", None)
    if saved is None:
        yield
        return
    instrumented = Template._render
    Template._render = saved.template_render
    yield
    Template._render = instrumented


@pytest.fixture(scope="module", autouse=True)
def _quiet_request_logs():
    """Thousands of refused requests would each log a warning (a traceback for an oversized
    body); the assertions check every answer, so the logs only cost time."""
    import logging

    loggers = [logging.getLogger(name) for name in ("django.request", "django.security", "axes")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    yield
    for logger, level in zip(loggers, levels, strict=True):
        logger.setLevel(level)


@pytest.fixture(autouse=True)
def _count_cases_of(request):
    support.set_current_test(request.node.nodeid)
    yield
    support.set_current_test("")


def pytest_sessionfinish(session):
    # Under pytest-xdist each worker hands its counts to the controller (pytest_testnodedown).
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["fuzz_cases"] = dict(support.CASES)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    support.CASES.update(getattr(node, "workeroutput", {}).get("fuzz_cases", {}))


def pytest_terminal_summary(terminalreporter):
    cases = support.CASES
    if not cases:
        return
    terminalreporter.write_sep("-", "fuzzing: generated cases")
    by_module: dict[str, int] = {}
    for nodeid, count in cases.items():
        module = nodeid.split("::")[0]
        by_module[module] = by_module.get(module, 0) + count
    for module, count in sorted(by_module.items()):
        terminalreporter.write_line(f"{module}: {count}")
    terminalreporter.write_line(
        f"total generated cases: {sum(cases.values())} (profile {support.PROFILE!r})"
    )
