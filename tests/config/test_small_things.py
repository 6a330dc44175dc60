"""Small things a new user notices in the first hour."""

from __future__ import annotations

import io
import logging

import pytest
from django.core.management import call_command

from config.logging_filters import NoTracebackForClientErrors

pytestmark = pytest.mark.django_db


def test_the_browser_finds_a_favicon(client, make_user):
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response["Location"].endswith(".svg")
    client.force_login(make_user("maya"))
    assert 'rel="icon"' in client.get("/admin/").content.decode()


def test_a_403_is_logged_as_a_line_not_a_traceback():
    try:
        raise PermissionError("not yours")
    except PermissionError:
        import sys

        forbidden = logging.LogRecord(
            "django.request", logging.WARNING, "", 0, "Forbidden", (), sys.exc_info()
        )
        failed = logging.LogRecord("django.request", logging.ERROR, "", 0, "Server error", (), sys.exc_info())
    forbidden.status_code, failed.status_code = 403, 500
    quiet = NoTracebackForClientErrors()
    assert quiet.filter(forbidden) and forbidden.exc_info is None
    assert quiet.filter(failed) and failed.exc_info is not None  # our own errors keep theirs


def test_the_import_command_speaks_plainly(tmp_path):
    csv = tmp_path / "accounts.csv"
    csv.write_text("external_id,name\nA-1,Acme\n")
    out = io.StringIO()
    call_command("import_accounts", str(csv), stdout=out)
    assert "Created 1, updated 0; 0 unchanged (1 rows)." in out.getvalue() and "Did " not in out.getvalue()
