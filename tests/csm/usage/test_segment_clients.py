"""Segment's and RudderStack's own Python libraries, unmodified, against a live Tend on loopback.

They are pointed at `<tend>/ingest/segment` with a tracking source's write key, as a product
team would configure them; what they send is stored once (their retries reuse the messageId),
tied to the account by the group call, rolled up into days, and turned into the signals the
scan reads, which then scores the account.
"""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta

import pytest
import requests
from django.utils import timezone
from rudderstack.analytics.client import Client as RudderClient
from segment.analytics.client import Client as SegmentClient
from segment.analytics.request import APIError

from csm.models import (
    Account,
    AccountSignals,
    EventMapping,
    Feature,
    FeatureUsage,
    TrackedUser,
    TrackingSource,
    UsageDay,
    UsageEvent,
)

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture(autouse=True)
def close_client_connections():
    """The libraries keep one module-wide HTTP session; close its keep-alive connections to the
    live server before the server stops, or its threads complain at shutdown."""
    yield
    from rudderstack.analytics import request as rudder_request
    from segment.analytics import request as segment_request

    for module in (segment_request, rudder_request):
        session = getattr(module, "_session", None)
        if session is not None:
            session.close()


@pytest.fixture
def tracked(make_user, make_account):
    maya = make_user("maya")
    account = make_account(name="Acme", external_id="ACME-1", owner=maya, signals=None)
    feature = Feature.objects.get_or_create(key="reports", defaults={"name": "Reports"})[0]
    EventMapping.objects.create(event="Report Exported", feature=feature)
    source = TrackingSource(name="web app")
    key = source.new_key()
    source.save()
    return {"account": account, "feature": feature, "source": source, "key": key}


def _segment(live_server, key, errors):
    return SegmentClient(
        key, host=live_server.url + "/ingest/segment", sync_mode=True, gzip=True, max_retries=0,
        on_error=lambda error, items: errors.append(error),
    )  # fmt: skip


def test_segments_library_feeds_the_score(live_server, tracked):
    errors: list = []
    client = _segment(live_server, tracked["key"], errors)
    now = datetime.now(UTC)
    # Two moments of today (even just after midnight: "3 hours ago" would then be yesterday).
    into_today = now - datetime.combine(now.date(), datetime.min.time(), tzinfo=UTC)
    this_morning, just_now = now - into_today * 0.6, now - into_today * 0.2
    client.identify("u-1", {"email": "ana@acme.example", "role": "admin"})
    client.group("u-1", "ACME-1", {"name": "Acme"})
    for days_ago in (20, 9, 2, 1):
        client.track("u-1", "Report Exported", {"format": "csv"}, timestamp=now - timedelta(days=days_ago))
    client.page("u-1", "Dashboard", "Home", timestamp=this_morning)
    client.track("u-2", "Report Exported", context={"groupId": "ACME-1"}, timestamp=just_now)
    assert errors == []

    account = tracked["account"]
    events = UsageEvent.objects.filter(source=tracked["source"])
    assert events.count() == 8 and not events.filter(account__isnull=True).exists()
    assert UsageDay.objects.filter(account=account).count() == 5  # 20, 9, 2 and 1 days ago, and today
    today = UsageDay.objects.get(account=account, day=timezone.localdate())
    assert (today.events, today.active_users) == (2, 2)
    usage = FeatureUsage.objects.get(account=account, feature=tracked["feature"])
    assert (usage.active_users, usage.events_30d, usage.source) == (2, 5, "usage")
    signals = AccountSignals.objects.get(account=account)
    assert signals.last_login_on == timezone.localdate()
    assert signals.sources["login_frequency_days"]["source"] == "usage"
    user = TrackedUser.objects.get(source=tracked["source"], user_id="u-1")
    assert (user.account, user.email, user.role) == (account, "ana@acme.example", "admin")
    account.refresh_from_db()
    assert account.tracked_adoption_rate is not None
    assert account.health_score is not None  # scored from what the product said, within the request's wake


def test_a_retry_with_the_same_message_id_is_kept_once(live_server, tracked):
    errors: list = []
    client = _segment(live_server, tracked["key"], errors)
    client.group("u-1", "ACME-1")
    for _ in range(3):  # as a client does after a timeout: the same messageId again
        client.track("u-1", "Report Exported", message_id="retry-me")
    assert errors == []
    assert UsageEvent.objects.filter(message_id="retry-me").count() == 1


def test_rudderstacks_library_works_the_same(live_server, tracked):
    errors: list = []
    client = RudderClient(
        tracked["key"], host=live_server.url + "/ingest/segment", sync_mode=True, max_retries=0,
        on_error=lambda error, items: errors.append(error),
    )  # fmt: skip
    client.group("r-1", "ACME-1")
    client.track("r-1", "Report Exported")
    client.screen("r-1", "Mobile", "Reports")
    assert errors == []
    assert UsageEvent.objects.filter(user_id="r-1", account=tracked["account"]).count() == 3
    assert UsageDay.objects.get(account=tracked["account"], day=timezone.localdate()).events == 2


