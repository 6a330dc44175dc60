"""Fuzz the API with schemathesis against Tend's own OpenAPI schema: no input may cause a 500.

Requests go through Django's test client (in the test's transaction), with a
token for a CSM who owns a few accounts, so generated ids and bodies hit real
rows as well as missing ones. Examples are bounded to keep the suite fast.
"""

from __future__ import annotations

import json

import pytest
import schemathesis
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings

RAW_SCHEMA = json.loads(json.dumps(SchemaGenerator().get_schema(request=None, public=True), default=str))
schema = schemathesis.openapi.from_dict(RAW_SCHEMA)


@pytest.fixture
def token_client(api_book, client):
    from agents_core.models import ApiToken

    _token, key = ApiToken.objects.create(api_book["maya"], name="fuzz")
    return client, {"HTTP_AUTHORIZATION": f"Token {key}"}


@pytest.mark.django_db
@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
def test_no_input_makes_the_api_fail(case, token_client):
    client, auth = token_client
    kwargs = case.as_transport_kwargs(base_url="http://testserver")
    method = kwargs["method"].lower()
    url = kwargs["url"].replace("http://testserver", "")
    params = kwargs.get("params") or {}
    body = kwargs.get("json")
    data = json.dumps(body) if "json" in kwargs else kwargs.get("data", "")
    headers = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in (kwargs.get("headers") or {}).items()}
    headers.pop("HTTP_CONTENT_TYPE", None)
    headers.pop("HTTP_AUTHORIZATION", None)
    if params:
        from urllib.parse import urlencode

        url = f"{url}?{urlencode(params, doseq=True)}"
    response = client.generic(
        method.upper(), url, data=data, content_type="application/json", **headers, **auth
    )
    assert response.status_code < 500, f"{method.upper()} {url} {data!r} -> {response.status_code}"
