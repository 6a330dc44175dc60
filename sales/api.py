from __future__ import annotations

import django_filters
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from agents_core.api.common import ModelPermissions
from agents_core.api.serializers import AgentRunSerializer
from agents_core.models import AgentRun
from sales.drafting import NotRetryable, request_retry
from sales.models import OutreachDraft


class DraftSerializer(serializers.ModelSerializer):
    gmail_url = serializers.CharField(read_only=True)

    class Meta:
        model = OutreachDraft
        fields = [
            "id",
            "opportunity",
            "to",
            "subject",
            "body",
            "status",
            "gmail_draft_id",
            "gmail_url",
            "error",
            "attempts",
            "next_retry_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class DraftFilter(django_filters.FilterSet):
    class Meta:
        model = OutreachDraft
        fields = ["opportunity", "status"]


class DraftViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Outreach drafts of your accounts' opportunities. Never sent by Tend."""

    serializer_class = DraftSerializer
    permission_classes = [IsAuthenticated, ModelPermissions]
    filterset_class = DraftFilter
    search_fields = ["subject", "to"]
    ordering_fields = ["created_at", "updated_at", "id"]
    ordering = ["-created_at", "-id"]

    def get_queryset(self):
        drafts = OutreachDraft.objects.select_related("opportunity__account")
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return drafts.none()
        return drafts.visible_to(self.request.user)

    @extend_schema(
        request=None,
        responses={202: AgentRunSerializer, 400: OpenApiResponse(description="The draft is not failed")},
        summary="Retry a failed draft now",
    )
    @action(detail=True, methods=["post"], permission_classes=[IsAuthenticated])
    def retry(self, request, pk=None):
        """Try a failed draft again now (202 with the run that does it); other drafts answer 400."""
        draft = self.get_object()
        try:
            run = request_retry(draft, trigger=AgentRun.Trigger.API, user=request.user)
        except NotRetryable as exc:
            raise ValidationError({"status": [str(exc)]}) from exc
        return Response(AgentRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)
