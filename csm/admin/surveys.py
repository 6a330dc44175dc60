"""Survey answers in the admin: read them, log one by hand, import a CSV, and place on its account
an answer no contact matched (the account's NPS input follows each change)."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone

from agents_core import audit
from agents_core.admin_mixins import VisibleToUserAdminMixin
from csm.models import Account, Contact
from csm.surveys import responses
from csm.surveys.csv_import import HEADERS, import_responses
from csm.surveys.models import SurveyResponse


class PlacedFilter(admin.SimpleListFilter):
    title = "placed on an account"
    parameter_name = "placed"

    def lookups(self, request, model_admin):
        return [("yes", "Placed"), ("no", "Not placed (no contact has the email)")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(account__isnull=False)
        if self.value() == "no":
            return queryset.filter(account__isnull=True)
        return queryset


class CategoryFilter(admin.SimpleListFilter):
    title = "category"
    parameter_name = "category"

    def lookups(self, request, model_admin):
        return [("detractor", "Detractors"), ("passive", "Passives"), ("promoter", "Promoters")]

    def queryset(self, request, queryset):
        if self.value() not in ("detractor", "passive", "promoter"):
            return queryset
        return queryset.filter(responses.in_band(self.value()))


class SurveyImportForm(forms.Form):
    file = forms.FileField(help_text="A CSV file, UTF-8, with a header row.")
    dry_run = forms.BooleanField(
        required=False, initial=True, help_text="Check the file and say what would be kept; write nothing."
    )

    def clean_file(self):
        file = self.cleaned_data["file"]
        if file.size > settings.TEND_MAX_UPLOAD_BYTES:
            raise ValidationError(
                f"The file is larger than {settings.TEND_MAX_UPLOAD_BYTES // (1024 * 1024)} MB; split it, "
                "or use manage.py import_survey_responses."
            )
        return file


@admin.register(SurveyResponse)
class SurveyResponseAdmin(VisibleToUserAdminMixin, admin.ModelAdmin):
    list_display = ("responded_at", "account", "who", "kind", "score", "category_label", "survey", "channel")
    list_filter = (
        PlacedFilter,
        CategoryFilter,
        "kind",
        "channel",
        ("responded_at", admin.DateFieldListFilter),
    )
    list_select_related = ("account", "contact")
    search_fields = ("email", "name", "comment", "survey", "account__name")
    autocomplete_fields = ("account",)
    date_hierarchy = "responded_at"
    show_full_result_count = False
    fields = ("account", "contact", "email", "name", "kind", "score", "comment", "responded_at", "survey",
              "channel", "external_id", "followed_up_at")  # fmt: skip
    readonly_fields = ("contact", "channel", "external_id", "followed_up_at")
    change_list_template = "admin/csm/surveyresponse/change_list.html"

    @admin.display(description="Who", ordering="email")
    def who(self, obj):
        return obj.contact or obj.name or obj.email or "—"

    @admin.display(description="Category")
    def category_label(self, obj):
        return obj.category

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "account":
            kwargs["queryset"] = Account.objects.visible_to(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.channel = SurveyResponse.Channel.ADMIN
        before = form.initial.get("account") if change else None
        if obj.account_id and obj.email:
            obj.contact = (
                Contact.objects.filter(account_id=obj.account_id, email__iexact=obj.email).first() or None
            )
        elif not obj.account_id:
            obj.contact = None
        super().save_model(request, obj, form, change)
        responses.refresh_nps([pk for pk in (before, obj.account_id) if pk])
        if responses.follow_up_due(obj, timezone.now()):
            responses.queue_followup()

    def delete_model(self, request, obj):
        account_id = obj.account_id
        super().delete_model(request, obj)
        responses.refresh_nps([account_id] if account_id else [])

    def delete_queryset(self, request, queryset):
        ids = set(queryset.exclude(account__isnull=True).values_list("account_id", flat=True))
        super().delete_queryset(request, queryset)
        responses.refresh_nps(ids)

    # --- CSV import ---------------------------------------------------------------------------

    def get_urls(self):
        return [
            path("import/", self.admin_site.admin_view(self.import_view), name="csm_surveyresponse_import"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_import": self.has_add_permission(request)}
        return super().changelist_view(request, extra_context)

    def import_view(self, request):
        if not self.has_add_permission(request):
            raise PermissionDenied
        report = None
        form = SurveyImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            report = import_responses(
                form.cleaned_data["file"].read(),
                dry_run=form.cleaned_data["dry_run"],
                accounts=Account.objects.visible_to(request.user),
            )
            if report.written:
                audit.record(audit.Action.IMPORT, request=request, target=form.cleaned_data["file"].name,
                             created=report.created, updated=report.updated)  # fmt: skip
                self.message_user(
                    request,
                    f"Imported: {report.created} new, {report.updated} updated, "
                    f"{report.unplaced} not placed.",
                    messages.SUCCESS,
                )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Import survey answers from CSV",
            "form": form,
            "report": report,
            "headers": HEADERS,
        }
        return TemplateResponse(request, "admin/csm/surveyresponse/import.html", context)
