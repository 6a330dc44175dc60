"""The product usage stream: tracking sources, the events they send, and the daily rollups.

Imported by csm.models, so these are models of the csm app.
"""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower

from agents_core.visibility import OwnedQuerySet

KEY_PREFIX = "tsk_"


def hash_key(key: str) -> str:
    """Write keys are random and long: a plain SHA-256 is what they are stored and looked up as."""
    return hashlib.sha256(key.encode()).hexdigest()


class TrackingSource(models.Model):
    """A product (or environment) that sends usage events, with its write key.

    The key is shown once, when made (`create_tracking_source` or the admin),
    and stored hashed; a revoked source is refused with 401.
    """

    name = models.CharField(max_length=100, unique=True)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    key_hint = models.CharField(max_length=12, editable=False, help_text="The key's first characters.")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def new_key(self) -> str:
        """Give the source a fresh write key and return it (the only time it is seen)."""
        key = KEY_PREFIX + secrets.token_urlsafe(24)
        self.key_hash, self.key_hint = hash_key(key), key[:10]
        return key


class IngestBatch(models.Model):
    """Messages the tracking endpoint accepted, waiting to be stored as events (csm.usage.store).

    The request checks every message and answers at once; the `rollup_usage`
    task stores them (deduplicated by message id), ties them to accounts and
    rolls them up. A burst waits here, in order, rather than being dropped;
    a batch goes only once its events are stored, in the same transaction.
    """

    source = models.ForeignKey(TrackingSource, on_delete=models.CASCADE, related_name="batches")
    received_at = models.DateTimeField()
    size = models.PositiveIntegerField(help_text="Messages in the batch.")
    # Each message as csm.usage.spec.Message.as_row gives it (already checked and normalised).
    messages = models.JSONField()
    # Set when storing the batch failed: it is skipped (not blocking the ones after it) until retried.
    failed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        verbose_name_plural = "ingest batches"
        indexes = [models.Index(fields=["failed_at", "id"], name="waiting_batches")]

    def __str__(self) -> str:
        return f"{self.size} message(s) from {self.source_id} at {self.received_at:%Y-%m-%d %H:%M:%S}"


class UsageEventQuerySet(OwnedQuerySet):
    owner_path = "account__owner"


class UsageEvent(models.Model):
    """One message a source sent, kept once however often the client retried it."""

    class Type(models.TextChoices):
        IDENTIFY = "identify"
        GROUP = "group"
        TRACK = "track"
        PAGE = "page"
        SCREEN = "screen"
        ALIAS = "alias"

    # No index of their own: the unique (source, message_id) and (account, happened_at) lead with them.
    source = models.ForeignKey(
        TrackingSource, on_delete=models.CASCADE, related_name="events", db_index=False
    )
    message_id = models.CharField(max_length=200)
    type = models.CharField(max_length=10, choices=Type.choices)
    event = models.CharField(max_length=200, blank=True)
    user_id = models.CharField(max_length=200, blank=True)
    anonymous_id = models.CharField(max_length=200, blank=True)
    group_id = models.CharField(max_length=200, blank=True)
    # None until the user is tied to an account (a group call, or context.groupId): "unmatched".
    account = models.ForeignKey(
        "csm.Account",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="usage_events",
        db_index=False,
    )
    happened_at = models.DateTimeField(help_text="When it happened (the client's timestamp, corrected).")
    # happened_at in Tend's TIME_ZONE, kept as it is stored: the rollup groups on them in SQL.
    day = models.DateField(help_text="The local day it happened on.")
    hour = models.PositiveSmallIntegerField(help_text="The local hour it happened in (0-23).")
    received_at = models.DateTimeField()
    properties = models.JSONField(default=dict, blank=True)

    objects = UsageEventQuerySet.as_manager()

    class Meta:
        ordering = ["-happened_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["source", "message_id"], name="one_event_per_message_id")
        ]
        indexes = [
            models.Index(fields=["account", "happened_at"]),
            # Only the unmatched: a group call looks up its user's earlier events among them.
            models.Index(
                fields=["source", "user_id"],
                condition=models.Q(account__isnull=True),
                name="unmatched_by_user",
            ),
            models.Index(fields=["happened_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.event or self.user_id or self.anonymous_id}"


class TrackedUser(models.Model):
    """A user of the product as a source knows them: which account they belong to, and their traits."""

    source = models.ForeignKey(TrackingSource, on_delete=models.CASCADE, related_name="users")
    user_id = models.CharField(max_length=200)
    account = models.ForeignKey(
        "csm.Account", null=True, blank=True, on_delete=models.SET_NULL, related_name="tracked_users"
    )
    email = models.CharField(max_length=254, blank=True)
    role = models.CharField(max_length=100, blank=True)
    traits = models.JSONField(default=dict, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)

    objects = UsageEventQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["source", "user_id"], name="one_tracked_user_per_id")]
        indexes = [models.Index(Lower("email"), name="tracked_user_email_lower")]

    def __str__(self) -> str:
        return self.email or self.user_id


class EventMapping(models.Model):
    """A tracked event name (or page / screen name) that means a feature of the catalogue was used."""

    event = models.CharField(
        max_length=200, unique=True, help_text="As the product sends it, e.g. 'Report Exported'."
    )
    feature = models.ForeignKey("csm.Feature", on_delete=models.CASCADE, related_name="event_mappings")

    class Meta:
        ordering = ["event"]

    def __str__(self) -> str:
        return f"{self.event} → {self.feature}"


class UsageDayQuerySet(OwnedQuerySet):
    owner_path = "account__owner"


class UsageDay(models.Model):
    """One account's product use on one day, rolled up from its events (recomputed, never added to)."""

    account = models.ForeignKey("csm.Account", on_delete=models.CASCADE, related_name="usage_days")
    day = models.DateField()
    active_users = models.PositiveIntegerField(default=0)
    events = models.PositiveIntegerField(default=0)
    # Distinct (user, hour) pairs: a cheap, stable stand-in for sessions.
    sessions = models.PositiveIntegerField(default=0)

    objects = UsageDayQuerySet.as_manager()

    class Meta:
        ordering = ["-day"]
        constraints = [models.UniqueConstraint(fields=["account", "day"], name="one_usage_day_per_account")]

    def __str__(self) -> str:
        return f"{self.account_id} on {self.day}: {self.events} events, {self.active_users} users"


class FeatureUsageDay(models.Model):
    """Events and active users per account, feature and day (from mapped events)."""

    account = models.ForeignKey("csm.Account", on_delete=models.CASCADE, related_name="feature_usage_days")
    feature = models.ForeignKey("csm.Feature", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    active_users = models.PositiveIntegerField(default=0)
    events = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "feature", "day"], name="one_feature_usage_day")
        ]

    def __str__(self) -> str:
        return f"{self.account_id} / {self.feature_id} on {self.day}"


class RollupRequest(models.Model):
    """An account-day whose events changed: its rollup is recomputed soon (debounced like re-scores)."""

    account = models.ForeignKey("csm.Account", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    requested_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "day"], name="one_rollup_request_per_day")]

    def __str__(self) -> str:
        return f"Roll up account {self.account_id} on {self.day}"
