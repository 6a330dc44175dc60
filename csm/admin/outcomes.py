"""Renewal outcomes (and the goals a customer set), the ground truth the backtest reads."""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html

from agents_core.admin_mixins import VisibleToUserAdminMixin
from csm.models import Account, OutcomeGoal, RenewalOutcome


class OutcomeGoalInline(admin.TabularInline):
    model = OutcomeGoal
    extra = 0
    fields = ("name", "unit", "baseline", "target", "current")


class RenewalOutcomeInline(admin.TabularInline):
    model = RenewalOutcome
    extra = 0
    fields = ("renewal_date", "outcome", "arr_before", "arr_after", "source", "synthetic")
    readonly_fields = ("source", "synthetic")
    verbose_name_plural = "renewal outcomes (what the backtest judges the score against)"


@admin.register(RenewalOutcome)
class RenewalOutcomeAdmin(VisibleToUserAdminMixin, admin.ModelAdmin):
    list_display = ("account", "renewal_date", "outcome", "arr_before", "arr_after", "lost", "source_label")
    list_filter = ("outcome", "synthetic", "source", ("renewal_date", admin.DateFieldListFilter))
    search_fields = ("account__name", "account__external_id")
    list_select_related = ("account",)
    show_full_result_count = False
    fields = ("account", "renewal_date", "outcome", "arr_before", "arr_after", "source", "synthetic")
    readonly_fields = ("source", "synthetic")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "account":
            kwargs["queryset"] = Account.objects.visible_to(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        obj.source, obj.synthetic = RenewalOutcome.Source.ADMIN, False
        super().save_model(request, obj, form, change)

    @admin.display(description="ARR lost")
    def lost(self, obj):
        return obj.arr_lost

    @admin.display(description="Source", ordering="source")
    def source_label(self, obj):
        if obj.synthetic:
            return format_html('<span class="tend-synthetic">{}</span>', "Synthetic (demo data)")
        return obj.get_source_display()
