from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from agents_core.api.common import StrictSerializerMixin, UsernameField
from agents_core.visibility import sees_everything
from csm.accounts.validators import notion_page_id
from csm.models import (
    QBR,
    RAG,
    Account,
    AlertDelivery,
    ChurnAlert,
    ChurnRisk,
    ChurnTrigger,
    ExpansionOpportunity,
    HealthScore,
    RenewalOutcome,
    Task,
    TaskComment,
    UsageEvent,
)
from csm.scoring import engine
from csm.scoring.inputs import seats_problem

# Stored as "" for "none"; the API says null.
_BLANK_AS_NULL = ("rag", "churn_risk", "churn_trigger", "tam_health_rag")


class OnOwnAccountMixin:
    """For objects that hang off an account: only the caller's accounts can be
    chosen (others read as "does not exist"), and `fixed_on_update` fields
    (the account at least) cannot change once the object exists."""

    account = serializers.PrimaryKeyRelatedField(queryset=Account.objects.none())
    fixed_on_update: tuple[str, ...] = ("account",)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        if request is not None:
            self.fields["account"].queryset = Account.objects.visible_to(request.user)
        if self.instance is not None and not isinstance(self.instance, list | tuple):
            for name in self.fixed_on_update:
                self.fields[name].read_only = True


OWN_ACCOUNTS_ONLY = "You can only own accounts yourself."


class AccountSerializer(StrictSerializerMixin, serializers.ModelSerializer):
    owner = UsernameField(
        queryset=get_user_model().objects.filter(is_active=True),
        required=False,
        allow_null=True,
        help_text="The owner's username. Defaults to you.",
    )
    tam_health_rag = serializers.ChoiceField(
        choices=RAG.choices, required=False, allow_null=True, allow_blank=True
    )
    # Blank until the account is scored (and the trigger while the risk is low): null in JSON.
    rag = serializers.ChoiceField(choices=RAG.choices, read_only=True, allow_null=True)
    churn_risk = serializers.ChoiceField(choices=ChurnRisk.choices, read_only=True, allow_null=True)
    churn_trigger = serializers.ChoiceField(choices=ChurnTrigger.choices, read_only=True, allow_null=True)

    class Meta:
        model = Account
        fields = [
            "id",
            "external_id",
            "name",
            "owner",
            "segment",
            "plan",
            "arr",
            "seats_purchased",
            "seats_used",
            "contract_start",
            "renewal_date",
            "primary_contact_email",
            "status",
            "tam_health_rag",
            "notion_page_id",
            "health_score",
            "rag",
            "churn_risk",
            "churn_trigger",
            "scored_at",
        ]
        read_only_fields = ["health_score", "rag", "churn_risk", "churn_trigger", "scored_at"]
        extra_kwargs = {"notion_page_id": {"validators": [notion_page_id]}}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        if request is not None and not sees_everything(request.user):
            # A CSM can name only themself as owner; any other name, existing or
            # not, gets the same answer, so the API does not tell who exists.
            owner = self.fields["owner"]
            owner.queryset = owner.queryset.filter(pk=request.user.pk)
            owner.error_messages["does_not_exist"] = OWN_ACCOUNTS_ONLY

    def to_representation(self, instance):
        data = super().to_representation(instance)
        for name in _BLANK_AS_NULL:
            data[name] = data[name] or None
        return data

    def validate_tam_health_rag(self, value):
        return value or ""

    def validate_owner(self, owner):
        user = self.context["request"].user
        if owner != user and not sees_everything(user):
            raise serializers.ValidationError(OWN_ACCOUNTS_ONLY)
        return owner

    def validate_notion_page_id(self, value):
        user = self.context["request"].user
        current = self.instance.notion_page_id if self.instance is not None else ""
        if value != current and not sees_everything(user):
            raise serializers.ValidationError("Only a manager can link an account to a Notion page.")
        return value

    def validate(self, attrs):
        contract_start = attrs.get("contract_start", getattr(self.instance, "contract_start", None))
        renewal_date = attrs.get("renewal_date", getattr(self.instance, "renewal_date", None))
        if contract_start and renewal_date and renewal_date < contract_start:
            raise serializers.ValidationError({"renewal_date": ["Must not be before contract_start."]})
        seats = {
            name: attrs.get(name, getattr(self.instance, name, None))
            for name in ("seats_purchased", "seats_used")
        }
        if problem := seats_problem(seats["seats_purchased"], seats["seats_used"]):
            raise serializers.ValidationError({"seats_used": [problem]})
        return attrs


