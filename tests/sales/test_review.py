"""Reviewing opportunities and drafts: the API routes of docs/api.md and the admin."""

from __future__ import annotations

import pytest
from django.urls import reverse

from agents_core.models import AgentRun
from csm.models import ExpansionOpportunity
from sales.models import OutreachDraft

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def gmail_off(settings):
    settings.GMAIL_SERVICE_ACCOUNT_JSON = settings.GMAIL_SERVICE_ACCOUNT_FILE = ""


@pytest.fixture
def opportunities(api_book, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        mine = ExpansionOpportunity.objects.create(
            account=api_book["maya_accounts"][0], kind="seats", created_by="csm agent",
            evidence={"seats_used": 9, "seats_purchased": 10, "usage_trend": "growing",
                      "suggested_additional_seats": 5, "seat_price": "300.00", "seat_utilization": 0.9},
            summary="9 of 10 seats in use", estimated_arr_impact="1500.00",
            talk_track="Ask about the new team.",
        )  # fmt: skip
        theirs = ExpansionOpportunity.objects.create(
            account=api_book["tom_accounts"][0], kind="seats", created_by="csm agent",
            evidence={"seats_used": 9, "seats_purchased": 10, "usage_trend": "stable",
                      "suggested_additional_seats": 5, "seat_price": "300.00", "seat_utilization": 0.9},
        )  # fmt: skip
    return mine, theirs


def test_opportunities_are_listed_per_owner_with_their_drafts(api, api_book, opportunities):
    mine, theirs = opportunities
    body = api(api_book["maya"]).get("/api/v1/opportunities/").json()
    assert [o["id"] for o in body["results"]] == [mine.pk]
    row = body["results"][0]
    assert set(row) >= {"id", "account", "kind", "evidence", "estimated_arr_impact", "talk_track", "status",
                        "created_at"}  # fmt: skip
    assert row["estimated_arr_impact"] == "1500.00" and row["status"] == "drafted"
    assert api(api_book["maya"]).get(f"/api/v1/opportunities/{theirs.pk}/").status_code == 404
    assert api(api_book["manager"]).get("/api/v1/opportunities/", {"status": "drafted"}).json()["count"] == 2
    drafts = api(api_book["maya"]).get("/api/v1/drafts/", {"opportunity": mine.pk}).json()["results"]
    assert len(drafts) == 1 and drafts[0]["status"] == "local" and "9 of your 10 seats" in drafts[0]["body"]
    assert api(api_book["maya"]).get(f"/api/v1/drafts/{theirs.draft.pk}/").status_code == 404


def test_an_opportunity_added_by_hand_takes_the_same_path(api, api_book, django_capture_on_commit_callbacks):
    account = api_book["maya_accounts"][1]
    with django_capture_on_commit_callbacks(execute=True):
        response = api(api_book["maya"]).post(
            "/api/v1/opportunities/",
            {"account": account.pk, "kind": "seats", "estimated_arr_impact": "2400.00",
             "summary": "They asked for more seats on the QBR call",
             "evidence": {"seats_used": 48, "seats_purchased": 50, "usage_trend": "growing",
                          "suggested_additional_seats": 8}},
            format="json",
        )  # fmt: skip
    assert response.status_code == 201, response.json()
    opportunity = ExpansionOpportunity.objects.get(pk=response.json()["id"])
    assert opportunity.created_by == "maya"
    assert OutreachDraft.objects.get(opportunity=opportunity).status == "local"
    assert AgentRun.objects.get(agent="sales").trigger == "signal"
    # A second open one of the same kind is refused, with a reason.
    again = api(api_book["maya"]).post(
        "/api/v1/opportunities/", {"account": account.pk, "kind": "seats"}, format="json"
    )
    assert again.status_code == 400 and "kind" in again.json()
    # Another CSM's account cannot be chosen.
    other = api(api_book["maya"]).post(
        "/api/v1/opportunities/", {"account": api_book["tom_accounts"][1].pk, "kind": "module"}, format="json"
    )
    assert other.status_code == 400 and "account" in other.json()


def test_patch_changes_status_and_text_and_records_who(api, api_book, opportunities):
    mine, _ = opportunities
    response = api(api_book["maya"]).patch(
        f"/api/v1/opportunities/{mine.pk}/",
        {"status": "won", "talk_track": "Closed on the call."},
        format="json",
    )
    assert response.status_code == 200, response.json()
    mine.refresh_from_db()
    assert (mine.status, mine.closed_by, mine.talk_track) == ("won", api_book["maya"], "Closed on the call.")
    assert mine.closed_at is not None
    bad = api(api_book["maya"]).patch(f"/api/v1/opportunities/{mine.pk}/", {"status": "maybe"}, format="json")
    assert bad.status_code == 400 and "status" in bad.json()


def test_retrying_a_draft_over_the_api(api, api_book, opportunities, django_capture_on_commit_callbacks):
    mine, _ = opportunities
    draft = mine.draft
    response = api(api_book["maya"]).post(f"/api/v1/drafts/{draft.pk}/retry/")
    assert response.status_code == 400  # local drafts are done
    OutreachDraft.objects.filter(pk=draft.pk).update(status="failed", error="Gmail answered 503")
    with django_capture_on_commit_callbacks(execute=True):
        response = api(api_book["maya"]).post(f"/api/v1/drafts/{draft.pk}/retry/")
    assert response.status_code == 202
    run = AgentRun.objects.get(pk=response.json()["id"])
    assert (run.trigger, run.requested_by, run.status) == ("api", api_book["maya"], "succeeded")
    draft.refresh_from_db()
    assert draft.status == "local" and draft.error == ""


def test_admin_review_pages(client, api_book, opportunities, django_capture_on_commit_callbacks):
    mine, theirs = opportunities
    client.force_login(api_book["maya"])
    listing = client.get(reverse("admin:csm_expansionopportunity_changelist"))
    assert listing.status_code == 200 and [o.pk for o in listing.context["cl"].result_list] == [mine.pk]
    page = client.get(reverse("admin:csm_expansionopportunity_change", args=[mine.pk])).content.decode()
    assert (
        "9 of 10 seats in use" in page
        and "more seats suggested" in page
        and "suggested_additional_seats" not in page
        and "Ask about" in page
    )
    draft_page = client.get(
        reverse("admin:sales_outreachdraft_change", args=[mine.draft.pk])
    ).content.decode()
    assert "as the customer will see it" in draft_page and "Ask about the new team." in draft_page
    assert "9 of your 10 seats" in draft_page
    assert client.get(reverse("admin:sales_outreachdraft_change", args=[theirs.draft.pk])).status_code == 302

    asked = client.post(
        reverse("admin:csm_expansionopportunity_changelist"),
        {"action": "mark_lost", "_selected_action": [mine.pk]},
    )
    assert asked.status_code == 200 and "Why are these lost?" in asked.content.decode()
    mine.refresh_from_db()
    assert mine.status != "lost"  # asked why first
    response = client.post(
        reverse("admin:csm_expansionopportunity_changelist"),
        {
            "action": "mark_lost",
            "_selected_action": [mine.pk],
            "confirm": "yes",
            "close_reason": "Went with a rival",
        },
    )
    assert response.status_code == 302
    mine.refresh_from_db()
    assert (mine.status, mine.closed_by, mine.close_reason) == ("lost", api_book["maya"], "Went with a rival")

    OutreachDraft.objects.filter(pk=mine.draft.pk).update(status="failed")
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("admin:sales_outreachdraft_changelist"),
            {"action": "retry", "_selected_action": [mine.draft.pk]},
        )
    assert AgentRun.objects.filter(agent="sales", trigger="admin", requested_by=api_book["maya"]).exists()


@pytest.mark.parametrize("path", ["/api/v1/opportunities/", "/api/v1/drafts/"])
def test_list_query_count_stays_flat(api, api_book, path, django_assert_max_num_queries):
    from csm.models import Account

    client = api(api_book["manager"])

    def grow_to(n):
        accounts = Account.objects.bulk_create(
            Account(name=f"G{i}", external_id=f"G-{path}-{i}-{n}", owner=api_book["tom"])
            for i in range(n - ExpansionOpportunity.objects.count())
        )
        opportunities = ExpansionOpportunity.objects.bulk_create(
            ExpansionOpportunity(account=a, kind="seats", created_by="t") for a in accounts
        )
        OutreachDraft.objects.bulk_create(
            OutreachDraft(opportunity=o, subject="s", body="b", message_id=f"<{o.pk}@t>")
            for o in opportunities
        )

    def count():
        client.get(path)
        with django_assert_max_num_queries(10) as ctx:
            assert client.get(path).status_code == 200
        return len(ctx.captured_queries)

    grow_to(10)
    small = count()
    grow_to(200)
    assert count() == small
