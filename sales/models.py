from __future__ import annotations

from django.conf import settings
from django.db import models

from agents_core.visibility import OwnedQuerySet


class DraftQuerySet(OwnedQuerySet):
    owner_path = "opportunity__account__owner"

    def waiting_for_review(self) -> DraftQuerySet:
        """Drafts written (in Gmail or locally) that nobody has approved yet."""
        return self.filter(status__in=OutreachDraft.REVIEWABLE, approved_at__isnull=True)


class OutreachDraft(models.Model):
    """The outreach email for one expansion opportunity. Exactly one per opportunity.

    Tend never sends it: it becomes a Gmail draft in the owner's mailbox (or
    stays local when Gmail is not configured) for a person to review.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        CREATED = "created", "Created in Gmail"
        LOCAL = "local", "Local (Gmail not configured)"
        FAILED = "failed", "Failed"

    opportunity = models.OneToOneField(
        "csm.ExpansionOpportunity", on_delete=models.CASCADE, related_name="draft"
    )
    to = models.EmailField(blank=True, help_text="The account's primary contact.")
    sender = models.EmailField(blank=True, help_text="The owner, in whose mailbox the draft is made.")
    subject = models.CharField(max_length=250)
    body = models.TextField()
    # Set before Gmail is called and written into the message, so a retry
    # after a crash can find the draft it already made instead of making two.
    message_id = models.CharField(max_length=250, unique=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING, db_index=True)
    gmail_draft_id = models.CharField(max_length=100, blank=True)
    gmail_message_id = models.CharField(max_length=100, blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    claimed_at = models.DateTimeField(null=True, blank=True, editable=False)
    next_retry_at = models.DateTimeField(null=True, blank=True)
    run = models.ForeignKey(
        "agents_core.AgentRun",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The run that wrote it.",
    )
    # A person read it and passed it for sending from Gmail (Tend never sends).
    approved_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # A person rewrote the text before approving it (a local draft; a Gmail one is edited in Gmail).
    edited_at = models.DateTimeField(null=True, blank=True)
    edited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The agent's text, kept when a person first edits it.
    original_subject = models.CharField(max_length=250, blank=True)
    original_body = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = DraftQuerySet.as_manager()

    # Written, and waiting for a person to read it.
    REVIEWABLE = (Status.CREATED, Status.LOCAL)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "next_retry_at"])]

    def __str__(self) -> str:
        return self.subject

    @property
    def editable(self) -> bool:
        """Its text can be changed here: written locally and not yet approved."""
        return self.status == self.Status.LOCAL and self.approved_at is None

    @property
    def gmail_url(self) -> str:
        if not self.gmail_message_id:
            return ""
        return f"https://mail.google.com/mail/u/{self.sender}/#drafts?compose={self.gmail_message_id}"
