"""A CSM's morning in a real browser: log in, see their book, open an at-risk
account and its chart, acknowledge an alert, review a draft."""

from __future__ import annotations

from decimal import Decimal

import pytest
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from csm.models import Account, ChurnAlert
from sales.models import OutreachDraft
from tests.book import add_accounts
from tests.browser.conftest import TABLET

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

PASSWORD = "pw-123-secret"


@pytest.fixture
def morning(make_user):
    maya, tom = make_user("maya", first_name="Maya"), make_user("tom")
    mine = add_accounts(maya, 4, prefix="Maya Co")
    theirs = add_accounts(tom, 2, prefix="Tom Co")
    # One account is healthy: it should not be asking for attention.
    Account.objects.filter(pk=mine[3].pk).update(rag="GREEN", churn_risk="low", health_score=82.0)
    ChurnAlert.objects.filter(account=mine[3]).delete()
    Account.objects.filter(pk=mine[2].pk).update(arr=Decimal("250000"))
    return {"maya": maya, "mine": mine, "theirs": theirs}


def log_in(browser, live_server, username: str) -> None:
    browser.delete_all_cookies()
    browser.get(live_server.url + "/admin/login/")
    browser.find_element(By.NAME, "username").send_keys(username)
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    click_and_wait(browser, browser.find_element(By.CSS_SELECTOR, "input[type=submit]"))


def click_and_wait(browser, element) -> None:
    """Click something that loads a page, and wait until the old page is gone.

    Asked about mid-navigation, Chromium may answer "Node with given id does not belong to the
    document" (a WebDriverException) instead of a stale element: that too means the page went.
    """
    element.click()

    def gone(_driver) -> bool:
        try:
            element.is_enabled()
        except WebDriverException:  # StaleElementReferenceException is one of these
            return True
        return False

    WebDriverWait(browser, 15).until(gone)


def messages(browser) -> str:
    return " ".join(m.text for m in browser.find_elements(By.CSS_SELECTOR, "ul.messagelist li"))


def test_a_csms_morning_review(browser, live_server, morning, screenshot):
    log_in(browser, live_server, "maya")

    # My book today: only Maya's accounts, the biggest at-risk one first.
    assert browser.find_element(By.CSS_SELECTOR, "#content h1").text == "My book today"
    rows = browser.find_elements(By.CSS_SELECTOR, "#attention-form tbody tr")
    names = [row.find_element(By.CSS_SELECTOR, "th a").text for row in rows]
    assert names[0] == "Maya Co 00002"
    # The healthy account is there too, last: its draft and QBR are waiting.
    assert names == ["Maya Co 00002", "Maya Co 00001", "Maya Co 00000", "Maya Co 00003"]
    assert "Tom Co" not in browser.page_source
    rag_chart = browser.find_element(By.CSS_SELECTOR, "#rag-title + .tend-chart-box svg")
    assert "RED 3" in rag_chart.get_attribute("aria-label")
    screenshot("01-book-today")
    screenshot("01-book-today-tablet", TABLET)
    width = browser.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"the index scrolls sideways at tablet width: {width}"

    # Acknowledge the first alert from the index: back on the index, one fewer.
    first_row = browser.find_element(By.CSS_SELECTOR, "#attention-form tbody tr")
    click_and_wait(browser, first_row.find_element(By.CSS_SELECTOR, "button[data-action=acknowledge]"))
    assert browser.current_url.rstrip("/").endswith("/admin")
    assert "Acknowledged the alert on Maya Co 00002" in messages(browser)
    alert = ChurnAlert.objects.get(account__name="Maya Co 00002")
    assert alert.acknowledged_by == morning["maya"]
    screenshot("02-after-acknowledge")

    # Open an at-risk account and see its trend chart with the alert day.
    click_and_wait(browser, browser.find_element(By.LINK_TEXT, "Maya Co 00001"))
    chart = browser.find_element(By.CSS_SELECTOR, "svg.tend-chart")
    assert chart.is_displayed()
    assert "Health score from" in chart.get_attribute("aria-label")
    assert browser.find_elements(By.CSS_SELECTOR, "svg.tend-chart .tend-alert-marker")
    assert browser.find_element(By.CSS_SELECTOR, ".field-rag_display .tend-rag").text == "RED"
    screenshot("03-account")

    # The account list, with sparklines and text RAG labels.
    browser.get(live_server.url + "/admin/csm/account/")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#result_list svg.tend-sparkline")) == 4
    assert "Tom Co" not in browser.page_source
    screenshot("04-accounts")

    # Review a draft: open it from the drafts waiting, see the email, approve it.
    browser.get(live_server.url + "/admin/sales/outreachdraft/?review=waiting")
    screenshot("05-drafts-waiting")
    click_and_wait(browser, browser.find_element(By.PARTIAL_LINK_TEXT, "More seats for Maya Co 00001"))
    assert "Open the Gmail draft" in browser.page_source
    click_and_wait(browser, browser.find_element(By.CSS_SELECTOR, "button[data-action=approve]"))
    assert "Approved" in messages(browser)
    assert "Approved by maya" in browser.find_element(By.CSS_SELECTOR, ".field-review").text
    draft = OutreachDraft.objects.get(opportunity__account__name="Maya Co 00001")
    assert draft.approved_by == morning["maya"]
    screenshot("06-draft-approved")

    # Alerts: acknowledge another from the list, and stay on the list.
    browser.get(live_server.url + "/admin/csm/churnalert/")
    before = len(browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr"))
    click_and_wait(
        browser, browser.find_element(By.CSS_SELECTOR, "#result_list button[data-action=acknowledge]")
    )
    assert "/admin/csm/churnalert/" in browser.current_url
    assert len(browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")) == before - 1
    screenshot("07-alerts")


def test_a_csm_cannot_reach_another_csms_account(browser, live_server, morning):
    log_in(browser, live_server, "maya")
    other = morning["theirs"][0]
    browser.get(f"{live_server.url}/admin/csm/account/{other.pk}/change/")
    assert "Tom Co" not in browser.page_source
    assert "exist" in messages(browser)  # "... doesn't exist. Perhaps it was deleted?"


def test_the_browser_time_zone_is_used(browser, live_server, morning):
    browser.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": "Asia/Tokyo"})
    try:
        log_in(browser, live_server, "maya")
        browser.get(live_server.url + "/admin/")  # the script has set the cookie by now
        assert browser.get_cookie("tend_tz")["value"] == "Asia%2FTokyo"
    finally:
        browser.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": "UTC"})