def _input_field(name: str) -> serializers.Field:
    kind, _required, constraint = engine.INPUT_SPEC[name]
    if kind == "choice":
        choices = RAG.choices if name == "tam_health_rag" else list(constraint)
        return serializers.ChoiceField(choices=choices, allow_null=True, required=False)
    low, high = constraint
    cls = serializers.IntegerField if kind == "int" else serializers.FloatField
    return cls(allow_null=True, required=False, min_value=low, max_value=high)


class _SignalsBase(serializers.Serializer):
    feature_adoption_tracked = serializers.BooleanField(
        read_only=True, help_text="true: feature_adoption_rate is measured from feature usage (read-only)."
    )
    days_to_renewal = serializers.IntegerField(read_only=True, allow_null=True)
    seats_utilization_rate = serializers.FloatField(read_only=True, allow_null=True)
    sources = serializers.DictField(read_only=True, help_text="Per input: where and when it came from.")
    updated_at = serializers.DateTimeField(read_only=True, allow_null=True)


# The 13 scoring inputs of docs/scoring.md, as of today. It documents the payload
# in the schema; values are validated by csm.ingest, which bulk and CSV
# ingestion share.
SignalsSerializer = type(
    "SignalsSerializer",
    (_SignalsBase,),
    {
        name: _input_field(name)
        for name in engine.INPUT_NAMES
        if name not in ("days_to_renewal", "seats_utilization_rate")
    },
)


class BulkSignalsRowSerializer(SignalsSerializer):
    external_id = serializers.CharField()


class BulkSignalsResultSerializer(serializers.Serializer):
    received = serializers.IntegerField()
    created = serializers.IntegerField()
    updated = serializers.IntegerField()


class UsageEventSerializer(serializers.ModelSerializer):
    source = serializers.CharField(source="source.name", read_only=True)

    class Meta:
        model = UsageEvent
        fields = ["id", "type", "event", "user_id", "anonymous_id", "happened_at", "received_at", "source",
                  "properties"]  # fmt: skip
        read_only_fields = fields


class HealthScoreSerializer(serializers.ModelSerializer):
    churn_trigger = serializers.SerializerMethodField()

    class Meta:
        model = HealthScore
        fields = [
            "scored_on",
            "score",
            "rag",
            "churn_risk",
            "churn_trigger",
            "breakdown",
            "inputs",
            "defaulted_inputs",
            "profile_version",
            "explanation",
        ]

    def get_churn_trigger(self, obj) -> str | None:
        return obj.churn_trigger or None


class OpportunitySerializer(OnOwnAccountMixin, StrictSerializerMixin, serializers.ModelSerializer):
    account = serializers.PrimaryKeyRelatedField(queryset=Account.objects.none())
    fixed_on_update = ("account", "kind", "addon")  # what was found is history; PATCH changes the rest

    class Meta:
        model = ExpansionOpportunity
        fields = [
            "id",
            "account",
            "kind",
            "addon",
            "evidence",
            "summary",
            "estimated_arr_impact",
            "talk_track",
            "status",
            "close_reason",
            "created_by",
            "created_at",
            "closed_at",
        ]
        read_only_fields = ["created_by", "created_at", "closed_at"]
        extra_kwargs = {
            "close_reason": {"help_text": "Why it was won, lost or dismissed (sent with the status)."}
        }
        # The database's one-open-per-kind constraint decides; the view turns
        # a refusal into a 400 that says why.
        validators = []

    def validate_estimated_arr_impact(self, value):
        if value < 0:
            raise serializers.ValidationError("Must not be negative.")
        return value


class DeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = AlertDelivery
        fields = ["channel", "status", "error", "attempts", "external_id", "delivered_at"]


class AlertSerializer(serializers.ModelSerializer):
    acknowledged = serializers.BooleanField(read_only=True)
    acknowledged_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    deliveries = DeliverySerializer(many=True, read_only=True)

    class Meta:
        model = ChurnAlert
        fields = [
            "id",
            "account",
            "raised_at",
            "reason",
            "reasons",
            "explanation",
            "score",
            "previous_score",
            "rag",
            "churn_risk",
            "arr",
            "renewal_date",
            "held_back",
            "acknowledged",
            "acknowledged_at",
            "acknowledged_by",
            "snoozed_until",
            "deliveries",
        ]
        read_only_fields = fields


