"""The production path: probes, static files through whitenoise, gunicorn serving the app, JSON logs."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from django.db import OperationalError
from django.urls import reverse

from tests.paths import ROOT

PRODUCTION_KEY = "k3Y-" + "".join(chr(ord("a") + i % 26) for i in range(60))


@pytest.mark.django_db
def test_healthz_answers_without_a_login_and_without_the_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get(reverse("healthz"))
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_readyz_checks_the_database_and_the_broker(client):
    response = client.get(reverse("readyz"))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok" and body["database"] == "ok" and body["broker"]


@pytest.mark.django_db
def test_readyz_says_which_part_is_down(client, monkeypatch):
    from django_q.brokers import redis_broker

    # A real Redis client pointed at a port where nothing listens.
    broker = redis_broker.Redis(list_key="tend-test")
    broker.connection = redis_broker.redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1)
    monkeypatch.setattr("django_q.brokers.get_broker", lambda *a, **k: broker)
    response = client.get(reverse("readyz"))
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "database": "ok",
        "broker": "unavailable: ConnectionError",
    }

    def database_down():
        raise OperationalError("could not connect to server")

    monkeypatch.setattr("config.health._database", database_down)
    assert client.get(reverse("readyz")).json()["database"] == "unavailable: OperationalError"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_gunicorn_serves_the_app_and_whitenoise_the_hashed_static_files(tmp_path):
    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
        "DEBUG": "false",
        "SECRET_KEY": PRODUCTION_KEY,
        "ALLOWED_HOSTS": "127.0.0.1",
        "TEND_TRUSTED_PROXIES": "1",  # stands in for nginx: the requests below say https
        "STATIC_ROOT": str(tmp_path / "static"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "LOG_FORMAT": "json",
        "WEB_CONCURRENCY": "1",
    }
    collected = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert collected.returncode == 0, collected.stderr
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                health = urllib.request.urlopen(f"{base}/healthz", timeout=2)
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("gunicorn did not start")
        assert health.status == 200 and json.load(health) == {"status": "ok"}

        # The login page links the hashed CSS; whitenoise serves it, cached for good.
        login = urllib.request.Request(f"{base}/admin/login/", headers={"X-Forwarded-Proto": "https"})
        html = urllib.request.urlopen(login, timeout=5).read().decode()
        css = re.search(r'href="(/static/tend/admin\.[0-9a-f]{12}\.css)"', html)
        assert css, "the admin does not link the hashed stylesheet"
        static = urllib.request.urlopen(
            urllib.request.Request(
                base + css.group(1), headers={"Accept-Encoding": "gzip", "X-Forwarded-Proto": "https"}
            ),
            timeout=5,
        )
        assert static.status == 200
        assert "immutable" in static.headers["Cache-Control"]
        assert static.headers.get("Content-Encoding") == "gzip"
    finally:
        server.terminate()
        out, err = server.communicate(timeout=10)
    # gunicorn's access log goes to stdout (one line per request), its own log to stderr.
    assert '"GET /healthz HTTP/1.1" 200' in out, out
    assert "Booting worker" in err


def test_logs_are_json_in_production():
    code = (
        "import django, logging; django.setup(); "
        "logging.getLogger('tend.test').warning('scan finished', extra={'accounts': 3})"
    )
    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "false",
        "SECRET_KEY": PRODUCTION_KEY,
    }
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    line = json.loads(result.stderr.strip().splitlines()[-1])
    assert line["message"] == "scan finished" and line["level"] == "WARNING"
    assert line["logger"] == "tend.test" and line["accounts"] == 3 and "time" in line


def test_an_unknown_log_format_is_refused_at_start():
    env = {**os.environ, "LOG_FORMAT": "xml"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode != 0 and "LOG_FORMAT must be plain or json" in result.stderr
