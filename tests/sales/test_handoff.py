"""From a scan's finding to a Gmail draft, on the real code, with Gmail served by HttpMockSequence."""

from __future__ import annotations

import base64
import email
import json
from datetime import timedelta
from email import policy

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone
from googleapiclient.discovery import build
from googleapiclient.http import HttpMockSequence

from agents_core.dispatch import enqueue
from agents_core.integrations import gmail
from agents_core.models import AgentRun
from csm.expansion.opportunities import create_opportunity
from csm.expansion.rules import Finding
from csm.models import ExpansionOpportunity
from csm.scoring.scan import scan_health
from sales import drafting
from sales.models import OutreachDraft

pytestmark = pytest.mark.django_db

OK = {"status": "200", "content-type": "application/json"}


def ok(body):
    return (OK, json.dumps(body))


NO_DRAFTS = ok({"resultSizeEstimate": 0})
CREATED = ok({"id": "r-123", "message": {"id": "m-456", "threadId": "t-1"}})


class Gmail:
    """The Gmail API as HttpMockSequence serves it; records every request made."""

    def __init__(self, monkeypatch, settings):
        settings.GMAIL_SERVICE_ACCOUNT_JSON = '{"type": "service_account"}'  # "configured"
        self.http = HttpMockSequence([])
        self.owners: list[str] = []
        monkeypatch.setattr(gmail, "build_service", self._service)

    def _service(self, owner_email):
        self.owners.append(owner_email)
        return build("gmail", "v1", http=self.http, static_discovery=True)

    def serve(self, *responses):
        self.http._iterable.extend(responses)

    @property
    def requests(self):
        return [(method, uri) for uri, method, _body, _headers in self.http.request_sequence]

    def created_messages(self):
        """The MIME messages of every drafts.create request, decoded."""
        messages = []
        for uri, method, body, _headers in self.http.request_sequence:
            if method == "POST" and uri.split("?")[0].endswith("/users/me/drafts"):
                raw = json.loads(body)["message"]["raw"]
                messages.append(
                    email.message_from_bytes(base64.urlsafe_b64decode(raw), policy=policy.default)
                )
        return messages


@pytest.fixture
def gmail_api(monkeypatch, settings):
    return Gmail(monkeypatch, settings)


@pytest.fixture
def owner(make_user):
    return make_user("maya", email="maya@example.com", first_name="Maya", last_name="Okafor")


@pytest.fixture
def crowded_account(make_account, owner):
    """Healthy, growing, and out of seats: a seats opportunity."""
    return make_account(
        name="Northwind Logistics",
        owner=owner,
        plan="Growth",
        arr=45_000,  # 450 a seat, the Growth plan's list price
        seats_purchased=100,
        seats_used=95,
        primary_contact_email="ops@northwind.example",
    )


def test_scan_to_gmail_draft_end_to_end(
    gmail_api, crowded_account, owner, django_capture_on_commit_callbacks
):
    # Three opportunities, each drafted in turn: highest ARR impact first.
    for n in (1, 2, 3):
        gmail_api.serve(NO_DRAFTS, ok({"id": f"r-{n}", "message": {"id": f"m-{n}", "threadId": "t"}}))
    scan_health()
    with django_capture_on_commit_callbacks(execute=True):
        check = enqueue("csm", "check_expansion", trigger=AgentRun.Trigger.SCHEDULE)

    check.refresh_from_db()
    assert check.status == "succeeded", check.error
    found = list(
        ExpansionOpportunity.objects.filter(account=crowded_account).order_by("-estimated_arr_impact")
    )
    assert [(o.kind, str(o.estimated_arr_impact)) for o in found] == [
        ("seats", "9000.00"),  # 20% headroom: 20 seats at the Growth plan's 450
        ("module", "7600.00"),  # Workflow Automation (not in Growth): 80 x 95 seats in use
        ("integration", "6000.00"),  # Salesforce sync, not connected
    ]
    assert check.result["created"] == [o.pk for o in found]
    opportunity = found[0]
    assert opportunity.created_by_run_id == check.pk
    assert opportunity.evidence["suggested_additional_seats"] == 20

    sales_runs = AgentRun.objects.filter(agent="sales").order_by("pk")
    assert [(r.task_type, r.trigger, r.status) for r in sales_runs] == [
        ("handle_expansion_opportunity", "signal", "succeeded")
    ] * 3
    sales_run = sales_runs[0]
    assert gmail_api.owners == ["maya@example.com"] * 3  # impersonating the owner
    assert gmail_api.requests[0][0] == "GET" and "rfc822msgid" in gmail_api.requests[0][1]
    message = gmail_api.created_messages()[0]
    assert message["To"] == "ops@northwind.example"
    assert message["From"] == "maya@example.com"
    assert message["Subject"] == "Room for Northwind Logistics's growing team"
    body = message.get_content()
    assert "95 of your 100 seats are in use" in body and "add 20 seats" in body
    assert body.rstrip().endswith("Maya Okafor\nmaya@example.com")
    assert (
        opportunity.talk_track and opportunity.talk_track[:40] not in body
    )  # internal guidance stays internal
    draft = OutreachDraft.objects.get(opportunity=opportunity)
    assert message["Message-ID"] == draft.message_id
    assert (draft.status, draft.gmail_draft_id, draft.gmail_message_id) == ("created", "r-1", "m-1")
    assert draft.run == sales_run and draft.attempts == 1
    assert "compose=m-1" in draft.gmail_url
    subjects = [m["Subject"] for m in gmail_api.created_messages()]
    assert subjects[1:] == [
        "An idea for Northwind Logistics: Workflow Automation",
        "Connecting Salesforce sync for Northwind Logistics",
    ]
    opportunity.refresh_from_db()
    assert opportunity.status == "drafted"
    assert not [uri for _m, uri in gmail_api.requests if "send" in uri]


