from __future__ import annotations

import json
import threading
from datetime import date, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.utils import timezone

from agents_core import events
from agents_core.models import AgentRun
from csm.alerts import delivery as alert_delivery
from csm.alerts import rules as alert_rules
from csm.alerts.channels import EVENT_TYPE
from csm.models import AlertDelivery, ChurnAlert
from csm.scoring.scan import scan_health

DAY = date(2026, 11, 2)


@pytest.mark.parametrize(
    ("before", "after", "reasons"),
    [
        ((80.0, "GREEN", "low"), (35.0, "RED", "medium"), ["entered_red", "sharp_drop"]),
        ((45.0, "AMBER", "medium"), (38.0, "RED", "critical"), ["entered_red", "churn_rising"]),
        ((55.0, "AMBER", "medium"), (52.0, "AMBER", "high"), ["churn_rising"]),
        ((60.0, "AMBER", "high"), (58.0, "AMBER", "critical"), ["churn_rising"]),
        ((90.0, "GREEN", "low"), (74.0, "GREEN", "low"), ["sharp_drop"]),
        ((90.0, "GREEN", "low"), (76.0, "GREEN", "low"), []),  # 14 points: under the threshold
        ((30.0, "RED", "critical"), (28.0, "RED", "critical"), []),  # a state that persists
        ((50.0, "AMBER", "critical"), (48.0, "AMBER", "high"), []),  # risk falling is no alarm
        ((None, "", ""), (20.0, "RED", "critical"), []),  # a first score is a state, not a change
    ],
)
def test_triggers(before, after, reasons):
    (ps, pr, pc), (s, r, c) = before, after
    assert (
        alert_rules.triggers(
            previous_score=ps,
            previous_rag=pr,
            previous_churn=pc,
            score=s,
            rag=r,
            churn_risk=c,
            drop_points=15,
        )
        == reasons
    )


def test_the_explanation_says_why_in_plain_words():
    text = alert_rules.explain(
        reasons=["entered_red", "churn_rising"],
        score=34.5,
        previous_score=58.0,
        churn_risk="critical",
        churn_trigger="both",
        moved=[
            ("usage_trend", -12.0),
            ("support", -7.0),
            ("nps_score", -2.0),
            ("seats_utilization_rate", 2.0),
        ],
        renewal_date=date(2026, 12, 12),
        today=date(2026, 11, 2),
        arr=Decimal("84500"),
    )
    assert text == (
        "Entered RED, churn risk rose to critical (renewal inside the churn window and declining usage). "
        "Score 34.5, -23.5 from 58.0. Biggest moves: usage trend -12.0, support tickets -7.0, NPS -2.0. "
        "Renewal 2026-12-12 (in 40 days); ARR at stake $84,500."
    )


WEAK = dict(
    usage_trend="inactive",
    stakeholder_engagement="low",
    invoice_payment_status="overdue_90_plus",
    avg_ticket_sentiment="critical",
    open_ticket_count=6,
    feature_adoption_rate=0.1,
)


def worsen(account, **changes):
    for key, value in (changes or WEAK).items():
        setattr(account.signals, key, value)
    account.signals.save()


@pytest.fixture
def received():
    seen = []

    def handler(event):
        seen.append(event)

    events.subscribe(EVENT_TYPE, handler)
    yield seen
    events.unsubscribe(EVENT_TYPE, handler)


