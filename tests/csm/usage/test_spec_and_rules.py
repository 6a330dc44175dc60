"""The Segment spec as Tend reads it, and the usage-trend rule (both pure)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from csm.usage import rules, spec

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_the_senders_clock_is_corrected_by_received_minus_sent():
    message = {"type": "track", "messageId": "m", "userId": "u", "event": "e",
               "timestamp": "2026-12-01T11:00:00Z", "sentAt": "2026-12-01T11:30:00Z"}  # fmt: skip
    # Sent "at 11:30" and received at 12:00: the sender's clock is 30 minutes slow.
    assert spec.normalise(message, received_at=NOW).happened_at == datetime(2026, 12, 1, 11, 30, tzinfo=UTC)
    batch_sent = datetime(2026, 12, 1, 11, 50, tzinfo=UTC)
    del message["sentAt"]
    assert spec.normalise(message, received_at=NOW, sent_at=batch_sent).happened_at.minute == 10


@pytest.mark.parametrize(
    ("message", "says"),
    [
        ({"type": "track", "userId": "u", "event": "e"}, "messageId is required"),
        ({"type": "track", "messageId": "m", "event": "e"}, "userId or anonymousId is required"),
        ({"type": "track", "messageId": "m", "userId": "u"}, "track needs an event name"),
        ({"type": "group", "messageId": "m", "userId": "u"}, "group needs a groupId"),
        ({"type": "track", "messageId": "m", "userId": "u", "event": "e", "timestamp": "yesterday"},
         "timestamp is not an ISO 8601 time"),
        ({"type": "track", "messageId": "m", "userId": "u", "event": "e",
          "timestamp": "2027-01-01T00:00:00Z"}, "timestamp is in the future"),
        ({"type": "identify", "messageId": "m", "userId": "u", "traits": ["not", "an", "object"]},
         "traits and properties must be JSON objects"),
        ({"type": "track", "messageId": "m", "userId": "u" * 300, "event": "e"}, "userId is longer than"),
        ("a string", "each message must be a JSON object"),
    ],
)  # fmt: skip
def test_what_is_refused_says_why(message, says):
    with pytest.raises(spec.Refused, match=says):
        spec.normalise(message, received_at=NOW)


def test_page_and_screen_are_named_and_group_id_comes_from_the_context():
    message = {"type": "page", "messageId": "p", "anonymousId": "a", "context": {"groupId": "ACME"}}
    page = spec.normalise(message, received_at=NOW)
    assert (page.event, page.group_id, page.user_id, page.anonymous_id) == ("Page viewed", "ACME", "", "a")


TODAY = date(2026, 12, 1)


def daily(per_day_recent: int, per_day_baseline: int, *, quiet_days: int = 0) -> dict[date, int]:
    days = {}
    for back in range(84):
        day = TODAY - timedelta(days=back)
        days[day] = per_day_recent if back < 28 else per_day_baseline
        if back < quiet_days:
            days[day] = 0
    return days


@pytest.mark.parametrize(
    ("recent", "baseline", "quiet", "trend"),
    [(10, 10, 0, "stable"), (12, 10, 0, "growing"), (8, 10, 0, "declining"), (10, 0, 0, "growing"),
     (10, 10, 14, "inactive"), (10, 10, 13, "declining")],
)  # fmt: skip
def test_the_usage_trend_rule(recent, baseline, quiet, trend):
    first = TODAY - timedelta(days=83)
    assert (
        rules.usage_trend(daily(recent, baseline, quiet_days=quiet), today=TODAY, first_seen=first) == trend
    )


def test_no_trend_before_four_weeks_of_history():
    assert rules.usage_trend({TODAY: 5}, today=TODAY, first_seen=TODAY - timedelta(days=20)) is None
    assert rules.last_active({TODAY - timedelta(days=3): 2, TODAY: 0}) == TODAY - timedelta(days=3)


def test_the_retention_window_bounds_what_is_taken():
    old = {
        "type": "track",
        "messageId": "m",
        "userId": "u",
        "event": "e",
        "timestamp": "2026-09-01T00:00:00Z",
    }
    assert spec.normalise(old, received_at=NOW).event == "e"
    with pytest.raises(spec.Refused, match="more than 30 days ago"):
        spec.normalise(old, received_at=NOW, max_past=timedelta(days=30))
