"""What every endpoint shares: auth, body limits, malformed input, docs, throttling."""

from __future__ import annotations

import json

import pytest
from rest_framework.throttling import UserRateThrottle

pytestmark = pytest.mark.django_db


def test_malformed_json_is_a_400_naming_the_problem(api_book, client):
    client.force_login(api_book["maya"])
    response = client.post("/api/v1/signals/bulk/", data='[{"external_id": ', content_type="application/json")
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]


def test_a_10_mb_body_is_refused_before_parsing(api_book, client):
    client.force_login(api_book["maya"])
    row = {"external_id": "X" * 100, "usage_trend": "growing"}
    body = json.dumps([row] * (10 * 1024 * 1024 // len(json.dumps(row))))
    assert len(body) > 9_000_000
    response = client.post("/api/v1/signals/bulk/", data=body, content_type="application/json")
    assert response.status_code == 400
    assert "larger than" in response.json()["detail"]


def test_non_json_content_is_refused(api_book, client):
    client.force_login(api_book["maya"])
    response = client.post(
        "/api/v1/accounts/", data="name=x", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 415


def test_schema_and_docs_are_served_locally(api_book, client):
    client.force_login(api_book["maya"])
    schema = client.get("/api/schema/", {"format": "json"})
    assert schema.status_code == 200
    paths = json.loads(schema.content)["paths"]
    for route in (
        "/api/v1/accounts/", "/api/v1/accounts/{id}/", "/api/v1/accounts/{id}/signals/",
        "/api/v1/accounts/{id}/health/", "/api/v1/signals/bulk/", "/api/v1/agents/",
        "/api/v1/agents/{agent_id}/runs/", "/api/v1/runs/{id}/",
    ):  # fmt: skip
        assert route in paths, route
    docs = client.get("/api/docs/").content.decode()
    assert "drf_spectacular_sidecar/swagger-ui-dist" in docs
    assert "cdn" not in docs.lower() and "https://" not in docs


def test_requests_are_throttled_per_user(api, api_book, monkeypatch):
    from django.core.cache import cache

    cache.clear()
    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", {"user": "3/minute"})
    maya, tom = api(api_book["maya"]), api(api_book["tom"])
    assert [maya.get("/api/v1/accounts/").status_code for _ in range(4)] == [200, 200, 200, 429]
    assert tom.get("/api/v1/accounts/").status_code == 200  # per user, not global
    cache.clear()


def test_nul_characters_are_a_400_everywhere_not_a_database_error(api, api_book):
    """PostgreSQL refuses NUL in text; each edge must refuse it first."""
    client = api(api_book["maya"])
    assert client.get("/api/v1/accounts/", {"search": "a\x00b"}).status_code == 400
    assert client.get("/api/v1/accounts/", {"owner": "a\x00b"}).status_code == 400
    response = client.post("/api/v1/signals/bulk/", [{"external_id": "A\x00", "nps_score": 1}], format="json")
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "external_id"
    response = client.post("/api/v1/accounts/", {"external_id": "N\x00", "name": "x"}, format="json")
    assert response.status_code == 400 and "external_id" in response.json()
