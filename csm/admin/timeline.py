"""Interactions in the admin: a CSM logs a call, meeting, email or note on their account, with the
contacts who took part; the account's last-interaction input follows."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from agents_core.admin_mixins import VisibleToUserAdminMixin
from agents_core.visibility import sees_everything
from csm.models import Account, Contact, Interaction
from csm.timeline import interactions


class InteractionForm(forms.ModelForm):
    class Meta:
        model = Interaction
        fields = ["account", "kind", "occurred_on", "title", "body", "participants", "sentiment"]

    def clean(self):
        data = super().clean()
        if data.get("account") and data.get("occurred_on"):
            try:
                interactions.check(account=data["account"], occurred_on=data["occurred_on"],
                                   participants=data.get("participants") or [])  # fmt: skip
            except interactions.InteractionRefused as exc:
                raise ValidationError(str(exc)) from None
        return data


@admin.register(Interaction)
class InteractionAdmin(VisibleToUserAdminMixin, admin.ModelAdmin):
    form = InteractionForm
    list_display = ("occurred_on", "kind", "title", "account", "sentiment", "author")
    list_filter = ("kind", "sentiment", "source")
    list_select_related = ("account", "author")
    search_fields = ("title", "body", "account__name")
    autocomplete_fields = ("account",)
    date_hierarchy = "occurred_on"
    show_full_result_count = False
    readonly_fields = ("author", "source", "created_at", "updated_at")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "account":
            kwargs["queryset"] = Account.objects.visible_to(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "participants":
            kwargs["queryset"] = Contact.objects.visible_to(request.user).select_related("account")
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def has_change_permission(self, request, obj=None):
        allowed = super().has_change_permission(request, obj)
        if obj is not None and obj.source == Interaction.Source.CRM:
            return False  # the CRM's engagement: changed there (the next pull would undo it here)
        if (
            obj is not None
            and obj.author_id not in (None, request.user.pk)
            and not sees_everything(request.user)
        ):
            return False  # someone else's account of what happened: read, not rewritten
        return allowed

    def has_delete_permission(self, request, obj=None):
        return self.has_change_permission(request, obj) and super().has_delete_permission(request, obj)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.author = request.user
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        interactions.refresh_last_interaction([form.instance.account_id], forget_later=change)

    def delete_model(self, request, obj):
        interactions.delete_interaction(obj)
