"""Daily health scores: read-only, one row per account per day."""

from __future__ import annotations

from django.contrib import admin
from django.template.loader import render_to_string

from agents_core.admin_mixins import ReadOnlyAdminMixin, VisibleToUserAdminMixin
from csm.admin.display import rag_badge
from csm.models import HealthScore
from csm.scoring import engine


@admin.register(HealthScore)
class HealthScoreAdmin(VisibleToUserAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "account",
        "scored_on",
        "score",
        "rag_display",
        "churn_risk",
        "churn_trigger",
        "partial",
        "profile_version",
        "explanation",
    )
    # No date_hierarchy: its year/month links cost a scan of every score.
    list_filter = (("rag", admin.ChoicesFieldListFilter), "churn_risk", "scored_on")
    search_fields = ("account__name", "account__external_id")
    list_select_related = ("account",)
    show_full_result_count = False
    readonly_fields = [f.name for f in HealthScore._meta.fields] + ["breakdown_table"]
    exclude = ("breakdown",)

    @admin.display(description="RAG", ordering="rag")
    def rag_display(self, obj):
        return rag_badge(obj.rag)

    @admin.display(description="Partial data", boolean=True)
    def partial(self, obj):
        return obj.is_partial

    @admin.display(description="Points per signal group")
    def breakdown_table(self, obj):
        return render_to_string(
            "admin/csm/healthscore/breakdown.html",
            {"rows": [(g, obj.breakdown.get(g)) for g in engine.GROUPS]},
        )
