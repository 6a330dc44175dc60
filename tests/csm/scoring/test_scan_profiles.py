"""A scan scores every batch with the profile versions active as it started, loaded once."""

from __future__ import annotations

import logging
from datetime import date

import pytest

from csm.models import HealthScore, ScoringProfile
from csm.scoring import scan
from csm.scoring.profiles import publish_version
from csm.scoring.scan import scan_health

TODAY = date(2026, 11, 30)

pytestmark = pytest.mark.django_db


def _strict_default() -> ScoringProfile:
    """A new version of the default profile under which every account is RED."""
    draft = ScoringProfile.objects.get(segment="", is_active=True)
    draft.green_threshold, draft.amber_threshold = 100, 100
    return publish_version(draft)


def _between_batches(monkeypatch, step):
    """Run `step` once, after the scan's first batch has been read and before its second is."""
    read, calls = scan._rows, []

    def rows(first, last, account_ids):
        calls.append(first)
        if len(calls) == 2:
            step()
        return read(first, last, account_ids)

    monkeypatch.setattr(scan, "_rows", rows)
    return calls


def test_a_version_published_during_the_scan_scores_from_the_next_scan_on(make_account, monkeypatch):
    accounts = [make_account(today=TODAY) for _ in range(3)]
    started_with = ScoringProfile.objects.get(segment="", is_active=True)
    published = []
    calls = _between_batches(monkeypatch, lambda: published.append(_strict_default()))

    scan_health(today=TODAY, batch_size=1)

    assert len(calls) == 3 and published
    scores = HealthScore.objects.filter(scored_on=TODAY)
    assert sorted(scores.values_list("account_id", flat=True)) == sorted(a.pk for a in accounts)
    # Every batch, the two after the publish too, kept the version the scan started with.
    assert set(scores.values_list("profile_id", "profile_version", "rag")) == {
        (started_with.pk, started_with.version, "GREEN")
    }
    scan_health(today=TODAY, batch_size=1)  # the next scan takes the new version
    assert set(HealthScore.objects.filter(scored_on=TODAY).values_list("profile_id", "rag")) == {
        (published[0].pk, "RED")
    }


def test_a_worker_that_did_not_start_the_scan_loads_the_recorded_versions_once(
    make_account, monkeypatch, django_assert_num_queries
):
    for _ in range(2):
        make_account(today=TODAY)
    started_with = ScoringProfile.objects.get(segment="", is_active=True)
    newer = []

    def as_a_helper():
        newer.append(_strict_default())
        scan._scan_profiles.clear()  # what a helper process has: nothing loaded for this scan

    _between_batches(monkeypatch, as_a_helper)
    scan_health(today=TODAY, batch_size=1)
    assert newer and set(HealthScore.objects.values_list("profile_id", flat=True)) == {started_with.pk}

    # Loaded once per scan and process: a batch reads no profile once the scan's are loaded.
    context = {"today": TODAY.isoformat(), "raise_alerts": False, "scan": "s1", "profiles": [started_with.pk]}
    first = HealthScore.objects.order_by("account_id").values_list("account_id", flat=True).first()
    scan.scan_batch(context, first, first)
    with django_assert_num_queries(1):  # the read alone
        outcome = scan.scan_batch(context, first, first)
    assert outcome.result["scored"] == 1


def test_a_recorded_version_deleted_since_scores_with_the_active_ones(make_account, caplog):
    account = make_account(today=TODAY)
    default = ScoringProfile.objects.get(segment="", is_active=True)
    spare = ScoringProfile.objects.get(pk=default.pk)
    spare.pk, spare.segment, spare.is_active = None, "retired", False
    spare.save()
    gone = spare.pk
    spare.delete()  # no score pointed at it
    context = {"today": TODAY.isoformat(), "raise_alerts": False, "scan": "s2"}
    context["profiles"] = [default.pk, gone]

    with caplog.at_level(logging.WARNING, logger="csm.scoring.profiles"):
        outcome = scan.scan_batch(context, account.pk, account.pk)
    outcome.write()

    assert outcome.result["scored"] == 1 and outcome.result["failed"] == 0
    assert HealthScore.objects.get(account=account).profile_id == default.pk
    assert "not all there any more" in caplog.text


def test_a_batch_planned_before_scans_recorded_profiles_loads_the_active_ones(make_account):
    account = make_account(today=TODAY)
    strict = _strict_default()
    outcome = scan.scan_batch({"today": TODAY.isoformat(), "raise_alerts": False}, account.pk, account.pk)
    outcome.write()
    assert HealthScore.objects.get(account=account).profile_id == strict.pk


def test_only_the_last_few_scans_profiles_are_kept(make_account):
    make_account(today=TODAY)
    for _ in range(scan._SCANS_KEPT + 3):
        scan_health(today=TODAY)
    assert len(scan._scan_profiles) == scan._SCANS_KEPT
