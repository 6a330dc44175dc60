"""Expansion opportunities: the finding, its outreach draft, and won / lost / dismiss."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import ObjectDoesNotExist
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join

from agents_core.admin_mixins import ActionRefused, OneClickActionsMixin, VisibleToUserAdminMixin, one_click
from csm.admin.display import money_column
from csm.expansion.opportunities import (
    CannotUndo,
    OpenOpportunityExists,
    can_undo,
    close,
    open_opportunity,
    undo_close,
)
from csm.models import OPEN_STATUSES, Account, ExpansionOpportunity


@admin.register(ExpansionOpportunity)
class ExpansionOpportunityAdmin(VisibleToUserAdminMixin, OneClickActionsMixin, admin.ModelAdmin):
    list_display = (
        "account",
        "kind",
        "decide",
        money_column("estimated_arr_impact", "Estimated ARR impact"),
        "status",
        "draft_status",
        "found",
    )
    list_filter = ("status", "kind")
    search_fields = ("account__name", "account__external_id", "summary")
    list_select_related = ("account", "draft", "closed_by")
    show_full_result_count = False
    actions = ["mark_won", "mark_lost", "dismiss"]
    readonly_fields = (
        "evidence_table",
        "status",
        "decide",
        "draft_link",
        "created_by",
        "created_by_run",
        "created_at",
        "closed_at",
        "closed_by",
        "close_reason",
    )
    fields = ("account", "kind", "addon", "estimated_arr_impact", "summary", "talk_track", *readonly_fields)

    def get_readonly_fields(self, request, obj=None):
        if obj is not None:  # the finding itself is history; its status moves by the actions
            return (*self.readonly_fields, "account", "kind", "addon")
        return self.readonly_fields

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "account":
            kwargs["queryset"] = Account.objects.visible_to(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        try:
            open_opportunity(obj, created_by=request.user.get_username())
        except OpenOpportunityExists as exc:
            self.message_user(request, str(exc), messages.ERROR)

    @admin.display(description="Found", ordering="created_at")
    def found(self, obj):
        return format_html(
            '{}<br><span class="tend-muted">{}</span>',
            date_format(timezone.localtime(obj.created_at), "j M Y"),
            obj.created_by,
        )

    @admin.display(description="Draft")
    def draft_status(self, obj):
        draft = getattr(obj, "draft", None) if _has_draft(obj) else None
        return draft.get_status_display() if draft else "—"

    @admin.display(description="Outreach draft")
    def draft_link(self, obj):
        if not obj or not _has_draft(obj):
            return "Not written yet."
        url = reverse("admin:sales_outreachdraft_change", args=[obj.draft.pk])
        return format_html('<a href="{}">{}</a> ({})', url, obj.draft.subject, obj.draft.get_status_display())

    @admin.display(description="Evidence")
    def evidence_table(self, obj):
        if not obj or not obj.evidence:
            return obj.summary if obj else "—"
        return render_to_string(
            "admin/csm/expansionopportunity/evidence.html", {"summary": obj.summary, "evidence": obj.evidence}
        )

    @admin.display(description="Decide")
    def decide(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        if obj.status not in OPEN_STATUSES:
            return format_html(
                '<span class="tend-muted">{} by {} on {}{}</span>{}',
                obj.get_status_display(),
                obj.closed_by or "someone",
                date_format(timezone.localtime(obj.closed_at), "j M Y") if obj.closed_at else "?",
                f": {obj.close_reason}" if obj.close_reason else "",
                self.one_click_button(obj, "undo") if can_undo(obj) else "",
            )
        return format_html(
            '<label class="tend-reason"><span class="visually-hidden">Why</span>'
            '<input type="text" name="{}" maxlength="500" placeholder="Why? (needed to decide)"></label>{}',
            reason_field(obj),
            format_html_join(
                "", "{}", ((self.one_click_button(obj, a),) for a in ("won", "lost", "dismiss"))
            ),
        )

    def _decide(self, request, obj, status):
        if obj.status not in OPEN_STATUSES:
            raise ActionRefused(f"{obj} is already {obj.get_status_display().lower()}.")
        reason = " ".join(request.POST.get(reason_field(obj), "").split())
        if not reason:
            label = dict(ExpansionOpportunity.Status.choices)[status].lower()
            raise ActionRefused(f"Say why {obj} is {label} first: the reason is what the team learns from.")
        close(obj, status, user=request.user, reason=reason)
        return f"{obj}: marked {obj.get_status_display().lower()} ({reason}). Undo is possible for a day."

    @one_click("Undo")
    def do_undo(self, request, obj):
        was = obj.get_status_display().lower()
        try:
            undo_close(obj, user=request.user)
        except (CannotUndo, OpenOpportunityExists) as exc:
            raise ActionRefused(str(exc)) from exc
        return f"{obj}: no longer {was}; it is {obj.get_status_display().lower()} again."

    @one_click("Won")
    def do_won(self, request, obj):
        return self._decide(request, obj, ExpansionOpportunity.Status.WON)

    @one_click("Lost")
    def do_lost(self, request, obj):
        return self._decide(request, obj, ExpansionOpportunity.Status.LOST)

    @one_click("Dismiss")
    def do_dismiss(self, request, obj):
        return self._decide(request, obj, ExpansionOpportunity.Status.DISMISSED)

    def _close(self, request, queryset, status):
        """Close the selected open opportunities with one reason, asked for on a page of its own."""
        queryset = queryset.filter(status__in=OPEN_STATUSES)
        reason = " ".join(request.POST.get("close_reason", "").split())
        if request.POST.get("confirm") and reason:
            closed = 0
            for opportunity in queryset:
                close(opportunity, status, user=request.user, reason=reason)
                closed += 1
            self.message_user(
                request, f"Marked {closed} opportunit(ies) {status}: {reason}.", messages.SUCCESS
            )
            return None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Why are these {status}?",
            "status": status,
            "action": request.POST.get("action"),
            "opportunities": list(queryset.select_related("account")[:500]),
            "missing_reason": bool(request.POST.get("confirm")),
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/csm/expansionopportunity/close_reason.html", context)

    @admin.action(description="Mark won")
    def mark_won(self, request, queryset):
        return self._close(request, queryset, ExpansionOpportunity.Status.WON)

    @admin.action(description="Mark lost")
    def mark_lost(self, request, queryset):
        return self._close(request, queryset, ExpansionOpportunity.Status.LOST)

    @admin.action(description="Dismiss")
    def dismiss(self, request, queryset):
        return self._close(request, queryset, ExpansionOpportunity.Status.DISMISSED)


def _has_draft(opportunity) -> bool:
    try:
        opportunity.draft  # noqa: B018 - the reverse one-to-one raises when missing
    except ObjectDoesNotExist:
        return False
    return True


def reason_field(opportunity) -> str:
    """The name of the row's "why" box: one per row, so a list page's form can hold many."""
    return f"close_reason-{opportunity.pk}"
