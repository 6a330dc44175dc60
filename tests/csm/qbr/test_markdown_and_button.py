"""The QBR's Markdown reads well in every case, and a CSM can write one from the account page."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from csm.models import QBR
from csm.qbr.build import generate
from csm.qbr.markdown import render_qbr_markdown
from csm.qbr.quarters import quarter_of
from csm.scoring.scan import scan_health

pytestmark = pytest.mark.django_db


def test_untracked_features_have_no_empty_table_and_moves_are_one_line_in_words(make_account):
    account = make_account()
    scan_health(today=timezone.localdate())
    quarter = quarter_of(timezone.localdate())
    generate(quarter=quarter, trigger="manual", account_ids=[account.pk])
    qbr = QBR.objects.get(account=account)
    qbr.sections["health_summary"]["moved"] = [
        ["feature_adoption_rate", -3.1],
        ["nps_score", 2.0],
        ["support", -1.0],
    ]
    qbr.sections["roi"]["support"] = {"open_tickets": None, "sentiment": None, "escalations_90_days": 0}
    text = render_qbr_markdown(qbr)
    assert "Feature usage is not tracked for this account yet." in text
    assert "| Feature |" not in text  # no table header over nothing
    assert text.count("Moved most:") == 1
    assert "- Moved most: feature adoption -3.1, NPS +2.0, support tickets -1.0" in text
    assert "open tickets not reported" in text and "0 escalations in 90 days" in text
    assert "feature\\_adoption" not in text and "_rate" not in text


def test_generate_qbr_on_the_account_page_writes_it_now(client, make_user, make_account):
    maya = make_user("maya")
    account = make_account(owner=maya)
    client.force_login(maya)
    page = client.get(reverse("admin:csm_account_change", args=[account.pk])).content.decode()
    assert 'data-action="generate_qbr"' in page
    response = client.post(reverse("admin:csm_account_do", args=[account.pk, "generate_qbr"]))
    said = [str(m) for m in get_messages(response.wsgi_request)]
    qbr = QBR.objects.get(account=account)
    assert said == [f"Wrote the {qbr.quarter} QBR for {account}: open it from the QBR field or the QBR list."]
    account.refresh_from_db()
    assert account.health_score is not None  # scored first: the QBR has a score to show
    assert qbr.sections["health_summary"]["score"] == account.health_score


def test_an_empty_qbr_list_says_when_they_come_and_how_to_write_one(client, make_user):
    client.force_login(make_user("maya"))
    page = client.get(reverse("admin:csm_qbr_changelist")).content.decode()
    assert "No QBRs yet." in page and "Generate QBR" in page


def test_the_qbr_carries_the_account_brief_in_markdown_and_notion(make_account):
    from datetime import timedelta

    from csm.models import Contact, SurveyResponse
    from csm.qbr.notion import blocks

    account = make_account(name="Brief Co")
    Contact.objects.create(account=account, name="Wile Coyote", email="wile@brief.test", is_primary=True)
    SurveyResponse.objects.create(
        account=account,
        kind="nps",
        score=4,
        email="wile@brief.test",
        comment="Reports are slow",
        responded_at=timezone.now() - timedelta(days=3),
    )
    scan_health(today=timezone.localdate())
    generate(quarter=quarter_of(timezone.localdate()), trigger="manual", account_ids=[account.pk])
    qbr = QBR.objects.get(account=account)
    text = render_qbr_markdown(qbr)
    brief = text.split("## Account brief", 1)[1]
    assert "### People" in brief and "- Wile Coyote (primary)" in brief
    assert '4/10: "Reports are slow"' in brief
    assert "# Brief Co" not in brief  # the brief's own title is the QBR's
    notion = blocks(qbr)
    headings = [b["heading_2"]["rich_text"][0]["text"]["content"] for b in notion if b["type"] == "heading_2"]
    assert headings[-1] == "Account brief"
    items = [b[b["type"]]["rich_text"][0]["text"]["content"] for b in notion]
    assert any("Reports are slow" in i for i in items)
