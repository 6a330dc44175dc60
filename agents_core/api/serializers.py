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
            "details_hidden",
        ]
        read_only_fields = fields

    details_hidden = serializers.SerializerMethodField(
        help_text="true: a run over the whole book; its payload, result and error are for managers."
    )

    def _hidden(self, run) -> bool:
        request = self.context.get("request")
        return request is not None and not run.details_visible_to(request.user)

    def get_details_hidden(self, run) -> bool:
        return self._hidden(run)

    def to_representation(self, run):
        data = super().to_representation(run)
        if self._hidden(run):
            data.update(payload={}, result=None, error="")
        return data


class StartRunSerializer(StrictSerializerMixin, serializers.Serializer):
    task_type = serializers.CharField(max_length=80)
    payload = serializers.DictField(required=False, default=dict)
