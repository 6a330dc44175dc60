"""`interactions/`: the calls, meetings, emails and notes logged on your accounts, newest first.
Logging one moves the account's last-interaction input (csm.timeline.interactions)."""

from __future__ import annotations

import django_filters
from rest_framework import mixins, serializers, viewsets
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.permissions import IsAuthenticated

from agents_core.api.common import ModelPermissions, StrictSerializerMixin
from agents_core.visibility import sees_everything
from csm.api.filters import ByVisibleAccount
from csm.api.serializers import OnOwnAccountMixin
from csm.models import Contact, Interaction
from csm.timeline import interactions


class InteractionSerializer(OnOwnAccountMixin, StrictSerializerMixin, serializers.ModelSerializer):
    participants = serializers.PrimaryKeyRelatedField(
        many=True, required=False, queryset=Contact.objects.none(),
        help_text="Contact ids of the account's people who took part.",
    )  # fmt: skip
    author = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Interaction
        fields = ["id", "account", "kind", "occurred_on", "title", "body", "participants", "sentiment",
                  "author", "source", "created_at", "updated_at"]  # fmt: skip
        read_only_fields = ["author", "source", "created_at", "updated_at"]
        extra_kwargs = {"body": {"help_text": "Markdown, at most 20,000 characters."}}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        if request is not None:
            self.fields["participants"].child_relation.queryset = Contact.objects.visible_to(request.user)

    def validate(self, attrs):
        account = attrs.get("account") or getattr(self.instance, "account", None)
        occurred_on = attrs.get("occurred_on") or getattr(self.instance, "occurred_on", None)
        try:
            interactions.check(
                account=account, occurred_on=occurred_on, participants=attrs.get("participants", [])
            )
        except interactions.InteractionRefused as exc:
            raise ValidationError({"non_field_errors": [str(exc)]}) from None
        return attrs


class InteractionFilter(ByVisibleAccount):
    since = django_filters.DateFilter(field_name="occurred_on", lookup_expr="gte", help_text="On or after.")
    until = django_filters.DateFilter(field_name="occurred_on", lookup_expr="lte", help_text="On or before.")

    class Meta:
        model = Interaction
        fields = ["account", "kind", "sentiment", "since", "until"]


class InteractionViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Interactions on your accounts, newest first. Whoever logged one (or a manager) changes or
    deletes it."""

    serializer_class = InteractionSerializer
    permission_classes = [IsAuthenticated, ModelPermissions]
    filterset_class = InteractionFilter
    search_fields = ["title", "body", "account__name"]
    ordering_fields = ["occurred_on", "created_at", "id"]
    ordering = ["-occurred_on", "-id"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return (
            Interaction.objects.visible_to(self.request.user)
            .select_related("author")
            .prefetch_related("participants")
        )

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = interactions.log_interaction(
            account=data["account"], kind=data.get("kind", Interaction.Kind.NOTE),
            occurred_on=data["occurred_on"], title=data["title"], body=data.get("body", ""),
            sentiment=data.get("sentiment", ""),
            participants=data.get("participants", []), by=self.request.user,
        )  # fmt: skip

    def _may_change(self, interaction):
        if interaction.source == Interaction.Source.CRM:
            raise PermissionDenied("A CRM engagement is changed in the CRM; the next pull brings the change.")
        if interaction.author_id != self.request.user.pk and not sees_everything(self.request.user):
            raise PermissionDenied("Only whoever logged it, or a manager, changes it.")

    def perform_update(self, serializer):
        self._may_change(serializer.instance)
        interaction = serializer.save()
        interactions.refresh_last_interaction([interaction.account_id], forget_later=True)

    def perform_destroy(self, instance):
        self._may_change(instance)
        interactions.delete_interaction(instance)
