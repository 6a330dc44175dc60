"""Playbooks at work: each trigger's occurrences start their playbook once per account, steps become
tasks (a waiting step once the one before is closed), and a run closes when its steps are done or
its cause went away.

`run_playbooks` (the daily `run_playbooks` task, after the scan and the contract check) does all
three for every active playbook; closing a playbook's task advances its run at once
(csm.playbooks.tasks). Everything is idempotent: a run is unique per (playbook, account,
occurrence) and a step's task per (account, "playbook:<run>:<step>"), so a re-run, a retry or a
worker killed half-way makes nothing twice.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from agents_core.bulk import upsert_rows
from agents_core.visibility import sees_everything
from csm.accounts.selectors import WEAK
from csm.models import RAG, Account, ChurnAlert, ExpansionOpportunity, HealthScore, QBRDue
from csm.playbooks.models import Playbook, PlaybookRun, PlaybookStep, Task
from csm.playbooks.tasks import managers_of
from csm.surveys.models import SurveyResponse
from csm.surveys.responses import DETRACTORS, FOLLOW_UP_DAYS

# How far back a trigger looks for occurrences it may have missed (a day the task did not run).
LOOK_BACK_DAYS = 7
NEW_ACCOUNT_DAYS = 30
QBR_AHEAD_DAYS = 14
RECOVERED = "The cause went away: {why}"
CHUNK = 2_000
RUN_FIELDS = ("playbook", "account", "occurrence", "status", "started_at", "started_on", "close_reason")
RUN_KEY = ("playbook", "account", "occurrence")
RUN_READ = ("pk", "playbook_id", "account_id", "started_on", "account__owner_id")
TASK_FIELDS = (
    "account", "owner", "title", "notes", "due_on", "priority", "status", "skip_reason", "origin",
    "origin_key", "playbook_run", "step", "created_at",
)  # fmt: skip


def run_playbooks(
    *, today: date | None = None, now: datetime | None = None, triggers: list[str] | None = None
) -> dict[str, Any]:
    """Every active playbook, or those of some triggers (a detractor's follow-up runs its own)."""
    today = today or timezone.localdate()
    now = now or timezone.now()
    result: dict[str, Any] = {"started": 0, "tasks": 0, "closed": 0}
    active = Playbook.objects.filter(is_active=True)
    if triggers is not None:
        active = active.filter(trigger__in=triggers)
    for playbook in active.prefetch_related("steps"):
        started = start(playbook, today=today, now=now)
        waiting = PlaybookRun.objects.filter(playbook=playbook, status=PlaybookRun.Status.OPEN).filter(
            ~Exists(Task.objects.filter(playbook_run=OuterRef("pk")))
        )  # new runs, and any a crashed run left without tasks
        result["started"] += started
        last = 0
        # A chunk at a time: a trigger can start a playbook on every account of the book at once.
        chunks = waiting.select_related("account").only(*RUN_READ).order_by("pk")
        while chunk := list(chunks.filter(pk__gt=last)[:CHUNK]):
            result["tasks"] += advance(chunk, playbook=playbook, today=today)
            last = chunk[-1].pk
        result["closed"] += close_recovered(playbook, today=today, now=now)
    return result


def start(playbook: Playbook, *, today: date, now: datetime) -> int:
    """Start the playbook for each occurrence of its trigger not started before. Returns how many."""
    rows = [
        (playbook.pk, account_id, occurrence[:100], PlaybookRun.Status.OPEN, now, today, "")
        for account_id, occurrence in sorted(occurrences(playbook, today=today))
    ]
    started = 0
    for first in range(0, len(rows), CHUNK):  # the unique key makes a run once, however often asked
        started += upsert_rows(
            PlaybookRun, RUN_FIELDS, rows[first : first + CHUNK], conflict=RUN_KEY, update=()
        )
    return started


def occurrences(playbook: Playbook, *, today: date) -> set[tuple[int, str]]:
    """(account id, occurrence) for each time the playbook's trigger fired, on accounts still customers."""
    active = Account.objects.filter(status=Account.Status.ACTIVE)
    since = today - timedelta(days=LOOK_BACK_DAYS)
    trigger = playbook.trigger
    if trigger == Playbook.Trigger.ALERT:
        alerts = ChurnAlert.objects.filter(raised_on__gte=since, account__in=active)
        if playbook.alert_reason:
            alerts = alerts.filter(reason=playbook.alert_reason)
        return {(a, f"alert:{pk}") for pk, a in alerts.values_list("pk", "account_id")}
    if trigger == Playbook.Trigger.RENEWAL:
        ahead = today + timedelta(days=playbook.days_before_renewal or 0)
        accounts = active.filter(renewal_date__gte=today, renewal_date__lte=ahead)
        if playbook.health == Playbook.Health.WEAK:
            accounts = accounts.filter(WEAK)
        elif playbook.health == Playbook.Health.RED:
            accounts = accounts.filter(rag=RAG.RED)
        return {(pk, f"renewal:{day.isoformat()}") for pk, day in accounts.values_list("pk", "renewal_date")}
    if trigger == Playbook.Trigger.NEW_ACCOUNT:
        accounts = active.filter(contract_start__gte=today - timedelta(days=NEW_ACCOUNT_DAYS))
        return {(pk, "onboarding") for pk in accounts.values_list("pk", flat=True)}
    if trigger == Playbook.Trigger.QBR_DUE:
        due = QBRDue.objects.filter(
            fulfilled_at__isnull=True, due_on__lte=today + timedelta(days=QBR_AHEAD_DAYS), account__in=active
        )
        return {(a, f"qbr:{pk}") for pk, a in due.values_list("pk", "account_id")}
    if trigger == Playbook.Trigger.OPPORTUNITY:
        found = ExpansionOpportunity.objects.filter(
            status=ExpansionOpportunity.Status.OPEN, created_at__date__gte=since, account__in=active
        )
        return {(a, f"opportunity:{pk}") for pk, a in found.values_list("pk", "account_id")}
    if trigger == Playbook.Trigger.ENTERED_RAG and playbook.rag:
        # Scored in the RAG today, and in another the day before: entered it today.
        before = HealthScore.objects.filter(
            account=OuterRef("account"), scored_on=today - timedelta(days=1)
        ).exclude(rag=playbook.rag)
        entered = HealthScore.objects.filter(scored_on=today, rag=playbook.rag, account__in=active).filter(
            Exists(before)
        )
        return {
            (a, f"rag:{playbook.rag}:{today.isoformat()}")
            for a in entered.values_list("account_id", flat=True)
        }
    if trigger == Playbook.Trigger.ENTERED_SEGMENT and playbook.segment:
        accounts = active.filter(segment=playbook.segment)
        return {(pk, f"segment:{playbook.segment}") for pk in accounts.values_list("pk", flat=True)}
    if trigger == Playbook.Trigger.DETRACTOR:
        answers = SurveyResponse.objects.filter(
            DETRACTORS, responded_at__date__gte=today - timedelta(days=FOLLOW_UP_DAYS), account__in=active
        )
        return {(a, f"survey:{pk}") for pk, a in answers.values_list("pk", "account_id")}
    return set()


def advance(runs: list[PlaybookRun], *, playbook: Playbook | None = None, today: date | None = None) -> int:
    """Make the tasks of the steps that are ready, mark runs whose steps are all closed done.
    Returns the tasks made."""
    if not runs:
        return 0
    today = today or timezone.localdate()
    now = timezone.now()
    made: list[tuple] = []
    steps_of: dict[int, list[PlaybookStep]] = {}
    tasks_of: dict[int, dict[int, Task]] = {}
    for task in Task.objects.filter(playbook_run__in=runs).only("pk", "status", "step_id", "playbook_run_id"):
        tasks_of.setdefault(task.playbook_run_id, {})[task.step_id] = task
    finished = []
    owners = {run.account.owner_id for run in runs if run.account.owner_id}
    managers = {owner: manager.pk for owner, manager in managers_of(owners).items()}
    for run in runs:
        book = playbook or run.playbook
        steps = steps_of.setdefault(book.pk, sorted(book.steps.all(), key=lambda s: (s.position, s.pk)))
        have = tasks_of.get(run.pk, {})
        all_closed = bool(steps)
        previous_closed = True
        for index, step in enumerate(steps):
            task = have.get(step.pk)
            if task is not None:
                previous_closed = task.status != Task.Status.OPEN
                all_closed &= previous_closed
                continue
            all_closed = False
            if index and step.wait_for_previous and not previous_closed:
                break
            owner_id = _assignee(step, run.account, managers)
            if owner_id is not None:
                due = max(run.started_on + timedelta(days=step.due_in_days), today)
                made.append((
                    run.account_id, owner_id, step.title, step.notes, due, step.priority, Task.Status.OPEN,
                    "", Task.Origin.PLAYBOOK, f"playbook:{run.pk}:{step.pk}", run.pk, step.pk, now,
                ))  # fmt: skip
            previous_closed = False
        if all_closed:
            finished.append(run.pk)
    # All of a chunk's tasks or none: a worker killed between two inserts leaves no run with some of
    # its ready steps made (the next run only picks up runs with no tasks at all).
    with transaction.atomic():
        # Raw rows, not model instances: the first run on a book makes a task for every renewal.
        made_now = upsert_rows(Task, TASK_FIELDS, made, conflict=("account", "origin_key"), update=(),
                               where='NOT ("origin_key" = \'\')')  # fmt: skip
        if finished:
            PlaybookRun.objects.filter(pk__in=finished, status=PlaybookRun.Status.OPEN).update(
                status=PlaybookRun.Status.DONE, closed_at=now, close_reason="Every step is closed."
            )
    return made_now


def _assignee(step: PlaybookStep, account: Account, managers: dict[int, int]) -> int | None:
    """Who does the step (a user id): the account's owner, the owner's manager, or the named user if
    they can see the account; the owner when the rule finds nobody."""
    if step.assignee == PlaybookStep.Assignee.MANAGER and account.owner_id in managers:
        return managers[account.owner_id]
    named = step.user if step.assignee == PlaybookStep.Assignee.USER else None
    if named is not None and named.is_active and (sees_everything(named) or account.owner_id == named.pk):
        return named.pk
    return account.owner_id


def close_recovered(playbook: Playbook, *, today: date, now: datetime) -> int:
    """Close the open runs whose cause went away; their open tasks are skipped, saying why."""
    if not playbook.close_on_recovery:
        return 0
    runs = PlaybookRun.objects.filter(playbook=playbook, status=PlaybookRun.Status.OPEN)
    gone: dict[int, str] = {}
    trigger = playbook.trigger
    if trigger in (Playbook.Trigger.ALERT, Playbook.Trigger.ENTERED_RAG):
        for pk in runs.filter(account__rag=RAG.GREEN).values_list("pk", flat=True):
            gone[pk] = RECOVERED.format(why="the account is GREEN again")
    for pk in runs.exclude(account__status=Account.Status.ACTIVE).values_list("pk", flat=True):
        gone[pk] = RECOVERED.format(why="the account is no longer an active customer")
    if trigger == Playbook.Trigger.RENEWAL:
        for pk, occurrence, renewal in runs.values_list("pk", "occurrence", "account__renewal_date"):
            if renewal is None or occurrence != f"renewal:{renewal.isoformat()}":
                gone[pk] = RECOVERED.format(why="the renewal date changed")
    if trigger in (Playbook.Trigger.QBR_DUE, Playbook.Trigger.OPPORTUNITY):
        # The thing the run is about: a QBR due still to write, an opportunity still open.
        cause = dict(runs.values_list("pk", "occurrence"))
        ids = {int(o.split(":", 1)[1]) for o in cause.values() if o.split(":", 1)[1].isdigit()}
        if trigger == Playbook.Trigger.QBR_DUE:
            still = QBRDue.objects.filter(pk__in=ids, fulfilled_at__isnull=True)
            kind, why = "qbr", "the QBR was written"
        else:
            still = ExpansionOpportunity.objects.filter(pk__in=ids, status=ExpansionOpportunity.Status.OPEN)
            kind, why = "opportunity", "the opportunity was closed"
        open_ones = {f"{kind}:{pk}" for pk in still.values_list("pk", flat=True)}
        for pk, occurrence in cause.items():
            if occurrence not in open_ones:
                gone[pk] = RECOVERED.format(why=why)
    if trigger == Playbook.Trigger.ENTERED_SEGMENT:
        for pk in runs.exclude(account__segment=playbook.segment).values_list("pk", flat=True):
            gone[pk] = RECOVERED.format(why="the account left the segment")
    by_reason: dict[str, list[int]] = {}
    for pk, why in gone.items():
        by_reason.setdefault(why[:200], []).append(pk)
    for why, pks in by_reason.items():  # a few statements per reason, however many runs close
        for start in range(0, len(pks), CHUNK):
            some = pks[start : start + CHUNK]
            Task.objects.filter(playbook_run_id__in=some, status=Task.Status.OPEN).update(
                status=Task.Status.SKIPPED, skip_reason=why, closed_at=now
            )
            PlaybookRun.objects.filter(pk__in=some, status=PlaybookRun.Status.OPEN).update(
                status=PlaybookRun.Status.CLOSED, closed_at=now, close_reason=why
            )
    return len(gone)
