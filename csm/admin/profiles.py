"""Scoring profiles: weights and thresholds, with the what-if preview and the backtest before saving."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseRedirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from agents_core import audit
from agents_core.visibility import sees_everything
from csm.admin import charts
from csm.models import ProfileEvaluation, ScoringProfile
from csm.scoring import engine
from csm.scoring.profiles import publish_version
from csm.trust import evaluations
from csm.wording import in_words

HORIZONS = (30, 60, 90, 120, 180)


def weight_rows(weights: dict[str, float]) -> tuple[list[tuple[str, float, float]], float]:
    """(group in words, points, share of the total) per group, biggest first, and the total."""
    total = sum(weights.values())
    rows = [(in_words(g), w, (w / total if total else 0.0)) for g, w in weights.items()]
    return sorted(rows, key=lambda r: (-r[1], r[0])), total


class _ScoringProfileFormBase(forms.ModelForm):
    """The weights as one number field per signal group; the rest as JSON."""

    class Meta:
        model = ScoringProfile
        fields = (
            "segment",
            "green_threshold",
            "amber_threshold",
            "churn_window_days",
            "behavioral_login_days",
            "champion_left_engagement",
            "alert_drop_points",
            "tam_multipliers",
            "rules",
            "no_data_defaults",
            "notes",
        )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        weights = (self.instance.weights if self.instance.pk else None) or dict(engine.BASE_MAX)
        for group in engine.GROUPS:
            self.fields[f"weight_{group}"].initial = weights.get(group)
        if not self.instance.pk:
            defaults = engine.DEFAULT_PROFILE.as_dict()
            for name in ("tam_multipliers", "rules", "no_data_defaults"):
                self.fields[name].initial = defaults[name]

    def clean(self):
        cleaned = super().clean()
        weights = {g: cleaned.get(f"weight_{g}") for g in engine.GROUPS}
        if any(v is None for v in weights.values()) or self.errors:
            return cleaned
        total = sum(weights.values())
        green = cleaned.get("green_threshold")
        if green is not None and total < green:
            raise ValidationError(
                f"The weights add up to {total:g} points, so no account could reach GREEN ({green:g}). "
                "The score is the sum of the groups' points: make the weights add up to 100."
            )
        self.instance.weights = weights
        try:
            engine.Profile(
                weights=weights,
                green_threshold=cleaned["green_threshold"],
                amber_threshold=cleaned["amber_threshold"],
                churn_window_days=cleaned["churn_window_days"],
                behavioral_login_days=cleaned["behavioral_login_days"],
                tam_multipliers=cleaned["tam_multipliers"],
                rules=cleaned["rules"],
                no_data_defaults=cleaned["no_data_defaults"],
                champion_left_engagement=cleaned.get("champion_left_engagement") or None,
            )
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise ValidationError(f"These settings cannot score: {exc}") from exc
        return cleaned


# Declared on the class (not added in __init__) so the admin's fieldsets may name them.
ScoringProfileForm = type(
    "ScoringProfileForm",
    (_ScoringProfileFormBase,),
    {
        f"weight_{group}": forms.FloatField(
            label=in_words(group).capitalize(),
            min_value=0,
            help_text=f"Points at most (the specification's: {engine.BASE_MAX[group]:g}). "
            "The score is the sum of the groups' points, so the weights should add up to 100.",
        )
        for group in engine.GROUPS
    },
)


def _rate(value) -> str:
    return "none" if value is None else f"{value:.0%}"


def backtest_charts(report) -> dict:
    if not report.sufficient:
        return {}
    bands = report.calibration
    return {
        "roc_chart": charts.roc(report.roc, auc=report.auc),
        "calibration_chart": charts.bars(
            [(f"{r['band']} ({r['accounts']})", (r["churn_rate"] or 0) * 100, "#c5221f") for r in bands],
            label="Churn rate by score band: "
            + ", ".join(f"{r['band']}: {_rate(r['churn_rate'])}" for r in bands),
            value_format="{:.0f}%",
        ),
    }


@admin.register(ScoringProfile)
class ScoringProfileAdmin(admin.ModelAdmin):
    form = ScoringProfileForm
    list_display = ("__str__", "segment", "version", "is_active", "created_at", "created_by")
    list_filter = ("is_active", "segment")
    readonly_fields = ("version", "is_active", "created_at", "created_by", "weights_table")

    @admin.display(description="Weights as shares of the score")
    def weights_table(self, obj):
        if obj is None or not obj.weights:
            return "—"
        rows, total = weight_rows(obj.weights)
        return render_to_string("admin/csm/scoringprofile/weights.html", {"rows": rows, "total": total})

    def get_fieldsets(self, request, obj=None):
        weights = tuple(f"weight_{g}" for g in engine.GROUPS)
        if obj is not None:
            # Read-only, the per-group form fields would show "None": show the stored weights instead.
            weights = (
                ("weights_table", *weights)
                if self.has_change_permission(request, obj)
                else ("weights_table",)
            )
        return (
            (
                None,
                {"fields": ("segment", "notes") + (("version", "is_active", "created_by") if obj else ())},
            ),
            ("Weights", {"fields": weights}),
            (
                "Thresholds",
                {
                    "fields": (
                        "green_threshold",
                        "amber_threshold",
                        "churn_window_days",
                        "behavioral_login_days",
                        "champion_left_engagement",
                    )
                },
            ),
            (
                "Tables",
                {"fields": ("tam_multipliers", "rules", "no_data_defaults"), "classes": ("collapse",)},
            ),
        )

    change_form_template = "admin/csm/scoringprofile/change_form.html"
    change_list_template = "admin/csm/scoringprofile/change_list.html"

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("backtest/", view(self.backtest_view), name="csm_scoringprofile_backtest"),
            path("<int:pk>/backtest/", view(self.backtest_view), name="csm_scoringprofile_backtest_version"),
            *super().get_urls(),
        ]

    def can_backtest(self, request) -> bool:
        # Outcomes span the whole book: this is a manager's page.
        return sees_everything(request.user) and self.has_view_permission(request)

    def backtest_view(self, request, pk=None):
        """The backtest of the stored scores (or of version `pk` re-scored), worked out off the request.

        GET shows today's result if there is one, else offers to run it; POST queues it and goes to
        its page, which shows the progress and then the result.
        """
        if not self.can_backtest(request):
            raise PermissionDenied
        try:
            asked = request.POST if request.method == "POST" else request.GET
            horizon = min(max(int(asked.get("horizon", 90)), 0), 365)
        except ValueError:
            horizon = 90
        profile = None
        if pk is not None:
            profile = ScoringProfile.objects.filter(pk=pk).first()
            if profile is None:
                raise Http404("No such profile version.")
        if request.method == "POST":
            evaluation = evaluations.ask_backtest(user=request.user, profile=profile, horizon=horizon)
            return HttpResponseRedirect(_page_of(evaluation))
        earlier = ProfileEvaluation.objects.filter(
            kind=ProfileEvaluation.Kind.BACKTEST, profile=profile, horizon=horizon
        ).first()
        if (
            earlier is not None
            and timezone.localdate(earlier.created_at) == timezone.localdate()
            and not earlier.failed
        ):
            return HttpResponseRedirect(_page_of(earlier))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Backtest: {profile or 'the stored scores'}",
            "profile": profile,
            "horizon": horizon,
            "horizons": HORIZONS,
            "earlier": earlier,
        }
        return TemplateResponse(request, "admin/csm/scoringprofile/backtest_start.html", context)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if request.method == "POST" and "_preview" in request.POST:
            response = self._preview(request, object_id)
            if response is not None:
                return response
        extra_context = {**(extra_context or {}), "can_backtest": self.can_backtest(request)}
        return super().changeform_view(request, object_id, form_url, extra_context)

    def _preview(self, request, object_id):
        """The what-if: the unsaved settings against today's book and the backtest, queued.

        Records the request and its result only: no profile, score or account changes."""
        obj = self.get_object(request, object_id) if object_id else None
        if object_id and obj is None:
            return None
        if not (self.has_change_permission(request, obj) if obj else self.has_add_permission(request)):
            raise PermissionDenied
        form = self.get_form(request, obj, change=obj is not None)(request.POST, instance=obj)
        if not form.is_valid():
            return None  # the normal page shows the errors (and saves nothing: the form is invalid)
        candidate = form.save(commit=False)
        evaluation = evaluations.ask_preview(
            candidate,
            user=request.user,
            original=obj,
            form_data=[(k, v) for k, values in request.POST.lists() for v in values if k != "_preview"],
            with_backtest=self.can_backtest(request),
        )
        return HttpResponseRedirect(_page_of(evaluation))

    def save_model(self, request, obj, form, change):
        # Never edit a version in place: scores made with it must keep its settings.
        publish_version(obj, user=request.user)
        audit.record(
            audit.Action.PROFILE_CHANGED,
            request=request,
            target=str(obj),
            segment=obj.segment,
            version=obj.version,
            weights=obj.weights,
        )
        self.message_user(
            request,
            f"Saved as {obj}; it now scores its segment from the next scan.",
            messages.INFO,
        )
        total = sum(obj.weights.values())
        if abs(total - 100) > 0.01:
            self.message_user(
                request,
                f"The weights add up to {total:g} points, not 100: "
                + ("no account can score above it." if total < 100 else "scores above 100 are cut to 100."),
                messages.WARNING,
            )

    def has_delete_permission(self, request, obj=None):
        return False


def _page_of(evaluation: ProfileEvaluation) -> str:
    return reverse("admin:csm_profileevaluation_change", args=[evaluation.pk])
