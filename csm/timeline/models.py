"""The account's story, as people tell it: calls, meetings, emails and notes a CSM logs, with the
contacts who took part and how it went. Imported by csm.models, so these are models of the csm app.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from agents_core.visibility import OwnedQuerySet


class InteractionQuerySet(OwnedQuerySet):
    owner_path = "account__owner"


class Interaction(models.Model):
    class Kind(models.TextChoices):
        CALL = "call", "Call"
        MEETING = "meeting", "Meeting"
        EMAIL = "email", "Email"
        NOTE = "note", "Note"

    class Sentiment(models.TextChoices):
        POSITIVE = "positive", "Positive"
        NEUTRAL = "neutral", "Neutral"
        NEGATIVE = "negative", "Negative"

    class Source(models.TextChoices):
        MANUAL = "manual", "Logged in Tend"
        CRM = "crm", "CRM engagement"

    account = models.ForeignKey("csm.Account", on_delete=models.CASCADE, related_name="interactions")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.NOTE)
    occurred_on = models.DateField(help_text="The day it happened (today or before).")
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True, max_length=20_000, help_text="Markdown.")
    participants = models.ManyToManyField("csm.Contact", blank=True, related_name="interactions")
    sentiment = models.CharField(max_length=10, choices=Sentiment.choices, blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.MANUAL, editable=False)
    crm_id = models.CharField(max_length=64, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = InteractionQuerySet.as_manager()

    class Meta:
        ordering = ["-occurred_on", "-id"]
        indexes = [models.Index(fields=["account", "-occurred_on", "-id"])]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "crm_id"],
                condition=~Q(crm_id=""),
                name="interaction_one_per_crm_engagement",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.occurred_on}: {self.title}"
