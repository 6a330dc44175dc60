"""People hear about their work on Slack: a task someone else gave them, an escalation, their
morning digest with Done buttons; each notice made once, sent once, skipped or retried in words."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from csm.models import Notice, ReportingLine, Task
from csm.playbooks import notices
from csm.playbooks.escalation import escalate
from csm.playbooks.tasks import create_task
from tests.csm.alerts.test_slack import _click, slack  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(api_book):
    for name in ("maya", "tom", "manager"):
        user = api_book[name]
        user.email = f"{user.username}@example.com"
        user.save(update_fields=["email"])
    return api_book


def _task(people, owner="maya", by=None, days=0, title="Call the champion"):
    return create_task(account=people["maya_accounts"][0], owner=people[owner], by=by, title=title,
                       due_on=timezone.localdate() + timedelta(days=days))  # fmt: skip


def test_a_task_a_manager_gives_is_sent_to_the_owners_dm_once(people, slack):  # noqa: F811
    task = _task(people, by=people["manager"])
    _task(people, by=people["maya"], title="My own")  # given to myself: no message
    notice = Notice.objects.get()
    assert (notice.recipient, notice.task, notice.kind) == (people["maya"], task, "task")

    assert notices.deliver_due() == {"sent": 1}
    [post] = slack.posts
    assert post["channel"] == "D-U-MAYA" and "morgan gave you a task: Call the champion" in post["text"]
    done = next(e for e in post["blocks"][-1]["elements"] if e["action_id"] == "task.done")
    assert done["value"] == str(task.pk)
    assert Notice.objects.get().external_id == "D-U-MAYA:1700000000.000001"
    # Marked for another try (say the record of the send was lost): it is not posted again.
    Notice.objects.filter(pk=notice.pk).update(status="failed", next_retry_at=timezone.now())
    notices.deliver_due()
    assert len(slack.posts) == 1 and Notice.objects.get().status == "sent"


def test_the_morning_digest_lists_what_is_due_with_done_buttons(people, slack, client):  # noqa: F811
    late = _task(people, days=-2, title="Late call")
    _task(people, title="Call today")
    _task(people, days=5, title="Next week")
    assert notices.queue_digests() == 1 and notices.queue_digests() == 0  # once a day
    notices.deliver_due()
    [post] = slack.posts
    text = json.dumps(post["blocks"])
    assert post["blocks"][0]["type"] == "header" and "Late call" in text and "(late)" in text
    assert "Call today" in text and "Next week" not in text
    # The Done button of the digest closes the task, as the Tend user Slack's email names.
    client.slack_url = slack.url
    _click(client, "task.done", late.pk)
    late.refresh_from_db()
    assert late.status == "done" and late.closed_by == people["maya"]
    assert slack.replies[-1]["text"] == "Done: Late call."


def test_an_escalation_is_sent_to_the_manager(people, slack):  # noqa: F811
    ReportingLine.objects.create(user=people["maya"], manager=people["manager"])
    _task(people, days=-10, title="Forgotten")
    escalate()
    notices.deliver_due()
    [post] = slack.posts
    assert post["channel"] == "D-U-MORGAN" and post["text"].startswith("Escalated: Forgotten (Maya Co 0, due")


def test_skipped_and_failed_say_why(people, slack, settings):  # noqa: F811
    closed = _task(people, by=people["manager"], title="Closed before it went")
    Task.objects.filter(pk=closed.pk).update(status="done")
    people["tom"].email = "tom-not-in-slack@example.com"
    people["tom"].save(update_fields=["email"])
    create_task(account=people["tom_accounts"][0], owner=people["tom"], by=people["manager"], title="x",
                due_on=timezone.localdate())  # fmt: skip
    notices.deliver_due()
    said = dict(Notice.objects.values_list("recipient__username", "error"))
    assert "Nothing to say any more" in said["maya"] and "Slack has no user with" in said["tom"]
    assert set(Notice.objects.values_list("status", flat=True)) == {"skipped"}

    settings.SLACK_BOT_TOKEN = "xoxb-wrong"
    _task(people, by=people["manager"], title="Another")
    notices.deliver_due()
    failed = Notice.objects.get(task__title="Another")
    assert failed.status == "failed" and "invalid_auth" in failed.error and failed.next_retry_at


def test_each_person_sees_their_own_notices_and_a_manager_everyones(people, slack, client):  # noqa: F811
    from django.urls import reverse

    _task(people, by=people["manager"], title="For maya")
    create_task(account=people["tom_accounts"][0], owner=people["tom"], by=people["manager"], title="For tom",
                due_on=timezone.localdate())  # fmt: skip
    client.force_login(people["maya"])
    page = client.get(reverse("admin:csm_notice_changelist")).content.decode()
    assert "For maya" in page and "For tom" not in page
    client.force_login(people["manager"])
    page = client.get(reverse("admin:csm_notice_changelist")).content.decode()
    assert "For maya" in page and "For tom" in page
