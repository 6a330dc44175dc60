"""The OpenAPI schema tells the truth: nullable fields, documented errors, refused unknown input."""

from __future__ import annotations

import json

import pytest
from drf_spectacular.generators import SchemaGenerator

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema():
    return json.loads(json.dumps(SchemaGenerator().get_schema(request=None, public=True), default=str))


def test_fields_the_api_returns_as_null_are_nullable(schema):
    account = schema["components"]["schemas"]["Account"]["properties"]
    for name in ("rag", "churn_risk", "churn_trigger", "tam_health_rag", "health_score", "scored_at"):
        field = account[name]
        nullable = field.get("nullable") or any(
            part.get("$ref", "").endswith("/NullEnum") or part.get("nullable")
            for part in field.get("oneOf", [])
        )
        assert nullable, (name, field)


def test_every_operation_documents_its_errors(schema):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            for status in ("400", "401", "403", "404", "429"):
                assert "content" in responses.get(status, {}), (method, path, status)
            assert operation.get("description") or operation.get("summary"), (method, path)


def test_bodies_that_refuse_unknown_fields_say_so(schema):
    components = schema["components"]["schemas"]
    for name in ("AccountRequest", "PatchedAccountRequest", "OpportunityRequest", "StartRunRequest"):
        assert components[name].get("additionalProperties") is False, name


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ({"health": "weak"}, "health"),
        ({"ordering": "password"}, "ordering"),
        ({"ordering": "name,-secret"}, "ordering"),
        ({"rag": "RED", "colour": "red"}, "colour"),
    ],
)
def test_unknown_query_parameters_are_refused_by_name(api, api_book, query, named):
    response = api(api_book["maya"]).get("/api/v1/accounts/", query)
    assert response.status_code == 400 and named in response.json()


def test_known_query_parameters_still_work(api, api_book):
    maya = api(api_book["maya"])
    query = {"rag": "RED", "ordering": "-renewal_date", "search": "Maya", "page": 1, "page_size": 10}
    assert maya.get("/api/v1/accounts/", query).status_code == 200
    assert maya.get("/api/v1/alerts/", {"acknowledged": "false"}).status_code == 200


def test_actions_describe_themselves_not_their_list(schema):
    paths = schema["paths"]
    for action, listing in (
        ("/api/v1/alerts/{id}/acknowledge/", "/api/v1/alerts/"),
        ("/api/v1/drafts/{id}/retry/", "/api/v1/drafts/"),
    ):
        assert paths[action]["post"]["description"] != paths[listing]["get"]["description"], action