def finding(account, kind="seats", impact="1000.00"):
    from decimal import Decimal

    return Finding(account_id=account.pk, kind=kind, impact=Decimal(impact), evidence={
        "seats_used": 9, "seats_purchased": 10, "usage_trend": "growing", "suggested_additional_seats": 5,
        "seat_price": "200.00", "seat_utilization": 0.9,
    }, summary="9 of 10 seats")  # fmt: skip


def test_a_rolled_back_opportunity_never_reaches_sales(
    gmail_api, crowded_account, django_capture_on_commit_callbacks
):
    class Boom(Exception):
        pass

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        try:
            with transaction.atomic():
                create_opportunity(finding(crowded_account))
                raise Boom
        except Boom:
            pass
    assert callbacks == []
    assert not ExpansionOpportunity.objects.exists()
    assert not AgentRun.objects.filter(agent="sales").exists() and not OutreachDraft.objects.exists()
    assert gmail_api.requests == []


def test_re_saving_or_re_running_makes_no_second_draft(
    gmail_api, crowded_account, django_capture_on_commit_callbacks
):
    gmail_api.serve(NO_DRAFTS, CREATED)
    with django_capture_on_commit_callbacks(execute=True):
        opportunity = create_opportunity(finding(crowded_account))
    with django_capture_on_commit_callbacks(execute=True):
        opportunity.summary = "edited by the rep"
        opportunity.save()
    assert AgentRun.objects.filter(agent="sales").count() == 1
    # Even a second run of the task (a redelivery, a manual start) changes nothing.
    with django_capture_on_commit_callbacks(execute=True):
        enqueue("sales", "handle_expansion_opportunity", {"opportunity_id": opportunity.pk}, trigger="api")
    assert OutreachDraft.objects.count() == 1
    assert len(gmail_api.created_messages()) == 1 and len(gmail_api.requests) == 2


def test_gmail_500_then_success_ends_with_one_created_draft(
    gmail_api, crowded_account, django_capture_on_commit_callbacks
):
    gmail_api.serve(NO_DRAFTS, ({"status": "500"}, "backend error"))
    with django_capture_on_commit_callbacks(execute=True):
        opportunity = create_opportunity(finding(crowded_account))
    draft = OutreachDraft.objects.get()
    assert draft.status == "failed" and "500" in draft.error and draft.next_retry_at > timezone.now()
    assert ExpansionOpportunity.objects.get(pk=opportunity.pk).status == "open"  # intact

    # Not due yet: the scheduled retry leaves it alone.
    assert drafting.due_for_retry() == []
    OutreachDraft.objects.update(next_retry_at=timezone.now() - timedelta(seconds=1))
    gmail_api.serve(NO_DRAFTS, CREATED)
    with django_capture_on_commit_callbacks(execute=True):
        retry = enqueue("sales", "retry_drafts", trigger=AgentRun.Trigger.SCHEDULE)
    retry.refresh_from_db()
    assert retry.result == {"retried": 1, "created": 1}
    draft.refresh_from_db()
    assert (draft.status, draft.gmail_draft_id, draft.attempts, draft.error) == ("created", "r-123", 2, "")
    assert OutreachDraft.objects.count() == 1


