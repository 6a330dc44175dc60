"""What customers answered when asked: NPS (0-10) and CSAT (1-5) survey responses, from the API, a
CSV file or a survey tool's webhook. Imported by csm.models, so these are models of the csm app.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from agents_core.visibility import OwnedQuerySet


class SurveyResponseQuerySet(OwnedQuerySet):
    owner_path = "account__owner"


class SurveyResponse(models.Model):
    class Kind(models.TextChoices):
        NPS = "nps", "NPS (0-10)"
        CSAT = "csat", "CSAT (1-5)"

    class Channel(models.TextChoices):
        API = "api", "API"
        CSV = "csv", "CSV import"
        ADMIN = "admin", "Admin"
        DELIGHTED = "delighted", "Delighted"
        TYPEFORM = "typeform", "Typeform"

    # Unmatched (no contact or tracked user has the respondent's email): kept, for a person to
    # place on an account in the admin; it counts once it is placed.
    account = models.ForeignKey(
        "csm.Account", null=True, blank=True, on_delete=models.CASCADE, related_name="survey_responses"
    )
    contact = models.ForeignKey(
        "csm.Contact", null=True, blank=True, on_delete=models.SET_NULL, related_name="survey_responses"
    )
    email = models.EmailField(blank=True, help_text="Who answered, as the survey tool knows them.")
    name = models.CharField(max_length=200, blank=True)
    kind = models.CharField(max_length=5, choices=Kind.choices, default=Kind.NPS)
    score = models.PositiveSmallIntegerField()
    comment = models.TextField(blank=True, max_length=10_000)
    responded_at = models.DateTimeField()
    survey = models.CharField(max_length=200, blank=True, help_text="The survey or form it answered.")
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.API, editable=False)
    # The survey tool's id for the response: the same response sent again (a retry, an update) is
    # the same row.
    external_id = models.CharField(max_length=100, blank=True, editable=False)
    followed_up_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="When its detractor alert and playbooks were started.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = SurveyResponseQuerySet.as_manager()

    class Meta:
        ordering = ["-responded_at", "-id"]
        indexes = [
            models.Index(fields=["account", "-responded_at", "-id"]),
            models.Index(fields=["email"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "external_id"],
                condition=~Q(external_id=""),
                name="survey_response_once_per_tool_id",
            ),
            models.CheckConstraint(
                condition=Q(kind="nps", score__lte=10) | Q(kind="csat", score__gte=1, score__lte=5),
                name="survey_score_in_its_scale",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.score} from {self.name or self.email or 'someone'}"

    @property
    def category(self) -> str:
        from csm.surveys.rules import category

        return category(self.kind, self.score)
