"""Churn alerts and their per-channel deliveries: acknowledge, snooze, retry."""

from __future__ import annotations

from django.contrib import admin, messages
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html

from agents_core.admin_mixins import ActionRefused, OneClickActionsMixin, VisibleToUserAdminMixin, one_click
from csm.accounts.selectors import open_alerts
from csm.admin.display import money_column, rag_badge
from csm.admin.filters import in_book_filter
from csm.alerts.delivery import acknowledge, retry_now, snooze
from csm.models import AlertDelivery, ChurnAlert
from csm.wording import in_words


class AlertStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("open", "Open"), ("acknowledged", "Acknowledged"), ("snoozed", "Snoozed")]

    def queryset(self, request, queryset):
        today = timezone.localdate()
        if self.value() == "open":  # the one definition of open, shared with the index
            return open_alerts(queryset, today)
        if self.value() == "acknowledged":
            return queryset.filter(acknowledged_at__isnull=False)
        if self.value() == "snoozed":
            return queryset.filter(acknowledged_at__isnull=True, snoozed_until__gt=today)
        return queryset


class AlertDeliveryInline(admin.TabularInline):
    model = AlertDelivery
    extra = 0
    can_delete = False
    fields = (
        "channel",
        "status",
        "attempts",
        "error",
        "external_id",
        "delivered_at",
        "next_retry_at",
        "retry",
    )
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description="Retry")
    def retry(self, obj):
        return self.admin_site._registry[AlertDelivery].retry_button(obj)


@admin.register(ChurnAlert)
class ChurnAlertAdmin(OneClickActionsMixin, admin.ModelAdmin):
    list_display = ("account_link", "review", "reason", "change", "churn_risk",
                    money_column("arr", "ARR"), "raised", "deliveries_summary")  # fmt: skip
    list_filter = (AlertStateFilter, "reason", "held_back", "raised_on", in_book_filter("account__"))
    search_fields = ("account__name", "account__external_id")
    list_select_related = ("account",)
    show_full_result_count = False
    actions = ["acknowledge_alerts", "snooze_week"]
    inlines = [AlertDeliveryInline]
    fields = ("account_link", "explanation", ("score", "previous_score", "rag", "churn_risk"),
              "reasons_in_words", ("arr", "renewal_date"), ("raised_at", "held_back"),
              ("acknowledged_at", "acknowledged_by"), "snoozed_until", ("escalated_at", "escalated_to"),
              "review")  # fmt: skip
    readonly_fields = (
        "account_link", "explanation", "score", "previous_score", "rag", "churn_risk", "reasons_in_words",
        "arr", "renewal_date", "raised_at", "held_back", "acknowledged_at", "acknowledged_by",
        "snoozed_until", "escalated_at", "escalated_to", "review",
    )  # fmt: skip

    def get_queryset(self, request):
        qs = (
            super()
            .get_queryset(request)
            .select_related("account", "acknowledged_by")
            .prefetch_related("deliveries")
        )
        return qs.visible_to(request.user)

    @admin.display(description="Reasons")
    def reasons_in_words(self, obj):
        labels = dict(ChurnAlert.Reason.choices)
        return ", ".join(labels.get(r, in_words(r)) for r in obj.reasons or []) or "—"

    @admin.display(description="Review")
    def review(self, obj):
        if obj.acknowledged_at is not None:
            return format_html(
                '<span class="tend-muted">Acknowledged by {} on {}</span>',
                obj.acknowledged_by or "someone",
                date_format(timezone.localtime(obj.acknowledged_at), "j M Y H:i"),
            )
        return self.one_click_button(obj, "acknowledge", primary=True)

    @one_click("Acknowledge")
    def do_acknowledge(self, request, obj):
        if obj.acknowledged_at is not None:
            raise ActionRefused(f"Already acknowledged by {obj.acknowledged_by or 'someone'}.")
        acknowledge(obj, request.user)
        return f"Acknowledged the alert on {obj.account}."

    def changelist_view(self, request, extra_context=None):
        # A CSM's morning view: open alerts first.
        if "state" not in request.GET and not request.GET.get("_changelist_filters"):
            query = request.GET.copy()
            query["state"] = "open"
            request.GET = query
            request.META["QUERY_STRING"] = query.urlencode()
        return super().changelist_view(request, extra_context)

    def has_add_permission(self, request):
        return False

    @admin.display(description="Account", ordering="account__name")
    def account_link(self, obj):
        url = reverse("admin:csm_account_change", args=[obj.account_id])
        return format_html('<a href="{}">{}</a>', url, obj.account)

    @admin.display(description="Score", ordering="score")
    def change(self, obj):
        moved = (
            f"{obj.score:.1f}"
            if obj.previous_score is None
            else f"{obj.previous_score:.1f} → {obj.score:.1f}"
        )
        return format_html("{} {}", rag_badge(obj.rag), moved)

    @admin.display(description="Raised", ordering="raised_at")
    def raised(self, obj):
        return date_format(timezone.localtime(obj.raised_at), "j M H:i")

    @admin.display(description="RAG", ordering="rag")
    def rag_display(self, obj):
        return rag_badge(obj.rag)

    @admin.display(description="Deliveries")
    def deliveries_summary(self, obj):
        deliveries = list(obj.deliveries.all())
        if not deliveries:
            return "—"
        counts: dict[str, int] = {}
        for d in deliveries:
            counts[d.status] = counts.get(d.status, 0) + 1
        detail = ", ".join(f"{d.channel}: {d.status}" for d in deliveries)
        return format_html(
            '<span title="{}">{}</span>',
            detail,
            ", ".join(f"{n} {status}" for status, n in sorted(counts.items())),
        )

    @admin.action(description="Acknowledge")
    def acknowledge_alerts(self, request, queryset):
        for alert in queryset:
            acknowledge(alert, request.user)
        self.message_user(request, f"Acknowledged {queryset.count()} alert(s).", messages.SUCCESS)

    @admin.action(description="Snooze for a week")
    def snooze_week(self, request, queryset):
        for alert in queryset:
            snooze(alert, 7)
        self.message_user(request, f"Snoozed {queryset.count()} alert(s) for 7 days.", messages.SUCCESS)