def test_a_crash_between_gmail_and_the_database_leaves_one_gmail_draft(
    gmail_api, crowded_account, monkeypatch, django_capture_on_commit_callbacks
):
    gmail_api.serve(NO_DRAFTS, CREATED)
    real_finish = drafting._finish

    def killed(*args, **kwargs):
        raise SystemExit("worker killed after Gmail answered")

    monkeypatch.setattr(drafting, "_finish", killed)
    with pytest.raises(SystemExit):
        drafting.handle_opportunity(create_opportunity(finding(crowded_account)).pk)
    monkeypatch.setattr(drafting, "_finish", real_finish)
    draft = OutreachDraft.objects.get()
    assert draft.status == "pending" and draft.claimed_at is not None  # left mid-flight

    # Inside the claim timeout nobody touches it; after it, the retry finds the Gmail draft.
    assert drafting.deliver(draft)["skipped"]
    OutreachDraft.objects.update(claimed_at=timezone.now() - drafting.CLAIM_TIMEOUT - timedelta(seconds=1))
    gmail_api.serve(ok({"drafts": [{"id": "r-123", "message": {"id": "m-456"}}]}))
    assert drafting.due_for_retry() == [draft]
    assert drafting.deliver(draft)["status"] == "created"
    draft.refresh_from_db()
    assert (draft.status, draft.gmail_draft_id) == ("created", "r-123")
    assert len(gmail_api.created_messages()) == 1  # one drafts.create in all


def test_two_workers_never_both_call_gmail(gmail_api, crowded_account):
    opportunity = create_opportunity(finding(crowded_account))
    draft = drafting.ensure_draft(opportunity)
    assert drafting.ensure_draft(opportunity) == draft  # one row
    assert drafting._claim(draft) is True
    assert drafting._claim(draft) is False  # the second worker loses
    assert drafting.deliver(draft)["skipped"]
    assert gmail_api.requests == []


def test_a_second_open_opportunity_of_a_kind_is_refused_by_the_database(crowded_account):
    ExpansionOpportunity.objects.create(account=crowded_account, kind="seats", created_by="test")
    with pytest.raises(IntegrityError), transaction.atomic():
        ExpansionOpportunity.objects.create(account=crowded_account, kind="seats", created_by="test")
    ExpansionOpportunity.objects.create(account=crowded_account, kind="module", created_by="test")
    ExpansionOpportunity.objects.filter(kind="seats").update(status="won")
    ExpansionOpportunity.objects.create(
        account=crowded_account, kind="seats", created_by="test"
    )  # a new round
    assert ExpansionOpportunity.objects.filter(kind="seats").count() == 2


def test_without_gmail_the_draft_stays_local(settings, crowded_account, django_capture_on_commit_callbacks):
    settings.GMAIL_SERVICE_ACCOUNT_JSON = settings.GMAIL_SERVICE_ACCOUNT_FILE = ""
    with django_capture_on_commit_callbacks(execute=True):
        opportunity = create_opportunity(finding(crowded_account))
    draft = OutreachDraft.objects.get()
    assert draft.status == "local" and draft.gmail_draft_id == "" and draft.body
    assert ExpansionOpportunity.objects.get(pk=opportunity.pk).status == "drafted"


def test_an_owner_without_email_fails_clearly_and_does_not_retry_by_itself(
    gmail_api, crowded_account, django_capture_on_commit_callbacks
):
    crowded_account.owner.email = ""
    crowded_account.owner.save()
    with django_capture_on_commit_callbacks(execute=True):
        create_opportunity(finding(crowded_account))
    draft = OutreachDraft.objects.get()
    assert (
        draft.status == "failed" and "no owner with an email" in draft.error and draft.next_retry_at is None
    )
    assert gmail_api.requests == []


def test_credentials_ask_for_gmail_compose_only_as_the_owner(settings, tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    settings.GMAIL_SERVICE_ACCOUNT_JSON = json.dumps(
        {
            "type": "service_account",
            "client_email": "tend@project.iam.gserviceaccount.com",
            "private_key": pem,
            "token_uri": "https://oauth2.googleapis.com/token",
        }
    )
    credentials = gmail._credentials("maya@example.com")
    assert gmail.SCOPES == ["https://www.googleapis.com/auth/gmail.compose"]
    assert list(credentials.scopes) == gmail.SCOPES
    assert credentials._subject == "maya@example.com"
