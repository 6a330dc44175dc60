"""Telling people about their work on Slack: a task given to them by someone else (a manager, an
escalation), and each morning their digest (what is due, with Done buttons).

A notice is a row first (unique per cause, so it is made once), then sent by the `deliver_notices`
task: claimed, posted to the person's DM from the app (found by their email), and recorded: sent
with Slack's message id, skipped when Slack is not set up or Slack does not know them, failed with
the error and retried with back-off. A sent notice is never posted again. Tasks a playbook makes
go in the digest, not one message each.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from agents_core.integrations import slack as slack_api
from csm.accounts.selectors import open_alerts
from csm.models import Account, ChurnAlert
from csm.playbooks.models import Notice, Task

CLAIM_TIMEOUT = timedelta(minutes=10)
MAX_ATTEMPTS = 6
DIGEST_TASKS = 10


def notify_task(task: Task, *, by) -> None:
    """Tell the task's owner it was given to them, unless they gave it to themselves."""
    if by is not None and by.pk == task.owner_id:
        return
    notify_tasks([task])


def notify_tasks(tasks: list[Task]) -> None:
    if not tasks or not settings.SLACK_BOT_TOKEN:
        return
    Notice.objects.bulk_create(
        [Notice(recipient_id=t.owner_id, kind=Notice.Kind.TASK, task_id=t.pk, key=f"task:{t.pk}:{t.owner_id}")
         for t in tasks if t.pk],
        ignore_conflicts=True,
    )  # fmt: skip
    transaction.on_commit(_queue_delivery)


def queue_digests(*, today: date | None = None) -> int:
    """A digest for each active user with something due: open tasks due by today, open alerts."""
    if not settings.SLACK_BOT_TOKEN:
        return 0
    today = today or timezone.localdate()
    with_tasks = set(
        Task.objects.open().filter(due_on__lte=today).values_list("owner_id", flat=True).distinct()
    )
    with_alerts = set(
        open_alerts(ChurnAlert.objects.filter(account__status=Account.Status.ACTIVE), today)
        .values_list("account__owner_id", flat=True)
        .distinct()
    )
    users = get_user_model().objects.filter(pk__in=(with_tasks | with_alerts) - {None}, is_active=True)
    keys = {pk: f"digest:{pk}:{today.isoformat()}" for pk in users.values_list("pk", flat=True)}
    before = Notice.objects.filter(key__in=keys.values()).count()
    Notice.objects.bulk_create(
        [Notice(recipient_id=pk, kind=Notice.Kind.DIGEST, key=key) for pk, key in keys.items()],
        ignore_conflicts=True,
    )
    transaction.on_commit(_queue_delivery)
    return Notice.objects.filter(key__in=keys.values()).count() - before


def _queue_delivery() -> None:
    from agents_core.dispatch import enqueue_once

    enqueue_once("csm", "deliver_notices")


def deliver_due(*, limit: int = 500) -> dict[str, int]:
    now = timezone.now()
    due = Notice.objects.filter(
        Q(status=Notice.Status.PENDING, claimed_at__isnull=True)
        | Q(status=Notice.Status.FAILED, next_retry_at__lte=now)
        | Q(status__in=[Notice.Status.PENDING, Notice.Status.FAILED], claimed_at__lt=now - CLAIM_TIMEOUT)
    ).order_by("pk")
    outcomes: dict[str, int] = {}
    for pk in list(due.values_list("pk", flat=True)[:limit]):
        status = deliver(pk)
        outcomes[status] = outcomes.get(status, 0) + 1
    return outcomes


