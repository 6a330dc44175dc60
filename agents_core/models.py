from __future__ import annotations

from django.conf import settings
from django.db import models
from knox.models import AbstractAuthToken, AuthTokenManager

from agents_core.visibility import OwnedQuerySet, sees_everything


class AgentRunQuerySet(models.QuerySet):
    def visible_to(self, user) -> AgentRunQuerySet:
        """Managers see every run; others the runs they started and the scheduled ones."""
        if sees_everything(user):
            return self
        if not user.is_active:
            return self.none()
        return self.filter(models.Q(requested_by=user) | models.Q(trigger=AgentRun.Trigger.SCHEDULE))


class AgentRun(models.Model):
    """One execution of one agent task: the audit trail of every automated action."""

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Schedule"
        API = "api", "API"
        ADMIN = "admin", "Admin"
        SIGNAL = "signal", "Signal"
        COMMAND = "command", "Command"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    agent = models.CharField(max_length=50)
    task_type = models.CharField(max_length=80)
    payload = models.JSONField(default=dict, blank=True)
    trigger = models.CharField(max_length=20, choices=Trigger.choices)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED, db_index=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    worker = models.CharField(max_length=120, blank=True, help_text="host:pid of the worker that ran it last")
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    q_task_id = models.CharField("queue task id", max_length=64, blank=True)
    # Held while the run executes so the same work (agent, task type and
    # payload) never runs twice at once, e.g. a slow 07:00 scan and the next
    # day's. Unique: a second run cannot take it. Cleared when the run ends.
    lock = models.CharField(max_length=64, null=True, blank=True, unique=True, editable=False)
    # What every batch of a fanned-out run shares (the day being scored, say),
    # fixed when the run first plans its batches; a recovered run keeps it.
    context = models.JSONField(null=True, blank=True, editable=False)

    objects = AgentRunQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["agent", "task_type", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.agent}.{self.task_type} #{self.pk} ({self.status})"

    def details_visible_to(self, user) -> bool:
        """May `user` read this run's payload, result and error?

        A CSM sees that the scheduled whole-book runs happened, and how they
        went; what they touched (every account's ids, other CSMs' errors) is
        for managers and for whoever started the run.
        """
        return sees_everything(user) or (self.requested_by_id is not None and self.requested_by_id == user.pk)

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return round((self.finished_at - self.started_at).total_seconds(), 3)
        return None


class WorkBatch(models.Model):
    """One slice of a fanned-out run (see agents_core.fanout): a range of keys, claimed by one worker."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    run = models.ForeignKey(AgentRun, on_delete=models.CASCADE, related_name="batches")
    seq = models.PositiveIntegerField()
    first_key = models.BigIntegerField()
    last_key = models.BigIntegerField()
    size = models.PositiveIntegerField(help_text="Keys in the range when the run was planned.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    claimed_by = models.CharField(max_length=120, blank=True, help_text="host:pid of the worker")
    claimed_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["run", "seq"]
        constraints = [models.UniqueConstraint(fields=["run", "seq"], name="unique_batch_per_run")]
        indexes = [models.Index(fields=["run", "status", "seq"])]

    def __str__(self) -> str:
        return f"run {self.run_id} batch {self.seq} ({self.status})"


class ApiTokenQuerySet(OwnedQuerySet):
    owner_path = "user"


class ApiToken(AbstractAuthToken):
    """An API key (django-rest-knox): stored as a SHA-512 digest, shown once, expiring.

    `token_key` is the key's first characters ("tend_1a2b3c4d5e"), enough to
    tell keys apart in a list and no help to anyone who reads it. Read-only
    keys may only GET. `last_used_at` is stamped at most once a minute.
    """

    name = models.CharField(max_length=100, help_text="What the key is for, e.g. 'CRM sync'.")
    read_only = models.BooleanField(default=False, help_text="Read-only keys may only read (GET).")
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = AuthTokenManager.from_queryset(ApiTokenQuerySet)()

    class Meta:
        verbose_name = "API token"
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.name or 'API token'} ({self.token_key}…)"


class AuditEvent(models.Model):
    """Who did what, when and from where: the trail a security review asks for (agents_core.audit)."""

    class Action(models.TextChoices):
        SIGN_IN = "sign_in", "Signed in"
        SIGN_IN_FAILED = "sign_in_failed", "Sign-in failed"
        SIGN_OUT = "sign_out", "Signed out"
        TOKEN_CREATED = "token_created", "API token created"
        TOKEN_REVOKED = "token_revoked", "API token revoked"
        TOKEN_USED = "token_used", "API token used"
        PROFILE_CHANGED = "profile_changed", "Scoring profile changed"
        EXPORT = "export", "Exported"
        IMPORT = "import", "Imported"
        ACTION = "action", "One-click action"

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    action = models.CharField(max_length=30, choices=Action.choices, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Kept as written at the time: the user may be renamed or deleted later.
    actor_name = models.CharField(max_length=150, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=200, blank=True)
    target = models.CharField(max_length=200, blank=True, help_text="What it was done to.")
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["actor", "-at"])]

    def __str__(self) -> str:
        who = self.actor_name or "someone"
        return f"{self.at:%Y-%m-%d %H:%M} {who}: {self.get_action_display()} {self.target}"
