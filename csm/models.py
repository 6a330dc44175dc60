from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import FilteredRelation, Q

from agents_core.fields import WholeJSONField
from agents_core.visibility import OwnedQuerySet
from csm.accounts.limits import EARLIEST_DATE, LATEST_DATE, MAX_MONEY, MAX_SEATS
from csm.scoring import engine

# The bounds of csm.accounts.limits, as validators every form, serializer and import applies.
SEATS = [MaxValueValidator(MAX_SEATS)]
MONEY = [MinValueValidator(Decimal("0")), MaxValueValidator(MAX_MONEY)]
SANE_DATE = [MinValueValidator(EARLIEST_DATE), MaxValueValidator(LATEST_DATE)]


def _choices(name: str, values: tuple[str, ...]) -> type[models.TextChoices]:
    """TextChoices built from the scoring engine's own value lists: one source of truth."""
    return models.TextChoices(name, {v.upper(): (v, v.replace("_", " ").capitalize()) for v in values})


UsageTrend = _choices("UsageTrend", engine.USAGE_TRENDS)
Engagement = _choices("Engagement", engine.ENGAGEMENT_LEVELS)
PaymentStatus = _choices("PaymentStatus", engine.PAYMENT_STATUSES)
Sentiment = _choices("Sentiment", engine.SENTIMENTS)
ChurnRisk = _choices("ChurnRisk", engine.CHURN_LEVELS)
ChurnTrigger = _choices("ChurnTrigger", engine.CHURN_TRIGGERS)


class RAG(models.TextChoices):
    GREEN = "GREEN", "Green"
    AMBER = "AMBER", "Amber"
    RED = "RED", "Red"


class Segment(models.TextChoices):
    SMB = "smb", "SMB"
    MID_MARKET = "mid_market", "Mid-market"
    ENTERPRISE = "enterprise", "Enterprise"


class AccountQuerySet(OwnedQuerySet):
    owner_path = "owner"

    def scannable(self) -> AccountQuerySet:
        """Accounts the daily scan scores: every customer not lost (nor gone from the CRM)."""
        return self.exclude(status__in=[Account.Status.CHURNED, Account.Status.ARCHIVED])

    def between(self, first: int, last: int) -> AccountQuerySet:
        """Accounts with ids from `first` to `last` (a batch's key range), their signals reached as
        `batch_signals__<field>` and joined on the same range.

        So the database reads only the batch's signal rows. Joined on the account's id alone, the
        planner on PostgreSQL may hash the whole signals table for each batch (a sequential scan
        of the book per 1,000 accounts: 25 ms against 1.6 ms at 100,000; docs/performance.md).
        """
        in_range = Q(signals__account_id__gte=first, signals__account_id__lte=last)
        return self.filter(pk__gte=first, pk__lte=last).annotate(
            batch_signals=FilteredRelation("signals", condition=in_range)
        )


class OnAccountQuerySet(OwnedQuerySet):
    """Rows about one account: visible to whoever sees the account."""

    owner_path = "account__owner"


class AlertDeliveryQuerySet(OwnedQuerySet):
    owner_path = "alert__account__owner"


