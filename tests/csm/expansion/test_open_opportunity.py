"""One open opportunity per account and kind: one service decides, the admin and the API say why."""

from __future__ import annotations

from decimal import Decimal

import pytest

from csm.expansion.opportunities import OpenOpportunityExists, close, open_opportunity
from csm.models import ExpansionOpportunity

REFUSAL = "This account already has an open opportunity of this kind."


@pytest.fixture(autouse=True)
def gmail_off(settings):
    settings.GMAIL_SERVICE_ACCOUNT_FILE = ""


def seats(account, **fields) -> ExpansionOpportunity:
    return ExpansionOpportunity(account=account, kind="seats", estimated_arr_impact=Decimal("1200"), **fields)


def test_a_second_open_one_of_a_kind_is_refused_and_nothing_is_saved(make_user, make_account):
    account = make_account(owner=make_user("maya"))
    first = open_opportunity(seats(account), created_by="maya")
    assert first.pk and first.created_by == "maya"
    with pytest.raises(OpenOpportunityExists, match=REFUSAL):
        open_opportunity(seats(account), created_by="maya")
    assert ExpansionOpportunity.objects.filter(account=account).count() == 1
    # Another kind, or the same kind once the first is closed, is fine.
    open_opportunity(ExpansionOpportunity(account=account, kind="integration"), created_by="maya")
    close(first, ExpansionOpportunity.Status.WON)
    assert open_opportunity(seats(account), created_by="maya").status == "open"


def test_reopening_while_another_is_open_is_refused_and_changes_nothing(make_user, make_account):
    account = make_account(owner=make_user("maya"))
    old = close(open_opportunity(seats(account), created_by="maya"), ExpansionOpportunity.Status.LOST)
    open_opportunity(seats(account), created_by="maya")
    with pytest.raises(OpenOpportunityExists):
        close(old, ExpansionOpportunity.Status.OPEN)
    old.refresh_from_db()
    assert old.status == "lost" and old.closed_at is not None


def test_the_admin_and_the_api_give_the_same_reason(client, api, make_user, make_account):
    maya = make_user("maya")
    account = make_account(owner=maya)
    open_opportunity(seats(account), created_by="maya")

    client.force_login(maya)
    page = client.post(
        "/admin/csm/expansionopportunity/add/",
        {
            "account": account.pk,
            "kind": "seats",
            "estimated_arr_impact": "100",
            "summary": "",
            "talk_track": "",
        },
        follow=True,
    )
    assert page.status_code == 200
    assert REFUSAL in [str(m) for m in page.context["messages"]]

    response = api(maya).post(
        "/api/v1/opportunities/", {"account": account.pk, "kind": "seats"}, format="json"
    )
    assert response.status_code == 400 and response.json()["kind"] == [REFUSAL]

    closed = close(
        open_opportunity(ExpansionOpportunity(account=account, kind="module"), created_by="x"), "lost"
    )
    open_opportunity(ExpansionOpportunity(account=account, kind="module"), created_by="x")
    reopen = api(maya).patch(f"/api/v1/opportunities/{closed.pk}/", {"status": "open"}, format="json")
    assert reopen.status_code == 400 and reopen.json()["status"] == [REFUSAL]
    assert (
        ExpansionOpportunity.objects.filter(account=account).count() == 3
    )  # seats, module lost, module open
