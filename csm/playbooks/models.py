"""Owned work: tasks on accounts (with where they came from and what was said about them), and the
playbooks that make them: a trigger, and steps that are task templates.

Imported by csm.models, so these are models of the csm app.
"""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q

from agents_core.visibility import OwnedQuerySet


class TaskQuerySet(OwnedQuerySet):
    owner_path = "account__owner"

    def open(self):
        return self.filter(status=Task.Status.OPEN)

    def overdue(self, today):
        return self.open().filter(due_on__lt=today)


class Task(models.Model):
    """One piece of work on an account, owned by one person, due on a day."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        DONE = "done", "Done"
        SKIPPED = "skipped", "Skipped"

    class Priority(models.TextChoices):
        LOW = "low", "Low"
        NORMAL = "normal", "Normal"
        HIGH = "high", "High"
        URGENT = "urgent", "Urgent"

    class Origin(models.TextChoices):
        MANUAL = "manual", "By hand"
        ALERT = "alert", "Churn alert"
        RENEWAL = "renewal", "Renewal"
        QBR = "qbr", "QBR due"
        OPPORTUNITY = "opportunity", "Expansion opportunity"
        PLAYBOOK = "playbook", "Playbook step"
        ESCALATION = "escalation", "Escalation"

    account = models.ForeignKey("csm.Account", on_delete=models.CASCADE, related_name="tasks")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="tasks", help_text="Who does it."
    )
    title = models.CharField(max_length=200)
    notes = models.TextField(blank=True)
    due_on = models.DateField()
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.NORMAL)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    skip_reason = models.CharField(max_length=200, blank=True)
    origin = models.CharField(max_length=12, choices=Origin.choices, default=Origin.MANUAL)
    # What it came from, as "<kind>:<id>" (e.g. "alert:42"): a cause starts its task once.
    origin_key = models.CharField(max_length=100, blank=True, editable=False)
    alert = models.ForeignKey(
        "csm.ChurnAlert", null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks"
    )
    opportunity = models.ForeignKey(
        "csm.ExpansionOpportunity", null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks"
    )
    playbook_run = models.ForeignKey(
        "csm.PlaybookRun", null=True, blank=True, on_delete=models.CASCADE, related_name="tasks"
    )
    step = models.ForeignKey(
        "csm.PlaybookStep", null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Late past its priority's time: handed to the owner's manager once (csm.playbooks.escalation).
    escalated_at = models.DateTimeField(null=True, blank=True, editable=False)
    escalated_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )

    objects = TaskQuerySet.as_manager()

    class Meta:
        ordering = ["due_on", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "origin_key"], condition=~Q(origin_key=""), name="one_task_per_cause"
            ),
            models.CheckConstraint(
                condition=~Q(status="skipped") | ~Q(skip_reason=""), name="a_skipped_task_says_why"
            ),
        ]
        indexes = [
            models.Index(fields=["owner", "status", "due_on"]),
            models.Index(fields=["account", "status"]),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.OPEN


class TaskCommentQuerySet(OwnedQuerySet):
    owner_path = "task__account__owner"


class TaskComment(models.Model):
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TaskCommentQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.author or 'someone'} on {self.task}"


class Playbook(models.Model):
    """What to do when something happens to an account: a trigger and its steps. Data a manager edits."""

    class Trigger(models.TextChoices):
        ALERT = "alert", "A churn alert is raised"
        RENEWAL = "renewal", "A renewal is near"
        NEW_ACCOUNT = "new_account", "A new account (onboarding)"
        QBR_DUE = "qbr_due", "A QBR comes due"
        OPPORTUNITY = "opportunity", "An expansion opportunity is found"
        ENTERED_RAG = "entered_rag", "The account enters a RAG"
        ENTERED_SEGMENT = "entered_segment", "The account enters a segment"
        DETRACTOR = "detractor", "A detractor answers a survey (NPS 0-6, CSAT 1-2)"

    class Health(models.TextChoices):
        ANY = "any", "Any health"
        WEAK = "weak", "Weak (AMBER or RED, or high churn risk)"
        RED = "red", "RED"

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    trigger = models.CharField(max_length=20, choices=Trigger.choices)
    is_active = models.BooleanField(default=True)
    alert_reason = models.CharField(
        max_length=20, blank=True, help_text="Alert trigger: only alerts of this reason (blank: any)."
    )
    days_before_renewal = models.PositiveIntegerField(
        null=True, blank=True, help_text="Renewal trigger: start this many days before the renewal date."
    )
    health = models.CharField(
        max_length=10,
        choices=Health.choices,
        default=Health.ANY,
        help_text="Renewal trigger: only with this health.",
    )
    rag = models.CharField("RAG", max_length=5, blank=True, help_text="RAG trigger: the RAG entered.")
    segment = models.CharField(max_length=20, blank=True, help_text="Segment trigger: the segment entered.")
    close_on_recovery = models.BooleanField(
        default=True, help_text="Skip what is left when the cause goes away (the account recovered)."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class PlaybookStep(models.Model):
    """One task a playbook makes: due some days after the playbook starts, given to someone."""

    class Assignee(models.TextChoices):
        OWNER = "owner", "The account's owner"
        MANAGER = "manager", "The owner's manager"
        USER = "user", "A named user"

    playbook = models.ForeignKey(Playbook, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField(default=1)
    title = models.CharField(max_length=200)
    notes = models.TextField(blank=True)
    due_in_days = models.PositiveIntegerField(default=0, help_text="Days after the playbook starts.")
    priority = models.CharField(max_length=10, choices=Task.Priority.choices, default=Task.Priority.NORMAL)
    assignee = models.CharField(max_length=10, choices=Assignee.choices, default=Assignee.OWNER)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="With 'a named user': who.",
    )
    wait_for_previous = models.BooleanField(
        default=False, help_text="Made only once the step before is done or skipped."
    )

    class Meta:
        ordering = ["playbook", "position", "id"]

    def __str__(self) -> str:
        return f"{self.position}. {self.title}"


class PlaybookRunQuerySet(OwnedQuerySet):
    owner_path = "account__owner"


class PlaybookRun(models.Model):
    """A playbook started on an account by one occurrence of its trigger (once, however often seen)."""

    class Status(models.TextChoices):
        OPEN = "open", "In progress"
        DONE = "done", "Done"
        CLOSED = "closed", "Closed (the cause went away)"

    playbook = models.ForeignKey(Playbook, on_delete=models.CASCADE, related_name="runs")
    account = models.ForeignKey("csm.Account", on_delete=models.CASCADE, related_name="playbook_runs")
    # Which occurrence of the trigger: "alert:42", "renewal:2027-03-01", "rag:RED:2026-12-01", ...
    occurrence = models.CharField(max_length=100)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    started_at = models.DateTimeField()
    started_on = models.DateField()
    closed_at = models.DateTimeField(null=True, blank=True)
    close_reason = models.CharField(max_length=200, blank=True)

    objects = PlaybookRunQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["playbook", "account", "occurrence"], name="one_playbook_run_per_occurrence"
            )
        ]
        indexes = [models.Index(fields=["status", "playbook"])]

    def __str__(self) -> str:
        return f"{self.playbook} on {self.account}"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class CalendarFeedQuerySet(models.QuerySet):
    def visible_to(self, user):
        return self.filter(user=user)  # a feed is its owner's alone, managers' included


class CalendarFeed(models.Model):
    """A user's private calendar link (ICS) of their tasks, renewals and QBRs due.

    The link's secret is shown once, when made, and stored hashed (as write keys are); making a
    new one or deleting the feed revokes the old link at once.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_feed"
    )
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    hint = models.CharField(max_length=12, editable=False, help_text="The secret's first characters.")
    created_at = models.DateTimeField(auto_now_add=True)
    last_read_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = CalendarFeedQuerySet.as_manager()

    class Meta:
        verbose_name = "calendar feed"

    def __str__(self) -> str:
        return f"Calendar of {self.user}"

    def new_token(self) -> str:
        """Give the feed a fresh secret and return it (the only time it is seen)."""
        token = secrets.token_urlsafe(32)
        self.token_hash, self.hint = hash_token(token), token[:8]
        return token