class Account(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        RENEWED = "renewed", "Renewed"
        CHURNED = "churned", "Churned"
        # Deleted or merged away in the CRM: kept, with its history, but no longer scored.
        ARCHIVED = "archived", "Archived"

    name = models.CharField(max_length=200)
    external_id = models.CharField(max_length=100, unique=True, help_text="The account's id in your CRM.")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="accounts",
        help_text="The CSM or rep who owns the account.",
    )
    segment = models.CharField(max_length=20, choices=Segment.choices, default=Segment.SMB)
    plan = models.CharField(max_length=50, blank=True)
    arr = models.DecimalField(
        "ARR",
        max_digits=14,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(MAX_MONEY)],
    )
    seats_purchased = models.PositiveIntegerField(null=True, blank=True, validators=SEATS)
    seats_used = models.PositiveIntegerField(null=True, blank=True, validators=SEATS)
    contract_start = models.DateField(null=True, blank=True, validators=SANE_DATE)
    renewal_date = models.DateField(null=True, blank=True, db_index=True, validators=SANE_DATE)
    primary_contact_email = models.EmailField(blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    tam_health_rag = models.CharField(
        "TAM health",
        max_length=5,
        choices=RAG.choices,
        blank=True,
        help_text="The technical account manager's rating; caps the score.",
    )
    notion_page_id = models.CharField(max_length=64, blank=True)
    addons = models.ManyToManyField(
        "AddOn",
        blank=True,
        related_name="accounts",
        help_text="Modules bought and integrations connected beyond the plan.",
    )

    # Current health, kept on the row so lists filter and sort without joins.
    health_score = models.FloatField(null=True, blank=True, editable=False, db_index=True)
    # Filters on RAG use the (rag, health_score) index below: the scan keeps every index up to date.
    rag = models.CharField("RAG", max_length=5, choices=RAG.choices, blank=True, editable=False)
    churn_risk = models.CharField(
        max_length=10, choices=ChurnRisk.choices, blank=True, editable=False, db_index=True
    )
    churn_trigger = models.CharField(max_length=20, choices=ChurnTrigger.choices, blank=True, editable=False)
    scored_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Derived from feature usage by `track_feature_adoption`; where set, the
    # scan uses it instead of a typed-in feature_adoption_rate.
    tracked_adoption_rate = models.FloatField(null=True, blank=True, editable=False)
    adoption_tracked_at = models.DateTimeField(null=True, blank=True, editable=False)

    archived_at = models.DateTimeField(null=True, blank=True, editable=False)
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="merged_from", editable=False,
        help_text="The account this one was merged into in the CRM.",
    )  # fmt: skip
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = AccountQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        permissions = [("view_all_accounts", "Can see every account, not only their own")]
        indexes = [
            # The default ordering of every list: without it, each page sorts the book.
            models.Index(fields=["name", "id"]),
            models.Index(fields=["owner", "name"]),
            # "RED accounts, worst first": the CSM's first question of the day.
            models.Index(fields=["rag", "health_score"]),
            models.Index(fields=["segment"]),
            models.Index(fields=["status"]),
            # The index's overdue renewals, largest first (config.book_today): read in ARR order.
            models.Index(fields=["arr"], name="csm_account_active_arr", condition=Q(status="active")),
            # The account page's "against its segment": the median and the rank read off it
            # (csm.adoption.tracking.peer_standing), only the tracked accounts in it.
            models.Index(
                fields=["segment", "tracked_adoption_rate"],
                name="csm_account_segment_adoption",
                condition=Q(tracked_adoption_rate__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self):
        from django.core.exceptions import ValidationError

        from csm.scoring.inputs import seats_problem

        if problem := seats_problem(self.seats_purchased, self.seats_used):
            raise ValidationError({"seats_used": problem})


class AccountSignals(models.Model):
    """The current value of each typed-in scoring input of one account.

    Inputs that follow from account facts are not stored here: days to
    renewal (renewal_date), seat utilisation (seats) and the TAM rating live
    on the account. "Days since" inputs are kept as the date of the event, so
    they age correctly when no new data arrives. `sources` records, per
    input, where the value came from and when.
    """

    account = models.OneToOneField(
        Account, primary_key=True, on_delete=models.CASCADE, related_name="signals"
    )
    feature_adoption_rate = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)]
    )
    usage_trend = models.CharField(max_length=10, choices=UsageTrend.choices, blank=True)
    last_login_on = models.DateField(
        null=True, blank=True, help_text="When the account's users last logged in."
    )
    last_interaction_on = models.DateField(
        null=True, blank=True, help_text="The last meaningful interaction with the customer."
    )
    stakeholder_engagement = models.CharField(max_length=10, choices=Engagement.choices, blank=True)
    nps_score = models.PositiveSmallIntegerField(
        "NPS", null=True, blank=True, validators=[MaxValueValidator(10)]
    )
    invoice_payment_status = models.CharField(max_length=20, choices=PaymentStatus.choices, blank=True)
    open_ticket_count = models.PositiveIntegerField(null=True, blank=True)
    avg_ticket_sentiment = models.CharField(max_length=10, choices=Sentiment.choices, blank=True)
    escalation_count_90_days = models.PositiveIntegerField("escalations (90 days)", null=True, blank=True)
    # Derived from the contacts (csm.contacts.champions): the day the last current champion left
    # (removed in the CRM, or gone quiet in the product); None while one is current, or none is named.
    champion_left_on = models.DateField(null=True, blank=True, editable=False)
    sources = models.JSONField(default=dict, blank=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "signals"
        verbose_name_plural = "signals"

    def __str__(self) -> str:
        return f"Signals of {self.account}"


class ScoringProfileQuerySet(models.QuerySet):
    def active(self) -> ScoringProfileQuerySet:
        return self.filter(is_active=True)


class ScoringProfile(models.Model):
    """One version of the scoring settings for a segment (blank: every other segment).

    Versions are immutable: editing in the admin saves a new version and
    retires the old one, so every stored score keeps the settings it was made
    with.
    """

    segment = models.CharField(
        max_length=20,
        choices=Segment.choices,
        blank=True,
        help_text="Leave blank for the default profile used by every segment without its own.",
    )
    version = models.PositiveIntegerField(editable=False)
    is_active = models.BooleanField(default=True, editable=False)
    weights = models.JSONField(help_text="Maximum points per signal group.")
    green_threshold = models.FloatField(default=70, validators=[MinValueValidator(0), MaxValueValidator(100)])
    amber_threshold = models.FloatField(default=40, validators=[MinValueValidator(0), MaxValueValidator(100)])
    churn_window_days = models.PositiveIntegerField(
        default=60, help_text="Renewals this close with AMBER/RED health are a churn risk."
    )
    behavioral_login_days = models.PositiveIntegerField(
        default=30,
        help_text="Declining usage with no login for longer than this is a behavioural risk.",
    )
    champion_left_engagement = models.CharField(
        max_length=10,
        blank=True,
        choices=[("low", "low"), ("medium", "medium")],
        help_text="Champion left: while an account's champions have all left (removed in the CRM, or "
        "inactive in the product), its stakeholder engagement counts as at most this. Blank: off.",
    )
    alert_drop_points = models.FloatField(
        default=15,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        help_text="A fall of this many points since the last score raises a churn alert.",
    )
    tam_multipliers = models.JSONField(help_text="Score multiplier per TAM rating.")
    rules = models.JSONField(help_text="Point tables per signal group (see docs/scoring.md).")
    no_data_defaults = models.JSONField(
        help_text="Values the scan uses for required inputs an account never reported."
    )
    notes = models.TextField(blank=True, help_text="Why this version was made.")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )

    objects = ScoringProfileQuerySet.as_manager()

    class Meta:
        ordering = ["segment", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["segment", "version"], name="uniq_profile_version_per_segment"),
            models.UniqueConstraint(
                fields=["segment"],
                condition=Q(is_active=True),
                name="one_active_profile_per_segment",
            ),
        ]

    def __str__(self) -> str:
        label = self.get_segment_display() if self.segment else "Default"
        return f"{label} v{self.version}"

    def to_profile(self) -> engine.Profile:
        """The engine's profile; raises ValueError if the settings are unusable."""
        return engine.Profile(
            version=self.version,
            weights=self.weights,
            green_threshold=self.green_threshold,
            amber_threshold=self.amber_threshold,
            churn_window_days=self.churn_window_days,
            behavioral_login_days=self.behavioral_login_days,
            tam_multipliers=self.tam_multipliers,
            rules=self.rules,
            no_data_defaults=self.no_data_defaults,
            champion_left_engagement=self.champion_left_engagement or None,
        )


