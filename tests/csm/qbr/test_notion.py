"""Publishing QBRs to Notion at the HTTP boundary: notion-client against httpx.MockTransport."""

from __future__ import annotations

import json

import httpx
import pytest
from django.utils import timezone
from notion_client import Client

from agents_core.integrations.notion import NotionGateway
from csm.models import QBR, ChurnAlert, Feature, FeatureUsage
from csm.qbr import quarters
from csm.qbr.build import generate
from csm.qbr.notion import MAX_CHILDREN, MAX_TEXT, blocks, publish
from tests.fakes.notion import strict

pytestmark = pytest.mark.django_db
DB, DS = "qbr-db", "qbr-ds"


class FakeNotion:
    def __init__(self):
        self.requests: list[tuple[str, str, dict]] = []
        self.pages: dict[str, dict] = {}  # title -> page
        self.fail: dict[tuple[str, str], list[httpx.Response]] = {}
        self.create_then_fail = 0  # make the page, but answer 500, this many times

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content or b"{}")
        key = (request.method, request.url.path)
        self.requests.append((request.method, request.url.path, body))
        scripted = self.fail.get(key) or self.fail.get((request.method, "*"))
        if scripted:
            return scripted.pop(0)
        if key == ("GET", f"/v1/databases/{DB}"):
            return httpx.Response(200, json={"object": "database", "id": DB, "data_sources": [{"id": DS}]})
        if key == ("POST", f"/v1/data_sources/{DS}/query"):
            wanted = body["filter"]["title"]["equals"]
            found = [self.pages[wanted]] if wanted in self.pages else []
            return httpx.Response(200, json={"object": "list", "results": found, "has_more": False})
        if key == ("POST", "/v1/pages"):
            name = body["properties"]["Name"]["title"][0]["text"]["content"]
            page = {"object": "page", "id": f"page-{len(self.pages) + 1}"}
            self.pages[name] = page
            if self.create_then_fail:
                self.create_then_fail -= 1
                return error(500, "internal_server_error")
            return httpx.Response(200, json=page)
        if request.method == "PATCH":
            return httpx.Response(200, json={"object": "page" if "/pages/" in request.url.path else "list"})
        return httpx.Response(
            404, json={"object": "error", "status": 404, "code": "object_not_found", "message": "?"}
        )

    def calls(self, method, path_part=""):
        return [(m, p, b) for m, p, b in self.requests if m == method and path_part in p]


def texts(value):
    """Every rich-text content string anywhere in a request body."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "content" and isinstance(item, str):
                yield item
            else:
                yield from texts(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from texts(item)


def error(status, code, headers=None):
    return httpx.Response(
        status,
        json={"object": "error", "status": status, "code": code, "message": code},
        headers=headers or {},
    )


@pytest.fixture
def notion(settings):
    settings.NOTION_TOKEN, settings.NOTION_QBR_DATABASE_ID = "secret", DB
    fake = FakeNotion()
    sleeps: list[float] = []
    client = Client(auth="secret", client=httpx.Client(transport=strict(fake, token="secret")), retry=False)
    return fake, NotionGateway(client, sleep=sleeps.append, clock=lambda: 0.0), sleeps


@pytest.fixture
def big_qbr(make_account):
    """A QBR with more than 100 blocks (an account using 120 features) and a text over Notion's limit."""
    account = make_account(name="Initech")
    today = timezone.localdate()
    ChurnAlert.objects.create(
        account=account, raised_on=today, raised_at=timezone.now(), reason="sharp_drop",
        explanation="It fell. " * 300, score=50, rag="AMBER", churn_risk="medium",
    )  # fmt: skip
    features = Feature.objects.bulk_create(Feature(key=f"f{i:03}", name=f"Feature {i}") for i in range(120))
    FeatureUsage.objects.bulk_create(
        FeatureUsage(account=account, feature=f, active_users=1, last_used_on=today) for f in features
    )
    generate(quarter=quarters.quarter_of(today), trigger="manual")
    return QBR.objects.get(account=account)


def test_a_long_qbr_is_sent_in_batches_of_at_most_100_and_a_429_is_waited_out(notion, big_qbr):
    fake, gateway, sleeps = notion
    fake.fail[("PATCH", "/v1/blocks/page-1/children")] = [error(429, "rate_limited", {"Retry-After": "3"})]
    content = blocks(big_qbr)
    assert len(content) > MAX_CHILDREN

    assert publish(big_qbr, gateway) == "published"
    appends = [b for m, p, b in fake.calls("PATCH", "/children")]
    assert len(appends) == 3  # the 429, then the two batches
    sent = [a["children"] for a in appends[1:]]
    assert [len(c) for c in sent] == [100, len(content) - 100]
    assert sent[0] + sent[1] == content
    assert 3.0 in sleeps  # Retry-After honoured
    for _m, _p, body in fake.requests:  # no request over Notion's limits
        assert len(body.get("children", [])) <= MAX_CHILDREN
        assert all(len(text) <= MAX_TEXT for text in texts(body))
    assert any(len(text) == MAX_TEXT for text in texts({"r": fake.requests}))  # the long alert was cut
    big_qbr.refresh_from_db()
    assert (big_qbr.status, big_qbr.notion_page_id, big_qbr.notion_error) == ("published", "page-1", "")


def test_regenerating_updates_the_same_page(notion, big_qbr):
    fake, gateway, _sleeps = notion
    publish(big_qbr, gateway)
    generate(quarter=big_qbr.quarter, trigger="manual")  # back to "generated", same QBR row
    big_qbr.refresh_from_db()
    fake.requests.clear()
    assert publish(big_qbr, gateway) == "published"
    assert fake.calls("POST", "/v1/pages") == []
    [update] = fake.calls("PATCH", "/v1/pages/page-1")
    assert update[2]["erase_content"] is True
    assert len(fake.pages) == 1


def test_a_failed_create_is_recorded_and_the_next_publish_finds_the_page_instead_of_making_another(
    notion, big_qbr
):
    fake, gateway, _sleeps = notion
    # Notion made the page but answered 500: the kind of failure a blind retry would duplicate.
    fake.create_then_fail = 1
    sections = big_qbr.sections
    assert publish(big_qbr, gateway) == "failed"
    big_qbr.refresh_from_db()
    assert big_qbr.status == "publish_failed" and "500" in big_qbr.notion_error
    assert big_qbr.sections == sections  # the QBR itself is untouched
    assert len(fake.calls("POST", "/v1/pages")) == 1  # not retried blindly

    assert publish(big_qbr, gateway) == "published"  # finds the page by its title
    assert len(fake.calls("POST", "/v1/pages")) == 1 and len(fake.pages) == 1
    big_qbr.refresh_from_db()
    assert big_qbr.notion_page_id == "page-1"


def test_without_notion_the_qbr_stays_local(settings, big_qbr):
    settings.NOTION_TOKEN = ""
    assert publish(big_qbr) == "local"
    big_qbr.refresh_from_db()
    assert big_qbr.status == "generated" and big_qbr.notion_page_id == ""
