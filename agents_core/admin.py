import json
from datetime import timedelta

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.db.models import BooleanField, Case, Value, When
from django.utils.html import format_html

from agents_core import audit, fanout
from agents_core.admin_mixins import ReadOnlyAdminMixin, VisibleToUserAdminMixin
from agents_core.models import AgentRun, ApiToken, AuditEvent
from agents_core.visibility import sees_everything

STATUS_COLOURS = {"queued": "#5f6368", "running": "#1a73e8", "succeeded": "#188038", "failed": "#c5221f"}


@admin.register(AgentRun)
class AgentRunAdmin(VisibleToUserAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only: runs are an audit trail."""

    list_display = (
        "id",
        "agent",
        "task_type",
        "trigger",
        "status_badge",
        "requested_by",
        "created_at",
        "duration",
        "summary",
    )
    list_filter = ("status", "agent", "task_type", "trigger")
    list_select_related = ("requested_by",)
    date_hierarchy = "created_at"
    show_full_result_count = False
    fields = (
        ("agent", "task_type", "trigger"),
        ("status", "attempts", "requested_by"),
        ("worker", "batches"),
        ("created_at", "started_at", "finished_at"),
        "payload_json",
        "result_json",
        "error_text",
        "q_task_id",
    )
    readonly_fields = (
        "agent",
        "task_type",
        "trigger",
        "status",
        "attempts",
        "requested_by",
        "worker",
        "batches",
        "created_at",
        "started_at",
        "finished_at",
        "payload_json",
        "result_json",
        "error_text",
        "q_task_id",
    )

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Status", ordering="status")
    def status_badge(self, obj):
        return format_html(
            '<span style="color:{};font-weight:600">{}</span>',
            STATUS_COLOURS.get(obj.status, "#5f6368"),
            obj.get_status_display(),
        )

    @admin.display(description="Duration")
    def duration(self, obj):
        seconds = obj.duration_seconds
        return "—" if seconds is None else f"{seconds:.1f}s"

    HIDDEN = "Hidden: a run over the whole book; managers see what it touched."

    def get_queryset(self, request):
        # Whether this viewer may read each run's details (AgentRun.details_visible_to),
        # worked out in the query: the admin instance is shared by every request.
        runs = super().get_queryset(request)
        if sees_everything(request.user):
            return runs.annotate(details_hidden=Value(False))
        mine = When(requested_by=request.user, then=Value(False))
        return runs.annotate(details_hidden=Case(mine, default=Value(True), output_field=BooleanField()))

    @staticmethod
    def _hidden(obj) -> bool:
        return getattr(obj, "details_hidden", True)

    @admin.display(description="Error")
    def error_text(self, obj):
        return self.HIDDEN if self._hidden(obj) else obj.error

    @admin.display(description="Outcome")
    def summary(self, obj):
        if self._hidden(obj):
            return obj.get_status_display()
        if obj.error:
            return obj.error[:120]
        result = obj.result or {}
        if result.get("skipped"):
            return f"skipped: {result.get('reason', '')}"
        if "scored" in result:
            return f"{result['scored']} scored, {result.get('failed', 0)} failed"
        return ""

    @admin.display(description="Batches")
    def batches(self, obj):
        """For work that fans out: batches by status, and how many each worker did."""
        counts = fanout.summary(obj)
        if not counts["by_status"]:
            return "—"
        by_status = ", ".join(f"{n} {status}" for status, n in sorted(counts["by_status"].items()))
        by_worker = ", ".join(f"{worker}: {n}" for worker, n in sorted(counts["done_by_worker"].items()))
        return f"{by_status} (done by {by_worker})" if by_worker else by_status

    @admin.display(description="Payload")
    def payload_json(self, obj):
        return self.HIDDEN if self._hidden(obj) else _pretty(obj.payload)

    @admin.display(description="Result")
    def result_json(self, obj):
        return self.HIDDEN if self._hidden(obj) else _pretty(obj.result)


def _pretty(value):
    return format_html(
        "<pre style='margin:0'>{}</pre>", json.dumps(value, indent=2, sort_keys=True, default=str)
    )


class ApiTokenForm(forms.ModelForm):
    days = forms.IntegerField(
        min_value=0,
        max_value=3650,
        help_text="Days until the token expires (0: never).",
    )

    class Meta:
        model = ApiToken
        fields = ("user", "name", "read_only")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["days"].initial = settings.TEND_API_TOKEN_DAYS


@admin.register(ApiToken)
class ApiTokenAdmin(VisibleToUserAdminMixin, admin.ModelAdmin):
    """API tokens: made here (the key is shown once), listed by their first characters, revoked by delete."""

    form = ApiTokenForm
    list_display = ("token_key", "name", "user", "read_only", "created", "expiry", "last_used_at")
    list_filter = ("read_only",)
    list_select_related = ("user",)
    search_fields = ("name", "token_key", "user__username")

    def has_change_permission(self, request, obj=None):
        return False  # a token is made and revoked, never edited

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user" and not request.user.is_superuser:
            kwargs["queryset"] = get_user_model().objects.filter(pk=request.user.pk)
            kwargs["initial"] = request.user.pk
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        days = form.cleaned_data["days"]
        user = obj.user if request.user.is_superuser else request.user
        token, key = ApiToken.objects.create(
            user, expiry=timedelta(days=days) if days else None, name=obj.name, read_only=obj.read_only
        )
        obj.pk = token.pk  # so the admin's "added" message and history name the real token
        obj.digest, obj.token_key = token.digest, token.token_key
        audit.record(
            audit.Action.TOKEN_CREATED, request=request, target=str(token), for_user=user.get_username()
        )
        self.message_user(
            request,
            f"Copy this API token now; it is not stored and cannot be shown again: {key}",
            messages.WARNING,
        )

    def delete_model(self, request, obj):
        audit.record(
            audit.Action.TOKEN_REVOKED, request=request, target=str(obj), for_user=obj.user.get_username()
        )
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for token in queryset.select_related("user"):
            audit.record(
                audit.Action.TOKEN_REVOKED,
                request=request,
                target=str(token),
                for_user=token.user.get_username(),
            )
        super().delete_queryset(request, queryset)


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """The audit trail, for superusers: read-only, filterable by action and person."""

    list_display = ("at", "actor_name", "action", "target", "ip")
    list_filter = ("action",)
    search_fields = ("actor_name", "target", "ip")
    date_hierarchy = "at"
    show_full_result_count = False
    readonly_fields = ("at", "action", "actor", "actor_name", "ip", "user_agent", "target", "details")

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