class HealthScore(models.Model):
    """An account's health on one day. Re-scoring the same day replaces the row."""

    # No index of its own: the unique (account, scored_on) index serves lookups by account.
    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="health_scores", db_index=False
    )
    scored_on = models.DateField()
    score = models.FloatField()
    rag = models.CharField("RAG", max_length=5, choices=RAG.choices)
    churn_risk = models.CharField(max_length=10, choices=ChurnRisk.choices)
    churn_trigger = models.CharField(max_length=20, choices=ChurnTrigger.choices, blank=True)
    # Written and read whole, a row per account per day: `json` on PostgreSQL, not `jsonb`.
    breakdown = WholeJSONField(help_text="Points per signal group.")
    inputs = WholeJSONField(help_text="The 13 inputs the score was computed from.")
    defaulted_inputs = WholeJSONField(
        default=list, blank=True, help_text="Inputs the account never reported (no-data defaults)."
    )
    profile = models.ForeignKey(ScoringProfile, on_delete=models.PROTECT, related_name="+")
    profile_version = models.PositiveIntegerField()
    computed_at = models.DateTimeField()
    explanation = models.CharField(
        max_length=300, blank=True, help_text="Why, in one line: what costs the most points, what changed."
    )

    objects = OnAccountQuerySet.as_manager()

    class Meta:
        ordering = ["-scored_on"]
        get_latest_by = "scored_on"
        constraints = [
            models.UniqueConstraint(
                fields=["account", "scored_on"], name="one_health_score_per_account_per_day"
            )
        ]
        # A day's scores newest first, in the order the lists show them (day, then id, descending):
        # a page of the health-score list reads its rows off this index, with no sort of a whole
        # day (a million rows at a million accounts). Also serves "the latest day" and a day's rows.
        indexes = [models.Index(fields=["scored_on", "id"], name="csm_healthscore_day_id")]

    def __str__(self) -> str:
        return f"{self.account_id} {self.scored_on}: {self.score} {self.rag}"

    @property
    def is_partial(self) -> bool:
        return bool(self.defaulted_inputs)


