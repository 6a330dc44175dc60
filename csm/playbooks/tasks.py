"""Tasks: made, assigned, done, skipped and commented on, each in one place.

Who may give a task to whom: a manager (who sees every account) to anyone
who can see the account; a CSM to themselves, on their own accounts. The
admin and the API call these; neither writes a Task itself.
"""

from __future__ import annotations

from datetime import date

from django.db import IntegrityError, transaction
from django.utils import timezone

from agents_core.visibility import sees_everything
from csm.models import Account
from csm.playbooks import notices
from csm.playbooks.models import ReportingLine, Task, TaskComment


class TaskRefused(ValueError):
    """The change cannot be made; the text says why (shown to the user)."""


def may_assign(by, owner, account: Account) -> str | None:
    """Why `by` may not give `owner` a task on `account`, or None if they may."""
    if not owner.is_active:
        return f"{owner} is not an active user."
    if not (sees_everything(owner) or account.owner_id == owner.pk):
        return f"{owner} cannot see {account}: give the task to its owner, or to a manager."
    if by is not None and not sees_everything(by) and owner.pk != by.pk:
        return "A CSM gives tasks to themselves; a manager gives them to anyone."
    if by is not None and not (sees_everything(by) or account.owner_id == by.pk):
        return f"{account} is not one of your accounts."
    return None


def create_task(
    *,
    account: Account,
    owner,
    title: str,
    due_on: date,
    by=None,
    notes: str = "",
    priority: str = Task.Priority.NORMAL,
    origin: str = Task.Origin.MANUAL,
    origin_key: str = "",
    alert=None,
    opportunity=None,
) -> Task:
    """A new open task; with an `origin_key`, the one task of that cause (made once, however often asked)."""
    if problem := may_assign(by, owner, account):
        raise TaskRefused(problem)
    if not (title or "").strip():
        raise TaskRefused("A task needs a title.")
    fields = dict(
        owner=owner, title=title.strip()[:200], notes=notes, due_on=due_on, priority=priority,
        origin=origin, alert=alert, opportunity=opportunity, created_by=by,
    )  # fmt: skip
    if not origin_key:
        task = Task.objects.create(account=account, **fields)
    else:
        try:
            with transaction.atomic():
                task = Task.objects.create(account=account, origin_key=origin_key, **fields)
        except IntegrityError:  # made by an earlier run, a retry, or another worker meanwhile
            return Task.objects.get(account=account, origin_key=origin_key)
    if by is not None:
        notices.notify_task(task, by=by)
    return task


def assign(task: Task, owner, *, by) -> Task:
    if problem := may_assign(by, owner, task.account):
        raise TaskRefused(problem)
    changed = task.owner_id != owner.pk
    task.owner = owner
    task.save(update_fields=["owner"])
    if changed:
        notices.notify_task(task, by=by)
    return task


def complete(task: Task, *, by) -> Task:
    """Done. Doing a done task again changes nothing; a skipped one must be reopened first."""
    return _close(task, Task.Status.DONE, by=by)


def skip(task: Task, *, by, reason: str) -> Task:
    reason = (reason or "").strip()
    if not reason:
        raise TaskRefused("Say why the task is skipped.")
    return _close(task, Task.Status.SKIPPED, by=by, reason=reason[:200])


def reopen(task: Task, *, by) -> Task:
    Task.objects.filter(pk=task.pk).update(
        status=Task.Status.OPEN, skip_reason="", closed_at=None, closed_by=None
    )
    task.refresh_from_db()
    return task


def _close(task: Task, status: str, *, by, reason: str = "") -> Task:
    if task.status == status:
        return task
    if not task.is_open:
        raise TaskRefused(f"The task is {task.get_status_display().lower()}: reopen it first.")
    # Only an open task closes: two clicks at once close it once.
    closed = Task.objects.filter(pk=task.pk, status=Task.Status.OPEN).update(
        status=status, skip_reason=reason, closed_at=timezone.now(), closed_by=by
    )
    task.refresh_from_db()
    if closed and task.playbook_run_id is not None:
        from csm.playbooks.runner import advance  # the next step, now that this one is closed

        advance([task.playbook_run])
    return task


def comment(task: Task, *, by, body: str) -> TaskComment:
    body = (body or "").strip()
    if not body:
        raise TaskRefused("A comment needs some text.")
    return TaskComment.objects.create(task=task, author=by, body=body[:5000])


def managers_of(user_ids) -> dict[int, object]:
    """Each user's manager (ReportingLine), where that manager is active and sees every account
    (so sees what they are handed): user id -> manager. One query, and one per distinct manager."""
    lines = ReportingLine.objects.filter(user_id__in=set(user_ids), manager__is_active=True).select_related(
        "manager"
    )
    return {line.user_id: line.manager for line in lines if sees_everything(line.manager)}
