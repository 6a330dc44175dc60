"""HubSpot's limits and failures: 429 and 5xx retried with Retry-After or back-off, a run that
fails (the day's allowance spent, HubSpot down) recorded with its reason, and the next run resumes
from the cursor without writing a record twice."""

from __future__ import annotations

import pytest

from csm.models import Account, CrmRecord, CrmSyncRun

pytestmark = pytest.mark.django_db


def test_429_and_5xx_are_retried_honouring_retry_after(hubspot, sync, sleeps):
    hubspot.add(name="Acme")
    hubspot.failures = [(429, {"Retry-After": "3"}), (503, {})]
    result = sync(push=False)["pull"]
    assert result["status"] == "done" and Account.objects.count() == 1
    assert sleeps[:2] == [3.0, 2.0]  # Retry-After; then back-off (2 ** attempt)


def test_a_refused_token_fails_the_run_with_the_reason_and_writes_nothing(hubspot, sync, settings):
    hubspot.add(name="Acme")
    settings.HUBSPOT_ACCESS_TOKEN = "pat-wrong"
    result = sync()
    assert result["pull"]["status"] == "failed" and "401" in result["pull"]["error"]
    assert "push" not in result  # no push on a book it could not read
    assert not Account.objects.exists()
    assert CrmSyncRun.objects.get().status == "failed"


def test_a_run_stopped_half_way_resumes_from_its_cursor_without_duplicates(hubspot, sync):
    ids = [hubspot.add(name=f"Company {n}") for n in range(450)]  # three search pages
    # Set-up (properties, owners) and one page fit; after that answer too little is left to go on.
    hubspot.daily_remaining = 1_000 + 2
    first = sync(push=False)["pull"]
    assert first["status"] == "failed" and "allowance" in first["error"]
    assert (first["created"], Account.objects.count()) == (200, 200)

    hubspot.daily_remaining = 250_000  # the next day
    second = sync(push=False)["pull"]
    assert second["status"] == "done"
    assert (second["created"], second["unchanged"]) == (250, 1)  # page one's last record, read again
    assert Account.objects.count() == CrmRecord.objects.count() == 450
    assert set(Account.objects.values_list("external_id", flat=True)) == set(ids)


def test_a_run_that_crashed_mid_page_is_resumed_by_the_next_without_duplicates(hubspot, sync, monkeypatch):
    from datetime import timedelta

    from django.utils import timezone

    from csm.crm import pull

    ids = [hubspot.add(name=f"Company {n}") for n in range(450)]
    real, pages = pull.apply_page, []

    def dies_on_the_second_page(records, **kwargs):
        pages.append(len(records))
        if len(pages) == 2:
            raise RuntimeError("worker lost")  # inside the page's transaction: nothing of it is kept
        return real(records, **kwargs)

    monkeypatch.setattr(pull, "apply_page", dies_on_the_second_page)
    with pytest.raises(RuntimeError):
        sync(push=False)
    crashed = CrmSyncRun.objects.get()
    assert crashed.status == "failed" and "worker lost" in crashed.error
    assert Account.objects.count() == 200
    monkeypatch.setattr(pull, "apply_page", real)

    # And one whose worker was SIGKILLed: left "running", closed by the next run that resumes it.
    killed = CrmSyncRun.objects.create(
        system="hubspot", kind="pull", started_at=timezone.now() - timedelta(hours=3)
    )
    result = sync(push=False)["pull"]
    assert result["created"] == 250
    assert Account.objects.count() == CrmRecord.objects.count() == 450
    assert set(Account.objects.values_list("external_id", flat=True)) == set(ids)
    killed.refresh_from_db()
    assert killed.status == "failed" and f"run {result['run']} resumed" in killed.error
