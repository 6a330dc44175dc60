"""Pushing Tend's health into HubSpot: the properties Tend writes are created when missing, only
what changed since the last push is written, in batches of at most 100 companies a call, and a
company HubSpot refuses is reported while the rest are written."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from csm.models import Account, CrmRecord, CrmSyncRun, HealthScore, ScoringProfile

pytestmark = pytest.mark.django_db


def _score(account, score, rag, *, explanation="Usage fell 40% in a month."):
    today = timezone.localdate()
    profile = ScoringProfile.objects.filter(is_active=True).first()
    HealthScore.objects.update_or_create(
        account=account, scored_on=today,
        defaults=dict(score=score, rag=rag, churn_risk="medium", churn_trigger="usage_drop", breakdown={},
                      inputs={}, defaulted_inputs=[], profile=profile, profile_version=profile.version,
                      computed_at=timezone.now(), explanation=explanation),
    )  # fmt: skip
    Account.objects.filter(pk=account.pk).update(
        health_score=score, rag=rag, churn_risk="medium", churn_trigger="usage_drop", scored_at=timezone.now()
    )


@pytest.fixture
def linked(hubspot, sync):
    """250 companies pulled into Tend and scored."""
    ids = [hubspot.add(name=f"Company {n}") for n in range(250)]
    sync(push=False)
    for account in Account.objects.all():
        _score(account, 61.5, "AMBER")
    return ids


def test_the_first_push_creates_tends_properties_and_writes_in_batches_of_100(hubspot, linked, sync):
    assert "tend_health_score" not in hubspot.properties["companies"]
    result = sync(pull=False)["push"]
    assert (result["status"], result["updated"], result["refused"]) == ("done", 250, 0)
    assert {
        "tend_health_score",
        "tend_health_rag",
        "tend_churn_risk",
        "tend_churn_trigger",
        "tend_health_explanation",
        "tend_health_scored_on",
    } <= set(hubspot.properties["companies"])
    assert hubspot.batch_updates == 3  # 100 + 100 + 50
    first = linked[0]
    assert (hubspot.value(first, "tend_health_score"), hubspot.value(first, "tend_health_rag")) == (
        "61.5",
        "AMBER",
    )
    assert hubspot.value(first, "tend_health_explanation") == "Usage fell 40% in a month."
    assert hubspot.value(first, "tend_health_scored_on") == timezone.localdate().isoformat()
    run = CrmSyncRun.objects.get(pk=result["run"])
    assert any("Created in the CRM" in note for note in run.notes)
    # properties read + 6 created + 3 batches: at most one call per 100 changed records, plus set-up
    assert run.api_calls == 1 + 6 + 3


def test_only_what_changed_is_pushed_again(hubspot, linked, sync):
    sync(pull=False)
    hubspot.batch_updates = 0
    again = sync(pull=False)["push"]
    assert (again["updated"], again["unchanged"]) == (0, 250) and hubspot.batch_updates == 0
    assert again["api_calls"] == 1  # reading the properties

    changed = Account.objects.order_by("pk")[:3]
    for account in changed:
        _score(account, 38.0, "RED", explanation="Two escalations this week.")
    third = sync(pull=False)["push"]
    assert (third["updated"], third["unchanged"]) == (3, 247) and hubspot.batch_updates == 1
    link = CrmRecord.objects.get(account=changed[0])
    assert hubspot.value(link.crm_id, "tend_health_rag") == "RED"
    assert link.pushed["tend_health_score"] == "38"


def test_a_company_hubspot_refuses_is_reported_and_the_rest_are_written(hubspot, linked, sync):
    gone = linked[5]
    del hubspot.objects["companies"][gone]  # removed behind Tend's back, so the batch is refused
    result = sync(pull=False)["push"]
    assert (result["status"], result["updated"], result["refused"]) == ("partial", 249, 1)
    run = CrmSyncRun.objects.get(pk=result["run"])
    assert run.refusals[0]["id"] == gone and "404" in run.refusals[0]["why"]
    # the 99 others of its batch went one by one: 3 batches tried, 2 written, 99 singles
    assert hubspot.batch_updates == 2
    assert CrmRecord.objects.get(crm_id=gone).pushed == {}


def test_a_dry_run_pushes_nothing_and_creates_nothing(hubspot, linked, sync):
    result = sync(pull=False, dry_run=True)["push"]
    assert result["updated"] == 250 and hubspot.batch_updates == 0
    assert "tend_health_score" not in hubspot.properties["companies"]
    assert not CrmRecord.objects.exclude(pushed={}).exists()


def test_an_old_score_is_pushed_with_its_date(hubspot, linked, sync):
    account = Account.objects.order_by("pk").first()
    Account.objects.filter(pk=account.pk).update(scored_at=timezone.now() - timedelta(days=3))
    sync(pull=False)
    link = CrmRecord.objects.get(account=account)
    expected = timezone.localdate(timezone.now() - timedelta(days=3)).isoformat()
    assert hubspot.value(link.crm_id, "tend_health_scored_on") == expected
