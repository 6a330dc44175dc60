"""Production settings, checked in a fresh process: settings are read at import."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.paths import ROOT


def manage(*args, **env):
    full_env = {**os.environ, **env}
    full_env.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=full_env, capture_output=True, text=True
    )


def test_check_deploy_is_clean_with_production_settings():
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="false",
        SECRET_KEY="x" * 30 + "production-secret-key-from-the-environment",
        ALLOWED_HOSTS="tend.example.com",
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_refuses_to_start_without_a_secret_key():
    result = manage("check", DEBUG="false", SECRET_KEY="")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


@pytest.mark.parametrize(
    "key",
    [
        "change-me-to-50-random-characters",  # deploy/tend.env.example's
        "django-insecure-tend-development-only-key-do-not-use-in-production",
        "short-but-random-Zq81",
        "x" * 60,
    ],
)
def test_production_refuses_an_example_or_weak_secret_key(key):
    result = manage("check", DEBUG="false", SECRET_KEY=key)
    assert result.returncode != 0
    assert "SECRET_KEY is an example or too weak" in result.stderr


def test_the_forwarded_proto_header_is_believed_only_behind_a_configured_proxy():
    code = "from django.conf import settings; print(getattr(settings, 'SECURE_PROXY_SSL_HEADER', None))"
    alone = manage("shell", "-c", code)
    behind = manage("shell", "-c", code, TEND_TRUSTED_PROXIES="1")
    assert alone.stdout.strip().splitlines()[-1] == "None", alone.stderr
    assert "HTTP_X_FORWARDED_PROTO" in behind.stdout, behind.stderr
