"""Owned work: tasks on accounts, with where they came from and what was said about them.

Imported by csm.models, so these are models of the csm app.
"""

from __future__ import annotations

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
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
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
