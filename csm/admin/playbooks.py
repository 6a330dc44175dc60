"""Playbooks in the admin: a manager edits the trigger and the steps; everyone sees the runs on their
accounts, with the tasks each run made."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from agents_core.admin_mixins import ReadOnlyAdminMixin, VisibleToUserAdminMixin
from agents_core.visibility import sees_everything
from csm.models import Playbook, PlaybookRun, PlaybookStep
from csm.playbooks.follow_through import follow_through


class PlaybookStepInline(admin.TabularInline):
    model = PlaybookStep
    extra = 1
    fields = (
        "position",
        "title",
        "due_in_days",
        "wait_for_previous",
        "priority",
        "assignee",
        "user",
        "notes",
    )


@admin.register(Playbook)
class PlaybookAdmin(admin.ModelAdmin):
    list_display = ("name", "trigger", "is_active", "steps_count", "open_runs")
    change_list_template = "admin/csm/playbook/change_list.html"

    def get_urls(self):
        return [
            path(
                "follow-through/",
                self.admin_site.admin_view(self.follow_through_view),
                name="csm_playbook_follow_through",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra = {**(extra_context or {}), "show_follow_through": sees_everything(request.user)}
        return super().changelist_view(request, extra)

    def follow_through_view(self, request):
        if not sees_everything(request.user):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "title": "Follow-through",
            "opts": self.model._meta,
            "report": follow_through(),
        }
        return TemplateResponse(request, "admin/csm/playbook/follow_through.html", context)

    list_filter = ("trigger", "is_active")
    inlines = [PlaybookStepInline]
    fieldsets = [
        (None, {"fields": ("name", "description", "is_active")}),
        ("When it starts", {
            "fields": ("trigger", "alert_reason", ("days_before_renewal", "health"), "rag", "segment"),
            "description": "Each occurrence of the trigger starts the playbook once per account.",
        }),
        ("When it ends", {"fields": ("close_on_recovery",)}),
    ]  # fmt: skip

    def get_queryset(self, request):
        from django.db.models import Count, Q

        return (
            super()
            .get_queryset(request)
            .annotate(
                n_steps=Count("steps", distinct=True),
                n_open=Count("runs", filter=Q(runs__status=PlaybookRun.Status.OPEN), distinct=True),
            )
        )

    @admin.display(description="Steps", ordering="n_steps")
    def steps_count(self, obj):
        return obj.n_steps

    @admin.display(description="In progress", ordering="n_open")
    def open_runs(self, obj):
        url = (
            reverse("admin:csm_playbookrun_changelist") + f"?playbook__id__exact={obj.pk}&status__exact=open"
        )
        return format_html('<a href="{}">{}</a>', url, obj.n_open)


@admin.register(PlaybookRun)
class PlaybookRunAdmin(VisibleToUserAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("playbook", "account", "occurrence", "status", "started_on", "closed_at")
    list_filter = ("status", "playbook")
    search_fields = ("account__name",)
    list_select_related = ("playbook", "account")
    show_full_result_count = False
    fields = (
        "playbook",
        "account",
        "occurrence",
        "status",
        "started_at",
        "closed_at",
        "close_reason",
        "steps",
    )
    readonly_fields = fields

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Tasks")
    def steps(self, obj):
        tasks = obj.tasks.select_related("owner").order_by("step__position", "pk")
        return (
            format_html_join(
                "",
                '<p><a href="{}">{}</a> · {} · due {} · {}</p>',
                (
                    (
                        reverse("admin:csm_task_change", args=[t.pk]),
                        t.title,
                        t.owner,
                        t.due_on,
                        t.get_status_display(),
                    )
                    for t in tasks
                ),
            )
            or "—"
        )
