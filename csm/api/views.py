from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from agents_core.api.common import ModelPermissions
from csm.accounts import search as account_search
from csm.alerts.delivery import acknowledge
from csm.api.filters import (
    AccountFilter,
    AlertFilter,
    OpportunityFilter,
    OutcomeFilter,
    QBRFilter,
    TaskFilter,
)
from csm.api.serializers import (
    AccountSerializer,
    AlertSerializer,
    BriefSerializer,
    BulkSignalsResultSerializer,
    BulkSignalsRowSerializer,
    CommentInSerializer,
    FeatureUsageRowSerializer,
    HealthScoreSerializer,
    OpportunitySerializer,
    OutcomeSerializer,
    QBRSerializer,
    SignalsSerializer,
    SkipSerializer,
    TaskCommentSerializer,
    TaskSerializer,
    TimelinePageSerializer,
    UsageEventSerializer,
)
from csm.expansion.opportunities import OpenOpportunityExists, close, open_opportunity
from csm.ingest.writes import (
    TRACKED_ADOPTION,
    BulkWriteError,
    bulk_write_signals,
    bulk_write_usage,
    clean_signals,
    write_signals,
)
from csm.models import QBR, Account, AccountSignals, ChurnAlert, ExpansionOpportunity, RenewalOutcome, Task
from csm.playbooks import tasks
from csm.scoring.inputs import SIGNAL_FIELDS, raw_inputs
from csm.scoring.on_change import rescore_soon
from csm.timeline import selectors as timeline
from csm.timeline.brief import account_brief


def signals_representation(account: Account) -> dict:
    signals = getattr(account, "signals", None) if _has_signals(account) else None
    values = {f: getattr(signals, f) for f in SIGNAL_FIELDS} if signals else {}
    facts = {
        "renewal_date": account.renewal_date,
        "seats_purchased": account.seats_purchased,
        "seats_used": account.seats_used,
        "tam_health_rag": account.tam_health_rag,
    }
    if account.tracked_adoption_rate is not None:
        values["feature_adoption_rate"] = account.tracked_adoption_rate
    data = raw_inputs(facts, values, timezone.localdate())
    data["feature_adoption_tracked"] = account.tracked_adoption_rate is not None
    data["sources"] = signals.sources if signals else {}
    data["updated_at"] = signals.updated_at.isoformat() if signals else None
    return data


def _has_signals(account: Account) -> bool:
    try:
        account.signals  # noqa: B018 - the reverse one-to-one raises when missing
    except AccountSignals.DoesNotExist:
        return False
    return True


