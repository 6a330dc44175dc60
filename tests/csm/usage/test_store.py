"""What the endpoint accepted waits in order and is stored once: a replayed batch (a crashed
worker), a retry across batches, a batch that cannot be stored (kept, failed, retried from the
admin) and a burst over one run's share (the rest follows)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.db import DataError
from django.urls import reverse

from agents_core import bulk
from csm.models import IngestBatch, RollupRequest, UsageDay, UsageEvent
from csm.usage import store
from csm.usage.ingest import accept
from csm.usage.rollup import rollup_pending
from csm.usage.store import store_waiting

pytestmark = pytest.mark.django_db


def _track(*ids, user="u", group="ACME-1"):
    return [{"type": "track", "messageId": i, "userId": user, "event": "Opened",
             "context": {"groupId": group}} for i in ids]  # fmt: skip


def test_accepted_messages_wait_until_a_run_stores_them_once(make_account, source):
    account = make_account(external_id="ACME-1")
    outcome = accept(source, _track("a", "b", "a"))  # the client sent "a" twice in one batch
    assert (outcome.received, outcome.accepted, outcome.errors) == (3, 3, [])
    assert IngestBatch.objects.get().size == 3 and not UsageEvent.objects.exists()
    accept(source, _track("b", "c"))  # a retry of "b" in a later batch

    result = rollup_pending()

    assert result["stored"] == {"batches": 2, "stored": 3, "duplicates": 2, "unmatched": 0, "failed": 0}
    assert sorted(UsageEvent.objects.values_list("message_id", flat=True)) == ["a", "b", "c"]
    assert not IngestBatch.objects.exists() and not RollupRequest.objects.exists()
    assert UsageDay.objects.get(account=account).events == 3


def test_a_batch_stored_again_after_a_crash_duplicates_nothing(make_account, source):
    make_account(external_id="ACME-1")
    accept(source, _track("a", "b"))
    batch = IngestBatch.objects.values("source_id", "received_at", "size", "messages").get()
    store_waiting()
    IngestBatch.objects.create(**batch)  # the worker died after storing, before the batch went

    assert store_waiting().as_dict() == {
        "batches": 1, "stored": 0, "duplicates": 2, "unmatched": 0, "failed": 0,
    }  # fmt: skip
    assert UsageEvent.objects.count() == 2


def test_a_batch_that_cannot_be_stored_is_kept_failed_and_does_not_hold_up_the_others(
    make_account, source, monkeypatch, client, make_user, django_capture_on_commit_callbacks
):
    make_account(external_id="ACME-1")
    accept(source, _track("ok-1"))
    accept(source, _track("poison"))
    accept(source, _track("ok-2"))
    real = bulk.upsert_rows

    def refusing(model, fields, rows, **kwargs):
        if any("poison" in row for row in rows):
            raise DataError("value too long for type character varying(200)")
        return real(model, fields, rows, **kwargs)

    monkeypatch.setattr(store, "upsert_rows", refusing)

    assert store_waiting().as_dict()["failed"] == 1
    assert sorted(UsageEvent.objects.values_list("message_id", flat=True)) == ["ok-1", "ok-2"]
    failed = IngestBatch.objects.get()
    assert failed.failed_at is not None and "value too long" in failed.error
    assert store_waiting().batches == 0  # skipped, not retried for ever

    # A manager sees it in the admin and retries it once the cause is fixed.
    monkeypatch.setattr(store, "upsert_rows", real)
    manager = make_user("morgan")
    manager.groups.add(Group.objects.get(name="Manager"))
    client.force_login(manager)
    page = client.get(reverse("admin:csm_ingestbatch_changelist") + "?state=failed").content.decode()
    assert "Failed" in page and 'data-action="retry"' in page
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("admin:csm_ingestbatch_do", args=[failed.pk, "retry"]))
    assert UsageEvent.objects.filter(message_id="poison").exists()  # the retry queued a run: it ran
    assert not IngestBatch.objects.exists()


def test_a_burst_over_one_runs_share_is_stored_by_the_runs_that_follow(
    make_account, source, settings, monkeypatch
):
    make_account(external_id="ACME-1")
    settings.TEND_USAGE_STORE_MAX_EVENTS = 2
    monkeypatch.setattr(store, "BATCHES_PER_CHUNK", 1)  # a run stops between chunks
    for i in range(3):
        accept(source, _track(f"m{i}a", f"m{i}b"))
    first = store_waiting()
    assert first.stored == 2 and IngestBatch.objects.count() == 2
    assert store.queue_rollup() is not None  # work is left: a run is queued for it
    while IngestBatch.objects.exists():
        store_waiting()
    assert UsageEvent.objects.count() == 6


def test_a_csm_does_not_see_the_waiting_batches(client, make_user):
    client.force_login(make_user("maya"))
    assert client.get(reverse("admin:csm_ingestbatch_changelist")).status_code == 403


def test_while_a_burst_is_stored_the_rollup_waits_for_the_rest_but_not_for_ever(
    make_account, source, settings, monkeypatch
):
    account = make_account(external_id="ACME-1")
    settings.TEND_USAGE_STORE_MAX_EVENTS = 2
    monkeypatch.setattr(store, "BATCHES_PER_CHUNK", 1)
    for i in range(3):
        accept(source, _track(f"m{i}a", f"m{i}b"))

    first = rollup_pending()
    assert first["deferred"] is True and first["stored"]["stored"] == 2
    assert not UsageDay.objects.exists()  # the day would be rolled up again with the rest: not yet
    rollup_pending()
    last = rollup_pending()  # the burst is stored: now the day, once
    assert last["account_days"] == 1 and UsageDay.objects.get(account=account).events == 6

    settings.TEND_USAGE_ROLLUP_MAX_DELAY = 0  # a backlog that never ends does not hold it back
    for i in range(3):
        accept(source, _track(f"n{i}a", f"n{i}b"))
    assert rollup_pending()["account_days"] == 1


def test_a_run_rolls_up_every_waiting_day_of_the_accounts_it_takes(make_account, source, settings):
    from datetime import timedelta

    from django.utils import timezone

    first, second = make_account(external_id="ACME-1"), make_account(external_id="ACME-2")
    settings.TEND_USAGE_ROLLUP_MAX_ACCOUNTS = 1
    for days_ago in (0, 1, 2):
        when = (timezone.now() - timedelta(days=days_ago)).isoformat()
        accept(source, [{**m, "timestamp": when} for m in _track(f"a{days_ago}")])
        accept(source, [{**m, "timestamp": when} for m in _track(f"b{days_ago}", group="ACME-2")])
    result = rollup_pending()
    assert (result["accounts"], result["account_days"]) == (1, 3)
    assert UsageDay.objects.filter(account=first).count() == 3 and not UsageDay.objects.filter(account=second)
    assert rollup_pending()["account_days"] == 3
