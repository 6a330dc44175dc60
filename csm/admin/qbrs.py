"""QBRs: the ones coming due (contract check) and the documents, with Markdown download and regenerate."""

from __future__ import annotations

from datetime import date

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.http import content_disposition_header

from agents_core import audit
from agents_core.admin_mixins import (
    OneClickActionsMixin,
    ReadOnlyAdminMixin,
    VisibleToUserAdminMixin,
    one_click,
)
from agents_core.dispatch import enqueue
from agents_core.models import AgentRun
from csm.admin import charts
from csm.admin.filters import DueSoonFilter, in_book_filter
from csm.models import QBR, QBRDue
from csm.qbr.markdown import render_qbr_markdown


@admin.register(QBRDue)
class QBRDueAdmin(VisibleToUserAdminMixin, admin.ModelAdmin):
    list_display = ("account", "contract_end", "due_on", "fulfilled_at")
    show_full_result_count = False
    list_filter = (DueSoonFilter, "fulfilled_at", in_book_filter("account__"))
    date_hierarchy = "due_on"
    list_select_related = ("account",)
    readonly_fields = ("account", "contract_end", "due_on", "created_at", "fulfilled_at")

    def has_add_permission(self, request):
        return False


def trend_chart(trend: list) -> str:
    """The quarter's daily scores (as stored in the QBR: [iso day, score]) over the RAG bands."""
    if not trend:
        return "No scores in this quarter yet."
    return charts.health_trend([(date.fromisoformat(str(day)), score) for day, score in trend], height=150)


@admin.register(QBR)
class QBRAdmin(VisibleToUserAdminMixin, ReadOnlyAdminMixin, OneClickActionsMixin, admin.ModelAdmin):
    list_display = ("account", "quarter", "trigger", "status", "generated_at", "markdown_link")
    list_filter = ("quarter", "trigger", "status")
    search_fields = ("account__name", "account__external_id")
    list_select_related = ("account",)
    show_full_result_count = False
    actions = ["regenerate"]
    fields = ("account", "quarter", "trigger", "status", "generated_at",
              ("markdown_link", "regenerate_button"), "document")  # fmt: skip
    readonly_fields = ("account", "quarter", "trigger", "status", "generated_at", "markdown_link",
                       "regenerate_button", "document")  # fmt: skip

    @admin.display(description="Write again")
    def regenerate_button(self, obj):
        return self.one_click_button(obj, "regenerate")

    @one_click("Regenerate from today's data", permission="view")
    def do_regenerate(self, request, obj):
        payload = {"account_ids": [obj.account_id], "quarter": obj.quarter, "trigger": "manual"}
        run = enqueue(
            "csm", "generate_qbr", payload, trigger=AgentRun.Trigger.ADMIN, requested_by=request.user
        )
        return f"Queued run {run.pk} to write the {obj.quarter} QBR for {obj.account} again."

    def get_urls(self):
        return [
            path(
                "<int:pk>/markdown/", self.admin_site.admin_view(self.markdown_view), name="csm_qbr_markdown"
            ),
            *super().get_urls(),
        ]

    def markdown_view(self, request, pk):
        qbr = self.get_queryset(request).filter(pk=pk).select_related("account").first()
        if qbr is None:
            raise PermissionDenied
        response = HttpResponse(render_qbr_markdown(qbr), content_type="text/markdown; charset=utf-8")
        # Names are people's text: no control characters (a CR/LF would split the header).
        filename = " ".join(f"QBR {qbr.account.name} {qbr.quarter}.md".split())
        filename = "".join(ch for ch in filename if ch.isprintable())
        response["Content-Disposition"] = content_disposition_header(True, filename)
        audit.record(audit.Action.EXPORT, request=request, target=f"QBR {qbr.pk}: {qbr}", format="markdown")
        return response

    @admin.display(description="Markdown")
    def markdown_link(self, obj):
        return format_html('<a href="{}">Download</a>', reverse("admin:csm_qbr_markdown", args=[obj.pk]))

    @admin.display(description="The review")
    def document(self, obj):
        return render_to_string(
            "admin/csm/qbr/document.html",
            {
                "qbr": obj,
                "s": obj.sections,
                "chart": trend_chart(obj.sections.get("health_summary", {}).get("trend", [])),
            },
        )

    @admin.action(description="Regenerate from today's data")
    def regenerate(self, request, queryset):
        for quarter in sorted(set(queryset.values_list("quarter", flat=True))):
            ids = list(queryset.filter(quarter=quarter).values_list("account_id", flat=True))
            enqueue(
                "csm", "generate_qbr", {"account_ids": ids, "quarter": quarter, "trigger": "manual"},
                trigger=AgentRun.Trigger.ADMIN, requested_by=request.user,
            )  # fmt: skip
        self.message_user(request, "Queued the selected QBRs to be written again.", messages.SUCCESS)