def deliver(pk: int) -> str:
    """One attempt at one notice; returns its status. Never raises for Slack's failure."""
    now = timezone.now()
    fresh = Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - CLAIM_TIMEOUT)
    claimed = Notice.objects.filter(
        fresh, pk=pk, status__in=[Notice.Status.PENDING, Notice.Status.FAILED]
    ).update(claimed_at=now, attempts=F("attempts") + 1)
    if not claimed:
        return "taken"
    notice = Notice.objects.select_related("recipient", "task__account", "task__created_by").get(pk=pk)
    done: dict[str, Any] = {"claimed_at": None, "next_retry_at": None, "error": ""}
    client = slack_api.slack_client()
    if notice.external_id:  # posted before and recorded
        Notice.objects.filter(pk=pk).update(**done, status=Notice.Status.SENT)
        return Notice.Status.SENT
    try:
        if client is None:
            raise Skipped("Slack is not configured (SLACK_BOT_TOKEN).")
        if not notice.recipient.email:
            raise Skipped(f"{notice.recipient} has no email address to find in Slack.")
        text, blocks = message(notice, today=timezone.localdate())
        if not blocks:
            raise Skipped("Nothing to say any more (the task was closed, or nothing is due).")
        try:
            channel = slack_api.dm_channel(client, notice.recipient.email)
        except slack_api.SlackApiError as exc:
            if exc.response.get("error") == "users_not_found":
                raise Skipped(f"Slack has no user with {notice.recipient.email}.") from None
            raise
        external_id = slack_api.post(client, channel, text=text, blocks=blocks, key=f"notice:{notice.pk}",
                                     retry=notice.attempts > 1)  # fmt: skip
    except Skipped as exc:
        done.update(status=Notice.Status.SKIPPED, error=str(exc))
    except Exception as exc:
        done.update(
            status=Notice.Status.FAILED,
            error=f"{type(exc).__name__}: {exc}"[:2000],
            next_retry_at=now + timedelta(minutes=min(2**notice.attempts, 360))
            if notice.attempts < MAX_ATTEMPTS
            else None,
        )
    else:
        done.update(status=Notice.Status.SENT, external_id=external_id, sent_at=now)
    Notice.objects.filter(pk=pk).update(**done)
    return done["status"]


class Skipped(Exception):
    pass


def message(notice: Notice, *, today: date) -> tuple[str, list[dict]]:
    """The notice's text and Block Kit blocks; no blocks when there is nothing to say any more."""
    base = settings.TEND_BASE_URL.rstrip("/")
    if notice.kind == Notice.Kind.TASK:
        task = notice.task
        if task is None or not task.is_open:
            return "", []
        if task.origin == Task.Origin.ESCALATION:
            head = task.title  # "Escalated: ..."
        else:
            head = f"{task.created_by or 'Tend'} gave you a task: {task.title}"
        text = f"{head} ({task.account.name}, due {task.due_on:%d %b})"
        notes = slack_api.escape(task.notes[:2000])
        return text, [
            {"type": "section", "text": {"type": "mrkdwn", "text": slack_api.escape(text)}},
            *([{"type": "context", "elements": [{"type": "mrkdwn", "text": notes}]}] if notes else []),
            {"type": "actions", "block_id": f"task-{task.pk}", "elements": _task_buttons(task, base)},
        ]  # fmt: skip
    mine = (
        Task.objects.open()
        .filter(owner=notice.recipient, due_on__lte=today)
        .select_related("account")
        .order_by("due_on", "pk")
    )
    tasks = list(mine[:DIGEST_TASKS])
    alerts = open_alerts(
        ChurnAlert.objects.filter(account__owner=notice.recipient, account__status=Account.Status.ACTIVE),
        today,
    ).count()
    if not tasks and not alerts:
        return "", []
    text = f"Your day in Tend: {mine.count()} task(s) due, {alerts} open alert(s)"
    blocks: list[dict] = [{"type": "header", "text": {"type": "plain_text", "text": "Your day in Tend"}}]
    for task in tasks:
        late = " (late)" if task.due_on < today else ""
        blocks.append({
            "type": "section",
            "text": {"type": "mrkdwn", "text": slack_api.escape(f"{task.title} · {task.account.name}{late}")},
            "accessory": {"type": "button", "action_id": "task.done", "value": str(task.pk),
                          "text": {"type": "plain_text", "text": "Done"}},
        })  # fmt: skip
    summary = f"{mine.count()} task(s) due today or late, {alerts} open alert(s) on your accounts."
    if base:
        summary += f" <{base}/admin/|My book today>"
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": summary}]})
    return text, blocks


def _task_buttons(task: Task, base: str) -> list[dict]:
    buttons = [{"type": "button", "action_id": "task.done", "value": str(task.pk), "style": "primary",
                "text": {"type": "plain_text", "text": "Done"}}]  # fmt: skip
    if base:
        url = f"{base}/admin/csm/task/{task.pk}/change/"
        buttons.append({"type": "button", "action_id": "task.open", "url": url,
                        "text": {"type": "plain_text", "text": "Open in Tend"}})  # fmt: skip
    return buttons
