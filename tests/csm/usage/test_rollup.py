"""Rollups are recomputed, not added to: re-running a day gives the same rows; pruning keeps the days."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from csm.models import RollupRequest, UsageDay, UsageEvent
from csm.usage.ingest import accept
from csm.usage.rollup import rollup_pending
from csm.usage.store import prune_events

pytestmark = pytest.mark.django_db


def _track(n, *, days_ago=0, user="u"):
    when = timezone.now() - timedelta(days=days_ago)
    return [{"type": "track", "messageId": f"{user}-{days_ago}-{i}", "userId": user, "event": "Opened",
             "timestamp": when.isoformat(), "context": {"groupId": "ACME-1"}} for i in range(n)]  # fmt: skip


def test_re_running_a_day_gives_the_same_rows_and_late_events_land_on_their_day(make_account, source):
    account = make_account(external_id="ACME-1")
    accept(source, _track(3) + _track(2, days_ago=5, user="v"))
    first = rollup_pending()
    assert first["account_days"] == 2 and not RollupRequest.objects.exists()
    rows = list(
        UsageDay.objects.filter(account=account).order_by("day").values_list("day", "events", "active_users")
    )
    assert [r[1:] for r in rows] == [(2, 1), (3, 1)]
    RollupRequest.objects.create(account=account, day=rows[0][0], requested_at=timezone.now())
    rollup_pending()
    assert (
        list(
            UsageDay.objects.filter(account=account)
            .order_by("day")
            .values_list("day", "events", "active_users")
        )
        == rows
    )
    accept(source, _track(1, days_ago=5, user="w"))  # a late event for five days ago
    rollup_pending()
    assert UsageDay.objects.get(account=account, day=rows[0][0]).active_users == 2


def test_pruning_deletes_old_events_and_keeps_the_days(make_account, source, settings):
    account = make_account(external_id="ACME-1")
    accept(source, _track(2, days_ago=40) + _track(1))
    rollup_pending()
    settings.TEND_EVENT_RETENTION_DAYS = 30
    assert prune_events()["deleted"] == 2
    assert UsageEvent.objects.count() == 1
    assert UsageDay.objects.filter(account=account).count() == 2


def test_the_account_page_charts_usage_and_the_api_lists_events_newest_first(
    make_account, make_user, source, client, api
):
    maya = make_user("maya")
    account = make_account(external_id="ACME-1", owner=maya)
    accept(source, _track(2, days_ago=3) + _track(1))
    rollup_pending()
    client.force_login(maya)
    page = client.get(f"/admin/csm/account/{account.pk}/change/").content.decode()
    assert "Events per week:" in page and "Product usage (last 12 weeks)" in page
    body = api(maya).get(f"/api/v1/accounts/{account.pk}/events/").json()
    assert body["count"] == 3 and body["results"][0]["happened_at"] > body["results"][-1]["happened_at"]
    assert body["results"][0]["source"] == "app" and body["results"][0]["event"] == "Opened"
    tom = make_user("tom")
    assert api(tom).get(f"/api/v1/accounts/{account.pk}/events/").status_code == 404


def test_seats_in_use_come_from_usage_when_asked_and_never_past_what_the_score_takes(
    make_account, source, settings
):
    settings.TEND_SEATS_FROM_USAGE = True
    account = make_account(external_id="ACME-1", seats_purchased=10, seats_used=2)
    accept(source, _track(1, user="a") + _track(1, user="b") + _track(1, user="c"))
    anonymous = [{"type": "page", "messageId": "anon", "anonymousId": "x", "context": {"groupId": "ACME-1"}}]
    accept(source, anonymous)
    rollup_pending()
    account.refresh_from_db()
    assert account.seats_used == 3  # three signed-in users; the anonymous visitor takes no seat
    crowd = [e for i in range(25) for e in _track(1, user=f"p{i}")]
    accept(source, crowd)
    rollup_pending()
    account.refresh_from_db()
    assert account.seats_used == 3  # 28 users on 10 seats is past what the score takes: not written
