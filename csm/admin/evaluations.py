"""Previews and backtests: each one's progress while it runs, and its result, kept, once done."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from csm.admin.profiles import HORIZONS, backtest_charts
from csm.models import ProfileEvaluation, ScoringProfile
from csm.trust import evaluations

REFRESH_SECONDS = 2


@admin.register(ProfileEvaluation)
class ProfileEvaluationAdmin(admin.ModelAdmin):
    list_display = ("__str__", "state", "requested_by", "created_at", "finished_at")
    list_filter = ("kind",)
    list_select_related = ("requested_by", "run", "profile")

    @admin.display(description="State")
    def state(self, obj) -> str:
        if obj.finished:
            return "done"
        if obj.failed:
            return "failed"
        return f"{obj.percent}%"

    def get_queryset(self, request):
        return super().get_queryset(request).visible_to(request.user)

    # Who may read them: whoever may read the scoring profiles (what they evaluate).
    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("csm.view_scoringprofile")

    def has_module_permission(self, request):
        return self.has_view_permission(request)

    def has_add_permission(self, request):
        return False  # asked for from a profile's page: "Preview the effect first", "Backtest"

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if not self.has_view_permission(request):
            raise PermissionDenied
        evaluation = (
            self.get_queryset(request)
            .select_related("profile", "compare_with", "run", "requested_by")
            .filter(pk=object_id)
            .first()
            if str(object_id).isdigit()
            else None
        )
        if evaluation is None:
            raise Http404("No such preview or backtest.")
        if request.method == "POST" and "_retry" in request.POST:
            if not evaluations.may_retry(evaluation, request.user):
                raise PermissionDenied
            evaluations.queue(evaluation, user=request.user)
            self.message_user(request, "Queued again.", messages.INFO)
            return HttpResponseRedirect(request.path)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "evaluation": evaluation,
        }
        if not evaluation.finished:
            context.update(
                title=str(evaluation),
                refresh=None if evaluation.failed else REFRESH_SECONDS,
                may_retry=evaluations.may_retry(evaluation, request.user),
            )
            return TemplateResponse(request, "admin/csm/profileevaluation/progress.html", context)
        reports = evaluations.reports_of(evaluation)
        if evaluation.kind == ProfileEvaluation.Kind.BACKTEST:
            report = reports["report"]
            profile = evaluation.profile
            shown = profile or ScoringProfile.objects.active().filter(segment="").first()
            context.update(
                title=f"Backtest: {report.source}",
                report=report,
                profile=profile,
                horizon=evaluation.horizon,
                horizons=HORIZONS,
                window=shown.churn_window_days if shown else None,
                backtest_url=(
                    reverse("admin:csm_scoringprofile_backtest_version", args=[profile.pk])
                    if profile
                    else reverse("admin:csm_scoringprofile_backtest")
                ),
                **backtest_charts(report),
            )
            return TemplateResponse(request, "admin/csm/scoringprofile/backtest.html", context)
        candidate = ScoringProfile(segment=evaluation.segment, **_settings(evaluation.candidate))
        context.update(
            title="What this change would do",
            original=evaluation.profile,
            candidate=candidate,
            current=evaluation.compare_with,
            effect=evaluations.effect_of(evaluation),
            reports=reports,
            window=candidate.churn_window_days,
            fields=evaluation.form_data,
        )
        return TemplateResponse(request, "admin/csm/scoringprofile/preview.html", context)


def _settings(candidate: dict) -> dict:
    """The stored engine settings as the model's fields (for showing the unsaved version)."""
    return {k: v for k, v in candidate.items() if k != "version"}
