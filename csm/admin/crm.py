"""The CRM sync in the admin: the field mapping (managers edit it and try it on real records before
saving), each run's report, the conflicts to resolve with a click, and the accounts' contacts."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from agents_core.admin_mixins import (
    ActionRefused,
    OneClickActionsMixin,
    ReadOnlyAdminMixin,
    VisibleToUserAdminMixin,
    one_click,
)
from agents_core.agents import AgentError
from agents_core.dispatch import enqueue
from agents_core.integrations.crm import CrmError
from agents_core.models import AgentRun
from agents_core.visibility import sees_everything
from csm.contacts.champions import refresh_champions
from csm.crm import conflicts, sync
from csm.crm.models import Contact, CrmConflict, CrmFieldMapping, CrmSyncRun
from csm.crm.preview import preview


@admin.register(CrmFieldMapping)
class CrmFieldMappingAdmin(admin.ModelAdmin):
    list_display = ("crm_field", "direction", "tend_field", "system", "is_active", "notes")
    list_display_links = ("crm_field",)
    list_filter = ("system", "owner", "is_active")
    list_editable = ("is_active",)
    fields = ("system", "crm_field", "tend_field", "owner", "is_active", "notes")
    change_form_template = "admin/csm/crmfieldmapping/change_form.html"

    @admin.display(description="Owner (whose value wins)")
    def direction(self, obj):
        return "CRM → Tend" if obj.owner == "crm" else "Tend → CRM"

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if request.method == "POST" and "_preview" in request.POST:
            return self.preview_view(request, object_id)
        return super().changeform_view(request, object_id, form_url, extra_context)

    def preview_view(self, request, object_id):
        """The mapping with this form's change, tried on five records of the CRM: nothing is saved."""
        obj = self.get_object(request, object_id) if object_id else None
        if not (self.has_change_permission(request, obj) if obj else self.has_add_permission(request)):
            raise PermissionDenied
        form = self.get_form(request, obj, change=obj is not None)(request.POST, instance=obj)
        context = {**self.admin_site.each_context(request), "opts": self.opts, "title": "Preview the mapping",
                   "form": form, "object_id": object_id}  # fmt: skip
        if form.is_valid():
            candidate = form.save(commit=False)
            mapping = [m for m in CrmFieldMapping.objects.filter(system=candidate.system, is_active=True)
                       if m.pk != candidate.pk and m.tend_field != candidate.tend_field]  # fmt: skip
            if candidate.is_active:
                mapping.append(candidate)
            context["system"] = candidate.get_system_display()
            context["candidate"] = candidate
            try:
                connector = sync.CONNECTORS.get(candidate.system, lambda: None)()
                problem = "" if connector else sync.NOT_CONFIGURED.get(candidate.system, "Not configured.")
            except CrmError as exc:  # a login refused
                connector, problem = None, str(exc)
            if problem:
                context["not_configured"] = problem
            else:
                context["preview"] = preview(connector, sorted(mapping, key=lambda m: m.tend_field))
        return TemplateResponse(request, "admin/csm/crmfieldmapping/preview.html", context)


