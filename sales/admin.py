from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html

from agents_core import audit
from agents_core.admin_mixins import (
    ActionRefused,
    OneClickActionsMixin,
    ReadOnlyAdminMixin,
    VisibleToUserAdminMixin,
    one_click,
)
from agents_core.agents import AgentError
from agents_core.models import AgentRun
from csm.admin.filters import in_book_filter
from sales.drafting import (
    NotApprovable,
    NotEditable,
    NotRetryable,
    approve,
    as_eml,
    edit,
    mailto_url,
    request_retry,
)
from sales.models import OutreachDraft


class DraftEditForm(forms.Form):
    subject = forms.CharField(max_length=250)
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 18, "cols": 80}))


STATUS_COLOURS = {"pending": "#5f6368", "created": "#188038", "local": "#1a73e8", "failed": "#c5221f"}


def draft_status_badge(status: str, label: str) -> str:
    return format_html(
        '<span style="color:{};font-weight:600">{}</span>', STATUS_COLOURS.get(status, "#5f6368"), label
    )


class ReviewFilter(admin.SimpleListFilter):
    title = "review"
    parameter_name = "review"

    def lookups(self, request, model_admin):
        return [("waiting", "Waiting for review"), ("approved", "Approved")]

    def queryset(self, request, queryset):
        if self.value() == "waiting":
            return queryset.waiting_for_review()
        if self.value() == "approved":
            return queryset.filter(approved_at__isnull=False)
        return queryset


@admin.register(OutreachDraft)
class OutreachDraftAdmin(VisibleToUserAdminMixin, ReadOnlyAdminMixin, OneClickActionsMixin, admin.ModelAdmin):
    list_display = (
        "subject",
        "review",
        "account",
        "to",
        "status_badge",
        "attempts",
        "updated",
        "gmail_link",
    )
    list_filter = (ReviewFilter, "status", in_book_filter("opportunity__account__"))
    search_fields = ("subject", "to", "opportunity__account__name")
    list_select_related = ("opportunity__account", "approved_by")
    show_full_result_count = False
    actions = ["approve_drafts", "retry"]
    fields = (
        "review",
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
        "review",
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

    def has_delete_permission(self, request, obj=None):
        # The draft is the opportunity's one draft; deleting it would let a second be made.
        return False

    def has_review_permission(self, request, obj=None):
        """Approving and retrying change no text, so the draft stays read-only to everyone."""
        return request.user.has_perm("sales.change_outreachdraft")

    @admin.display(description="Review")
    def review(self, obj):
        if obj.approved_at is not None:
            return format_html(
                '<span class="tend-muted">Approved by {} on {}</span>',
                obj.approved_by or "someone",
                date_format(timezone.localtime(obj.approved_at), "j M Y H:i"),
            )
        if obj.status in OutreachDraft.REVIEWABLE:
            return self.one_click_button(obj, "approve", primary=True)
        if obj.status == OutreachDraft.Status.FAILED:
            return self.one_click_button(obj, "retry")
        return format_html('<span class="tend-muted">{}</span>', "Being written")

    @one_click("Approve", permission="review")
    def do_approve(self, request, obj):
        try:
            approved = approve(obj, request.user)
        except NotApprovable as exc:
            raise ActionRefused(str(exc)) from exc
        if not approved:
            raise ActionRefused(f"{obj} was already approved.")
        where = "in the owner's Gmail drafts" if obj.gmail_message_id else "here (Gmail is not configured)"
        return f"Approved “{obj}”. It waits {where} for the owner to send."

    @one_click("Retry now", permission="review")
    def do_retry(self, request, obj):
        try:
            run = request_retry(obj, trigger=AgentRun.Trigger.ADMIN, user=request.user)
        except (NotRetryable, AgentError) as exc:
            raise ActionRefused(f"{obj}: {exc}") from exc
        return f"Queued run {run.pk} for another attempt at “{obj}”."

    @admin.action(description="Approve the selected drafts", permissions=["review"])
    def approve_drafts(self, request, queryset):
        approved = 0
        for draft in queryset.waiting_for_review():
            approved += approve(draft, request.user)
        skipped = queryset.count() - approved
        self.message_user(
            request,
            f"Approved {approved} draft(s)."
            + (f" {skipped} were not waiting for review." if skipped else ""),
            messages.SUCCESS if approved else messages.WARNING,
        )

    @admin.display(description="Updated", ordering="updated_at")
    def updated(self, obj):
        return date_format(timezone.localtime(obj.updated_at), "j M H:i")

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

    change_form_template = "admin/sales/outreachdraft/change_form.html"

    def change_view(self, request, object_id, form_url="", extra_context=None):
        draft = self.get_object(request, unquote(object_id))
        if draft is not None:
            extra_context = {
                **(extra_context or {}),
                "draft": draft,
                "can_edit": draft.editable and self.has_review_permission(request, draft),
                "edit_url": reverse("admin:sales_outreachdraft_edit", args=[draft.pk]),
                "eml_url": reverse("admin:sales_outreachdraft_eml", args=[draft.pk]),
                "mailto_url": mailto_url(draft),
            }
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<path:object_id>/edit/", view(self.edit_view), name="sales_outreachdraft_edit"),
            path("<path:object_id>/eml/", view(self.eml_view), name="sales_outreachdraft_eml"),
            *super().get_urls(),
        ]

    def _visible_draft(self, request, object_id) -> OutreachDraft:
        draft = self.get_object(request, unquote(object_id))  # only what this user may see
        if draft is None:
            raise Http404("No such draft, or not yours to see.")
        return draft

    def eml_view(self, request, object_id):
        draft = self._visible_draft(request, object_id)
        response = HttpResponse(as_eml(draft), content_type="message/rfc822")
        response["Content-Disposition"] = f'attachment; filename="draft-{draft.pk}.eml"'
        return response

    def edit_view(self, request, object_id):
        draft = self._visible_draft(request, object_id)
        if not self.has_review_permission(request, draft):
            raise PermissionDenied
        change_url = reverse("admin:sales_outreachdraft_change", args=[draft.pk])
        form = DraftEditForm(request.POST or None, initial={"subject": draft.subject, "body": draft.body})
        if request.method == "POST" and form.is_valid():
            try:
                changed = edit(draft, **form.cleaned_data, user=request.user)
            except NotEditable as exc:
                self.message_user(request, str(exc), messages.WARNING)
                return HttpResponseRedirect(change_url)
            if changed:
                self.log_change(request, draft, "Edited the subject and body.")
                target = f"sales.outreachdraft {draft.pk}: {draft}"
                audit.record(audit.Action.ACTION, request=request, target=target, action="edit")
                self.message_user(request, f"Saved your text of “{draft}”.", messages.SUCCESS)
            return HttpResponseRedirect(change_url)
        if not draft.editable:
            self.message_user(
                request,
                "This draft is in the owner's Gmail: edit it there."
                if draft.gmail_url
                else "Only a draft waiting for review can be edited.",
                messages.WARNING,
            )
            return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": draft,
            "title": f"Edit “{draft}”",
            "form": form,
            "change_url": change_url,
        }
        return TemplateResponse(request, "admin/sales/outreachdraft/edit.html", context)

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
