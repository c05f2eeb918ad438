"""Settings are read from the environment and refuse unsafe production values."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_check(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    return subprocess.run(
        [sys.executable, "manage.py", "check", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_refuses_the_development_secret_key():
    result = run_check({"DJANGO_DEBUG": "false"})
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr


def test_production_refuses_a_short_secret_key():
    result = run_check({"DJANGO_DEBUG": "false", "DJANGO_SECRET_KEY": "short"})
    assert result.returncode != 0
    assert "at least 50 characters" in result.stderr


def test_malformed_boolean_fails_loudly():
    result = run_check({"DJANGO_DEBUG": "maybe"})
    assert result.returncode != 0
    assert "DJANGO_DEBUG must be true or false" in result.stderr


def test_debug_runs_with_the_development_key():
    assert run_check({"DJANGO_DEBUG": "true"}).returncode == 0


@pytest.mark.parametrize("k", ["2", "x"])
def test_anonymity_threshold_below_three_is_refused(k):
    result = run_check({"DJANGO_DEBUG": "true", "POWERCLIMATE_DEFAULT_K": k})
    assert result.returncode != 0
    assert "POWERCLIMATE_DEFAULT_K" in result.stderr


def test_deploy_check_is_clean_with_production_settings():
    result = run_check(
        {
            "DJANGO_DEBUG": "false",
            "DJANGO_SECRET_KEY": "p" * 64 + "Qz9!",
            "DJANGO_ALLOWED_HOSTS": "climate.example.org",
        },
        "--deploy",
        "--fail-level",
        "WARNING",
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_malformed_gc_freeze_schedule_is_refused():
    result = run_check({"DJANGO_DEBUG": "true", "POWERCLIMATE_GC_FREEZE_AFTER": "10,soon"})
    assert result.returncode != 0
    assert "POWERCLIMATE_GC_FREEZE_AFTER must be request counts" in result.stderr
