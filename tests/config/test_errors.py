"""A path no route matches answers in the caller's language: JSON for API clients, HTML for people."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "path", ["/api/v1/alerts/-0.5/acknowledge/", "/api/v1/no-such-thing/", "/ingest/segment/v2/track"]
)
def test_an_unknown_api_path_is_a_json_404(api, api_book, path):
    response = api(api_book["maya"]).post(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json" and response.json() == {"detail": "Not found."}


def test_an_unknown_page_is_still_a_page(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404 and response["Content-Type"].startswith("text/html")
