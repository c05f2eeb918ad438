"""Test environment: production-like settings with a throwaway key, before Django loads."""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "tests-only-" + "x" * 60)
os.environ.setdefault("DJANGO_DEBUG", "false")
os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("DJANGO_STATIC_MANIFEST", "false")
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
# Publish in the request that completes a batch, so tests see figures move deterministically.
os.environ.setdefault("POWERCLIMATE_PUBLISH_MODE", "inline")
# Playwright's sync API keeps an event loop running in the test thread.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "powerclimate.settings")


def pytest_configure(config):
    # Load the settings now that the environment above is in place; pytest-django then sets
    # Django up (its own pytest_configure runs last).
    from django.conf import settings

    settings.DATABASES  # noqa: B018