def test_a_wrong_or_revoked_write_key_is_refused_with_401(live_server, tracked):
    # In sync mode the library raises what Tend answered: its code and message, as it logs them.
    with pytest.raises(APIError) as wrong:
        _segment(live_server, "tsk_not-a-key", []).track("u-1", "Report Exported")
    assert (wrong.value.status, wrong.value.code) == (401, "unauthorized")
    TrackingSource.objects.filter(pk=tracked["source"].pk).update(revoked_at=timezone.now())
    with pytest.raises(APIError) as revoked:
        _segment(live_server, tracked["key"], []).track("u-1", "Report Exported")
    assert revoked.value.status == 401
    assert not UsageEvent.objects.exists()


def _post(live_server, key, body, **headers):
    return requests.post(
        live_server.url + "/ingest/segment/v1/batch", data=body, auth=(key, ""),
        headers={"Content-Type": "application/json", **headers}, timeout=10,
    )  # fmt: skip


def test_bad_messages_are_named_and_the_good_ones_kept(live_server, tracked):
    good = {"type": "track", "messageId": "ok-1", "userId": "u-9", "event": "Report Exported",
            "context": {"groupId": "ACME-1"}}  # fmt: skip
    batch = {"batch": [good, {"type": "track", "userId": "u-9", "event": "x"},
                       {"type": "track", "messageId": "late", "userId": "u-9", "event": "x",
                        "timestamp": "2001-01-01T00:00:00Z"},
                       {"type": "shout", "messageId": "s", "userId": "u"}]}  # fmt: skip
    response = _post(live_server, tracked["key"], json.dumps(batch))
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_messages" and body["accepted"] == 1
    assert [(e["index"], e["message"].split(" ")[0]) for e in body["errors"]] == [
        (1, "messageId"),
        (2, "timestamp"),
        (3, "type"),
    ]
    assert UsageEvent.objects.filter(message_id="ok-1").count() == 1


def test_segments_limits_and_encodings(live_server, tracked):
    key = tracked["key"]
    big = {"batch": [{"type": "track", "messageId": f"m{i}", "userId": "u", "event": "e",
                      "properties": {"pad": "x" * 30_000}} for i in range(20)]}  # fmt: skip
    response = _post(
        live_server, key, gzip.compress(json.dumps(big).encode()), **{"Content-Encoding": "gzip"}
    )
    assert response.status_code == 400 and "500 KB" in response.json()["message"]
    one = {"batch": [{"type": "track", "messageId": "huge", "userId": "u", "event": "e",
                      "properties": {"pad": "x" * 40_000}}]}  # fmt: skip
    response = _post(live_server, key, json.dumps(one))
    assert response.status_code == 400 and "32 KB" in response.json()["errors"][0]["message"]
    assert _post(live_server, key, b"not json").json()["code"] == "invalid_json"
    assert _post(live_server, key, b"\x1f\x8b garbage", **{"Content-Encoding": "gzip"}).status_code == 400
    assert _post(live_server, key, b"{}", **{"Content-Encoding": "br"}).status_code == 400


def test_an_unknown_account_is_kept_unmatched_until_a_group_call_ties_it(live_server, tracked):
    errors: list = []
    client = _segment(live_server, tracked["key"], errors)
    client.track("u-5", "Report Exported")  # nobody has said which account u-5 is in
    assert UsageEvent.objects.get(user_id="u-5").account is None
    client.group("u-5", "NOT-A-CUSTOMER")
    assert UsageEvent.objects.filter(user_id="u-5", account__isnull=True).count() == 2
    client.group("u-5", "ACME-1")
    assert (
        not UsageEvent.objects.filter(user_id="u-5", account__isnull=True)
        .exclude(group_id="NOT-A-CUSTOMER")
        .exists()
    )
    assert UsageDay.objects.get(account=tracked["account"], day=timezone.localdate()).events == 1
    assert errors == []
    assert Account.objects.get(pk=tracked["account"].pk).health_score is not None


def test_text_no_column_can_hold_and_deep_nesting_are_refused_not_a_500(live_server, tracked):
    key = tracked["key"]

    def batch(message_id: str, escaped: str) -> str:  # the value as JSON escapes it
        head = '{"batch": [{"type": "track", "messageId": "' + message_id + '", "userId": "u", "event": "e", '
        return head + '"properties": {"x": "' + escaped + '"}}]}'

    response = _post(live_server, key, batch("n", "a\\u0000b"))
    assert response.status_code == 400 and "NUL" in response.json()["errors"][0]["message"]
    assert _post(live_server, key, batch("s", "\\ud800")).status_code == 400  # half a surrogate pair
    assert _post(live_server, key, batch("ok", "\\ud83d\\ude00")).status_code == 200  # a whole pair
    assert UsageEvent.objects.get(message_id="ok").properties == {"x": "\N{GRINNING FACE}"}
    deep = '{"batch": ' + "[" * 100_000 + "]" * 100_000 + "}"
    assert _post(live_server, key, deep).status_code == 400
    # Python's json reads NaN and Infinity; no JSON column stores them.
    for constant in ("NaN", "Infinity", "-Infinity"):
        body = batch("c", "x").replace('{"x": "x"}', '{"x": ' + constant + "}")
        answer = _post(live_server, key, body)
        assert answer.status_code == 400 and answer.json()["code"] == "invalid_json", constant
    assert not UsageEvent.objects.filter(message_id__in=["n", "s"]).exists()