class FeatureUsageRowSerializer(serializers.Serializer):
    external_id = serializers.CharField()
    feature = serializers.CharField(help_text="The feature's key.")
    active_users = serializers.IntegerField(min_value=0, required=False)
    events_30d = serializers.IntegerField(min_value=0, required=False)
    last_used_on = serializers.DateField(allow_null=True, required=False)


class QBRSerializer(serializers.ModelSerializer):
    class Meta:
        model = QBR
        fields = [
            "id",
            "account",
            "quarter",
            "trigger",
            "status",
            "sections",
            "notion_page_id",
            "generated_at",
        ]
        read_only_fields = fields


class OutcomeSerializer(OnOwnAccountMixin, StrictSerializerMixin, serializers.ModelSerializer):
    """A renewal's outcome. `arr_lost` is derived; synthetic outcomes come only from the demo."""

    account = serializers.PrimaryKeyRelatedField(queryset=Account.objects.none())
    arr_lost = serializers.DecimalField(max_digits=14, decimal_places=2, read_only=True)

    class Meta:
        model = RenewalOutcome
        fields = [
            "id", "account", "renewal_date", "outcome", "arr_before", "arr_after", "arr_lost",
            "source", "synthetic", "recorded_at",
        ]  # fmt: skip
        read_only_fields = ["source", "synthetic", "recorded_at"]
        validators = []  # the database's one-outcome-per-renewal constraint decides; the view says why

    def validate(self, attrs):
        merged = {
            name: attrs.get(name, getattr(self.instance, name, None))
            for name in ("account", "renewal_date", "outcome", "arr_before", "arr_after")
        }
        candidate = RenewalOutcome(**merged)
        try:
            candidate.clean()
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from None
        return attrs


class TaskCommentSerializer(serializers.ModelSerializer):
    author = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = TaskComment
        fields = ["id", "author", "body", "created_at"]
        read_only_fields = ["author", "created_at"]


class TaskSerializer(OnOwnAccountMixin, StrictSerializerMixin, serializers.ModelSerializer):
    account = serializers.PrimaryKeyRelatedField(queryset=Account.objects.none())
    owner = UsernameField(
        queryset=get_user_model().objects.filter(is_active=True),
        required=False,
        help_text="Who does it (a username); you, unless a manager gives it to someone.",
    )
    comments = TaskCommentSerializer(many=True, read_only=True)
    closed_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Task
        fields = [
            "id", "account", "owner", "title", "notes", "due_on", "priority", "status", "skip_reason",
            "origin", "alert", "opportunity", "created_by", "created_at", "closed_by", "closed_at",
            "comments",
        ]  # fmt: skip
        read_only_fields = ["status", "skip_reason", "origin", "alert", "opportunity", "created_by",
                            "created_at", "closed_by", "closed_at"]  # fmt: skip
        extra_kwargs = {"status": {"help_text": "Changed by the done, skip and reopen actions."}}


class SkipSerializer(StrictSerializerMixin, serializers.Serializer):
    reason = serializers.CharField(max_length=200, help_text="Why the task is skipped.")


class CommentInSerializer(StrictSerializerMixin, serializers.Serializer):
    body = serializers.CharField(max_length=5000)


class TimelineItemSerializer(serializers.Serializer):
    """One thing that happened to an account (the schema of the timeline's items)."""

    kind = serializers.ChoiceField(choices=["health", "alert", "task", "interaction", "qbr", "opportunity",
                                            "crm", "outcome"])  # fmt: skip
    at = serializers.DateTimeField(help_text="When; a day's items at the start of the day (TIME_ZONE).")
    title = serializers.CharField()
    detail = serializers.CharField(allow_blank=True)
    id = serializers.IntegerField(allow_null=True, help_text="The id of the alert, task, interaction, ...")


class TimelinePageSerializer(serializers.Serializer):
    results = TimelineItemSerializer(many=True)
    next = serializers.CharField(
        allow_null=True, help_text="Pass as `before` for the page before; null at the end."
    )


class BriefSerializer(serializers.Serializer):
    account = serializers.IntegerField()
    markdown = serializers.CharField(help_text="The brief, as Markdown.")