class AddOn(models.Model):
    """Something an account can buy beyond its plan: a module or an integration."""

    class Kind(models.TextChoices):
        MODULE = "module", "Module"
        INTEGRATION = "integration", "Integration"

    key = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    price_per_seat = models.DecimalField(
        max_digits=10, decimal_places=2, default=Decimal("0"), help_text="Per seat per year (modules)."
    )
    flat_price = models.DecimalField(
        max_digits=12, decimal_places=2, default=Decimal("0"), help_text="Per year (integrations)."
    )
    pitch = models.TextField(help_text="One or two sentences for the customer: what it does for them.")
    order = models.PositiveSmallIntegerField(default=0, help_text="Offered first when lower.")

    class Meta:
        ordering = ["order", "key"]
        verbose_name = "add-on"

    def __str__(self) -> str:
        return self.name


class Plan(models.Model):
    """Pricing for an account's `plan` (matched by name, case-insensitively)."""

    name = models.CharField(max_length=50, unique=True)
    seat_price = models.DecimalField(max_digits=10, decimal_places=2, help_text="Per seat per year.")
    included = models.ManyToManyField(AddOn, blank=True, related_name="plans")

    class Meta:
        ordering = ["seat_price", "name"]

    def __str__(self) -> str:
        return self.name


OPEN_STATUSES = ("open", "drafted")