@admin.register(AlertDelivery)
class AlertDeliveryAdmin(VisibleToUserAdminMixin, OneClickActionsMixin, admin.ModelAdmin):
    list_display = ("alert", "channel", "status", "attempts", "error", "next_retry_at", "delivered_at",
                    "retry_button")  # fmt: skip
    list_filter = ("status", "channel")
    list_select_related = ("alert__account", "retried_by")
    show_full_result_count = False
    actions = ["retry"]
    readonly_fields = ("alert", "channel", "status", "attempts", "error", "external_id", "next_retry_at",
                       "delivered_at", "retried_at", "retried_by", "retry_button")  # fmt: skip

    @admin.display(description="Retry")
    def retry_button(self, obj):
        if obj is None or obj.status != AlertDelivery.Status.FAILED:
            return format_html(
                '<span class="tend-muted">{}</span>',
                f"Retried by {obj.retried_by} on {date_format(timezone.localtime(obj.retried_at), 'j M H:i')}"
                if obj and obj.retried_at
                else "—",
            )
        return self.one_click_button(obj, "retry")

    @one_click("Retry now")
    def do_retry(self, request, obj):
        if obj.status != AlertDelivery.Status.FAILED:
            raise ActionRefused(f"{obj} has not failed; only failed deliveries are retried.")
        return f"Retried {obj.get_channel_display()} for {obj.alert.account}: {retry_now(obj, request.user)}."

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Retry the selected failed deliveries now")
    def retry(self, request, queryset):
        outcomes = [retry_now(d, request.user) for d in queryset.filter(status=AlertDelivery.Status.FAILED)]
        self.message_user(request, f"Retried {len(outcomes)}: {', '.join(outcomes) or 'nothing failed'}.")
