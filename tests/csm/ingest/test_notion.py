"""Notion sync at the HTTP boundary: the real notion-client against httpx.MockTransport."""

from __future__ import annotations

import json
from decimal import Decimal

import httpx
import pytest
from django.utils import timezone
from notion_client import Client

from agents_core.dispatch import enqueue
from agents_core.integrations.notion import NotionGateway, NotionUnavailable
from agents_core.models import AgentRun
from csm.ingest.notion import sync_accounts
from csm.models import Account, AccountSignals
from tests.fakes.notion import strict

pytestmark = pytest.mark.django_db

DATABASE_ID = "db-accounts"
DATA_SOURCE_ID = "ds-accounts"


def text(value):
    return {"type": "rich_text", "rich_text": [{"plain_text": value}] if value else []}


def page(page_id, external_id, name, **extra):
    properties = {
        "Name": {"type": "title", "title": [{"plain_text": name}]},
        "Account ID": text(external_id),
        "CSM": {"type": "people", "people": [{"object": "user", "person": {"email": "maya@example.com"}}]},
        "Segment": {"type": "select", "select": {"name": "Enterprise"}},
        "ARR": {"type": "number", "number": 250000},
        "Seats": {"type": "number", "number": 400},
        "Active Users": {"type": "number", "number": 388},
        "Renewal Date": {"type": "date", "date": {"start": "2027-05-01"}},
        "Health Status": {"type": "status", "status": {"name": "At Risk"}},
        "NPS": {"type": "number", "number": 7},
        "Usage Trend": {"type": "select", "select": {"name": "Declining"}},
        "Notes": text("ignored"),
    }
    properties.update(extra)
    return {"object": "page", "id": page_id, "archived": False, "in_trash": False, "properties": properties}


def error(status, code, headers=None):
    body = {"object": "error", "status": status, "code": code, "message": f"{code} (test)"}
    return httpx.Response(status, json=body, headers=headers or {})


class FakeNotion:
    """Serves a database of two result pages, failing on the way as scripted."""

    def __init__(self, script):
        self.script = list(script)  # responses to hand out, in order, for the query endpoint
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.method == "GET" and request.url.path == f"/v1/databases/{DATABASE_ID}":
            return httpx.Response(
                200, json={"object": "database", "id": DATABASE_ID, "data_sources": [{"id": DATA_SOURCE_ID}]}
            )
        if request.method == "POST" and request.url.path == f"/v1/data_sources/{DATA_SOURCE_ID}/query":
            return self.script.pop(0)(json.loads(request.content or b"{}"))
        return error(404, "object_not_found")


def first_page(body):
    assert "start_cursor" not in body and body["page_size"] == 100
    return httpx.Response(
        200,
        json={
            "object": "list",
            "results": [
                page("p-1", "NT-1", "Northwind"),
                page("p-2", "NT-2", "Globex", NPS={"type": "number", "number": 14}),  # out of range
            ],
            "has_more": True,
            "next_cursor": "cursor-2",
        },
    )


def second_page(body):
    assert body["start_cursor"] == "cursor-2"
    archived = page("p-4", "NT-4", "Gone")
    archived["archived"] = True
    return httpx.Response(
        200,
        json={
            "object": "list",
            "results": [page("p-3", "NT-3", "Initech", **{"Account ID": text("")}), archived],
            "has_more": False,
            "next_cursor": None,
        },
    )


def gateway_for(fake):
    sleeps: list[float] = []
    client = Client(
        auth="secret-token", client=httpx.Client(transport=strict(fake, token="secret-token")), retry=False
    )
    return NotionGateway(client, sleep=sleeps.append, clock=lambda: 0.0), sleeps


@pytest.fixture
def maya(make_user):
    return make_user("maya", email="maya@example.com")


def sync(gateway):
    return sync_accounts(gateway, database_id=DATABASE_ID, today=timezone.localdate(), at=timezone.now())


