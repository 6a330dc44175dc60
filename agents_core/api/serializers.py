from rest_framework import serializers

from agents_core.api.common import StrictSerializerMixin
from agents_core.models import AgentRun


class TaskTypeSerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()


class AgentSerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    task_types = TaskTypeSerializer(many=True)


class AgentRunSerializer(serializers.ModelSerializer):
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = AgentRun
        fields = [
            "id",
            "agent",
            "task_type",
            "payload",
            "trigger",
            "status",
            "requested_by",
            "created_at",
            "started_at",
            "finished_at",
            "attempts",
            "result",
            "error",
        ]
        read_only_fields = fields


class StartRunSerializer(StrictSerializerMixin, serializers.Serializer):
    task_type = serializers.CharField(max_length=80)
    payload = serializers.DictField(required=False, default=dict)
