"""Stateful fuzzing: schemathesis chains API calls (create, then read, change, act on what was created).

The links between operations are inferred from the schema; every call goes
through the WSGI app with a CSM's token, and no sequence may end in a 500.
"""

from __future__ import annotations

import pytest
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, Phase
from hypothesis import settings as hypothesis_settings
from schemathesis import openapi
from schemathesis.checks import content_type_conformance, response_schema_conformance, status_code_conformance

from agents_core.models import ApiToken

# What each response must agree with the schema on: its status code is documented,
# its body matches that status's schema, its content type is the documented one.
CONFORMANCE = [status_code_conformance, response_schema_conformance, content_type_conformance]

pytestmark = pytest.mark.django_db


def in_test_transaction(wsgi):
    """The WSGI app, keeping the test's database connection open, as Django's test client does.

    Django closes old connections at the start and end of each request; in a
    test that would close the connection holding the test's transaction.
    """

    def app(environ, start_response):
        request_started.disconnect(close_old_connections)
        request_finished.disconnect(close_old_connections)
        try:
            return list(wsgi(environ, start_response))
        finally:
            request_started.connect(close_old_connections)
            request_finished.connect(close_old_connections)

    return app


def test_no_sequence_of_calls_makes_the_api_fail(api_book):
    _token, key = ApiToken.objects.create(api_book["maya"], name="stateful fuzz")
    auth = {"Authorization": f"Token {key}"}
    schema = openapi.from_wsgi("/api/schema/", in_test_transaction(get_wsgi_application()), headers=auth)
    calls: list[tuple[str, str, int]] = []
    seen: set[str] = set()  # ids that responses handed out
    failures: list[str] = []
    mismatches: list[str] = []

    class Workflow(schema.as_state_machine()):
        def setup(self):
            # Each scenario starts from the same book: what its calls wrote is rolled back after it,
            # so a choice Hypothesis makes twice meets the same state (else it calls the test flaky).
            self._scenario = transaction.atomic()
            self._scenario.__enter__()

        def teardown(self):
            transaction.set_rollback(True)
            self._scenario.__exit__(None, None, None)

        def get_call_kwargs(self, case):
            return {"headers": auth}

        def validate_response(self, response, case, **kwargs):
            calls.append((case.method, case.formatted_path, response.status_code))
            try:
                case.validate_response(response, checks=CONFORMANCE)
            except Exception as exc:  # noted, not raised (see below)
                mismatches.append(f"{case.method} {case.formatted_path} -> {response.status_code}: {exc}")
            assert response.status_code < 500, (
                f"{case.method} {case.formatted_path} -> {response.status_code}"
            )
            if 200 <= response.status_code < 300:
                try:
                    body = response.json()
                except ValueError:
                    return
                rows = body.get("results", [body]) if isinstance(body, dict) else []
                seen.update(str(row["id"]) for row in rows if isinstance(row, dict) and "id" in row)

    Workflow.TestCase.settings = hypothesis_settings(
        max_examples=25,
        stateful_step_count=5,
        deadline=None,
        derandomize=True,
        # Generate only: the database keeps what earlier steps wrote, so a replay
        # (shrinking) would meet another book and Hypothesis would call it flaky.
        phases=[Phase.generate],
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    Workflow.run()
    assert not failures, failures
    assert not mismatches, "\n".join(mismatches[:5])
    # The run reached beyond single calls: ids the API handed out were used by later calls.
    reused = [path for _m, path, _s in calls if set(path.strip("/").split("/")[2:]) & seen]
    assert calls and reused, (len(calls), sorted(seen)[:10])