class AccountViewSet(viewsets.ModelViewSet):
    """Accounts you can see (your own, or all with `csm.view_all_accounts`), with current health."""

    serializer_class = AccountSerializer
    permission_classes = [IsAuthenticated, ModelPermissions]
    filterset_class = AccountFilter
    search_fields = ["name", "external_id", "primary_contact_email"]
    ordering_fields = ["name", "external_id", "arr", "health_score", "renewal_date", "scored_at", "id"]
    ordering = ["name", "id"]

    def get_queryset(self):
        return Account.objects.visible_to(self.request.user).select_related("owner")

    def search_queryset(self, queryset, terms):
        return account_search.matching(queryset, terms)

    def perform_create(self, serializer):
        if "owner" not in serializer.validated_data:
            serializer.save(owner=self.request.user)
        else:
            serializer.save()
        rescore_soon([serializer.instance.pk])

    def perform_update(self, serializer):
        serializer.save()
        rescore_soon([serializer.instance.pk])

    @extend_schema(
        methods=["GET"], responses=SignalsSerializer, summary="The account's current scoring inputs"
    )
    @extend_schema(
        methods=["PUT", "PATCH"],
        request=SignalsSerializer,
        responses={200: SignalsSerializer, 400: OpenApiResponse(description="Bad values, by field")},
        summary="Set scoring inputs",
        description="Sets the inputs you send; the others keep their values. Send null to clear one. "
        "days_to_renewal and seats_utilization_rate are derived from the account and read-only.",
    )
    @action(detail=True, methods=["get", "put", "patch"], url_path="signals")
    def signals(self, request, pk=None):
        """The account's current scoring inputs; PUT or PATCH sets those sent (null clears one)."""
        account = self.get_object()
        if request.method in ("PUT", "PATCH"):
            if not isinstance(request.data, dict):
                raise ValidationError({"non_field_errors": ["Expected a JSON object of inputs."]})
            clean, errors = clean_signals(request.data, today=timezone.localdate())
            if account.tracked_adoption_rate is not None and "feature_adoption_rate" in request.data:
                errors["feature_adoption_rate"] = TRACKED_ADOPTION
            if errors:
                raise ValidationError({name: [message] for name, message in errors.items()})
            write_signals(account, clean, source="api", at=timezone.now(), by=request.user.get_username())
            account = self.get_queryset().select_related("signals").get(pk=account.pk)
        return Response(signals_representation(account))

    @extend_schema(
        responses=UsageEventSerializer(many=True),
        summary="The account's recent product usage events, newest first",
        description="What its tracking sources sent (identify, group, track, page, screen), by when it was.",
    )
    @action(detail=True, methods=["get"], url_path="events", filter_backends=[])
    def events(self, request, pk=None):
        account = self.get_object()
        events = account.usage_events.select_related("source").order_by("-happened_at", "-id")
        page = self.paginate_queryset(events)
        return self.get_paginated_response(UsageEventSerializer(page, many=True).data)

    @extend_schema(responses=HealthScoreSerializer(many=True), summary="Health history, newest first")
    @action(detail=True, methods=["get"], url_path="health", filter_backends=[])
    def health(self, request, pk=None):
        """The account's daily health scores, newest first, each with its breakdown and explanation."""
        account = self.get_object()
        page = self.paginate_queryset(account.health_scores.order_by("-scored_on"))
        return self.get_paginated_response(HealthScoreSerializer(page, many=True).data)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "kind", str, description="Comma-separated kinds to show: " + ", ".join(timeline.KINDS)
            ),
            OpenApiParameter(
                "before", str, description="The `next` of the page before: where this page starts."
            ),
        ],
        responses=TimelinePageSerializer,
        summary="The account's timeline, newest first",
    )
    @action(detail=True, methods=["get"], url_path="timeline", filter_backends=[], pagination_class=None)
    def timeline(self, request, pk=None):
        """Health moves, alerts, tasks, interactions, QBRs, opportunities, CRM conflicts and renewal
        outcomes, newest first, 30 a page; follow `next` for the page before."""
        account = self.get_object()
        unknown = sorted(set(request.query_params) - {"kind", "before", "format"})
        if unknown:
            raise ValidationError({name: ["Unknown query parameter."] for name in unknown})
        kinds = [k for k in request.query_params.get("kind", "").split(",") if k] or list(timeline.KINDS)
        wrong = [k for k in kinds if k not in timeline.KINDS]
        if wrong:
            raise ValidationError(
                {"kind": [f"Not a kind: {', '.join(wrong)}. Kinds: {', '.join(timeline.KINDS)}."]}
            )
        try:
            page = timeline.timeline(
                account.pk, kinds=kinds, before=request.query_params.get("before") or None
            )
        except timeline.BadCursor as exc:
            raise ValidationError({"before": [str(exc)]}) from None
        return Response({"results": [item.as_dict() for item in page.items], "next": page.next})

    @extend_schema(responses=BriefSerializer, summary="The account brief for call preparation (Markdown)")
    @action(detail=True, methods=["get"], url_path="brief", filter_backends=[], pagination_class=None)
    def brief(self, request, pk=None):
        """Health and why, the people, the open tasks and the last 90 days, as Markdown."""
        account = self.get_object()
        unknown = sorted(set(request.query_params) - {"format"})
        if unknown:
            raise ValidationError({name: ["Unknown query parameter."] for name in unknown})
        return Response({"account": account.pk, "markdown": account_brief(account)})


class OpportunityViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Expansion opportunities on your accounts. A new one (found by the agent or
    added here) gets its outreach draft from the Sales agent."""

    serializer_class = OpportunitySerializer
    permission_classes = [IsAuthenticated, ModelPermissions]
    filterset_class = OpportunityFilter
    search_fields = ["account__name", "summary"]
    ordering_fields = ["created_at", "estimated_arr_impact", "id"]
    ordering = ["-created_at", "-id"]
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        return ExpansionOpportunity.objects.visible_to(self.request.user).select_related("account")

    def perform_create(self, serializer):
        opportunity = ExpansionOpportunity(**serializer.validated_data)
        try:
            serializer.instance = open_opportunity(opportunity, created_by=self.request.user.get_username())
        except OpenOpportunityExists as exc:
            raise ValidationError({"kind": [str(exc)]}) from None

    def perform_update(self, serializer):
        status_value = serializer.validated_data.pop("status", None)
        reason = serializer.validated_data.pop("close_reason", "")
        opportunity = serializer.save()
        if status_value and status_value != opportunity.status:
            try:
                close(opportunity, status_value, user=self.request.user, reason=reason)
            except OpenOpportunityExists as exc:
                raise ValidationError({"status": [str(exc)]}) from None


class AlertViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Churn alerts on your accounts, newest first, with each channel's delivery."""

    serializer_class = AlertSerializer
    permission_classes = [IsAuthenticated, ModelPermissions]
    filterset_class = AlertFilter
    search_fields = ["account__name", "explanation"]
    ordering_fields = ["raised_at", "arr", "id"]
    ordering = ["-raised_at", "-id"]

    def get_queryset(self):
        return (
            ChurnAlert.objects.visible_to(self.request.user)
            .prefetch_related("deliveries")
            .select_related("acknowledged_by")
        )

    @extend_schema(request=None, responses=AlertSerializer, summary="Acknowledge an alert")
    @action(detail=True, methods=["post"], permission_classes=[IsAuthenticated])
    def acknowledge(self, request, pk=None):
        """Acknowledge the alert: recorded with your name and time, it leaves the open alerts."""
        alert = acknowledge(self.get_object(), request.user)
        return Response(AlertSerializer(self.get_queryset().get(pk=alert.pk)).data)


class QBRViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """QBRs of your accounts, with their four sections. Start one with POST agents/csm/runs/
    {"task_type": "generate_qbr", "payload": {"account_ids": [...], "quarter": "Q3 2026"}}."""

    serializer_class = QBRSerializer
    permission_classes = [IsAuthenticated, ModelPermissions]
    filterset_class = QBRFilter
    search_fields = ["account__name"]
    ordering_fields = ["generated_at", "quarter", "id"]
    ordering = ["-generated_at", "-id"]

    def get_queryset(self):
        return QBR.objects.visible_to(self.request.user)


class CanChangeAccounts(BasePermission):
    def has_permission(self, request, view):
        return request.user.has_perm("csm.change_account")


class BulkUpsertView(APIView):
    """A JSON array of rows in, all or nothing: 400 naming every bad row, or the counts."""

    permission_classes = [IsAuthenticated, CanChangeAccounts]

    def write(self, request, rows: list) -> dict:
        raise NotImplementedError

    def post(self, request):
        if not isinstance(request.data, list):
            raise ValidationError({"non_field_errors": ["Expected a JSON array of rows."]})
        try:
            result = self.write(request, request.data)
        except BulkWriteError as exc:
            return Response(
                {"detail": str(exc), "error_count": len(exc.errors), "errors": exc.errors[:500]},
                status=status.HTTP_400_BAD_REQUEST,
            )
        return Response(result)


BULK_ERRORS = OpenApiResponse(description="Every bad row, by index, external_id and field; nothing written")


class BulkFeatureUsageView(BulkUpsertView):
    """Upsert feature usage (active users, events over 30 days, last used) by external_id and feature."""

    @extend_schema(
        request=FeatureUsageRowSerializer(many=True),
        responses={200: OpenApiResponse(description="received and written counts"), 400: BULK_ERRORS},
        summary="Upsert feature usage for many accounts",
    )
    def post(self, request):
        return super().post(request)

    def write(self, request, rows):
        return bulk_write_usage(
            rows,
            accounts=Account.objects.visible_to(request.user),
            source="api",
            at=timezone.now(),
            today=timezone.localdate(),
        )


class BulkSignalsView(BulkUpsertView):
    """Upsert scoring inputs for many accounts by `external_id`. All or nothing."""

    @extend_schema(
        request=BulkSignalsRowSerializer(many=True),
        responses={200: BulkSignalsResultSerializer, 400: BULK_ERRORS},
        summary="Upsert signals for many accounts",
    )
    def post(self, request):
        return super().post(request)

    def write(self, request, rows):
        return bulk_write_signals(
            rows,
            accounts=Account.objects.visible_to(request.user),
            source="api",
            at=timezone.now(),
            today=timezone.localdate(),
            by=request.user.get_username(),
        )


class OutcomeViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Renewal outcomes of your accounts (renewed, downgraded, churned): what the backtest judges against."""

    serializer_class = OutcomeSerializer
    permission_classes = [IsAuthenticated, ModelPermissions]
    filterset_class = OutcomeFilter
    search_fields = ["account__name", "account__external_id"]
    ordering_fields = ["renewal_date", "arr_before", "id"]
    ordering = ["-renewal_date", "id"]
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        return RenewalOutcome.objects.visible_to(self.request.user)

    def perform_create(self, serializer):
        self._save(serializer)

    def perform_update(self, serializer):
        self._save(serializer)

    def _save(self, serializer):
        # Recorded through the API, so a real outcome (an edit of a demo one stops being synthetic).
        try:
            with transaction.atomic():
                serializer.save(source=RenewalOutcome.Source.API, synthetic=False)
        except IntegrityError:
            raise ValidationError(
                {"renewal_date": ["This account already has an outcome for that renewal date."]}
            ) from None


class CanChangeTasks(BasePermission):
    def has_permission(self, request, view):
        return request.user.has_perm("csm.change_task")


class TaskViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Tasks on your accounts, soonest due first. A CSM gives tasks to themselves; a manager to
    anyone who can see the account. Close them with the done and skip actions."""

    serializer_class = TaskSerializer
    permission_classes = [IsAuthenticated, ModelPermissions]
    filterset_class = TaskFilter
    search_fields = ["title", "account__name"]
    ordering_fields = ["due_on", "priority", "created_at", "id"]
    ordering = ["due_on", "-id"]
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        return (
            Task.objects.visible_to(self.request.user)
            .select_related("owner", "created_by", "closed_by")
            .prefetch_related("comments__author")
        )

    def perform_create(self, serializer):
        data = serializer.validated_data
        try:
            serializer.instance = tasks.create_task(
                account=data["account"], owner=data.get("owner") or self.request.user, title=data["title"],
                due_on=data["due_on"], by=self.request.user, notes=data.get("notes", ""),
                priority=data.get("priority", Task.Priority.NORMAL),
            )  # fmt: skip
        except tasks.TaskRefused as exc:
            raise ValidationError({"owner": [str(exc)]}) from None

    def perform_update(self, serializer):
        owner = serializer.validated_data.pop("owner", None)
        with transaction.atomic():
            task = serializer.save()
            if owner is not None and owner.pk != task.owner_id:
                try:
                    tasks.assign(task, owner, by=self.request.user)
                except tasks.TaskRefused as exc:
                    transaction.set_rollback(True)
                    raise ValidationError({"owner": [str(exc)]}) from None

    def _answer(self, task):
        return Response(
            TaskSerializer(self.get_queryset().get(pk=task.pk), context={"request": self.request}).data
        )

    def _act(self, change):
        try:
            return self._answer(change(self.get_object()))
        except tasks.TaskRefused as exc:
            raise ValidationError({"status": [str(exc)]}) from None

    @extend_schema(request=None, responses=TaskSerializer, summary="Mark a task done")
    @action(detail=True, methods=["post"], permission_classes=[IsAuthenticated, CanChangeTasks])
    def done(self, request, pk=None):
        return self._act(lambda task: tasks.complete(task, by=request.user))

    @extend_schema(request=SkipSerializer, responses=TaskSerializer, summary="Skip a task, saying why")
    @action(detail=True, methods=["post"], permission_classes=[IsAuthenticated, CanChangeTasks])
    def skip(self, request, pk=None):
        body = SkipSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return self._act(lambda task: tasks.skip(task, by=request.user, reason=body.validated_data["reason"]))

    @extend_schema(request=None, responses=TaskSerializer, summary="Reopen a done or skipped task")
    @action(detail=True, methods=["post"], permission_classes=[IsAuthenticated, CanChangeTasks])
    def reopen(self, request, pk=None):
        return self._act(lambda task: tasks.reopen(task, by=request.user))

    @extend_schema(
        request=CommentInSerializer, responses={201: TaskCommentSerializer}, summary="Comment on a task"
    )
    @action(detail=True, methods=["post"], permission_classes=[IsAuthenticated, CanChangeTasks])
    def comments(self, request, pk=None):
        body = CommentInSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            made = tasks.comment(self.get_object(), by=request.user, body=body.validated_data["body"])
        except tasks.TaskRefused as exc:
            raise ValidationError({"body": [str(exc)]}) from None
        return Response(TaskCommentSerializer(made).data, status=status.HTTP_201_CREATED)
