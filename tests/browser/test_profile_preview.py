"""A scoring change previewed in a real browser at 1280 px: the preview runs off the request, its page
shows the progress while it works, then the result, from which the change is saved."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from selenium.webdriver.common.by import By

from agents_core.models import AgentRun
from csm.models import ProfileEvaluation, ScoringProfile
from csm.scoring.scan import scan_health
from tests.book import add_accounts
from tests.browser.test_csm_workspace import click_and_wait, log_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_a_manager_previews_a_stricter_profile_then_saves_it(browser, live_server, make_user, screenshot):
    morgan = make_user("morgan", view_all=True, first_name="Morgan")
    morgan.user_permissions.add(*Permission.objects.filter(codename__in=["change_scoringprofile"]))
    add_accounts(morgan, 6, prefix="Preview Co")
    scan_health()
    current = ScoringProfile.objects.get(segment="", is_active=True)

    # While a worker is on it: the step, the bar, the count. (Made by hand: here the work runs at once.)
    run = AgentRun.objects.create(
        agent="csm",
        task_type="evaluate_profile",
        trigger=AgentRun.Trigger.ADMIN,
        status=AgentRun.Status.RUNNING,
    )
    underway = ProfileEvaluation.objects.create(
        kind="preview", requested_by=morgan, run=run, step=2, steps=2, done=3, total=4,
        stage=f"Backtest of {current} and of the new settings",
    )  # fmt: skip
    log_in(browser, live_server, "morgan")
    browser.get(f"{live_server.url}/admin/csm/profileevaluation/{underway.pk}/change/")
    assert "Step 2 of 2" in browser.find_element(By.CSS_SELECTOR, ".tend-lede").text
    bar = browser.find_element(By.TAG_NAME, "progress")
    assert bar.get_attribute("value") == "87" and bar.size["width"] > 400  # (1 + 3/4) of 2 steps
    screenshot("profile-preview-progress")

    browser.get(f"{live_server.url}/admin/csm/scoringprofile/{current.pk}/change/")
    threshold = browser.find_element(By.NAME, "green_threshold")
    threshold.clear()
    threshold.send_keys("99")
    click_and_wait(browser, browser.find_element(By.NAME, "_preview"))
    # The worker ran it as the request committed (tests run queued work in-process): the result.
    assert "/admin/csm/profileevaluation/" in browser.current_url
    page = browser.find_element(By.ID, "content-main").text
    assert "Nothing is saved yet" in page and "would change RAG" in page
    assert ScoringProfile.objects.get(segment="", is_active=True).green_threshold == current.green_threshold
    screenshot("profile-preview-result")
    width = browser.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"the preview scrolls sideways at 1280 px: {width}"

    click_and_wait(browser, browser.find_element(By.NAME, "_save"))
    saved = ScoringProfile.objects.get(segment="", is_active=True)
    assert saved.green_threshold == 99 and saved.version == current.version + 1