@admin.register(CrmSyncRun)
class CrmSyncRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("started_at", "system", "kind", "status", "dry_run", "read", "created", "updated",
                    "unchanged", "archived", "refused", "conflicts", "contacts", "api_calls")  # fmt: skip
    list_filter = ("system", "kind", "status", "dry_run")
    date_hierarchy = "started_at"
    show_full_result_count = False
    fields = ("system", "kind", "status", "dry_run", ("started_at", "finished_at"),
              ("read", "created", "updated", "unchanged", "archived"), ("refused", "conflicts", "contacts"),
              "api_calls", "error", "notes_shown", "refusals_shown", "agent_run")  # fmt: skip
    readonly_fields = [name for item in fields for name in (item if isinstance(item, tuple) else (item,))]
    change_list_template = "admin/csm/crmsyncrun/change_list.html"

    def has_module_permission(self, request):
        return sees_everything(request.user) and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return sees_everything(request.user) and super().has_view_permission(request, obj)

    @admin.display(description="Notes")
    def notes_shown(self, obj):
        return format_html_join("", "<p>{}</p>", ((note,) for note in obj.notes)) or "—"

    @admin.display(description="Refused records")
    def refusals_shown(self, obj):
        if not obj.refusals:
            return "—"
        cells = ((r.get("id"), r.get("field"), r.get("why")) for r in obj.refusals)
        rows = format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>", cells)
        more = (
            f"<p>… and {obj.refused - len(obj.refusals)} more.</p>" if obj.refused > len(obj.refusals) else ""
        )
        return format_html(
            "<table><thead><tr><th>CRM record</th><th>Field</th><th>Why</th></tr></thead><tbody>{}</tbody>"
            "</table>{}", rows, format_html(more) if more else ""
        )  # fmt: skip

    def get_urls(self):
        return [
            path("sync-now/", self.admin_site.admin_view(self.sync_now_view), name="csm_crmsyncrun_sync_now"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra = {**(extra_context or {}), "crm_systems": sync.configured()}
        return super().changelist_view(request, extra)

    def sync_now_view(self, request):
        """Queue a sync (pull, then push) through the entry point, as the schedule does."""
        if request.method != "POST" or not sees_everything(request.user):
            raise PermissionDenied
        payload = {"full": True} if request.POST.get("full") else {}
        try:
            run = enqueue(
                "csm", "sync_crm", payload, trigger=AgentRun.Trigger.ADMIN, requested_by=request.user
            )
        except AgentError as exc:
            self.message_user(request, str(exc), messages.WARNING)
        else:
            self.message_user(request, f"CRM sync queued (run {run.pk}); its reports appear here.")
        return HttpResponseRedirect(reverse("admin:csm_crmsyncrun_changelist"))


@admin.register(CrmConflict)
class CrmConflictAdmin(OneClickActionsMixin, VisibleToUserAdminMixin, admin.ModelAdmin):
    list_display = ("account", "what", "crm_value", "tend_value", "detected", "buttons")
    list_filter = ("status", "system")
    list_select_related = ("account",)
    search_fields = ("account__name", "account__external_id")
    fields = (
        "account", "system", "tend_field", "crm_field", "owner", "changed_on", "crm_value", "tend_value",
        "status", "detected_at", "resolved_at", "resolved_by", "buttons",
    )  # fmt: skip
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_changelist(self, request, **kwargs):
        if "status__exact" not in request.GET and "status" not in request.GET:
            request.GET = request.GET.copy()
            request.GET["status__exact"] = CrmConflict.Status.OPEN
        return super().get_changelist(request, **kwargs)

    @admin.display(description="Field", ordering="tend_field")
    def what(self, obj):
        return format_html("{}<br><small>{}</small>", obj.get_tend_field_display(), self.changed_where(obj))

    @admin.display(description="Found", ordering="detected_at")
    def detected(self, obj):
        return obj.detected_at.strftime("%d %b %H:%M")

    @admin.display(description="Changed")
    def changed_where(self, obj):
        owner = "the CRM" if obj.owner == "crm" else "Tend"
        where = "in Tend" if obj.changed_on == "tend" else "in the CRM"
        return f"{where} ({owner} owns it)"

    @admin.display(description="Resolve")
    def buttons(self, obj):
        if obj is None or obj.pk is None or obj.status != CrmConflict.Status.OPEN:
            return obj.get_status_display() if obj is not None and obj.pk else "—"
        return format_html(
            "{} {}", self.one_click_button(obj, "keep-crm"), self.one_click_button(obj, "keep-tend")
        )

    @one_click("Keep the CRM's")
    def do_keep_crm(self, request, obj):
        return self._resolve(request, obj, "crm")

    @one_click("Keep Tend's")
    def do_keep_tend(self, request, obj):
        return self._resolve(request, obj, "tend")

    def _resolve(self, request, obj, keep):
        try:
            conflicts.resolve(obj, keep=keep, by=request.user)
        except conflicts.CannotResolve as exc:
            raise ActionRefused(str(exc)) from exc
        return f"{obj.account}: {obj.get_tend_field_display()} resolved, {obj.get_status_display().lower()}."


class ContactInline(admin.TabularInline):
    model = Contact
    extra = 0
    fields = ("name", "email", "title", "role", "is_primary", "last_active_at", "source", "archived_at")
    readonly_fields = ("last_active_at", "source", "archived_at")
    show_change_link = False


@admin.register(Contact)
class ContactAdmin(VisibleToUserAdminMixin, admin.ModelAdmin):
    list_display = ("name", "email", "title", "role", "account", "is_primary", "last_active_at", "source")
    list_filter = ("role", "source", "is_primary", ("archived_at", admin.EmptyFieldListFilter))
    list_select_related = ("account",)
    search_fields = ("name", "email", "account__name")
    autocomplete_fields = ("account",)
    fields = (
        "account",
        "name",
        "email",
        "title",
        "role",
        "is_primary",
        "last_active_at",
        "source",
        "crm_system",
        "crm_id",
        "archived_at",
    )
    readonly_fields = ("last_active_at", "source", "crm_system", "crm_id", "archived_at")
    show_full_result_count = False

    def save_model(self, request, obj, form, change):
        before = form.initial.get("account") if change else None
        super().save_model(request, obj, form, change)
        refresh_champions([pk for pk in (before, obj.account_id) if pk])  # a champion named, or moved

    def delete_model(self, request, obj):
        account_id = obj.account_id
        super().delete_model(request, obj)
        refresh_champions([account_id])

    def delete_queryset(self, request, queryset):
        ids = set(queryset.values_list("account_id", flat=True))
        super().delete_queryset(request, queryset)
        refresh_champions(ids)
