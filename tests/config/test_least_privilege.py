"""Least privilege and no oracles: a CSM learns nothing about the book beyond their own accounts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from agents_core.dispatch import follow_up
from agents_core.models import AgentRun
from csm.alerts.contract_check import contract_check

pytestmark = pytest.mark.django_db

NOTION_ID = "1a2b3c4d5e6f47a8b9c0d1e2f3a4b5c6"


@pytest.fixture
def scheduled_run(api_book):
    tom_account = api_book["tom_accounts"][0]
    return AgentRun.objects.create(
        agent="csm",
        task_type="health_scan",
        trigger="schedule",
        status="failed",
        payload={"account_ids": [tom_account.pk]},
        result={"failed_accounts": [{"id": tom_account.pk, "error": "Tom Co 0: seats"}]},
        error="batch 3 failed: Tom Co 0",
    )


def test_a_csm_sees_that_a_whole_book_run_happened_not_what_it_touched(api, api_book, scheduled_run, client):
    maya = api_book["maya"]
    seen = api(maya).get(f"/api/v1/runs/{scheduled_run.pk}/").json()
    assert seen["status"] == "failed" and seen["details_hidden"] is True
    assert (seen["payload"], seen["result"], seen["error"]) == ({}, None, "")
    listed = api(maya).get("/api/v1/agents/csm/runs/").json()["results"]
    assert [r["result"] for r in listed if r["id"] == scheduled_run.pk] == [None]

    managed = api(api_book["manager"]).get(f"/api/v1/runs/{scheduled_run.pk}/").json()
    assert managed["details_hidden"] is False and "Tom Co 0" in managed["error"]

    client.force_login(maya)
    page = client.get(f"/admin/agents_core/agentrun/{scheduled_run.pk}/change/").content.decode()
    assert "Tom Co 0" not in page and "Hidden: a run over the whole book" in page
    assert "Tom Co 0" not in client.get("/admin/agents_core/agentrun/").content.decode()
    assert "Tom Co 0" not in client.get("/admin/").content.decode()


def test_a_csm_sees_the_details_of_the_runs_they_started(api, api_book):
    maya = api_book["maya"]
    run = AgentRun.objects.create(
        agent="csm", task_type="health_scan", trigger="api", requested_by=maya, error="mine to read"
    )
    assert api(maya).get(f"/api/v1/runs/{run.pk}/").json()["error"] == "mine to read"


def test_follow_up_runs_keep_the_trigger_and_the_requester(
    api_book, make_account, django_capture_on_commit_callbacks
):
    maya = api_book["maya"]
    cause = AgentRun.objects.create(agent="csm", task_type="contract_check", trigger="api", requested_by=maya)
    then = follow_up(cause, "csm", "check_expansion", {})
    assert (then.trigger, then.requested_by) == ("api", maya)
    assert follow_up(None, "csm", "check_expansion", {}).trigger == "schedule"

    # The contract check's QBRs for an account 90 days from its contract end.
    account = make_account(owner=maya, renewal_date=timezone.localdate() + timedelta(days=80))
    with django_capture_on_commit_callbacks(execute=False):
        result = contract_check(account_ids=[account.pk], run=cause)
    qbr_run = AgentRun.objects.get(pk=result["qbr_run"])
    assert (qbr_run.task_type, qbr_run.trigger, qbr_run.requested_by) == ("generate_qbr", "api", maya)


def test_retrying_every_draft_is_for_managers(api, api_book, django_capture_on_commit_callbacks):
    url = "/api/v1/agents/sales/runs/"
    assert api(api_book["maya"]).post(url, {"task_type": "retry_drafts"}, format="json").status_code == 403
    with django_capture_on_commit_callbacks(execute=True):
        response = api(api_book["manager"]).post(url, {"task_type": "retry_drafts"}, format="json")
    assert response.status_code == 202


def test_notion_page_ids_are_checked_and_set_by_managers_only(api, api_book):
    account = api_book["maya_accounts"][0]
    url = f"/api/v1/accounts/{account.pk}/"
    refused = api(api_book["maya"]).patch(url, {"notion_page_id": NOTION_ID}, format="json")
    assert refused.status_code == 400 and "Only a manager" in refused.json()["notion_page_id"][0]
    manager = api(api_book["manager"])
    bad = manager.patch(url, {"notion_page_id": "../../v1/users"}, format="json")
    assert bad.status_code == 400 and "32 hexadecimal" in bad.json()["notion_page_id"][0]
    assert manager.patch(url, {"notion_page_id": NOTION_ID}, format="json").status_code == 200
    # The CSM can still save the account as it is, its Notion page included.
    same = api(api_book["maya"]).patch(url, {"notion_page_id": NOTION_ID, "plan": "Growth"}, format="json")
    assert same.status_code == 200


@pytest.mark.parametrize("route", ["opportunities", "alerts", "qbrs", "outcomes"])
def test_another_csms_account_reads_exactly_like_one_that_does_not_exist(api, api_book, route):
    maya = api(api_book["maya"])
    theirs = maya.get(f"/api/v1/{route}/", {"account": api_book["tom_accounts"][0].pk})
    missing = maya.get(f"/api/v1/{route}/", {"account": 987654})
    assert theirs.status_code == missing.status_code == 400
    assert theirs.json().keys() == missing.json().keys() == {"account"}
    assert maya.get(f"/api/v1/{route}/", {"account": api_book["maya_accounts"][0].pk}).status_code == 200


def test_naming_an_owner_does_not_tell_a_csm_who_exists(api, api_book):
    account = api_book["maya_accounts"][0]
    maya = api(api_book["maya"])
    someone = maya.patch(f"/api/v1/accounts/{account.pk}/", {"owner": "tom"}, format="json")
    nobody = maya.patch(f"/api/v1/accounts/{account.pk}/", {"owner": "no-such-person"}, format="json")
    assert someone.status_code == nobody.status_code == 400
    assert someone.json() == nobody.json() == {"owner": ["You can only own accounts yourself."]}


def test_a_csms_run_sends_only_the_alerts_on_their_accounts(api_book):
    from csm.alerts.delivery import dispatch_alerts
    from csm.models import ChurnAlert

    today = timezone.localdate()
    for account in (api_book["maya_accounts"][0], api_book["tom_accounts"][0]):
        ChurnAlert.objects.create(
            account=account, raised_on=today, raised_at=timezone.now(), reason="entered_red",
            explanation="x", score=30, rag="RED", churn_risk="high", arr=1000,
        )  # fmt: skip
    cause = AgentRun.objects.create(
        agent="csm", task_type="health_scan", trigger="api", requested_by=api_book["maya"]
    )
    result = dispatch_alerts(today, cap=10, run=cause)
    sent = AgentRun.objects.get(pk=result["delivery_run"])
    assert result["sent"] == 1 and sent.requested_by == api_book["maya"]
    [alert_id] = sent.payload["alert_ids"]
    assert ChurnAlert.objects.get(pk=alert_id).account.owner == api_book["maya"]
    # Tom's alert is left for the schedule's own dispatch.
    assert dispatch_alerts(today, cap=10)["sent"] == 1