def test_sync_reads_every_page_retries_429_and_500_and_upserts(maya, make_account):
    make_account(external_id="NT-1", name="Old name", owner=maya)
    fake = FakeNotion(
        [
            lambda body: error(429, "rate_limited", {"Retry-After": "7"}),
            first_page,
            lambda body: error(500, "internal_server_error"),
            second_page,
        ]
    )
    gateway, sleeps = gateway_for(fake)
    result = sync(gateway)

    # The requests made: the database, then the query with its retries and cursor.
    paths = [(r.method, r.url.path) for r in fake.requests]
    assert (
        paths
        == [("GET", f"/v1/databases/{DATABASE_ID}")]
        + [("POST", f"/v1/data_sources/{DATA_SOURCE_ID}/query")] * 4
    )
    assert all(r.headers["Authorization"] == "Bearer secret-token" for r in fake.requests)
    assert all(r.headers["Notion-Version"] for r in fake.requests)
    assert result["requests"] == 5
    # Retry-After honoured for the 429; back-off for the 500 (no header); pacing in between.
    assert 7.0 in sleeps and 1.0 in sleeps
    assert all(s > 0 for s in sleeps) and sum(s == pytest.approx(1 / 3) for s in sleeps) >= 3

    northwind = Account.objects.get(external_id="NT-1")
    assert northwind.name == "Northwind" and northwind.notion_page_id == "p-1"
    assert northwind.segment == "enterprise" and northwind.arr == Decimal("250000")
    assert northwind.tam_health_rag == "AMBER" and northwind.owner == maya
    signals = AccountSignals.objects.get(account=northwind)
    assert signals.nps_score == 7 and signals.usage_trend == "declining"
    assert signals.sources["nps_score"]["source"] == "notion"

    assert (result["pages"], result["created"], result["updated"], result["skipped"]) == (4, 0, 1, 3)
    reasons = {(s["page"], s["field"]) for s in result["skipped_pages"]}
    assert reasons == {("p-2", "nps_score"), ("p-3", "external_id"), ("p-4", "")}
    assert not Account.objects.filter(external_id__in=["NT-2", "NT-4"]).exists()


def test_when_notion_keeps_failing_nothing_is_written(maya, make_account):
    kept = make_account(external_id="NT-1", name="Old name", owner=maya)
    fake = FakeNotion([first_page] + [lambda body: error(503, "service_unavailable")] * 10)
    gateway, _sleeps = gateway_for(fake)
    gateway.max_retries = 2
    with pytest.raises(NotionUnavailable, match="503"):
        sync(gateway)
    kept.refresh_from_db()
    assert kept.name == "Old name" and Account.objects.count() == 1
    assert len(fake.requests) == 1 + 1 + 3  # database, first page, 3 tries of the second


def test_a_client_error_is_not_retried(maya):
    fake = FakeNotion([lambda body: error(401, "unauthorized")])
    gateway, sleeps = gateway_for(fake)
    with pytest.raises(NotionUnavailable, match="401"):
        sync(gateway)
    assert len(fake.requests) == 2 and not [s for s in sleeps if s > 1]


def test_the_task_is_off_cleanly_without_a_token(settings, django_capture_on_commit_callbacks):
    settings.NOTION_TOKEN = ""
    with django_capture_on_commit_callbacks(execute=True):
        run = enqueue("csm", "sync_notion", trigger=AgentRun.Trigger.COMMAND)
    run.refresh_from_db()
    assert run.status == "succeeded"
    assert run.result["skipped"] is True and "NOTION_TOKEN" in run.result["reason"]


def test_the_task_runs_through_the_entry_point_and_a_failure_fails_the_run(
    settings, monkeypatch, maya, django_capture_on_commit_callbacks
):
    settings.NOTION_TOKEN = "secret-token"
    settings.NOTION_ACCOUNTS_DATABASE_ID = DATABASE_ID
    fake = FakeNotion([lambda body: error(500, "internal_server_error")] * 10)
    import agents_core.integrations.notion as notion

    monkeypatch.setattr(notion.time, "sleep", lambda seconds: None)
    real_client = notion.Client

    def mocked_client(**kwargs):
        kwargs["client"] = httpx.Client(transport=strict(fake, token=kwargs["auth"]))
        return real_client(**kwargs)

    monkeypatch.setattr(notion, "Client", mocked_client)
    with django_capture_on_commit_callbacks(execute=True):
        run = enqueue("csm", "sync_notion", trigger=AgentRun.Trigger.COMMAND)
    run.refresh_from_db()
    assert run.status == "failed" and "NotionUnavailable" in run.error and "500" in run.error
    assert fake.requests[0].headers["Authorization"] == "Bearer secret-token"


def test_only_managers_may_start_a_sync_over_the_api(api, api_book):
    response = api(api_book["maya"]).post(
        "/api/v1/agents/csm/runs/", {"task_type": "sync_notion"}, format="json"
    )
    assert response.status_code == 403
    response = api(api_book["manager"]).post(
        "/api/v1/agents/csm/runs/", {"task_type": "sync_notion"}, format="json"
    )
    assert response.status_code == 202
