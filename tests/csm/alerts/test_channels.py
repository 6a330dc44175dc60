"""Each alert channel at its HTTP boundary, on the real client code."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import pytest
from django.utils import timezone

import agents_core.integrations.notion as notion_module
from csm.alerts import delivery as alert_delivery
from csm.models import AlertDelivery, ChurnAlert
from csm.scoring.scan import scan_health
from tests.csm.alerts.test_alerts import worsen
from tests.fakes.http import JSONHandler, serve
from tests.fakes.notion import strict
from tests.sales.test_handoff import NO_DRAFTS, Gmail, ok

pytestmark = pytest.mark.django_db


class ChatSpace:
    """A loopback HTTP server standing in for a Google Chat incoming webhook.

    Like Chat, it checks the webhook's key and token (401 without them, as
    the real service answers), wants a JSON body, and refuses a second message
    with the same client-assigned messageId (409 ALREADY_EXISTS)."""

    KEY, TOKEN = "k-123", "t-456"

    def __init__(self):
        self.requests: list[dict] = []
        self.messages: dict[str, dict] = {}
        self.fail_next = 0
        space = self

        class Handler(JSONHandler):
            def do_POST(self):
                from urllib.parse import parse_qs, urlparse

                raw = self.rfile.read(int(self.headers["Content-Length"]))
                query = parse_qs(urlparse(self.path).query)
                space.requests.append({"path": self.path, "query": query})
                if query.get("key") != [space.KEY] or query.get("token") != [space.TOKEN]:
                    return self.send_json(401, {"error": {"code": 401, "status": "UNAUTHENTICATED"}})
                if not self.headers.get("Content-Type", "").startswith("application/json"):
                    return self.send_json(400, {"error": {"code": 400, "status": "INVALID_ARGUMENT"}})
                body = json.loads(raw)
                space.requests[-1]["body"] = body
                if space.fail_next:
                    space.fail_next -= 1
                    self.send_response(500)
                    self.end_headers()
                    return
                message_id = query.get("messageId", [""])[0]
                if message_id and message_id in space.messages:
                    self.send_response(409)
                    self.end_headers()
                    return
                space.messages[message_id] = body
                self.send_json(200, {"name": f"spaces/AAA/messages/M{len(space.requests)}"})

        self.server, root = serve(Handler)
        base = f"{root}/v1/spaces/AAA/messages"
        self.url = f"{base}?key={self.KEY}&token={self.TOKEN}"
        self.url_without_token = f"{base}?key={self.KEY}"

    def close(self):
        self.server.shutdown()


@pytest.fixture
def chat(settings):
    space = ChatSpace()
    settings.CHAT_WEBHOOK_URL = space.url
    yield space
    space.close()


@pytest.fixture
def notion(settings, monkeypatch):
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(200, json={"object": "page", "id": request.url.path.rsplit("/", 1)[-1]})

    settings.NOTION_TOKEN = "secret-token"
    real_client = notion_module.Client

    def client(**kwargs):
        kwargs["client"] = httpx.Client(transport=strict(handler, token="secret-token"))
        return real_client(**kwargs)

    monkeypatch.setattr(notion_module, "Client", client)
    return requests


@pytest.fixture
def alerted(make_user, make_account, django_capture_on_commit_callbacks):
    """Run a scan in which one account enters RED; return a function giving its alert."""
    owner = make_user("maya", email="maya@example.com")
    today = timezone.localdate()
    account = make_account(name="Globex", owner=owner, notion_page_id="page-123")
    scan_health(today=today - timedelta(days=1))
    worsen(account)

    def run():
        with django_capture_on_commit_callbacks(execute=True):
            scan_health(today=today)
        return ChurnAlert.objects.get(account=account)

    return run


def test_every_channel_delivers_and_records_its_external_id(alerted, chat, notion, monkeypatch, settings):
    gmail = Gmail(monkeypatch, settings)
    gmail.serve(NO_DRAFTS, ok({"id": "alert-draft-1", "message": {"id": "m-1"}}))
    alert = alerted()

    deliveries = {d.channel: d for d in alert.deliveries.all()}
    assert {c: d.status for c, d in deliveries.items()} == {
        **dict.fromkeys(["admin", "event", "gmail", "chat", "notion"], "sent"),
        "slack": "skipped",  # not configured here (tests/csm/alerts/test_slack.py)
    }
    # Gmail: a draft in the owner's own mailbox, addressed to them.
    assert deliveries["gmail"].external_id == "alert-draft-1"
    [message] = gmail.created_messages()
    assert message["To"] == "maya@example.com" and message["Subject"].startswith("Churn alert: Globex")
    assert alert.explanation in message.get_content()
    # Chat: the webhook got the explanation, threaded per alert.
    assert deliveries["chat"].external_id == "spaces/AAA/messages/M1"
    [post] = chat.requests
    assert alert.explanation in post["body"]["text"] and f"threadKey=tend-alert-{alert.pk}" in post["path"]
    # Notion: the account's page property holds the alert.
    assert deliveries["notion"].external_id == "page-123"
    [patch] = notion
    assert (patch.method, patch.url.path) == ("PATCH", "/v1/pages/page-123")
    content = json.loads(patch.content)["properties"]["Tend alert"]["rich_text"][0]["text"]["content"]
    assert content.endswith(alert.explanation) and patch.headers["Authorization"] == "Bearer secret-token"


def test_the_chat_webhook_keeps_its_key_and_token(alerted, chat, notion, settings):
    # Tend adds messageId and threadKey to the webhook's query; the key and
    # token it came with must survive, or every real Chat space refuses.
    alert = alerted()
    [post] = chat.requests
    assert post["query"]["key"] == [chat.KEY] and post["query"]["token"] == [chat.TOKEN]
    assert post["query"]["messageId"] == [f"client-tend-alert-{alert.pk}"]
    assert alert.deliveries.get(channel="chat").status == "sent"


def test_a_webhook_chat_refuses_is_a_visible_failure(alerted, chat, notion, settings):
    settings.CHAT_WEBHOOK_URL = chat.url_without_token
    alert = alerted()
    delivery = alert.deliveries.get(channel="chat")
    assert delivery.status == "failed" and "401" in delivery.error and not chat.messages


def test_a_failed_channel_leaves_the_others_delivered_and_a_retry_succeeds_once(alerted, chat, notion):
    chat.fail_next = 1
    alert = alerted()
    deliveries = {d.channel: d for d in alert.deliveries.all()}
    assert deliveries["chat"].status == "failed" and "500" in deliveries["chat"].error
    assert deliveries["notion"].status == "sent" and deliveries["event"].status == "sent"
    assert deliveries["gmail"].status == "skipped"  # not configured in this test: skipped, not failed

    AlertDelivery.objects.filter(pk=deliveries["chat"].pk).update(
        next_retry_at=timezone.now() - timedelta(seconds=1)
    )
    assert alert_delivery.deliver_due() == {"sent": 1}
    assert alert_delivery.deliver_due() == {}
    chat_delivery = AlertDelivery.objects.get(pk=deliveries["chat"].pk)
    assert (chat_delivery.status, chat_delivery.attempts, chat_delivery.external_id) == (
        "sent", 2, "spaces/AAA/messages/M2",
    )  # fmt: skip
    assert len(chat.requests) == 2 and len(notion) == 1  # Notion was not called again


def test_gmail_alert_drafts_are_not_made_twice_after_a_crash(alerted, monkeypatch, settings):
    gmail = Gmail(monkeypatch, settings)
    gmail.serve(NO_DRAFTS, ({"status": "503"}, "unavailable"))
    alert = alerted()
    delivery = alert.deliveries.get(channel="gmail")
    assert delivery.status == "failed" and "503" in delivery.error
    # The draft had in fact been made before the 503 reached us: the retry finds it by Message-ID.
    gmail.serve(ok({"drafts": [{"id": "found-1", "message": {"id": "m-9"}}]}))
    assert alert_delivery.retry_now(delivery) == "sent"
    delivery.refresh_from_db()
    assert delivery.external_id == "found-1" and len(gmail.created_messages()) == 1


def test_a_worker_killed_mid_delivery_leaves_it_retryable_not_lost(alerted, chat):
    alert = alerted()
    delivery = alert.deliveries.get(channel="chat")
    # Simulate the crash: claimed, never finished.
    AlertDelivery.objects.filter(pk=delivery.pk).update(status="pending", claimed_at=timezone.now())
    assert alert_delivery.deliver(delivery).startswith(
        "skipped"
    )  # still someone else's inside the claim timeout
    AlertDelivery.objects.filter(pk=delivery.pk).update(
        claimed_at=timezone.now() - alert_delivery.CLAIM_TIMEOUT - timedelta(seconds=1)
    )
    assert alert_delivery.deliver_due() == {"sent": 1}
    assert AlertDelivery.objects.get(pk=delivery.pk).status == "sent"
    # Chat was asked twice but holds one message: the repeat was refused as a duplicate.
    assert len(chat.requests) == 2 and len(chat.messages) == 1
