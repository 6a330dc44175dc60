"""Tasks in the admin: mine first, due and overdue; done, skipped (with a reason), reopened, commented;
and each user's calendar link of what is due."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from agents_core.admin_mixins import (
    ActionRefused,
    OneClickActionsMixin,
    ReadOnlyAdminMixin,
    VisibleToUserAdminMixin,
    one_click,
)
from agents_core.visibility import sees_everything
from csm.models import Account, CalendarFeed, Notice, ReportingLine, Task, TaskComment
from csm.playbooks import tasks as service


class DueFilter(admin.SimpleListFilter):
    title = "due"
    parameter_name = "due"

    def lookups(self, request, model_admin):
        return [("overdue", "Overdue"), ("today", "Today or overdue"), ("week", "Within 7 days")]

    def queryset(self, request, queryset):
        today = timezone.localdate()
        if self.value() == "overdue":
            return queryset.overdue(today)
        if self.value() == "today":
            return queryset.open().filter(due_on__lte=today)
        if self.value() == "week":
            return queryset.open().filter(due_on__lte=today + timedelta(days=7))
        return queryset


class MineFilter(admin.SimpleListFilter):
    title = "owner"
    parameter_name = "mine"

    def lookups(self, request, model_admin):
        return [("yes", "Mine")]

    def queryset(self, request, queryset):
        return queryset.filter(owner=request.user) if self.value() == "yes" else queryset


class TaskForm(forms.ModelForm):
    class Meta:
        model = Task
        fields = ("account", "owner", "title", "notes", "due_on", "priority", "skip_reason")

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        if "owner" in self.fields:
            users = get_user_model().objects.filter(is_active=True, is_staff=True).order_by("username")
            self.fields["owner"].queryset = users if sees_everything(user) else users.filter(pk=user.pk)
            self.fields["owner"].initial = user.pk
        if "skip_reason" in self.fields:
            self.fields["skip_reason"].help_text = "Say why, then press Skip."

    def clean(self):
        data = super().clean()
        account, owner = data.get("account"), data.get("owner")
        changed = self.instance.pk is None or "owner" in self.changed_data or "account" in self.changed_data
        problem = account and owner and changed and service.may_assign(self.user, owner, account)
        if problem:
            raise ValidationError(problem)
        return data


class TaskCommentInline(admin.TabularInline):
    model = TaskComment
    extra = 1
    fields = ("body", "author", "created_at")
    readonly_fields = ("author", "created_at")
    can_delete = False

    def has_change_permission(self, request, obj=None):
        return False  # what was said stays as it was said


@admin.register(Task)
class TaskAdmin(VisibleToUserAdminMixin, OneClickActionsMixin, admin.ModelAdmin):
    form = TaskForm
    # Fits a 1280 px laptop: the state shows in the buttons (Done and Skip, or Reopen), where it came
    # from in the filter.
    list_display = ("title", "account_link", "owner", "due", "priority", "act")
    list_filter = (
        DueFilter,
        MineFilter,
        "status",
        "priority",
        "origin",
        ("owner", admin.RelatedOnlyFieldListFilter),
    )
    search_fields = ("title", "account__name")
    list_select_related = ("account", "owner")
    autocomplete_fields = ("account",)
    show_full_result_count = False
    inlines = [TaskCommentInline]
    readonly_fields = ("status", "origin", "alert", "opportunity", "created_by", "closed", "escalated", "act")

    def get_fieldsets(self, request, obj=None):
        main = ("account", "owner", "title", "notes", ("due_on", "priority"))
        if obj is None:
            return [(None, {"fields": main})]
        return [
            (None, {"fields": main}),
            ("State", {"fields": ("status", "closed", "skip_reason", "escalated", "act")}),
            ("Where it came from", {"fields": ("origin", "alert", "opportunity", "created_by")}),
        ]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "account":
            kwargs["queryset"] = Account.objects.visible_to(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)

        class WithUser(form):
            def __init__(self, *args, **kw):
                super().__init__(*args, user=request.user, **kw)

        return WithUser

    def changelist_view(self, request, extra_context=None):
        # What is on my plate, soonest first, unless a filter was chosen.
        if not request.GET and not request.GET.get("_changelist_filters"):
            query = request.GET.copy()
            query.update({"mine": "yes", "status__exact": "open"})
            request.GET = query
            request.META["QUERY_STRING"] = query.urlencode()
        return super().changelist_view(request, extra_context)

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        task = service.create_task(
            account=obj.account, owner=obj.owner, title=obj.title, due_on=obj.due_on, by=request.user,
            notes=obj.notes, priority=obj.priority,
        )  # fmt: skip
        obj.pk, obj.created_at = task.pk, task.created_at
        obj._state.adding = False

    def save_formset(self, request, form, formset, change):
        for comment in formset.save(commit=False):
            service.comment(comment.task, by=request.user, body=comment.body)

    @admin.display(description="Account", ordering="account__name")
    def account_link(self, obj):
        return format_html('<a href="{}">{}</a>', reverse("admin:csm_account_change", args=[obj.account_id]),
                           obj.account)  # fmt: skip

    @admin.display(description="Due", ordering="due_on")
    def due(self, obj):
        today = timezone.localdate()
        if obj.is_open and obj.due_on < today:
            return format_html('<span class="tend-rag tend-rag-red">{} (overdue)</span>', obj.due_on)
        return "today" if obj.due_on == today else obj.due_on

    @admin.display(description="Closed")
    def closed(self, obj):
        if obj.closed_at is None:
            return "—"
        return f"{obj.get_status_display()} by {obj.closed_by or 'someone'} on {obj.closed_at:%Y-%m-%d}"

    @admin.display(description="Escalated")
    def escalated(self, obj):
        if obj.escalated_at is None:
            return "—"
        return f"To {obj.escalated_to or 'someone'} on {timezone.localtime(obj.escalated_at):%Y-%m-%d %H:%M}"

    @admin.display(description="Act")
    def act(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        if not obj.is_open:
            return self.one_click_button(obj, "reopen")
        return format_html("{} {}", self.one_click_button(obj, "done", primary=True),
                           self.one_click_button(obj, "skip"))  # fmt: skip

    @one_click("Done")
    def do_done(self, request, obj):
        try:
            service.complete(obj, by=request.user)
        except service.TaskRefused as exc:
            raise ActionRefused(str(exc)) from None
        return f"Done: {obj}."

    @one_click("Skip")
    def do_skip(self, request, obj):
        try:
            service.skip(obj, by=request.user, reason=request.POST.get("skip_reason", ""))
        except service.TaskRefused as exc:
            raise ActionRefused(f"{exc} Write the reason on the task's page, then press Skip.") from None
        return f"Skipped: {obj}."

    @one_click("Reopen")
    def do_reopen(self, request, obj):
        service.reopen(obj, by=request.user)
        return f"Reopened: {obj}."


@admin.register(CalendarFeed)
class CalendarFeedAdmin(OneClickActionsMixin, admin.ModelAdmin):
    """Each user's own calendar link: made here (shown once), replaced, or deleted to revoke it."""

    list_display = ("__str__", "hint", "created_at", "last_read_at", "replace")
    fields = ("hint", "created_at", "last_read_at", "replace")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).visible_to(request.user)  # a manager's too: mine only

    def has_add_permission(self, request):
        return (
            super().has_add_permission(request)
            and not CalendarFeed.objects.filter(user=request.user).exists()
        )

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and (obj is None or obj.user_id == request.user.pk)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and (obj is None or obj.user_id == request.user.pk)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.user = request.user
            token = obj.new_token()
            super().save_model(request, obj, form, change)
            self._show_link(request, token)
            return
        super().save_model(request, obj, form, change)

    def _show_link(self, request, token: str) -> None:
        link = request.build_absolute_uri(reverse("calendar-feed", args=[token]))
        self.message_user(
            request,
            f"Your calendar link (copy it now; it is not shown again). In Google Calendar: Other calendars, "
            f"From URL; in Outlook: Add calendar, Subscribe from web: {link}",
            messages.WARNING,
        )

    @admin.display(description="Replace")
    def replace(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        return self.one_click_button(obj, "replace")

    @one_click("Make a new link (the old one stops working)")
    def do_replace(self, request, obj):
        token = obj.new_token()
        obj.save(update_fields=["token_hash", "hint"])
        self._show_link(request, token)
        return "The old link no longer works."


@admin.register(ReportingLine)
class ReportingLineAdmin(admin.ModelAdmin):
    """Who reports to whom: late work escalates to the manager, and playbook steps for "the owner's
    manager" go there. A manager must see every account to be handed one."""

    list_display = ("user", "manager")
    list_select_related = ("user", "manager")
    search_fields = ("user__username", "manager__username")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        users = get_user_model().objects.filter(is_active=True, is_staff=True).order_by("username")
        kwargs["queryset"] = users
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_module_permission(self, request):
        return sees_everything(request.user) and super().has_module_permission(request)


@admin.register(Notice)
class NoticeAdmin(OneClickActionsMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """What Tend told people on Slack, and how it went: yours, or everyone's for a manager."""

    list_display = ("created_at", "recipient", "kind", "task", "status", "error", "retry")
    list_filter = ("status", "kind")
    list_select_related = ("recipient", "task")
    show_full_result_count = False
    fields = ("recipient", "kind", "task", "status", "attempts", "error", "external_id", "sent_at", "retry")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).visible_to(request.user)

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Retry")
    def retry(self, obj):
        if obj is None or obj.pk is None or obj.status != Notice.Status.FAILED:
            return "—"
        return self.one_click_button(obj, "retry")

    @one_click("Retry now", permission="view")
    def do_retry(self, request, obj):
        from csm.playbooks.notices import deliver

        Notice.objects.filter(pk=obj.pk, status=Notice.Status.FAILED).update(next_retry_at=timezone.now())
        return f"Retried: {deliver(obj.pk)}."