@pytest.mark.django_db
def test_a_change_raises_one_alert_explained_and_delivered(
    make_account, received, django_capture_on_commit_callbacks
):
    # Cents, and a value a binary float cannot hold: the scan reads the ARR as the driver gives it.
    account = make_account(today=DAY, arr=Decimal("50000.10"), renewal_date=DAY + timedelta(days=40))
    scan_health(today=DAY - timedelta(days=1))
    worsen(account)
    with django_capture_on_commit_callbacks(execute=True):
        result = scan_health(today=DAY)

    assert result["alerts"]["raised"] == 1 and result["alerts"]["sent"] == 1
    alert = ChurnAlert.objects.get(account=account)
    assert alert.reason == "entered_red" and "sharp_drop" in alert.reasons
    assert alert.previous_score > 80 and alert.rag == "RED"
    assert alert.explanation.startswith("Entered RED")
    assert "usage trend -15.0" in alert.explanation and "Renewal" in alert.explanation
    assert alert.arr == Decimal("50000.10") and "ARR at stake $50,000." in alert.explanation
    assert [group for group, _points in alert.moved][:2] == ["usage_trend", "feature_adoption_rate"]
    deliveries = {d.channel: d for d in alert.deliveries.all()}
    assert deliveries["admin"].status == "sent"
    # Not configured here: skipped, and saying so; not failures.
    assert {
        c: (d.status, d.error.split(" (")[0]) for c, d in deliveries.items() if d.status == "skipped"
    } == {
        "gmail": ("skipped", "Gmail is not configured"),
        "chat": ("skipped", "Google Chat is not configured"),
        "notion": ("skipped", "Notion is not configured"),
        "slack": ("skipped", "Slack is not configured"),
    }
    assert (
        deliveries["event"].status == "sent" and deliveries["event"].external_id == f"churn-alert-{alert.pk}"
    )
    [event] = received
    assert event["data"]["account"]["id"] == account.pk and event["data"]["rag"] == "RED"
    assert AgentRun.objects.get(task_type="deliver_alerts").status == "succeeded"

    # The same day again, and the next day in the same state: nothing new.
    with django_capture_on_commit_callbacks(execute=True):
        again = scan_health(today=DAY)
        scan_health(today=DAY + timedelta(days=1))
    assert again["alerts"]["raised"] == 0
    assert ChurnAlert.objects.count() == 1 and AlertDelivery.objects.count() == 6 and len(received) == 1


@pytest.mark.django_db
def test_cooldown_keeps_a_second_alert_away_for_a_week(make_account, settings):
    settings.TEND_ALERT_COOLDOWN_DAYS = 7
    account = make_account(today=DAY)
    scan_health(today=DAY - timedelta(days=1))
    worsen(account, usage_trend="declining", feature_adoption_rate=0.2)  # a sharp drop, still AMBER
    scan_health(today=DAY)
    assert ChurnAlert.objects.count() == 1
    worsen(account)  # now RED, three days later: inside the cooldown
    scan_health(today=DAY + timedelta(days=3))
    assert ChurnAlert.objects.count() == 1
    worsen(
        account,
        usage_trend="growing",
        feature_adoption_rate=0.9,
        stakeholder_engagement="high",
        invoice_payment_status="current",
        avg_ticket_sentiment="positive",
        open_ticket_count=0,
    )  # recovered (the helper sets whatever it is given)
    scan_health(today=DAY + timedelta(days=8))  # recovered
    worsen(account)
    scan_health(today=DAY + timedelta(days=9))  # entered RED again, after the cooldown
    assert ChurnAlert.objects.count() == 2


@pytest.mark.django_db
def test_the_cap_sends_the_highest_arr_and_holds_the_rest_back(
    make_account, settings, django_capture_on_commit_callbacks
):
    settings.TEND_ALERT_CAP_PER_RUN = 3
    accounts = [make_account(today=DAY, arr=Decimal(1000 * (i + 1))) for i in range(5)]
    scan_health(today=DAY - timedelta(days=1))
    for account in accounts:
        worsen(account)
    with django_capture_on_commit_callbacks(execute=True):
        result = scan_health(today=DAY, batch_size=2)
    assert result["alerts"] == {
        "raised": 5,
        "sent": 3,
        "held_back": 2,
        "delivery_run": result["alerts"]["delivery_run"],
    }
    sent = ChurnAlert.objects.filter(held_back=False).order_by("-arr")
    assert [a.arr for a in sent] == [Decimal(5000), Decimal(4000), Decimal(3000)]
    held = ChurnAlert.objects.filter(held_back=True)
    assert {a.account_id for a in held} == {accounts[0].pk, accounts[1].pk}
    assert not AlertDelivery.objects.filter(alert__in=held).exists()  # recorded, visible, not sent
    assert AlertDelivery.objects.filter(alert__in=sent, status="sent").count() == 6


@pytest.mark.django_db
def test_a_failing_channel_is_recorded_and_retried_once(make_account, django_capture_on_commit_callbacks):
    calls = []

    def flaky(event):
        calls.append(event["id"])
        if len(calls) == 1:
            raise ConnectionError("subscriber down")

    events.subscribe(EVENT_TYPE, flaky)
    try:
        account = make_account(today=DAY)
        scan_health(today=DAY - timedelta(days=1))
        worsen(account)
        with django_capture_on_commit_callbacks(execute=True):
            scan_health(today=DAY)
        event = AlertDelivery.objects.get(channel="event")
        assert event.status == "failed" and "subscriber down" in event.error and event.next_retry_at
        assert AlertDelivery.objects.get(channel="admin").status == "sent"  # the others are unaffected
        assert alert_delivery.deliver_due() == {}  # not due yet
        AlertDelivery.objects.filter(pk=event.pk).update(next_retry_at=timezone.now() - timedelta(seconds=1))
        assert alert_delivery.deliver_due() == {"sent": 1}
        assert alert_delivery.deliver_due() == {}
        event.refresh_from_db()
        assert (event.status, event.attempts, event.error) == ("sent", 2, "")
        assert calls == [f"churn-alert-{event.alert_id}"] * 2  # same event id: consumers can drop repeats
    finally:
        events.unsubscribe(EVENT_TYPE, flaky)


