"""The strict Notion stand-in refuses what Notion refuses, so tests on it cannot pass a broken client."""

from __future__ import annotations

import httpx
import pytest
from notion_client import APIResponseError, Client

from tests.fakes.notion import strict


def ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"object": "page", "id": "p-1"})


def client(token: str) -> Client:
    return Client(auth=token, client=httpx.Client(transport=strict(ok, token="right")), retry=False)


def test_the_real_client_passes_when_it_sends_what_notion_needs():
    assert client("right").pages.retrieve(page_id="p-1")["id"] == "p-1"


def test_a_wrong_token_is_unauthorized():
    with pytest.raises(APIResponseError) as refused:
        client("wrong").pages.retrieve(page_id="p-1")
    assert refused.value.status == 401 and refused.value.code == "unauthorized"


def test_text_over_notions_limit_is_a_validation_error():
    long_text = [{"type": "text", "text": {"content": "x" * 2001}}]
    with pytest.raises(APIResponseError) as refused:
        client("right").pages.update(page_id="p-1", properties={"Note": {"rich_text": long_text}})
    assert refused.value.status == 400 and refused.value.code == "validation_error"


def test_a_request_without_the_version_header_is_refused():
    transport = strict(ok, token="right")
    response = httpx.Client(transport=transport).get(
        "https://api.notion.com/v1/pages/p-1", headers={"Authorization": "Bearer right"}
    )
    assert response.status_code == 400 and response.json()["code"] == "missing_version"
