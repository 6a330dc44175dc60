from __future__ import annotations

import django_filters
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.response import Response

from agents_core.agents import (
    InvalidPayload,
    NotAllowed,
    NotVisible,
    UnknownAgent,
    UnknownTaskType,
    registry,
)
from agents_core.api.serializers import AgentRunSerializer, AgentSerializer, StartRunSerializer
from agents_core.dispatch import enqueue
from agents_core.models import AgentRun


class AgentListView(generics.ListAPIView):
    """The agent registry: each agent's id, name and task types."""

    serializer_class = AgentSerializer
    filter_backends = []
    keyset_pages = False  # a list made here, not rows with ids

    def get_queryset(self):
        return [
            {
                "id": agent.id,
                "name": agent.name,
                "task_types": [
                    {"name": name, "description": task.description}
                    for name, task in sorted(agent.tasks.items())
                ],
            }
            for agent in registry.all()
        ]


class RunFilter(django_filters.FilterSet):
    class Meta:
        model = AgentRun
        fields = ["status", "task_type", "trigger"]


class AgentRunsView(generics.ListAPIView):
    """Runs of one agent (GET), or start one (POST, answered 202 with the queued run)."""

    serializer_class = AgentRunSerializer
    filterset_class = RunFilter
    ordering_fields = ["created_at", "id"]
    search_fields = []

    def agent(self):
        try:
            return registry.get(self.kwargs["agent_id"])
        except UnknownAgent as exc:
            raise NotFound(str(exc)) from exc

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no agent
            return AgentRun.objects.none()
        return (
            AgentRun.objects.visible_to(self.request.user)
            .filter(agent=self.agent().id)
            .select_related("requested_by")
        )

    @extend_schema(
        request=StartRunSerializer,
        responses={
            202: AgentRunSerializer,
            400: OpenApiResponse(description="Unknown task type or bad payload"),
            404: OpenApiResponse(description="Unknown agent, or account ids you cannot see"),
        },
    )
    def post(self, request, agent_id: str):
        agent = self.agent()
        body = StartRunSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            run = enqueue(
                agent.id,
                body.validated_data["task_type"],
                body.validated_data["payload"],
                trigger=AgentRun.Trigger.API,
                requested_by=request.user,
            )
        except UnknownTaskType as exc:
            raise ValidationError({"task_type": [str(exc)]}) from exc
        except InvalidPayload as exc:
            raise ValidationError({"payload": [str(exc)]}) from exc
        except NotVisible as exc:
            raise NotFound(str(exc)) from exc
        except NotAllowed as exc:
            raise PermissionDenied(str(exc)) from exc
        return Response(AgentRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class RunDetailView(generics.RetrieveAPIView):
    """One run: status, timings, result and error."""

    serializer_class = AgentRunSerializer

    def get_queryset(self):
        return AgentRun.objects.visible_to(self.request.user).select_related("requested_by")
