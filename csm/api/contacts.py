"""`contacts/`: the people at your accounts: who they are (title, role), the primary, when the product
last saw them, and where they came from. Naming a champion, or one leaving, moves the account's
"champion left" day (csm.contacts.champions)."""

from __future__ import annotations

import django_filters
from rest_framework import mixins, serializers, viewsets
from rest_framework.permissions import IsAuthenticated

from agents_core.api.common import ModelPermissions, StrictSerializerMixin
from csm.api.filters import ByVisibleAccount
from csm.api.serializers import OnOwnAccountMixin
from csm.contacts.champions import refresh_champions
from csm.models import Contact


class ContactSerializer(OnOwnAccountMixin, StrictSerializerMixin, serializers.ModelSerializer):
    class Meta:
        model = Contact
        fields = ["id", "account", "name", "email", "title", "role", "is_primary", "last_active_at", "source",
                  "crm_system", "crm_id", "archived_at", "created_at", "updated_at"]  # fmt: skip
        read_only_fields = ["last_active_at", "source", "crm_system", "crm_id", "archived_at", "created_at",
                            "updated_at"]  # fmt: skip
        extra_kwargs = {"role": {"help_text": "champion, decision_maker, user, or blank (not known)."}}

    def validate(self, attrs):
        if not (attrs.get("name") or attrs.get("email") or getattr(self.instance, "pk", None)):
            raise serializers.ValidationError({"name": ["Give the person's name or email."]})
        return attrs


class ContactFilter(ByVisibleAccount):
    archived = django_filters.BooleanFilter(
        field_name="archived_at", lookup_expr="isnull", exclude=True, help_text="Removed in the CRM."
    )

    class Meta:
        model = Contact
        fields = ["account", "role", "source", "is_primary", "archived"]


class ContactViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """The people at your accounts, primary first."""

    serializer_class = ContactSerializer
    permission_classes = [IsAuthenticated, ModelPermissions]
    filterset_class = ContactFilter
    search_fields = ["name", "email", "title"]
    ordering_fields = ["name", "last_active_at", "id"]
    ordering = ["account", "-is_primary", "name", "id"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return Contact.objects.visible_to(self.request.user)

    def perform_create(self, serializer):
        contact = serializer.save(source=Contact.Source.MANUAL)
        refresh_champions([contact.account_id])

    def perform_update(self, serializer):
        contact = serializer.save()
        refresh_champions([contact.account_id])

    def perform_destroy(self, instance):
        account_id = instance.account_id
        instance.delete()
        refresh_champions([account_id])
