"""Alerts in Slack through the real slack_sdk against a loopback Slack, and the buttons' clicks:
signed by Slack or refused (forged, replayed, malformed), acting only as the Tend user the Slack
account's email names, and only on what that user may see."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from urllib.parse import urlencode

import pytest

from csm.alerts import delivery as alert_delivery
from csm.models import AlertDelivery, ChurnAlert
from tests.csm.alerts.test_channels import alerted  # noqa: F401 (a fixture)
from tests.fakes.slack import TOKEN, Slack

pytestmark = pytest.mark.django_db
SECRET = "slack-signing-secret"


@pytest.fixture
def slack(settings):
    fake = Slack()
    settings.SLACK_BOT_TOKEN = TOKEN
    settings.SLACK_API_URL = fake.url + "/api/"
    settings.SLACK_SIGNING_SECRET = SECRET
    settings.SLACK_HOOKS_URL = fake.url + "/hooks/"
    yield fake
    fake.close()


def _slack_delivery(alert) -> AlertDelivery:
    return alert.deliveries.get(channel="slack")


def test_an_alert_goes_to_the_owners_dm_with_its_buttons_once(alerted, slack):  # noqa: F811
    alert = alerted()
    delivery = _slack_delivery(alert)
    assert delivery.status == "sent" and delivery.external_id == "D-U-MAYA:1700000000.000001"
    [post] = slack.posts
    blocks = post["blocks"]
    text = json.dumps(blocks)
    assert post["channel"] == "D-U-MAYA" and "Globex" in post["text"]
    assert alert.explanation.split(".")[0] in text and "ARR" in text
    buttons = {b["action_id"]: b for b in blocks[-1]["elements"]}
    assert buttons["alert.acknowledge"]["value"] == str(alert.pk) and "url" in buttons["alert.open"]
    # A retry of a sent delivery, or the sweep, never posts a second message.
    AlertDelivery.objects.filter(pk=delivery.pk).update(status="failed", next_retry_at=None)
    alert_delivery.deliver(AlertDelivery.objects.get(pk=delivery.pk))
    assert len(slack.posts) == 1


def test_a_worker_killed_after_posting_does_not_post_the_alert_twice(alerted, slack):  # noqa: F811
    from datetime import timedelta

    from django.utils import timezone

    alert = alerted()
    delivery = _slack_delivery(alert)
    first = delivery.external_id
    key = {"key": f"alert-delivery:{delivery.pk}"}
    assert slack.posts[0]["metadata"] == {"event_type": "tend_message", "event_payload": key}
    # As if the worker died between Slack's answer and recording it: still claimed, nothing kept.
    stale = timezone.now() - timedelta(hours=1)
    AlertDelivery.objects.filter(pk=delivery.pk).update(status="pending", external_id="", claimed_at=stale)
    assert alert_delivery.deliver(AlertDelivery.objects.get(pk=delivery.pk)) == "sent"
    delivery.refresh_from_db()
    assert len(slack.posts) == 1 and delivery.external_id == first  # found in the DM's history
    assert "conversations.history" in slack.calls


def test_a_first_attempt_slack_refused_is_posted_once_on_the_retry(alerted, slack, settings):  # noqa: F811
    settings.SLACK_BOT_TOKEN = "xoxb-wrong"
    delivery = _slack_delivery(alerted())
    assert delivery.status == "failed" and slack.posts == []
    settings.SLACK_BOT_TOKEN = TOKEN
    alert_delivery.deliver(delivery)
    delivery.refresh_from_db()
    assert delivery.status == "sent" and len(slack.posts) == 1


def test_a_team_channel_gets_the_headline_only(alerted, slack, settings):  # noqa: F811
    settings.SLACK_ALERT_CHANNEL = "C-TEAM"
    alert = alerted()
    [post] = slack.posts
    text = json.dumps(post["blocks"])
    assert post["channel"] == "C-TEAM" and "Globex" in text
    assert alert.explanation not in text and "ARR" not in text and "alert.acknowledge" not in text


def test_a_refused_token_is_a_failed_delivery_to_retry(alerted, slack, settings):  # noqa: F811
    settings.SLACK_BOT_TOKEN = "xoxb-wrong"
    delivery = _slack_delivery(alerted())
    assert delivery.status == "failed" and "invalid_auth" in delivery.error and delivery.next_retry_at
    assert slack.posts == []


def _click(client, action_id, value, *, user="U-MAYA", secret=SECRET, age=0, timestamp=None):
    payload = {"type": "block_actions", "user": {"id": user},
               "response_url": f"{client.slack_url}/hooks/T1/B1",
               "actions": [{"action_id": action_id, "value": str(value)}]}  # fmt: skip
    body = urlencode({"payload": json.dumps(payload)})
    stamp = timestamp if timestamp is not None else str(int(time.time()) - age)
    signature = "v0=" + hmac.new(secret.encode(), f"v0:{stamp}:{body}".encode(), hashlib.sha256).hexdigest()
    return client.post("/slack/interactions", body, content_type="application/x-www-form-urlencoded",
                       HTTP_X_SLACK_REQUEST_TIMESTAMP=stamp, HTTP_X_SLACK_SIGNATURE=signature)  # fmt: skip


@pytest.fixture
def clicks(client, slack):
    client.slack_url = slack.url
    return client


def test_acknowledge_from_slack_acts_as_the_tend_user_with_that_email(alerted, clicks, slack):  # noqa: F811
    alert = alerted()
    response = _click(clicks, "alert.acknowledge", alert.pk)
    assert response.status_code == 200
    alert.refresh_from_db()
    assert alert.acknowledged_by.username == "maya"
    assert slack.replies[-1]["text"] == "Acknowledged the alert on Globex."


def test_forged_replayed_or_malformed_requests_are_refused_and_change_nothing(alerted, clicks):  # noqa: F811
    alert = alerted()
    assert _click(clicks, "alert.acknowledge", alert.pk, secret="not-the-secret").status_code == 401
    assert _click(clicks, "alert.acknowledge", alert.pk, age=600).status_code == 401  # a replay
    assert _click(clicks, "alert.acknowledge", alert.pk, timestamp="soon").status_code == 401
    assert clicks.post("/slack/interactions", "payload=x", content_type="application/x-www-form-urlencoded",
                       HTTP_X_SLACK_REQUEST_TIMESTAMP=str(int(time.time()))).status_code == 401  # fmt: skip
    assert ChurnAlert.objects.get(pk=alert.pk).acknowledged_at is None


def test_a_button_never_acts_on_an_account_the_clicker_cannot_see(alerted, clicks, slack, make_user):  # noqa: F811
    alert = alerted()
    make_user("tom", email="tom@example.com")
    _click(clicks, "alert.acknowledge", alert.pk, user="U-TOM")
    assert ChurnAlert.objects.get(pk=alert.pk).acknowledged_at is None
    assert slack.replies[-1]["text"] == "You cannot act on that alert in Tend."
    _click(clicks, "alert.snooze", alert.pk, user="U-NOBODY")  # an email no Tend user has
    assert "does not know your Slack account" in slack.replies[-1]["text"]
    assert ChurnAlert.objects.get(pk=alert.pk).snoozed_until is None
    _click(clicks, "alert.snooze", "1; DROP TABLE", user="U-MAYA")
    assert slack.replies[-1]["text"] == "That button is not one of Tend's."
