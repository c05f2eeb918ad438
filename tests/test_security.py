"""Security headers, cookie flags and log-in rate limiting."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client, override_settings
from django.urls import reverse

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parent.parent


def test_pages_send_a_strict_content_security_policy(client):
    response = client.get(reverse("home"))
    policy = response["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"  # no inline scripts, no other host
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert "http" not in policy  # no CDN or analytics host anywhere


def test_pages_deny_framing_sniffing_and_referrers(client):
    response = client.get(reverse("home"))
    assert response["X-Frame-Options"] == "DENY"
    # same-origin: no referrer to another site, yet a real Origin header on the site's own POST
    # forms (under no-referrer browsers send "Origin: null" and Django's CSRF check refuses the
    # log-in). Survey pages send no-referrer themselves (tests/surveys/test_submission.py).
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


@override_settings(SECURE_HSTS_SECONDS=31536000, SECURE_HSTS_INCLUDE_SUBDOMAINS=True)
def test_https_responses_carry_hsts():
    response = Client().get(reverse("home"), secure=True)
    assert response["Strict-Transport-Security"].startswith("max-age=31536000")


def test_pages_load_no_asset_from_another_host(client):
    page = client.get(reverse("login")).content.decode()
    assert (
        "//"
        not in page.replace("http://testserver", "")
        .split("<body", 1)[0]
        .replace('content="width=device-width, initial-scale=1"', "")
        or "cdn" not in page.lower()
    )
    for marker in ("cdn.", "googleapis", "jsdelivr", "unpkg", "cloudflare"):
        assert marker not in page


def test_production_cookies_are_secure():
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update(DJANGO_DEBUG="false", DJANGO_SECRET_KEY="s" * 60, DJANGO_ALLOWED_HOSTS="x.org")
    code = (
        "from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY, "
        "s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS > 0)"
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.stdout.split()[-5:] == ["True"] * 5, result.stderr


def test_repeated_failed_log_ins_lock_the_account_with_a_message(client):
    UserFactory(username="maria", password="the-right-password-123")
    url = reverse("login")
    for _ in range(5):
        response = client.post(url, {"username": "maria", "password": "wrong"})
    response = client.post(url, {"username": "maria", "password": "wrong"})
    assert response.status_code in (403, 429)
    assert b"Too many failed log-in attempts" in response.content
    # Even the right password is refused during the lock-out.
    response = client.post(url, {"username": "maria", "password": "the-right-password-123"})
    assert response.status_code in (403, 429)
    assert "_auth_user_id" not in client.session


def test_a_failed_log_in_says_so_without_revealing_which_part_was_wrong(client):
    UserFactory(username="maria", password="the-right-password-123")
    response = client.post(reverse("login"), {"username": "maria", "password": "nope"})
    assert response.status_code == 200
    assert b"correct username and password" in response.content
