"""A local draft a person can finish: edit it (kept with who and when), copy it, open it as
mailto or download it as .eml; a Gmail draft is edited in Gmail."""

from __future__ import annotations

import email
from email import policy
from urllib.parse import parse_qs, urlparse

import pytest
from django.urls import reverse

from csm.models import ExpansionOpportunity
from sales.models import OutreachDraft

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def gmail_off(settings):
    settings.GMAIL_SERVICE_ACCOUNT_JSON = settings.GMAIL_SERVICE_ACCOUNT_FILE = ""


@pytest.fixture
def draft(api_book, django_capture_on_commit_callbacks):
    account = api_book["maya_accounts"][0]
    account.primary_contact_email = "ops@acme.example"
    account.save()
    with django_capture_on_commit_callbacks(execute=True):
        opportunity = ExpansionOpportunity.objects.create(
            account=account, kind="seats", created_by="csm agent",
            evidence={"seats_used": 9, "seats_purchased": 10, "usage_trend": "growing",
                      "suggested_additional_seats": 5, "seat_price": "300.00", "seat_utilization": 0.9},
        )  # fmt: skip
    draft = opportunity.draft
    assert draft.status == OutreachDraft.Status.LOCAL
    return draft


def test_a_local_draft_is_edited_before_approval_keeping_the_agents_text(client, api_book, draft):
    agent_subject, agent_body = draft.subject, draft.body
    client.force_login(api_book["maya"])
    page = client.get(reverse("admin:sales_outreachdraft_change", args=[draft.pk])).content.decode()
    edit_url = reverse("admin:sales_outreachdraft_edit", args=[draft.pk])
    assert edit_url in page and "Download .eml" in page and 'data-copy="draft-text-' in page
    assert client.get(edit_url).status_code == 200
    response = client.post(
        edit_url, {"subject": "  More seats for   Acme ", "body": "Hi,\r\n\r\nShall we talk?\r\n"}
    )
    assert response.status_code == 302
    draft.refresh_from_db()
    assert (draft.subject, draft.body) == ("More seats for Acme", "Hi,\n\nShall we talk?")
    assert (draft.edited_by, draft.original_subject, draft.original_body) == (
        api_book["maya"],
        agent_subject,
        agent_body,
    )
    client.post(edit_url, {"subject": "Second go", "body": "Hello"})
    draft.refresh_from_db()
    assert draft.original_subject == agent_subject  # the agent's text, not the first edit


def test_an_approved_or_gmail_draft_cannot_be_edited_here(client, api_book, draft):
    client.force_login(api_book["maya"])
    edit_url = reverse("admin:sales_outreachdraft_edit", args=[draft.pk])
    OutreachDraft.objects.filter(pk=draft.pk).update(
        status="created", gmail_message_id="m-1", sender="maya@example.com"
    )
    response = client.post(edit_url, {"subject": "x", "body": "y"}, follow=True)
    assert "edit it there" in response.content.decode()
    OutreachDraft.objects.filter(pk=draft.pk).update(status="local", approved_by=api_book["maya"],
                                                     approved_at="2026-12-01T09:00:00Z")  # fmt: skip
    response = client.post(edit_url, {"subject": "x", "body": "y"}, follow=True)
    assert "Only a draft waiting for review can be edited" in response.content.decode()
    draft.refresh_from_db()
    assert draft.subject != "x"


def test_another_csms_draft_is_not_found_and_a_blank_text_is_refused(client, api_book, draft):
    client.force_login(api_book["tom"])
    assert client.get(reverse("admin:sales_outreachdraft_edit", args=[draft.pk])).status_code == 404
    assert client.get(reverse("admin:sales_outreachdraft_eml", args=[draft.pk])).status_code == 404
    client.force_login(api_book["maya"])
    page = client.post(
        reverse("admin:sales_outreachdraft_edit", args=[draft.pk]), {"subject": "", "body": ""}
    )
    assert page.status_code == 200 and "This field is required" in page.content.decode()


def test_the_eml_opens_as_an_unsent_message_with_the_drafts_text(client, api_book, draft):
    client.force_login(api_book["maya"])
    response = client.get(reverse("admin:sales_outreachdraft_eml", args=[draft.pk]))
    assert response.status_code == 200 and response["Content-Type"] == "message/rfc822"
    assert response["Content-Disposition"] == f'attachment; filename="draft-{draft.pk}.eml"'
    message = email.message_from_bytes(response.content, policy=policy.default)
    assert message["To"] == "ops@acme.example" and message["Subject"] == draft.subject
    assert message["X-Unsent"] == "1" and message["Message-ID"] == draft.message_id
    assert message.get_content().strip() == draft.body.strip()


def test_the_mailto_link_carries_the_subject_and_body(client, api_book, draft):
    from sales.drafting import mailto_url

    url = urlparse(mailto_url(draft))
    assert url.scheme == "mailto" and url.path == "ops@acme.example"
    query = parse_qs(url.query)
    assert query["subject"] == [draft.subject] and query["body"] == [draft.body]