class ReportingLine(models.Model):
    """Who a person's manager is: where their late work is escalated, and a step for "the owner's
    manager" goes."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reporting_line"
    )
    manager = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reports")

    class Meta:
        constraints = [
            models.CheckConstraint(condition=~Q(user=models.F("manager")), name="nobody_manages_themselves")
        ]

    def __str__(self) -> str:
        return f"{self.user} reports to {self.manager}"


class NoticeQuerySet(models.QuerySet):
    def visible_to(self, user):
        from agents_core.visibility import sees_everything

        return self if sees_everything(user) else self.filter(recipient=user)


class Notice(models.Model):
    """A message to one person about their work, sent on Slack: a task given to them, an escalation,
    their morning digest. Recorded, retried and never sent twice, like an alert's deliveries."""

    class Kind(models.TextChoices):
        TASK = "task", "A task given to you"
        DIGEST = "digest", "Morning digest"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        SKIPPED = "skipped", "Skipped (not configured)"
        FAILED = "failed", "Failed"

    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notices")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    task = models.ForeignKey(Task, null=True, blank=True, on_delete=models.CASCADE, related_name="notices")
    # What it is about, once: "task:<id>:<recipient>", "digest:<recipient>:<day>".
    key = models.CharField(max_length=100, unique=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    external_id = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    next_retry_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    objects = NoticeQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "next_retry_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} to {self.recipient}"