class ExpansionOpportunity(models.Model):
    """A chance to sell more to an account, with the evidence a rep can quote."""

    class Kind(models.TextChoices):
        SEATS = "seats", "Seats"
        MODULE = "module", "Module"
        INTEGRATION = "integration", "Integration"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        DRAFTED = "drafted", "Drafted"
        WON = "won", "Won"
        LOST = "lost", "Lost"
        DISMISSED = "dismissed", "Dismissed"

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="opportunities")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    addon = models.ForeignKey(AddOn, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    evidence = models.JSONField(default=dict, blank=True, help_text="The numbers behind it.")
    summary = models.TextField(blank=True, help_text="The evidence in one sentence a rep can quote.")
    estimated_arr_impact = models.DecimalField(
        "estimated ARR impact", max_digits=14, decimal_places=2, default=Decimal("0")
    )
    talk_track = models.TextField(blank=True, help_text="Internal guidance for the rep; never sent.")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN, db_index=True)
    created_by = models.CharField(max_length=150, help_text="The agent or the person who found it.")
    created_by_run = models.ForeignKey(
        "agents_core.AgentRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    close_reason = models.CharField(
        max_length=500, blank=True, help_text="Why it was won, lost or dismissed, in the closer's words."
    )
    # The open status it was closed from, for an undo to put back.
    closed_from = models.CharField(max_length=20, blank=True, editable=False)

    objects = OnAccountQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "expansion opportunities"
        constraints = [
            # One live opportunity per account and kind; closed ones stay as history.
            models.UniqueConstraint(
                fields=["account", "kind"],
                condition=Q(status__in=OPEN_STATUSES),
                name="one_open_opportunity_per_account_and_kind",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for {self.account}"


class ChurnAlert(models.Model):
    """A warning that an account's health changed for the worse, raised by the scan."""

    class Reason(models.TextChoices):
        ENTERED_RED = "entered_red", "Entered RED"
        CHURN_RISING = "churn_rising", "Churn risk rising"
        SHARP_DROP = "sharp_drop", "Sharp drop"
        RENEWAL_NEAR = "renewal_near", "Renewal near with weak health"
        DETRACTOR = "detractor", "Detractor survey answer"
        CHAMPION_LEFT = "champion_left", "Champion left"

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="alerts")
    raised_on = models.DateField()
    raised_at = models.DateTimeField()
    reason = models.CharField(max_length=20, choices=Reason.choices)
    reasons = models.JSONField(default=list, help_text="Every trigger that fired.")
    explanation = models.TextField(help_text="Why, in plain words.")
    score = models.FloatField()
    previous_score = models.FloatField(null=True, blank=True)
    rag = models.CharField("RAG", max_length=5, choices=RAG.choices)
    churn_risk = models.CharField(max_length=10, choices=ChurnRisk.choices)
    churn_trigger = models.CharField(max_length=20, choices=ChurnTrigger.choices, blank=True)
    moved = models.JSONField(default=list, help_text="[group, points] that moved the score most.")
    arr = models.DecimalField("ARR at stake", max_digits=14, decimal_places=2, default=Decimal("0"))
    renewal_date = models.DateField(null=True, blank=True)
    held_back = models.BooleanField(
        default=False, help_text="Over the run's cap: recorded here, not sent on the other channels."
    )
    dispatched = models.BooleanField(default=False, editable=False)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    snoozed_until = models.DateField(null=True, blank=True)
    # Not acknowledged in time: handed to the owner's manager once (csm.playbooks.escalation).
    escalated_at = models.DateTimeField(null=True, blank=True, editable=False)
    escalated_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )

    objects = OnAccountQuerySet.as_manager()

    class Meta:
        ordering = ["-raised_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "raised_on"], name="one_churn_alert_per_account_per_day"
            )
        ]
        indexes = [models.Index(fields=["acknowledged_at", "raised_at"])]

    def __str__(self) -> str:
        return f"{self.get_reason_display()}: {self.account}"

    @property
    def acknowledged(self) -> bool:
        return self.acknowledged_at is not None


class AlertDelivery(models.Model):
    """One channel's delivery of one alert: each fails, and is retried, on its own."""

    class Channel(models.TextChoices):
        ADMIN = "admin", "Admin"
        EVENT = "event", "Event bus"
        GMAIL = "gmail", "Gmail draft to the owner"
        CHAT = "chat", "Google Chat"
        NOTION = "notion", "Notion account page"
        SLACK = "slack", "Slack"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        SKIPPED = "skipped", "Skipped (not configured)"
        FAILED = "failed", "Failed"

    alert = models.ForeignKey(ChurnAlert, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.CharField(max_length=20, choices=Channel.choices)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    external_id = models.CharField(max_length=250, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True, editable=False)
    next_retry_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    retried_at = models.DateTimeField(null=True, blank=True, help_text="Last retried by hand.")
    retried_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = AlertDeliveryQuerySet.as_manager()

    class Meta:
        ordering = ["alert", "channel"]
        verbose_name_plural = "alert deliveries"
        constraints = [
            models.UniqueConstraint(fields=["alert", "channel"], name="one_delivery_per_alert_and_channel")
        ]
        indexes = [models.Index(fields=["status", "next_retry_at"])]

    def __str__(self) -> str:
        return f"{self.get_channel_display()}: {self.get_status_display()}"


class QBRDue(models.Model):
    """A QBR owed to an account 90 days before its contract ends (found by the contract check).

    Recorded so that nothing is lost until the QBR is written; `fulfilled_at`
    is set when it is.
    """

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="qbrs_due")
    contract_end = models.DateField()
    due_on = models.DateField()
    created_at = models.DateTimeField(auto_now_add=True)
    fulfilled_at = models.DateTimeField(null=True, blank=True)

    objects = OnAccountQuerySet.as_manager()

    class Meta:
        ordering = ["due_on", "id"]
        verbose_name = "QBR due"
        verbose_name_plural = "QBRs due"
        constraints = [
            models.UniqueConstraint(fields=["account", "contract_end"], name="one_qbr_due_per_contract_end")
        ]

    def __str__(self) -> str:
        return f"QBR due for {self.account} (contract ends {self.contract_end})"


