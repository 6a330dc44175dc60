from django.contrib import admin, messages
from django.template.loader import render_to_string
from django.utils.html import format_html

from agents_core.agents import AgentError
from agents_core.models import AgentRun
from agents_core.visibility import sees_everything
from sales.drafting import NotRetryable, request_retry
from sales.models import OutreachDraft

STATUS_COLOURS = {"pending": "#5f6368", "created": "#188038", "local": "#1a73e8", "failed": "#c5221f"}


def draft_status_badge(status: str, label: str) -> str:
    return format_html(
        '<span style="color:{};font-weight:600">{}</span>', STATUS_COLOURS.get(status, "#5f6368"), label
    )


@admin.register(OutreachDraft)
class OutreachDraftAdmin(admin.ModelAdmin):
    list_display = ("subject", "account", "to", "status_badge", "attempts", "updated_at", "gmail_link")
    list_filter = ("status",)
    search_fields = ("subject", "to", "opportunity__account__name")
    list_select_related = ("opportunity__account",)
    show_full_result_count = False
    actions = ["retry"]
    fields = (
        "preview",
        "talk_track",
        ("status", "attempts", "next_retry_at"),
        "error",
        "gmail_link",
        "opportunity",
        "run",
        "message_id",
        ("created_at", "updated_at"),
    )
    readonly_fields = (
        "preview",
        "talk_track",
        "status",
        "attempts",
        "next_retry_at",
        "error",
        "gmail_link",
        "opportunity",
        "run",
        "message_id",
        "created_at",
        "updated_at",
    )

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if sees_everything(request.user):
            return qs
        return qs.filter(opportunity__account__owner=request.user)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        # The draft is the opportunity's one draft; deleting it would let a second be made.
        return False

    @admin.display(description="Account")
    def account(self, obj):
        return obj.opportunity.account

    @admin.display(description="Status", ordering="status")
    def status_badge(self, obj):
        return draft_status_badge(obj.status, obj.get_status_display())

    @admin.display(description="Gmail")
    def gmail_link(self, obj):
        if not obj.gmail_url:
            return "—"
        return format_html(
            '<a href="{}" target="_blank" rel="noopener">Open the Gmail draft</a>', obj.gmail_url
        )

    @admin.display(description="The email, as the customer will see it")
    def preview(self, obj):
        return render_to_string("admin/sales/outreachdraft/preview.html", {"draft": obj})

    @admin.display(description="Talk track (for the rep; not in the email)")
    def talk_track(self, obj):
        return obj.opportunity.talk_track or "—"

    @admin.action(description="Retry the selected failed drafts now")
    def retry(self, request, queryset):
        queued, refused = 0, []
        for draft in queryset:
            try:
                request_retry(draft, trigger=AgentRun.Trigger.ADMIN, user=request.user)
                queued += 1
            except (NotRetryable, AgentError) as exc:
                refused.append(f"{draft}: {exc}")
        if queued:
            self.message_user(request, f"Queued {queued} draft(s) for another attempt.", messages.SUCCESS)
        for message in refused:
            self.message_user(request, message, messages.WARNING)
