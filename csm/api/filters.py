import django_filters
from django.utils import timezone

from agents_core.visibility import OwnedQuerySet
from csm.models import (
    QBR,
    RAG,
    Account,
    ChurnAlert,
    ChurnRisk,
    ExpansionOpportunity,
    RenewalOutcome,
    Segment,
    Task,
)


def visible_accounts(request) -> OwnedQuerySet:
    return Account.objects.visible_to(request.user) if request is not None else Account.objects.none()


class ByVisibleAccount(django_filters.FilterSet):
    """`?account=<id>`: an account the user may not see answers exactly as one that does not exist."""

    account = django_filters.ModelChoiceFilter(queryset=visible_accounts)


class AccountFilter(django_filters.FilterSet):
    rag = django_filters.ChoiceFilter(choices=RAG.choices)
    churn_risk = django_filters.ChoiceFilter(choices=ChurnRisk.choices)
    segment = django_filters.ChoiceFilter(choices=Segment.choices)
    status = django_filters.ChoiceFilter(choices=Account.Status.choices)
    owner = django_filters.CharFilter(field_name="owner__username", help_text="The owner's username.")
    renewal_before = django_filters.DateFilter(
        field_name="renewal_date", lookup_expr="lt", help_text="Renewal date before this day."
    )

    class Meta:
        model = Account
        fields = ["rag", "churn_risk", "segment", "status", "owner", "renewal_before"]


class OpportunityFilter(ByVisibleAccount):
    class Meta:
        model = ExpansionOpportunity
        fields = ["account", "kind", "status"]


class AlertFilter(ByVisibleAccount):
    acknowledged = django_filters.BooleanFilter(
        field_name="acknowledged_at", lookup_expr="isnull", exclude=True, help_text="true or false"
    )

    class Meta:
        model = ChurnAlert
        fields = ["account", "acknowledged", "reason", "held_back"]


class QBRFilter(ByVisibleAccount):
    class Meta:
        model = QBR
        fields = ["account", "quarter", "trigger"]


class OutcomeFilter(ByVisibleAccount):
    renewal_after = django_filters.DateFilter(field_name="renewal_date", lookup_expr="gte")
    renewal_before = django_filters.DateFilter(field_name="renewal_date", lookup_expr="lte")

    class Meta:
        model = RenewalOutcome
        fields = ["account", "outcome", "synthetic", "renewal_after", "renewal_before"]


class TaskFilter(ByVisibleAccount):
    owner = django_filters.CharFilter(field_name="owner__username", help_text="The owner's username.")
    mine = django_filters.BooleanFilter(method="by_me", help_text="true: only the tasks you own.")
    overdue = django_filters.BooleanFilter(
        method="by_overdue", help_text="true: open and past their due day."
    )
    due_before = django_filters.DateFilter(
        field_name="due_on", lookup_expr="lte", help_text="Due on or before."
    )
    due_after = django_filters.DateFilter(
        field_name="due_on", lookup_expr="gte", help_text="Due on or after."
    )

    class Meta:
        model = Task
        fields = [
            "account",
            "owner",
            "mine",
            "status",
            "priority",
            "origin",
            "overdue",
            "due_before",
            "due_after",
        ]

    def by_me(self, queryset, name, value):
        return (
            queryset.filter(owner=self.request.user) if value else queryset.exclude(owner=self.request.user)
        )

    def by_overdue(self, queryset, name, value):
        overdue = queryset.overdue(timezone.localdate())
        return overdue if value else queryset.exclude(pk__in=overdue.values("pk"))
