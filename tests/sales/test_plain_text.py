"""Text outside a web page stays itself: plain-text channels are not HTML-escaped, Markdown is escaped."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from csm.alerts.channels import message_text
from csm.expansion.opportunities import talk_track
from csm.models import QBR, ChurnAlert, ExpansionOpportunity
from csm.qbr.markdown import escape_markdown, render_qbr_markdown
from sales.drafting import compose

NAME = 'Ben & Jerry\'s <Ice> "Cream"'


@pytest.fixture
def account(make_user, make_account):
    return make_account(name=NAME, owner=make_user("maya", email="maya@example.com"), seats_purchased=50,
                        seats_used=49, primary_contact_email="buyer@example.com")  # fmt: skip


def test_an_outreach_draft_and_its_talk_track_keep_the_name_as_written(account):
    opportunity = ExpansionOpportunity.objects.create(
        account=account, kind="seats", estimated_arr_impact=Decimal("1200"),
        evidence={"seats_used": 49, "seats_purchased": 50, "suggested_additional_seats": 10,
                  "seat_price": "120"},
    )  # fmt: skip
    draft = compose(opportunity)
    assert NAME in draft["subject"] + draft["body"]
    assert (
        "&amp;" not in draft["subject"] + draft["body"] and "&#x27;" not in draft["subject"] + draft["body"]
    )
    assert "&amp;" not in talk_track(opportunity) and "&#x27;" not in talk_track(opportunity)


def test_an_alert_message_keeps_the_name_as_written(account):
    today = timezone.localdate()
    alert = ChurnAlert.objects.create(
        account=account, raised_on=today, raised_at=timezone.now(), reason="entered_red",
        explanation="Fell <fast> & hard.", score=30, rag="RED", churn_risk="high", arr=Decimal("1000"),
        renewal_date=today + timedelta(30),
    )  # fmt: skip
    text = message_text(alert)
    assert NAME in text["subject"] and "Fell <fast> & hard." in text["body"] and "&amp;" not in text["body"]


def test_markdown_escapes_what_people_typed():
    assert escape_markdown("a | b") == "a \\| b"
    assert escape_markdown("<script>x</script>") == "\\<script\\>x\\</script\\>"
    assert escape_markdown("line\r\nbreak *bold*") == "line break \\*bold\\*"


def test_a_qbr_download_cannot_be_broken_by_a_name_or_a_summary(account):
    qbr = QBR.objects.create(
        account=account, quarter="Q3 2026", trigger="quarterly", generated_at=timezone.now(),
        sections={"feature_adoption": {"rate": 0.5, "features": [
            {"feature": "Pipes | Filters", "module": "<b>Core</b>", "active_users": 3, "last_used_on": None,
             "adopted": True}]}},
    )  # fmt: skip
    markdown = render_qbr_markdown(qbr)
    assert '# Ben & Jerry\'s \\<Ice\\> "Cream": Quarterly Business Review, Q3 2026' in markdown
    assert "| Pipes \\| Filters | \\<b\\>Core\\</b\\> | 3 | never | yes |" in markdown
    assert "<b>" not in markdown