class RescoreRequest(models.Model):
    """An account changed (by a person, the API or an import) and waits to be scored again.

    One row per account however often it changes: a burst of edits collapses
    into one re-score (csm.scoring.on_change). A row is removed only once the
    account has been scored after the change, so a crashed worker loses nothing.
    """

    account = models.OneToOneField(Account, on_delete=models.CASCADE, primary_key=True, related_name="+")
    requested_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"Re-score account {self.account_id} (changed {self.requested_at:%Y-%m-%d %H:%M})"


class Feature(models.Model):
    """A feature of the product, in the core or in a module (an add-on of kind module)."""

    key = models.SlugField(max_length=80, unique=True)
    name = models.CharField(max_length=120)
    module = models.ForeignKey(
        AddOn,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="features",
        limit_choices_to={"kind": AddOn.Kind.MODULE},
        help_text="Blank for the core product every plan has.",
    )

    class Meta:
        # Core features (no module) first on every database: PostgreSQL sorts NULLs last by default.
        ordering = [models.F("module__order").asc(nulls_first=True), "key"]

    def __str__(self) -> str:
        return self.name


class FeatureUsage(models.Model):
    """How one account uses one feature, as last reported."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="feature_usage")
    feature = models.ForeignKey(Feature, on_delete=models.CASCADE, related_name="usage")
    active_users = models.PositiveIntegerField(default=0)
    events_30d = models.PositiveIntegerField("events (30 days)", default=0)
    last_used_on = models.DateField(null=True, blank=True)
    source = models.CharField(max_length=30, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["account", "feature"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "feature"], name="one_usage_row_per_account_and_feature"
            )
        ]

    def __str__(self) -> str:
        return f"{self.account} / {self.feature}"


class OutcomeGoal(models.Model):
    """An outcome the customer cares about, with where it started, where it should get, and where it is."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="goals")
    name = models.CharField(max_length=150, help_text="e.g. Hours saved per week on reporting")
    unit = models.CharField(max_length=30, blank=True)
    baseline = models.DecimalField(max_digits=14, decimal_places=2)
    target = models.DecimalField(max_digits=14, decimal_places=2)
    current = models.DecimalField(max_digits=14, decimal_places=2)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["account", "name"]

    def __str__(self) -> str:
        return self.name

    @property
    def progress(self) -> float | None:
        """Share of the way from baseline to target (may pass 1.0)."""
        span = self.target - self.baseline
        return None if span == 0 else round(float((self.current - self.baseline) / span), 4)


