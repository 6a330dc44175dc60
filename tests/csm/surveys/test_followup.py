"""A detractor's answer: a churn alert on every channel and the detractor playbook, once, however
often the answer or the follow-up comes again; a promoter, or last year's answer imported today,
raises nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from csm.models import AlertDelivery, ChurnAlert, Playbook, PlaybookRun, SurveyResponse, Task
from csm.surveys.followup import follow_up_detractors
from csm.surveys.formats import Answer
from csm.surveys.responses import save_answers

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def only_detractor_playbook(db):
    Playbook.objects.exclude(trigger=Playbook.Trigger.DETRACTOR).update(is_active=False)


def answer(score, *, rid="r1", email="wile@acme.test", days_ago=0, kind="nps", comment="It keeps crashing"):
    return Answer(
        external_id=rid,
        kind=kind,
        score=score,
        email=email,
        name="Wile Coyote",
        comment=comment,
        responded_at=timezone.now() - timedelta(days=days_ago, minutes=1),
        survey="Q4 NPS",
    )


def test_a_detractor_raises_an_alert_on_every_channel_and_starts_the_playbook(
    acme, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        save_answers([answer(3)], channel="delighted")
    alert = ChurnAlert.objects.get(account=acme)
    assert alert.reason == "detractor" and alert.dispatched
    assert (
        'Wile Coyote (wile@acme.test) answered 3/10 on Q4 NPS and wrote: "It keeps crashing"'
        in alert.explanation
    )
    assert (alert.score, alert.rag) == (72.0, "GREEN")  # the account's health as it stands
    channels = set(AlertDelivery.objects.filter(alert=alert).values_list("channel", flat=True))
    assert channels == set(AlertDelivery.Channel.values)
    run = PlaybookRun.objects.get(account=acme)
    assert run.playbook.name == "Detractor recovery"
    assert run.occurrence == f"survey:{SurveyResponse.objects.get().pk}"
    task = Task.objects.get(playbook_run=run)
    assert task.owner == acme.owner and task.priority == "high"
    assert SurveyResponse.objects.get().followed_up_at is not None


def test_the_same_answer_again_and_the_follow_up_again_add_nothing(acme, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        save_answers([answer(3)], channel="delighted")
        save_answers([answer(2)], channel="delighted")  # Delighted's "updated" for the same answer
    follow_up_detractors()
    follow_up_detractors()
    assert ChurnAlert.objects.count() == 1
    assert PlaybookRun.objects.count() == 1 and Task.objects.count() == 1


def test_a_second_detractor_on_the_day_keeps_one_alert_but_gets_its_own_playbook(
    acme, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        save_answers([answer(3)], channel="delighted")
        save_answers([answer(1, rid="r2", email="road@acme.test")], channel="delighted")
    assert ChurnAlert.objects.count() == 1  # one alert per account per day
    assert PlaybookRun.objects.filter(account=acme).count() == 2


@pytest.mark.parametrize("score, kind", [(7, "nps"), (10, "nps"), (3, "csat")])
def test_promoters_and_passives_raise_nothing(acme, django_capture_on_commit_callbacks, score, kind):
    with django_capture_on_commit_callbacks(execute=True):
        save_answers([answer(score, kind=kind)], channel="api")
    follow_up_detractors()
    assert not ChurnAlert.objects.exists() and not PlaybookRun.objects.exists()


def test_a_csat_detractor_is_followed_up_too(acme, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        save_answers([answer(2, kind="csat")], channel="api")
    assert "answered 2/5" in ChurnAlert.objects.get().explanation


def test_history_imported_today_raises_nothing(acme, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        save_answers([answer(0, days_ago=30)], channel="csv")
    follow_up_detractors()
    assert not ChurnAlert.objects.exists() and not PlaybookRun.objects.exists()


def test_alerts_can_be_turned_off_and_the_playbook_still_starts(
    acme, settings, django_capture_on_commit_callbacks
):
    settings.TEND_DETRACTOR_ALERTS = False
    with django_capture_on_commit_callbacks(execute=True):
        save_answers([answer(3)], channel="api")
    assert not ChurnAlert.objects.exists()
    assert PlaybookRun.objects.filter(account=acme).count() == 1


def test_an_unplaced_detractor_is_followed_up_once_a_person_places_it(
    acme, django_capture_on_commit_callbacks
):
    from csm.surveys.responses import place

    with django_capture_on_commit_callbacks(execute=True):
        saved = save_answers([answer(2, email="unknown@acme.test")], channel="delighted")
    assert not ChurnAlert.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        place(saved.responses[0], acme)
    assert ChurnAlert.objects.get().account == acme