@pytest.mark.django_db
def test_the_event_webhook_receives_the_alert_over_http(
    make_account, settings, django_capture_on_commit_callbacks
):
    bodies = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):
            bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        settings.EVENT_WEBHOOK_URL = f"http://127.0.0.1:{server.server_port}/hooks/tend"
        account = make_account(today=DAY, name="Globex")
        scan_health(today=DAY - timedelta(days=1))
        worsen(account)
        with django_capture_on_commit_callbacks(execute=True):
            scan_health(today=DAY)
    finally:
        server.shutdown()
    [body] = bodies
    assert body["type"] == EVENT_TYPE and body["data"]["account"]["name"] == "Globex"
    assert AlertDelivery.objects.get(channel="event").status == "sent"


@pytest.mark.django_db
def test_alerts_api_and_acknowledge(api, api_book, django_capture_on_commit_callbacks):
    mine, theirs = api_book["maya_accounts"][0], api_book["tom_accounts"][0]
    scan_health(today=timezone.localdate() - timedelta(days=1))
    worsen(mine)
    worsen(theirs)
    with django_capture_on_commit_callbacks(execute=True):
        scan_health(today=timezone.localdate())
    client = api(api_book["maya"])
    body = client.get("/api/v1/alerts/", {"acknowledged": "false"}).json()
    assert [a["account"] for a in body["results"]] == [mine.pk]
    alert = body["results"][0]
    assert set(alert) >= {
        "id", "account", "raised_at", "reason", "rag", "churn_risk", "held_back", "acknowledged",
        "deliveries",
    }  # fmt: skip
    assert {(d["channel"], d["status"]) for d in alert["deliveries"]} == {
        ("slack", "skipped"),
        ("admin", "sent"),
        ("event", "sent"),
        ("gmail", "skipped"),
        ("chat", "skipped"),
        ("notion", "skipped"),
    }
    theirs_alert = ChurnAlert.objects.get(account=theirs)
    assert client.post(f"/api/v1/alerts/{theirs_alert.pk}/acknowledge/").status_code == 404
    response = client.post(f"/api/v1/alerts/{alert['id']}/acknowledge/")
    assert response.status_code == 200 and response.json()["acknowledged"] is True
    assert response.json()["acknowledged_by"] == "maya"
    assert client.get("/api/v1/alerts/", {"acknowledged": "false"}).json()["count"] == 0
    assert client.get("/api/v1/alerts/", {"acknowledged": "true"}).json()["count"] == 1


@pytest.mark.django_db
def test_admin_lists_open_alerts_and_acknowledges_and_snoozes(
    client, api_book, django_capture_on_commit_callbacks
):
    from django.urls import reverse

    mine = api_book["maya_accounts"]
    scan_health(today=timezone.localdate() - timedelta(days=1))
    for account in mine[:2]:
        worsen(account)
    with django_capture_on_commit_callbacks(execute=True):
        scan_health(today=timezone.localdate())
    client.force_login(api_book["maya"])
    url = reverse("admin:csm_churnalert_changelist")
    listing = client.get(url)
    assert listing.status_code == 200 and len(listing.context["cl"].result_list) == 2
    first, second = ChurnAlert.objects.order_by("pk")
    client.post(url + "?state=open", {"action": "acknowledge_alerts", "_selected_action": [first.pk]})
    client.post(url + "?state=open", {"action": "snooze_week", "_selected_action": [second.pk]})
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.acknowledged_by == api_book["maya"] and first.acknowledged_at
    assert second.snoozed_until == timezone.localdate() + timedelta(days=7)
    assert len(client.get(url).context["cl"].result_list) == 0  # nothing open this morning
    page = client.get(reverse("admin:csm_churnalert_change", args=[first.pk])).content.decode()
    assert first.explanation.split(".")[0] in page and "Event bus" in page
