"""My book today (the admin index), and the one-click review actions."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.urls import reverse
from django.utils import timezone

from agents_core.models import AgentRun
from config.book_today import book_today
from csm.models import AlertDelivery, ChurnAlert, ExpansionOpportunity
from sales.models import OutreachDraft
from tests.book import add_accounts

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(make_user):
    maya, tom = make_user("maya", first_name="Maya", last_name="Lind"), make_user("tom")
    return {
        "maya": maya,
        "tom": tom,
        "manager": make_user("morgan", view_all=True),
        "maya_accounts": add_accounts(maya, 3, prefix="Maya"),
        "tom_accounts": add_accounts(tom, 2, prefix="Tom"),
    }


def test_a_csms_book_today_lists_what_needs_them_and_nothing_of_others(team):
    maya_ids = {a.pk for a in team["maya_accounts"]}
    book = book_today(team["maya"])

    assert {entry.account.pk for entry in book.attention} == maya_ids
    first = book.attention[0]
    # Entered RED comes first; every reason the account is here is listed.
    assert first.alert is not None and first.alert.reason == ChurnAlert.Reason.ENTERED_RED
    assert any(r.startswith("Entered RED") for r in first.reasons)
    assert any(r.startswith("Renews in") for r in first.reasons)
    assert "Outreach draft to review" in first.reasons
    assert any(r.startswith("QBR due") for r in first.reasons)
    # Biggest ARR first within the same priority.
    assert [e.account.arr for e in book.attention] == sorted(
        (e.account.arr for e in book.attention), reverse=True
    )

    assert book.counts == {
        "open_alerts": 3,
        "renewals": 3,
        "overdue_renewals": 0,
        "not_scored": 0,
        "drafts": 3,
        "qbrs_due": 3,
        "tasks_due": 0,
    }
    assert book.totals["accounts"] == 3 and book.totals["red"] == 3
    assert book.totals["arr_at_risk"] == sum(a.arr for a in team["maya_accounts"])
    assert sum(arr for _, arr in book.arr_at_risk_by_month) == book.totals["arr_at_risk"]
    assert book.whole_team is False and book.team == []
    assert {run.requested_by_id for run in book.runs} == {team["maya"].pk}


def test_acknowledged_snoozed_approved_and_fulfilled_items_leave_the_list(team):
    account = team["maya_accounts"][0]
    ChurnAlert.objects.filter(account=account).update(acknowledged_at=timezone.now())
    OutreachDraft.objects.filter(opportunity__account=account).update(approved_at=timezone.now())
    account.qbrs_due.update(fulfilled_at=timezone.now())
    snoozed = team["maya_accounts"][1]
    ChurnAlert.objects.filter(account=snoozed).update(snoozed_until=timezone.localdate() + timedelta(days=3))

    book = book_today(team["maya"])
    entries = {e.account.pk: e for e in book.attention}
    assert entries[account.pk].reasons == [entries[account.pk].reasons[0]]
    assert entries[account.pk].reasons[0].startswith("Renews in")  # still weak and renewing
    assert entries[snoozed.pk].alert is None
    assert book.counts["open_alerts"] == 1 and book.counts["drafts"] == 2 and book.counts["qbrs_due"] == 2


def test_lost_customers_are_not_in_the_book(team):
    from csm.models import Account

    Account.objects.filter(pk=team["maya_accounts"][0].pk).update(status=Account.Status.CHURNED, rag="")
    book = book_today(team["maya"])
    assert book.totals["accounts"] == 2 and book.totals["unscored"] == 0
    assert team["maya_accounts"][0].pk not in {
        e.account.pk for e in book.attention
    }  # nor its alert, draft, QBR
    assert book.counts == {
        "open_alerts": 2,
        "renewals": 2,
        "overdue_renewals": 0,
        "not_scored": 0,
        "drafts": 2,
        "qbrs_due": 2,
        "tasks_due": 0,
    }


def test_a_manager_sees_the_whole_team_by_owner(team):
    book = book_today(team["manager"])
    assert book.whole_team is True
    by_name = {row["name"]: row for row in book.team}
    assert by_name["Maya Lind"]["accounts"] == 3 and by_name["Maya Lind"]["open_alerts"] == 3
    assert by_name["tom"]["accounts"] == 2 and by_name["tom"]["red"] == 2
    assert by_name["tom"]["arr_at_risk"] == sum(a.arr for a in team["tom_accounts"])
    assert len(book.attention) == 5


def test_the_index_shows_the_book_charts_and_buttons(client, team):
    client.force_login(team["maya"])
    page = client.get(reverse("admin:index")).content.decode()
    assert "Needs your attention first" in page
    assert "Maya 00000" in page and "Tom 0000" not in page
    assert 'aria-label="Accounts by RAG: GREEN 0, AMBER 0, RED 3, Not scored 0"' in page
    assert "ARR at risk by renewal month" in page
    alert = team["maya_accounts"][0].alerts.get()
    assert reverse("admin:csm_churnalert_do", args=[alert.pk, "acknowledge"]) in page
    assert "The team, by owner" not in page

    client.force_login(team["manager"])
    assert "The team, by owner" in client.get(reverse("admin:index")).content.decode()


def test_an_empty_book_says_what_to_do_next(client, make_user):
    client.force_login(make_user("newbie"))
    page = client.get(reverse("admin:index")).content.decode()
    assert "Nothing needs you today" in page
    assert "Import CSV" in page
    assert "No agent runs yet today" in page
    accounts = client.get(reverse("admin:csm_account_changelist")).content.decode()
    assert "No accounts here yet" in accounts and "A manager assigns accounts to you" in accounts
    searched = client.get(reverse("admin:csm_account_changelist") + "?q=zzz").content.decode()
    assert "No accounts here yet" not in searched  # a search that finds nothing is not an empty book


# --- one-click actions ------------------------------------------------------


def test_acknowledge_records_who_and_when_and_returns_where_the_user_was(client, team):
    alert = team["maya_accounts"][0].alerts.get()
    client.force_login(team["maya"])
    url = reverse("admin:csm_churnalert_do", args=[alert.pk, "acknowledge"])
    came_from = "http://testserver" + reverse("admin:index")

    assert client.get(url).status_code == 405  # a link cannot change anything
    response = client.post(url, HTTP_REFERER=came_from)

    assert response.status_code == 302 and response["Location"] == came_from
    alert.refresh_from_db()
    assert alert.acknowledged_by == team["maya"] and alert.acknowledged_at is not None
    entry = LogEntry.objects.get(object_id=str(alert.pk))
    assert entry.user == team["maya"] and entry.action_flag == CHANGE
    assert "Acknowledged" in entry.change_message

    # Twice is refused, and the first record stays.
    first = alert.acknowledged_at
    page = client.post(url, HTTP_REFERER=came_from, follow=True).content.decode()
    assert "Already acknowledged by maya" in page
    alert.refresh_from_db()
    assert alert.acknowledged_at == first


def test_a_foreign_referer_is_not_followed(client, team):
    alert = team["maya_accounts"][0].alerts.get()
    client.force_login(team["maya"])
    response = client.post(
        reverse("admin:csm_churnalert_do", args=[alert.pk, "acknowledge"]),
        HTTP_REFERER="https://evil.example/x",
    )
    assert response["Location"] == reverse("admin:csm_churnalert_change", args=[alert.pk])


def test_another_csms_objects_and_unknown_actions_are_not_found(client, team):
    client.force_login(team["maya"])
    toms_alert = team["tom_accounts"][0].alerts.get()
    assert (
        client.post(reverse("admin:csm_churnalert_do", args=[toms_alert.pk, "acknowledge"])).status_code
        == 404
    )
    toms_alert.refresh_from_db()
    assert toms_alert.acknowledged_at is None
    own = team["maya_accounts"][0].alerts.get()
    assert client.post(reverse("admin:csm_churnalert_do", args=[own.pk, "delete"])).status_code == 404


def test_a_user_who_may_only_view_cannot_act(client, team, django_user_model):
    from django.contrib.auth.models import Permission

    viewer = django_user_model.objects.create_user("viewer", password="x", is_staff=True)
    viewer.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_churnalert", "view_all_accounts", "view_account"])
    )
    client.force_login(viewer)
    alert = team["maya_accounts"][0].alerts.get()
    assert client.post(reverse("admin:csm_churnalert_do", args=[alert.pk, "acknowledge"])).status_code == 403
    alert.refresh_from_db()
    assert alert.acknowledged_at is None


def test_approve_a_draft_once_and_only_when_written(client, team):
    draft = team["maya_accounts"][0].opportunities.get().draft
    client.force_login(team["maya"])
    url = reverse("admin:sales_outreachdraft_do", args=[draft.pk, "approve"])
    change = reverse("admin:sales_outreachdraft_change", args=[draft.pk])

    page = client.get(change).content.decode()
    assert url in page and "Open the Gmail draft" in page
    page = client.post(url, HTTP_REFERER="http://testserver" + change, follow=True).content.decode()
    assert "waits in the owner&#x27;s Gmail drafts" in page or "waits in the owner's Gmail drafts" in page
    draft.refresh_from_db()
    assert draft.approved_by == team["maya"] and draft.approved_at is not None
    assert "Approved by maya" in page

    failed = team["maya_accounts"][1].opportunities.get().draft
    OutreachDraft.objects.filter(pk=failed.pk).update(status=OutreachDraft.Status.FAILED)
    page = client.post(reverse("admin:sales_outreachdraft_do", args=[failed.pk, "approve"]), follow=True)
    assert "nothing to approve yet" in page.content.decode()
    failed.refresh_from_db()
    assert failed.approved_at is None


def test_bulk_approve_skips_drafts_not_waiting(client, team):
    drafts = [a.opportunities.get().draft for a in team["maya_accounts"]]
    OutreachDraft.objects.filter(pk=drafts[2].pk).update(status=OutreachDraft.Status.FAILED)
    client.force_login(team["maya"])
    response = client.post(
        reverse("admin:sales_outreachdraft_changelist"),
        {"action": "approve_drafts", "_selected_action": [d.pk for d in drafts]},
        follow=True,
    )
    assert "Approved 2 draft(s). 1 were not waiting for review." in response.content.decode()
    assert OutreachDraft.objects.filter(approved_by=team["maya"]).count() == 2


def test_decide_an_opportunity_from_its_row(client, team):
    opportunity = team["maya_accounts"][0].opportunities.get()
    before = opportunity.status
    won = reverse("admin:csm_expansionopportunity_do", args=[opportunity.pk, "won"])
    client.force_login(team["maya"])
    refused = client.post(won, follow=True)
    assert "Say why" in refused.content.decode()
    opportunity.refresh_from_db()
    assert opportunity.status == before  # no reason, no decision
    client.post(won, {f"close_reason-{opportunity.pk}": "  Signed   for 20 seats "})
    opportunity.refresh_from_db()
    assert opportunity.status == ExpansionOpportunity.Status.WON
    assert opportunity.closed_by == team["maya"] and opportunity.closed_at is not None
    assert opportunity.close_reason == "Signed for 20 seats"
    response = client.post(
        reverse("admin:csm_expansionopportunity_do", args=[opportunity.pk, "lost"]),
        {f"close_reason-{opportunity.pk}": "changed my mind"},
        follow=True,
    )
    assert "already won" in response.content.decode()
    opportunity.refresh_from_db()
    assert opportunity.status == ExpansionOpportunity.Status.WON


def test_a_decision_can_be_undone_for_a_day(client, team):
    opportunity = team["maya_accounts"][0].opportunities.get()
    before = opportunity.status
    client.force_login(team["maya"])
    client.post(
        reverse("admin:csm_expansionopportunity_do", args=[opportunity.pk, "dismiss"]),
        {f"close_reason-{opportunity.pk}": "they are mid-migration"},
    )
    page = client.get(reverse("admin:csm_expansionopportunity_changelist")).content.decode()
    assert "they are mid-migration" in page and 'data-action="undo"' in page
    undo = reverse("admin:csm_expansionopportunity_do", args=[opportunity.pk, "undo"])
    client.post(undo)
    opportunity.refresh_from_db()
    assert opportunity.status == before and opportunity.closed_at is None and opportunity.close_reason == ""
    client.post(
        reverse("admin:csm_expansionopportunity_do", args=[opportunity.pk, "dismiss"]),
        {f"close_reason-{opportunity.pk}": "no budget"},
    )
    ExpansionOpportunity.objects.filter(pk=opportunity.pk).update(
        closed_at=timezone.now() - timedelta(days=2)
    )
    late = client.post(undo, follow=True).content.decode()
    assert "more than a day ago" in late
    opportunity.refresh_from_db()
    assert opportunity.status == ExpansionOpportunity.Status.DISMISSED


def test_rescan_and_regenerate_queue_runs_in_the_users_name(client, team, monkeypatch):
    account = team["maya_accounts"][0]
    client.force_login(team["maya"])
    before = AgentRun.objects.count()
    client.post(reverse("admin:csm_account_do", args=[account.pk, "rescan"]))
    client.post(reverse("admin:csm_qbr_do", args=[account.qbrs.get().pk, "regenerate"]))
    runs = list(AgentRun.objects.order_by("-pk")[: AgentRun.objects.count() - before])
    assert {(r.task_type, r.requested_by_id, r.trigger) for r in runs} >= {
        ("health_scan", team["maya"].pk, AgentRun.Trigger.ADMIN),
        ("generate_qbr", team["maya"].pk, AgentRun.Trigger.ADMIN),
    }
    scan = next(r for r in runs if r.task_type == "health_scan")
    assert scan.payload == {"account_ids": [account.pk]}


def test_retry_a_failed_delivery_records_who(client, team, settings):
    settings.CHAT_WEBHOOK_URL = ""  # not configured: the retry resolves to skipped, without the network
    delivery = AlertDelivery.objects.get(alert__account=team["maya_accounts"][0], channel="chat")
    client.force_login(team["maya"])
    page = client.get(reverse("admin:csm_alertdelivery_changelist")).content.decode()
    assert reverse("admin:csm_alertdelivery_do", args=[delivery.pk, "retry"]) in page
    client.post(reverse("admin:csm_alertdelivery_do", args=[delivery.pk, "retry"]))
    delivery.refresh_from_db()
    assert delivery.retried_by == team["maya"] and delivery.retried_at is not None
    assert delivery.status != AlertDelivery.Status.FAILED
    response = client.post(reverse("admin:csm_alertdelivery_do", args=[delivery.pk, "retry"]), follow=True)
    assert "only failed deliveries are retried" in response.content.decode()


def test_account_page_draws_the_trend_with_the_alert_day(client, team):
    account = team["maya_accounts"][0]
    client.force_login(team["maya"])
    page = client.get(reverse("admin:csm_account_change", args=[account.pk])).content.decode()
    assert 'class="tend-chart"' in page
    assert f"Alert on {timezone.localdate().isoformat()}" in page
    assert "(3 scores, 1 alerts)" in page
    assert reverse("admin:csm_account_do", args=[account.pk, "rescan"]) in page


def test_account_list_has_a_sparkline_per_row_and_text_rag_labels(client, team):
    client.force_login(team["maya"])
    page = client.get(reverse("admin:csm_account_changelist")).content.decode()
    assert page.count('class="tend-sparkline"') == 3
    assert "Last 3 scores: 37 to 35" in page
    assert '<span class="tend-rag tend-rag-red">RED</span>' in page


def test_weak_health_filter(client, team):
    from csm.models import Account

    Account.objects.filter(pk=team["maya_accounts"][0].pk).update(
        rag="GREEN", churn_risk="low", arr=Decimal(1)
    )
    client.force_login(team["maya"])
    page = client.get(reverse("admin:csm_account_changelist") + "?health=weak").content.decode()
    assert "Maya 00000" not in page and "Maya 00001" in page


def test_every_tile_on_the_index_opens_a_working_filtered_list(client, team):
    from django.test import RequestFactory

    from config.index import book_today_context

    request = RequestFactory().get("/admin/")
    request.user = team["manager"]
    client.force_login(team["manager"])
    for name, url in book_today_context(request)["links"].items():
        response = client.get(url)
        # A filter the admin does not know answers 302 to "?e=1"; each of these must filter.
        assert response.status_code == 200, (name, url, response.get("Location"))


def test_what_the_attention_list_cuts_is_counted_with_a_link(client, make_user, team):
    assert book_today(team["maya"]).more == []  # 3 accounts: everything shows
    busy = make_user("busy")
    add_accounts(busy, 30, prefix="Busy")
    book = book_today(busy)
    assert len(book.attention) == 25
    more = {key: (n, label) for key, n, label in book.more}
    shown_drafts = sum(entry.draft is not None for entry in book.attention)
    assert more["drafts"] == (book.counts["drafts"] - shown_drafts, "drafts to review")
    assert more["open_alerts"][0] == book.counts["open_alerts"] - sum(
        e.alert is not None for e in book.attention
    )
    assert all(n > 0 for n, _label in more.values())

    client.force_login(busy)
    page = client.get("/admin/").content.decode()
    n = more["drafts"][0]
    assert f"{n} more drafts to review</a>" in page
    assert reverse("admin:sales_outreachdraft_changelist") + "?book=current&amp;review=waiting" in page
