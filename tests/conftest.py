"""Fixtures shared by every test package."""

import importlib

import pytest

# Rows that data migrations create and tests rely on. A transactional test ends with a flush
# that empties every table; the next transactional test puts these back first. Add a line
# here when a new data migration creates rows the tests need.
DATA_MIGRATIONS = [
    ("surveys.migrations.0002_default_levels", "create_defaults"),
    ("reports.migrations.0002_hr_group", "create_group"),
]


@pytest.fixture
def migration_rows(transactional_db):
    from django.apps import apps

    for module, function in DATA_MIGRATIONS:
        getattr(importlib.import_module(module), function)(apps, None)


@pytest.fixture(autouse=True)
def _restore_migration_rows_for_transactional_tests(request):
    marker = request.node.get_closest_marker("django_db")
    if (marker and marker.kwargs.get("transaction")) or "live_server" in request.fixturenames:
        request.getfixturevalue("migration_rows")


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # MD5 in tests only: hashing is not what they check, and it makes log-ins fast.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _empty_cache():
    # Dashboards keep their charts in Django's cache (per process): every test starts empty.
    from django.core.cache import cache

    from reports.aggregation import forget_cached_instruments, forget_cached_patterns
    from surveys.services import forget_cached_questions

    cache.clear()
    forget_cached_questions()  # the database is rolled back under the process's caches
    forget_cached_instruments()
    forget_cached_patterns()
    yield