class QBR(models.Model):
    """One quarterly business review of an account, generated from its data, editable before presenting."""

    class Trigger(models.TextChoices):
        QUARTERLY = "quarterly", "Quarterly"
        CONTRACT = "contract", "90 days before contract end"
        MANUAL = "manual", "On request"

    class Status(models.TextChoices):
        GENERATED = "generated", "Generated"
        PUBLISHED = "published", "Published to Notion"
        PUBLISH_FAILED = "publish_failed", "Publishing failed"

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="qbrs")
    quarter = models.CharField(max_length=7, help_text='e.g. "Q3 2026"')
    trigger = models.CharField(max_length=20, choices=Trigger.choices, default=Trigger.QUARTERLY)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.GENERATED)
    sections = models.JSONField(default=dict)
    generated_at = models.DateTimeField()
    generated_by_run = models.ForeignKey(
        "agents_core.AgentRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    notion_page_id = models.CharField(max_length=64, blank=True)
    notion_error = models.TextField(blank=True)

    objects = OnAccountQuerySet.as_manager()

    class Meta:
        ordering = ["-generated_at", "-id"]
        verbose_name = "QBR"
        verbose_name_plural = "QBRs"
        constraints = [
            models.UniqueConstraint(fields=["account", "quarter"], name="one_qbr_per_account_per_quarter")
        ]

    def __str__(self) -> str:
        return f"{self.account} {self.quarter}"


class RenewalOutcome(models.Model):
    """What happened at a renewal: the ground truth the score is judged against."""

    class Outcome(models.TextChoices):
        RENEWED = "renewed", "Renewed"
        DOWNGRADED = "downgraded", "Downgraded"
        CHURNED = "churned", "Churned"

    class Source(models.TextChoices):
        ADMIN = "admin", "Admin"
        API = "api", "API"
        CSV = "csv", "CSV import"
        DEMO = "demo", "Demo (synthetic)"

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="outcomes")
    renewal_date = models.DateField(help_text="The contract end the outcome is for.", validators=SANE_DATE)
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    arr_before = models.DecimalField("ARR before", max_digits=14, decimal_places=2, validators=MONEY)
    arr_after = models.DecimalField(
        "ARR kept",
        max_digits=14,
        decimal_places=2,
        validators=MONEY,
        help_text="ARR after the renewal: 0 when churned.",
    )
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.ADMIN)
    synthetic = models.BooleanField(default=False, help_text="Made up by seed_demo, not a real customer.")
    recorded_at = models.DateTimeField(auto_now=True)

    objects = OnAccountQuerySet.as_manager()

    class Meta:
        ordering = ["-renewal_date", "id"]
        constraints = [
            models.UniqueConstraint(fields=["account", "renewal_date"], name="one_outcome_per_renewal"),
            models.CheckConstraint(
                condition=~Q(outcome="churned") | Q(arr_after=0), name="churned_keeps_no_arr"
            ),
        ]
        indexes = [models.Index(fields=["renewal_date"])]

    def __str__(self) -> str:
        return f"{self.account}: {self.get_outcome_display()} on {self.renewal_date}"

    @property
    def arr_lost(self) -> Decimal:
        return max(self.arr_before - self.arr_after, Decimal("0"))

    def clean(self):
        from django.core.exceptions import ValidationError

        if self.outcome == self.Outcome.CHURNED and self.arr_after not in (None, 0):
            raise ValidationError({"arr_after": "A churned account keeps no ARR: set 0."})
        if (
            self.outcome == self.Outcome.DOWNGRADED
            and self.arr_after is not None
            and self.arr_before is not None
            and self.arr_after >= self.arr_before
        ):
            raise ValidationError({"arr_after": "A downgrade keeps less ARR than before."})


# The usage stream's models live with their package; importing them here makes them csm's.
# Owned work (tasks, and the playbooks that make them) lives with its package too.
# The CRM sync's links, mapping, reports and conflicts, and the accounts' contacts.
# The book's figures as the last whole-book scan left them.
from csm.accounts.models import BookFigures  # noqa: E402, F401
from csm.crm.models import (  # noqa: E402, F401
    Contact,
    CrmChange,
    CrmConflict,
    CrmFieldMapping,
    CrmRecord,
    CrmSyncRun,
    CrmSyncState,
)
from csm.playbooks.models import (  # noqa: E402, F401
    CalendarFeed,
    Notice,
    Playbook,
    PlaybookRun,
    PlaybookStep,
    ReportingLine,
    Task,
    TaskComment,
)
from csm.surveys.models import SurveyResponse  # noqa: E402, F401
from csm.timeline.models import Interaction  # noqa: E402, F401
from csm.trust.models import ProfileEvaluation  # noqa: E402, F401
from csm.usage.models import (  # noqa: E402, F401
    EventMapping,
    FeatureUsageDay,
    IngestBatch,
    RollupRequest,
    TrackedUser,
    TrackingSource,
    UsageDay,
    UsageEvent,
)
