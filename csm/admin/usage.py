"""The usage stream in the admin: tracking sources (write keys), event-to-feature mappings, the events."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import admin, messages
from django.db.models import Count
from django.utils import timezone
from django.utils.html import format_html

from agents_core import audit
from agents_core.admin_mixins import (
    OneClickActionsMixin,
    ReadOnlyAdminMixin,
    VisibleToUserAdminMixin,
    one_click,
)
from agents_core.visibility import sees_everything
from csm.models import EventMapping, IngestBatch, TrackingSource, UsageEvent
from csm.usage.store import ACTIVITY, queue_rollup

UNMAPPED_SHOWN = 25
UNMAPPED_DAYS = 30


@admin.register(TrackingSource)
class TrackingSourceAdmin(OneClickActionsMixin, admin.ModelAdmin):
    list_display = ("name", "key_hint", "created_at", "last_used_at", "state")
    readonly_fields = ("key_hint", "created_at", "created_by", "last_used_at", "revoked_at", "state")
    fields = ("name", "key_hint", "state", "created_at", "created_by", "last_used_at", "revoked_at")

    def has_module_permission(self, request):
        return sees_everything(request.user) and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return sees_everything(request.user) and super().has_view_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead: the events it sent stay

    @admin.display(description="State")
    def state(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        if obj.revoked_at:
            return format_html('<span class="tend-muted">Revoked {}</span>', obj.revoked_at.date())
        return self.one_click_button(obj, "revoke")

    def save_model(self, request, obj, form, change):
        if not change:
            key = obj.new_key()
            obj.created_by = request.user
            super().save_model(request, obj, form, change)
            audit.record(
                audit.Action.ACTION, request=request, target=f"tracking source {obj}", action="create"
            )
            self.message_user(
                request,
                f"Write key for {obj} (copy it now; it is not shown again): {key}",
                messages.WARNING,
            )
            return
        super().save_model(request, obj, form, change)

    @one_click("Revoke")
    def do_revoke(self, request, obj):
        TrackingSource.objects.filter(pk=obj.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
        return f"Revoked {obj}: its write key is refused from now on; its events stay."


@admin.register(EventMapping)
class EventMappingAdmin(admin.ModelAdmin):
    list_display = ("event", "feature")
    list_select_related = ("feature",)
    search_fields = ("event", "feature__name")
    change_list_template = "admin/csm/eventmapping/change_list.html"

    def changelist_view(self, request, extra_context=None):
        # The recent events only (the happened_at index): the page stays fast on years of events.
        since = timezone.now() - timedelta(days=UNMAPPED_DAYS)
        unmapped = (
            UsageEvent.objects.filter(type__in=ACTIVITY, happened_at__gte=since)
            .exclude(event__in=EventMapping.objects.values("event"))
            .values("event")
            .annotate(n=Count("id"))
            .order_by("-n", "event")[:UNMAPPED_SHOWN]
        )
        return super().changelist_view(request, {**(extra_context or {}), "unmapped": list(unmapped)})


class MatchedFilter(admin.SimpleListFilter):
    title = "account"
    parameter_name = "matched"

    def lookups(self, request, model_admin):
        return [("no", "Unmatched (no account yet)"), ("yes", "Tied to an account")]

    def queryset(self, request, queryset):
        if self.value() == "no":
            return queryset.filter(account__isnull=True)
        if self.value() == "yes":
            return queryset.filter(account__isnull=False)
        return queryset


@admin.register(UsageEvent)
class UsageEventAdmin(VisibleToUserAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("happened_at", "type", "event", "user_id", "account", "group_id", "source")
    list_filter = (MatchedFilter, "type", "source")
    search_fields = ("event", "user_id", "group_id", "account__name")
    list_select_related = ("account", "source")
    show_full_result_count = False
    date_hierarchy = "happened_at"


class BatchStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("waiting", "Waiting to be stored"), ("failed", "Failed")]

    def queryset(self, request, queryset):
        if self.value() == "waiting":
            return queryset.filter(failed_at__isnull=True)
        if self.value() == "failed":
            return queryset.filter(failed_at__isnull=False)
        return queryset


@admin.register(IngestBatch)
class IngestBatchAdmin(OneClickActionsMixin, admin.ModelAdmin):
    """What the tracking endpoint accepted and the next rollup run has not stored yet: normally a
    few seconds' worth; a batch that could not be stored stays here, failed, with the error."""

    list_display = ("received_at", "source", "size", "state")
    list_filter = (BatchStateFilter, "source")
    list_select_related = ("source",)
    show_full_result_count = False
    fields = ("source", "received_at", "size", "state", "error")
    readonly_fields = fields

    def has_module_permission(self, request):
        return sees_everything(request.user) and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return sees_everything(request.user) and super().has_view_permission(request, obj)

    def has_add_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # accepted events are not thrown away from here

    @admin.display(description="State")
    def state(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        if obj.failed_at is None:
            return "Waiting to be stored"
        return format_html(
            "Failed {} {}", obj.failed_at.strftime("%Y-%m-%d %H:%M"), self.one_click_button(obj, "retry")
        )

    @one_click("Retry")
    def do_retry(self, request, obj):
        IngestBatch.objects.filter(pk=obj.pk).update(failed_at=None, error="")
        queue_rollup()
        return f"Batch of {obj.size} message(s) queued to be stored again."
