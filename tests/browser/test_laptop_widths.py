"""The lists a CSM works in fit a laptop: no sideways scroll at 1280 and 1440 px, and the "Why"
column wraps into readable rows instead of squeezing into a column a word wide."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from csm.models import CrmConflict, CrmSyncRun, HealthScore, Playbook, PlaybookRun
from csm.playbooks.tasks import create_task
from tests.book import add_accounts
from tests.browser.test_csm_workspace import log_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

WHY = (
    "Feature adoption -11.1 of 15, logins -8.0 of 10, support tickets -6.5 of 10: usage fell by a third "
    "over four weeks and nobody from the customer has logged in since 3 Nov."
)
PAGES = ["/admin/", "/admin/csm/account/", "/admin/csm/churnalert/", "/admin/csm/expansionopportunity/",
         "/admin/sales/outreachdraft/", "/admin/csm/qbr/", "/admin/csm/task/", "/admin/csm/playbook/",
         "/admin/csm/playbookrun/", "/admin/csm/crmconflict/", "/admin/csm/crmfieldmapping/",
         "/admin/csm/crmsyncrun/"]  # fmt: skip


@pytest.fixture
def busy_book(make_user):
    maya = make_user("maya", first_name="Maya", last_name="Okafor-Lindqvist")
    manager = make_user("morgan", view_all=True)
    accounts = add_accounts(maya, 30, prefix="Northwind Logistics International Holdings")
    HealthScore.objects.filter(account__in=accounts).update(explanation=WHY)
    today = timezone.localdate()
    for i, account in enumerate(accounts[:8]):  # tasks due, late, and a playbook's
        title = "Call the champion about the drop in weekly active users and agree a plan"
        create_task(account=account, owner=maya, due_on=today - timedelta(days=i % 3), priority="high",
                    title=title)  # fmt: skip
    playbook = Playbook.objects.get(name="Churn save")
    PlaybookRun.objects.create(playbook=playbook, account=accounts[0], occurrence="alert:1",
                               started_at=timezone.now(), started_on=today)  # fmt: skip
    for account in accounts[:5]:  # the CRM and Tend disagree
        CrmConflict.objects.create(
            system="hubspot", account=account, tend_field="plan", crm_field="plan", owner="crm",
            changed_on="tend", crm_value="Enterprise Plus (annual, invoiced)", tend_value="Enterprise",
            detected_at=timezone.now(),
        )  # fmt: skip
    counts = {"read": 12_000, "created": 40, "updated": 1_204, "unchanged": 10_700, "refused": 56,
              "conflicts": 5, "contacts": 3_410, "api_calls": 75}  # fmt: skip
    CrmSyncRun.objects.create(
        system="hubspot", kind="pull", status="partial", started_at=timezone.now(), **counts
    )
    return {"maya": maya, "manager": manager}


def _layout(browser) -> dict:
    return browser.execute_script(
        """
        const rows = [...document.querySelectorAll('#result_list tbody tr, #attention-form tbody tr')];
        const results = document.querySelector('#changelist .results, #attention-form');
        return {
          page: [document.documentElement.scrollWidth, window.innerWidth],
          table: results ? [results.scrollWidth, results.clientWidth] : [0, 0],
          tallest: Math.max(0, ...rows.map(r => r.getBoundingClientRect().height)),
        };
        """
    )


@pytest.mark.parametrize("width", [1280, 1440])
@pytest.mark.parametrize("who", ["maya", "morgan"])
def test_lists_fit_a_laptop_without_sideways_scroll(browser, live_server, busy_book, width, who):
    log_in(browser, live_server, who)
    browser.set_window_size(width, 900)
    try:
        for page in PAGES:
            browser.get(live_server.url + page)
            layout = _layout(browser)
            assert layout["page"][0] <= layout["page"][1], (page, width, "the page scrolls sideways", layout)
            assert layout["table"][0] <= layout["table"][1] + 1, (
                page,
                width,
                "the list scrolls sideways",
                layout,
            )
            assert layout["tallest"] <= 130, (page, width, "a row is squeezed tall", layout)
    finally:
        browser.set_window_size(1366, 900)


def test_laptop_screenshots(browser, live_server, busy_book, screenshot):
    """The pages a CSM starts from, at 1280 px, saved for a person to look at (var/screenshots)."""
    log_in(browser, live_server, "maya")
    for name, page in [
        ("index", "/admin/"),
        ("accounts", "/admin/csm/account/"),
        ("tasks", "/admin/csm/task/"),
        ("crm-conflicts", "/admin/csm/crmconflict/"),
    ]:
        browser.get(live_server.url + page)
        assert screenshot(f"laptop-1280-{name}", (1280, 900)).stat().st_size > 10_000
    log_in(browser, live_server, "morgan")
    playbook = Playbook.objects.get(name="Churn save")
    for name, page in [("playbook", f"/admin/csm/playbook/{playbook.pk}/change/"),
                       ("follow-through", "/admin/csm/playbook/follow-through/")]:  # fmt: skip
        browser.get(live_server.url + page)
        assert screenshot(f"laptop-1280-{name}", (1280, 900)).stat().st_size > 10_000
