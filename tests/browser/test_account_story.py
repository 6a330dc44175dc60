"""The account's story in a real browser at 1280 px: the account page shows its people with their
roles and its timeline (a survey answer, a logged call, the alert), newest first, and the brief
downloads."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.utils import timezone
from selenium.webdriver.common.by import By

from csm.models import Contact, SurveyResponse
from csm.timeline.interactions import log_interaction
from tests.book import add_accounts
from tests.browser.test_csm_workspace import log_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_the_account_page_tells_the_accounts_story(browser, live_server, make_user, screenshot):
    maya = make_user("maya", first_name="Maya")
    account = add_accounts(maya, 1, prefix="Storied Co")[0]
    wile = Contact.objects.create(
        account=account,
        name="Wile Coyote",
        email="wile@storied.test",
        title="VP Operations",
        role="champion",
        is_primary=True,
    )
    Contact.objects.create(
        account=account, name="Road Runner", email="road@storied.test", role="decision_maker"
    )
    today = timezone.localdate()
    log_interaction(
        account=account,
        kind="call",
        occurred_on=today - timedelta(days=1),
        by=maya,
        title="Renewal check-in",
        body="They are evaluating a competitor for reporting.",
        participants=[wile],
        sentiment="negative",
    )
    SurveyResponse.objects.create(
        account=account,
        contact=wile,
        email=wile.email,
        name=wile.name,
        kind="nps",
        score=4,
        comment="Reports are too slow for our board pack.",
        responded_at=timezone.now() - timedelta(hours=3),
        survey="Q4 NPS",
    )
    log_in(browser, live_server, "maya")
    browser.get(f"{live_server.url}/admin/csm/account/{account.pk}/change/")
    items = browser.find_elements(By.CSS_SELECTOR, ".tend-timeline .tend-timeline-item")
    kinds = [i.find_element(By.CSS_SELECTOR, ".tend-kind").text.lower() for i in items]
    assert {"survey", "interaction", "alert", "opportunity", "qbr"} <= set(kinds), kinds
    assert kinds.index("survey") < kinds.index(
        "interaction"
    )  # newest first: today's answer, then yesterday's call
    days = [i.find_element(By.CSS_SELECTOR, ".tend-timeline-day").text for i in items]
    as_dates = [datetime.strptime(d, "%d %b %Y").date() for d in days]
    assert as_dates == sorted(as_dates, reverse=True)
    assert "NPS 4 (detractor) from Wile Coyote" in items[kinds.index("survey")].text
    people = browser.find_element(By.CSS_SELECTOR, "#contacts-group").text
    assert "Champion" in people and "Decision maker" in people
    screenshot("account-timeline")
    width = browser.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"the account page scrolls sideways at 1280 px: {width}"
