"""An account changed anywhere (API, admin, CSV import, signals) is scored within seconds.

The test settings run queued work synchronously (Q_SYNC), so committing the
change is enough to see it scored.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from agents_core.dispatch import enqueue
from agents_core.models import AgentRun
from csm.ingest.crm_csv import import_accounts
from csm.models import Account, HealthScore, RescoreRequest
from csm.qbr.build import generate
from csm.scoring import on_change

pytestmark = pytest.mark.django_db

CSV = (Path(__file__).parents[1] / "ingest" / "data" / "crm_export_good.csv").read_bytes()


def rescore_runs():
    return AgentRun.objects.filter(agent="csm", task_type="rescore_changed")


def test_an_account_created_over_the_api_is_scored_when_the_request_ends(
    api, make_user, django_capture_on_commit_callbacks
):
    maya = make_user("maya")
    with django_capture_on_commit_callbacks(execute=True):
        response = api(maya).post(
            "/api/v1/accounts/",
            {
                "name": "Acme",
                "external_id": "ACME-1",
                "arr": "50000",
                "seats_purchased": 50,
                "seats_used": 40,
            },
            format="json",
        )
    assert response.status_code == 201, response.content
    account = Account.objects.get(external_id="ACME-1")
    assert account.health_score is not None and account.rag and account.scored_at is not None
    assert HealthScore.objects.filter(account=account, scored_on=timezone.localdate()).count() == 1
    [run] = rescore_runs()
    assert run.status == "succeeded" and run.trigger == "signal" and run.result["accounts"] == 1
    assert not RescoreRequest.objects.exists()


def test_changed_signals_move_the_score_the_same_day(
    api, make_user, make_account, django_capture_on_commit_callbacks
):
    maya = make_user("maya")
    account = make_account(owner=maya)
    with django_capture_on_commit_callbacks(execute=True):
        api(maya).patch(f"/api/v1/accounts/{account.pk}/signals/", {"nps_score": 9}, format="json")
    before = Account.objects.get(pk=account.pk).health_score
    with django_capture_on_commit_callbacks(execute=True):
        response = api(maya).patch(
            f"/api/v1/accounts/{account.pk}/signals/",
            {"nps_score": 0, "usage_trend": "inactive", "invoice_payment_status": "overdue_90_plus"},
            format="json",
        )
    assert response.status_code == 200
    after = Account.objects.get(pk=account.pk)
    assert after.health_score < before
    today = HealthScore.objects.get(account=account, scored_on=timezone.localdate())
    assert today.score == after.health_score and today.inputs["nps_score"] == 0  # replaced, not added


def test_a_csv_import_scores_what_it_created_and_changed(make_user, django_capture_on_commit_callbacks):
    make_user("maya", email="maya@example.com"), make_user("tom", email="tom@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        report = import_accounts(CSV, today=timezone.localdate(), at=timezone.now())
    assert report.written
    assert not Account.objects.filter(health_score__isnull=True).exists()
    assert rescore_runs().count() == 1  # three accounts, one run


def test_an_account_added_in_the_admin_is_its_creators_and_is_scored(
    client, make_user, django_capture_on_commit_callbacks
):
    maya = make_user("maya")
    client.force_login(maya)
    form = {
        "name": "Added by hand", "external_id": "HAND-1", "segment": "smb", "status": "active",
        "arr": "12000",
        "seats_purchased": "10", "seats_used": "8", "signals-TOTAL_FORMS": "0", "signals-INITIAL_FORMS": "0",
        "goals-TOTAL_FORMS": "0", "goals-INITIAL_FORMS": "0", "contacts-TOTAL_FORMS": "0",
        "contacts-INITIAL_FORMS": "0", "outcomes-TOTAL_FORMS": "0", "outcomes-INITIAL_FORMS": "0",
    }  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/admin/csm/account/add/", form)
    assert response.status_code == 302
    account = Account.objects.get(external_id="HAND-1")
    assert account.owner == maya  # else she could not see what she just added
    assert account.health_score is not None
    assert client.get(f"/admin/csm/account/{account.pk}/change/").status_code == 200


def test_a_burst_of_changes_is_one_run(make_account, django_capture_on_commit_callbacks):
    accounts = [make_account() for _ in range(5)]
    with django_capture_on_commit_callbacks(execute=True):
        for account in accounts:
            on_change.rescore_soon([account.pk])
    assert rescore_runs().count() == 1
    assert rescore_runs().get().result["accounts"] == 5
    assert Account.objects.filter(health_score__isnull=True).count() == 0


def test_a_change_made_while_scoring_is_kept_and_taken_by_a_follow_up(make_account, monkeypatch):
    account = make_account()
    on_change.rescore_soon([account.pk])  # no commit in this test: nothing is queued yet
    from csm.scoring import scan

    real_scan = scan.scan_health

    def scan_while_someone_edits(**kwargs):
        result = real_scan(**kwargs)
        RescoreRequest.objects.filter(account=account).update(
            requested_at=timezone.now() + timedelta(seconds=1)
        )
        return result

    monkeypatch.setattr(scan, "scan_health", scan_while_someone_edits)
    run = enqueue("csm", "rescore_changed", {}, trigger=AgentRun.Trigger.SIGNAL, sync=False)
    result = on_change.rescore_pending(run)
    assert result["accounts"] == 1 and "followed_by" in result
    assert RescoreRequest.objects.filter(account=account).exists()  # changed again: scored again later


def test_nothing_is_asked_for_when_switched_off(make_account, settings):
    settings.TEND_RESCORE_ON_CHANGE = False
    assert on_change.rescore_soon([make_account().pk]) == 0
    assert not RescoreRequest.objects.exists()


def test_a_contract_qbr_of_an_unscored_account_scores_it_first(make_account):
    account = make_account(renewal_date=timezone.localdate() + timedelta(days=40))
    assert account.health_score is None
    generate(quarter="Q4 2026", trigger="contract", account_ids=[account.pk])
    account.refresh_from_db()
    assert account.health_score is not None
    qbr = account.qbrs.get()
    assert qbr.sections["health_summary"]["score"] == account.health_score
    assert qbr.sections["roi"]["support"]["open_tickets"] is not None
