from __future__ import annotations

from datetime import date, timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import Http404, HttpResponse
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join

from agents_core.admin_mixins import ActionRefused, OneClickActionsMixin, one_click
from agents_core.agents import AgentError
from agents_core.dispatch import enqueue
from agents_core.models import AgentRun
from agents_core.visibility import sees_everything
from csm.admin import charts
from csm.adoption.tracking import scorecard
from csm.alerts.delivery import acknowledge, retry_now, snooze
from csm.expansion.opportunities import close
from csm.ingest.crm_csv import import_accounts
from csm.models import (
    OPEN_STATUSES,
    QBR,
    Account,
    AccountSignals,
    AddOn,
    AlertDelivery,
    ChurnAlert,
    ExpansionOpportunity,
    Feature,
    HealthScore,
    OutcomeGoal,
    Plan,
    QBRDue,
    RenewalOutcome,
    ScoringProfile,
)
from csm.qbr.markdown import render_qbr_markdown
from csm.scoring import engine
from csm.scoring.inputs import stamp_sources
from csm.scoring.profiles import publish_version
from csm.trust.backtest import backtest
from csm.trust.whatif import preview

HISTORY_DAYS_SHOWN = 30
CHART_DAYS = 180
SPARKLINE_DAYS = 30


def rag_badge(rag: str) -> str:
    """The RAG as a coloured label that also says its name (never colour alone)."""
    if not rag:
        return format_html('<span class="tend-muted">{}</span>', "Not scored")
    return format_html('<span class="tend-rag tend-rag-{}">{}</span>', rag.lower(), rag)


class RenewalWindowFilter(admin.SimpleListFilter):
    title = "renewal"
    parameter_name = "renewal_within"

    def lookups(self, request, model_admin):
        return [
            ("30", "Within 30 days"),
            ("60", "Within 60 days"),
            ("90", "Within 90 days"),
            ("past", "Date passed"),
        ]

    def queryset(self, request, queryset):
        today = timezone.localdate()
        if self.value() == "past":
            return queryset.filter(renewal_date__lt=today)
        if self.value() in ("30", "60", "90"):
            end = today + timedelta(days=int(self.value()))
            return queryset.filter(renewal_date__gte=today, renewal_date__lte=end)
        return queryset


class HealthFilter(admin.SimpleListFilter):
    title = "health"
    parameter_name = "health"

    def lookups(self, request, model_admin):
        return [
            ("weak", "Weak (AMBER or RED, or high churn risk)"),
            ("at_risk", "At risk (RED or high churn risk)"),
        ]

    def queryset(self, request, queryset):
        from csm.accounts.selectors import AT_RISK, WEAK

        if self.value() == "weak":
            return queryset.filter(WEAK)
        if self.value() == "at_risk":
            return queryset.filter(AT_RISK)
        return queryset


class SparklineChangeList(ChangeList):
    """Loads the last month of scores for the page's accounts in one query."""

    def get_results(self, request):
        super().get_results(request)
        since = timezone.localdate() - timedelta(days=SPARKLINE_DAYS)
        by_account: dict[int, list[float]] = {}
        why: dict[int, str] = {}
        rows = (
            HealthScore.objects.filter(account_id__in=[a.pk for a in self.result_list], scored_on__gte=since)
            .order_by("account_id", "scored_on")
            .values_list("account_id", "score", "explanation")
        )
        for account_id, score, explanation in rows:
            by_account.setdefault(account_id, []).append(score)
            why[account_id] = explanation  # in date order: the latest wins
        for account in self.result_list:
            account.recent_scores = by_account.get(account.pk, [])
            account.why = why.get(account.pk, "")


class OwnerFilter(admin.RelatedOnlyFieldListFilter):
    """Owners among the accounts the user may see (a CSM sees only themselves)."""


class AccountImportForm(forms.Form):
    file = forms.FileField(help_text="A CSV export from your CRM, UTF-8, with a header row.")
    dry_run = forms.BooleanField(
        required=False, initial=True, help_text="Check the file and show what would change; write nothing."
    )


class AccountSignalsInline(admin.StackedInline):
    model = AccountSignals
    can_delete = False
    extra = 0
    max_num = 1
    fields = (
        ("feature_adoption_rate", "usage_trend"),
        ("last_login_on", "last_interaction_on"),
        ("stakeholder_engagement", "nps_score"),
        ("invoice_payment_status",),
        ("open_ticket_count", "avg_ticket_sentiment", "escalation_count_90_days"),
        "provenance",
        "updated_at",
    )
    readonly_fields = ("provenance", "updated_at")

    @admin.display(description="Where the values came from")
    def provenance(self, obj):
        if not obj or not obj.sources:
            return "—"
        return ", ".join(
            f"{name}: {info.get('source', '?')} ({info.get('at', '?')})"
            for name, info in sorted(obj.sources.items())
        )


@admin.register(Account)
class AccountAdmin(OneClickActionsMixin, admin.ModelAdmin):
    list_display = (
        "name",
        "owner",
        "segment",
        "score",
        "rag_display",
        "trend",
        "churn_risk",
        "renewal_date",
        "arr",
        "why",
    )
    list_filter = (
        ("rag", admin.ChoicesFieldListFilter),
        HealthFilter,
        "churn_risk",
        "segment",
        ("owner", OwnerFilter),
        RenewalWindowFilter,
        "status",
    )
    search_fields = ("name", "external_id", "primary_contact_email")
    list_select_related = ("owner",)
    list_per_page = 50
    # Counting every row again for the "x of y" line is expensive on a large book.
    show_full_result_count = False
    actions = ["rescore"]
    inlines = [AccountSignalsInline]

    def get_inlines(self, request, obj):
        return [AccountSignalsInline, OutcomeGoalInline, RenewalOutcomeInline]

    fieldsets = (
        (None, {"fields": ("name", "external_id", "owner", "segment", "plan", "status")}),
        (
            "Health",
            {
                "fields": (
                    ("health_score", "rag_display", "churn_risk", "churn_trigger"),
                    "score_explanation",
                    ("scored_at", "rescan_button"),
                    "health_chart",
                    "open_alerts",
                    "score_movement",
                )
            },
        ),
        (
            "Contract",
            {
                "fields": (
                    "arr",
                    ("seats_purchased", "seats_used"),
                    ("contract_start", "renewal_date"),
                    "primary_contact_email",
                )
            },
        ),
        ("Technical", {"fields": ("tam_health_rag", "notion_page_id")}),
        ("Feature adoption", {"fields": ("adoption_scorecard",)}),
        ("Daily scores", {"fields": ("health_history",), "classes": ("collapse",)}),
    )
    readonly_fields = (
        "health_score",
        "rag_display",
        "churn_risk",
        "churn_trigger",
        "scored_at",
        "rescan_button",
        "score_explanation",
        "health_chart",
        "open_alerts",
        "score_movement",
        "health_history",
        "adoption_scorecard",
    )

    def get_changelist(self, request, **kwargs):
        return SparklineChangeList

    def get_queryset(self, request):
        return super().get_queryset(request).visible_to(request.user)

    @admin.display(description="Scorecard")
    def adoption_scorecard(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        card = scorecard(obj)
        if card.rate is None and not any(f["active_users"] for f in card.features):
            return "No feature usage tracked for this account; its adoption rate is typed in."
        return render_to_string("admin/csm/account/scorecard.html", {"card": card})

    def get_urls(self):
        return [
            path("import/", self.admin_site.admin_view(self.import_view), name="csm_account_import"),
            *super().get_urls(),
        ]

    def can_import(self, request) -> bool:
        # The import matches any account by external_id, so it is for people
        # who see the whole book.
        user = request.user
        return sees_everything(user) and user.has_perms(["csm.add_account", "csm.change_account"])

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_import": self.can_import(request)}
        return super().changelist_view(request, extra_context)

    def import_view(self, request):
        if not self.can_import(request):
            raise PermissionDenied
        report = None
        form = AccountImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            report = import_accounts(
                form.cleaned_data["file"].read(),
                dry_run=form.cleaned_data["dry_run"],
                today=timezone.localdate(),
                at=timezone.now(),
                by=request.user.get_username(),
            )
            if report.written:
                self.message_user(
                    request,
                    f"Imported: {report.created} created, {report.updated} updated, "
                    f"{report.unchanged} unchanged.",
                    messages.SUCCESS,
                )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Import accounts from CSV",
            "form": form,
            "report": report,
        }
        return TemplateResponse(request, "admin/csm/account/import.html", context)

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if not sees_everything(request.user):
            # A CSM cannot hand an account to someone else (and lose sight of it).
            fields.append("owner")
        return fields

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "owner":
            from django.contrib.auth import get_user_model

            kwargs["queryset"] = get_user_model().objects.filter(is_active=True, is_staff=True)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_formset(self, request, form, formset, change):
        if formset.model is AccountSignals:
            for signals_form in formset.forms:
                if signals_form.has_changed():
                    signals_form.instance.sources = stamp_sources(
                        signals_form.instance.sources,
                        signals_form.changed_data,
                        source="admin",
                        at=timezone.now(),
                        by=request.user.get_username(),
                    )
        super().save_formset(request, form, formset, change)

    @admin.display(description="Score", ordering="health_score")
    def score(self, obj):
        return "—" if obj.health_score is None else f"{obj.health_score:.1f}"

    @admin.display(description="RAG", ordering="rag")
    def rag_display(self, obj):
        return rag_badge(obj.rag)

    @admin.display(description="Why")
    def why(self, obj):
        return format_html('<span class="tend-why">{}</span>', getattr(obj, "why", "") or "—")

    @admin.display(description="Why this score")
    def score_explanation(self, obj):
        scores = self._chart_scores(obj)
        return scores[0].explanation if scores and scores[0].explanation else "—"

    @admin.display(description=f"Last {SPARKLINE_DAYS} days")
    def trend(self, obj):
        return charts.sparkline(getattr(obj, "recent_scores", []), rag=obj.rag)

    def _chart_scores(self, obj) -> list[HealthScore]:
        """The last CHART_DAYS scores, newest first: one query for the chart and the table."""
        if not hasattr(obj, "_chart_scores"):
            obj._chart_scores = (
                list(obj.health_scores.select_related("profile").order_by("-scored_on")[:CHART_DAYS])
                if obj.pk
                else []
            )
        return obj._chart_scores

    def _recent_scores(self, obj) -> list[HealthScore]:
        return self._chart_scores(obj)[:HISTORY_DAYS_SHOWN]

    @admin.display(description=f"Health trend (last {CHART_DAYS} scores)")
    def health_chart(self, obj):
        scores = self._chart_scores(obj)
        if not scores:
            return charts.health_trend([])
        first = scores[-1].scored_on
        alerts = obj.alerts.filter(raised_on__gte=first).values_list("raised_on", "explanation")
        profile = scores[0].profile
        return charts.health_trend(
            [(s.scored_on, s.score) for s in reversed(scores)],
            alerts=list(alerts),
            green=profile.green_threshold,
            amber=profile.amber_threshold,
        )

    @admin.display(description="Open alerts")
    def open_alerts(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        from csm.accounts.selectors import open_alerts

        alerts = list(open_alerts(obj.alerts.all(), timezone.localdate()).order_by("-raised_on")[:5])
        if not alerts:
            return format_html('<span class="tend-muted">{}</span>', "None open.")
        alert_admin = self.admin_site._registry[ChurnAlert]
        return format_html_join(
            "",
            '<div class="tend-open-alert"><a href="{}">{} on {}</a>: {} {}</div>',
            (
                (
                    reverse("admin:csm_churnalert_change", args=[a.pk]),
                    a.get_reason_display(),
                    date_format(a.raised_on, "j M Y"),
                    a.explanation,
                    alert_admin.one_click_button(a, "acknowledge", primary=True),
                )
                for a in alerts
            ),
        )

    @admin.display(description="Score now")
    def rescan_button(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        return self.one_click_button(obj, "rescan")

    @one_click("Re-score now")
    def do_rescan(self, request, obj):
        try:
            run = enqueue(
                "csm", "health_scan", {"account_ids": [obj.pk]},
                trigger=AgentRun.Trigger.ADMIN, requested_by=request.user,
            )  # fmt: skip
        except AgentError as exc:
            raise ActionRefused(str(exc)) from exc
        return f"Queued health scan run {run.pk} for {obj}."

    @admin.display(description="What moved the score")
    def score_movement(self, obj):
        recent = self._recent_scores(obj)
        if len(recent) < 2:
            return "Needs two scores to compare."
        current, previous = recent[0], recent[1]
        return render_to_string(
            "admin/csm/account/score_movement.html",
            {
                "current": current,
                "previous": previous,
                "delta": round(current.score - previous.score, 2),
                "moves": engine.movement(previous.breakdown, current.breakdown),
            },
        )

    @admin.display(description=f"Health history (last {HISTORY_DAYS_SHOWN} scores)")
    def health_history(self, obj):
        recent = self._recent_scores(obj)
        if not recent:
            return "Not scored yet."
        rows = [
            {
                "score": s,
                "badge": rag_badge(s.rag),
                "delta": None if i + 1 >= len(recent) else round(s.score - recent[i + 1].score, 2),
            }
            for i, s in enumerate(recent)
        ]
        return render_to_string("admin/csm/account/health_history.html", {"rows": rows})

    @admin.action(description="Re-score selected accounts now")
    def rescore(self, request, queryset):
        ids = list(queryset.values_list("pk", flat=True)[:10_000])
        try:
            run = enqueue(
                "csm",
                "health_scan",
                {"account_ids": ids},
                trigger=AgentRun.Trigger.ADMIN,
                requested_by=request.user,
            )
        except AgentError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        self.message_user(
            request, f"Queued health scan run {run.pk} for {len(ids)} account(s).", messages.SUCCESS
        )


@admin.register(HealthScore)
class HealthScoreAdmin(admin.ModelAdmin):
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

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if sees_everything(request.user):
            return qs
        return qs.filter(account__owner=request.user)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

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
            label=group.replace("_", " ").capitalize(),
            min_value=0,
            help_text=f"Maximum points (SCORING.md default: {engine.BASE_MAX[group]}).",
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
    readonly_fields = ("version", "is_active", "created_at", "created_by")

    def get_fieldsets(self, request, obj=None):
        weights = tuple(f"weight_{g}" for g in engine.GROUPS)
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
        if not self.can_backtest(request):
            raise PermissionDenied
        try:
            horizon = min(max(int(request.GET.get("horizon", 90)), 0), 365)
        except ValueError:
            horizon = 90
        profile = None
        if pk is not None:
            profile = ScoringProfile.objects.filter(pk=pk).first()
            if profile is None:
                raise Http404("No such profile version.")
        report = backtest(horizon=horizon, profile=profile)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Backtest: {report.source}",
            "report": report,
            "profile": profile,
            "horizon": horizon,
            "horizons": (30, 60, 90, 120, 180),
            **backtest_charts(report),
        }
        return TemplateResponse(request, "admin/csm/scoringprofile/backtest.html", context)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if request.method == "POST" and "_preview" in request.POST:
            response = self._preview(request, object_id)
            if response is not None:
                return response
        extra_context = {**(extra_context or {}), "can_backtest": self.can_backtest(request)}
        return super().changeform_view(request, object_id, form_url, extra_context)

    def _preview(self, request, object_id):
        """The what-if: the unsaved settings against today's book and the backtest. Writes nothing."""
        obj = self.get_object(request, object_id) if object_id else None
        if object_id and obj is None:
            return None
        if not (self.has_change_permission(request, obj) if obj else self.has_add_permission(request)):
            raise PermissionDenied
        form = self.get_form(request, obj, change=obj is not None)(request.POST, instance=obj)
        if not form.is_valid():
            return None  # the normal page shows the errors (and saves nothing: the form is invalid)
        candidate = form.save(commit=False)
        engine = candidate.to_profile()
        current = ScoringProfile.objects.active().filter(segment=candidate.segment).first()
        effect = preview(engine, candidate.segment)
        reports = {}
        if self.can_backtest(request):
            reports = {
                "now": backtest(profile=current) if current else None,
                "new": backtest(engine=engine, segment=candidate.segment, label="the new settings"),
            }
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "What this change would do",
            "original": obj,
            "candidate": candidate,
            "current": current,
            "effect": effect,
            "reports": reports,
            "fields": [
                (k, v) for k, values in request.POST.lists() for v in values if k not in ("_preview",)
            ],
        }
        return TemplateResponse(request, "admin/csm/scoringprofile/preview.html", context)

    def save_model(self, request, obj, form, change):
        # Never edit a version in place: scores made with it must keep its settings.
        publish_version(obj, user=request.user)
        self.message_user(
            request,
            f"Saved as {obj}; it now scores its segment from the next scan.",
            messages.INFO,
        )

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ExpansionOpportunity)
class ExpansionOpportunityAdmin(OneClickActionsMixin, admin.ModelAdmin):
    list_display = (
        "account",
        "kind",
        "decide",
        "estimated_arr_impact",
        "status",
        "draft_status",
        "created_by",
        "created_at",
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
    )
    fields = ("account", "kind", "addon", "estimated_arr_impact", "summary", "talk_track", *readonly_fields)

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if sees_everything(request.user):
            return qs
        return qs.filter(account__owner=request.user)

    def get_readonly_fields(self, request, obj=None):
        if obj is not None:  # the finding itself is history; its status moves by the actions
            return (*self.readonly_fields, "account", "kind", "addon")
        return self.readonly_fields

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "account":
            kwargs["queryset"] = Account.objects.visible_to(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user.get_username()
        try:
            with transaction.atomic():
                super().save_model(request, obj, form, change)
        except IntegrityError:
            self.message_user(
                request, "This account already has an open opportunity of that kind.", messages.ERROR
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
                '<span class="tend-muted">{} by {} on {}</span>',
                obj.get_status_display(),
                obj.closed_by or "someone",
                date_format(timezone.localtime(obj.closed_at), "j M Y") if obj.closed_at else "?",
            )
        return format_html_join(
            "", "{}", ((self.one_click_button(obj, a),) for a in ("won", "lost", "dismiss"))
        )

    def _decide(self, request, obj, status):
        if obj.status not in OPEN_STATUSES:
            raise ActionRefused(f"{obj} is already {obj.get_status_display().lower()}.")
        close(obj, status, user=request.user)
        return f"{obj}: marked {obj.get_status_display().lower()}."

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
        for opportunity in queryset:
            close(opportunity, status, user=request.user)
        self.message_user(request, f"Marked {queryset.count()} opportunit(ies) {status}.", messages.SUCCESS)

    @admin.action(description="Mark won")
    def mark_won(self, request, queryset):
        self._close(request, queryset, ExpansionOpportunity.Status.WON)

    @admin.action(description="Mark lost")
    def mark_lost(self, request, queryset):
        self._close(request, queryset, ExpansionOpportunity.Status.LOST)

    @admin.action(description="Dismiss")
    def dismiss(self, request, queryset):
        self._close(request, queryset, ExpansionOpportunity.Status.DISMISSED)


def _has_draft(opportunity) -> bool:
    try:
        opportunity.draft  # noqa: B018 - the reverse one-to-one raises when missing
    except ObjectDoesNotExist:
        return False
    return True


@admin.register(AddOn)
class AddOnAdmin(admin.ModelAdmin):
    list_display = ("name", "key", "kind", "price_per_seat", "flat_price", "order")
    list_filter = ("kind",)


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = ("name", "seat_price")
    filter_horizontal = ("included",)


class AlertStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("open", "Open"), ("acknowledged", "Acknowledged"), ("snoozed", "Snoozed")]

    def queryset(self, request, queryset):
        today = timezone.localdate()
        awake = Q(snoozed_until__isnull=True) | Q(snoozed_until__lte=today)
        if self.value() == "open":
            return queryset.filter(awake, acknowledged_at__isnull=True)
        if self.value() == "acknowledged":
            return queryset.filter(acknowledged_at__isnull=False)
        if self.value() == "snoozed":
            return queryset.filter(acknowledged_at__isnull=True, snoozed_until__gt=today)
        return queryset


class AlertDeliveryInline(admin.TabularInline):
    model = AlertDelivery
    extra = 0
    can_delete = False
    fields = (
        "channel",
        "status",
        "attempts",
        "error",
        "external_id",
        "delivered_at",
        "next_retry_at",
        "retry",
    )
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description="Retry")
    def retry(self, obj):
        return self.admin_site._registry[AlertDelivery].retry_button(obj)


@admin.register(ChurnAlert)
class ChurnAlertAdmin(OneClickActionsMixin, admin.ModelAdmin):
    list_display = ("account_link", "review", "reason", "change", "rag_display", "churn_risk", "arr",
                    "raised_at", "deliveries_summary")  # fmt: skip
    list_filter = (AlertStateFilter, "reason", "held_back", "raised_on")
    search_fields = ("account__name", "account__external_id")
    list_select_related = ("account",)
    show_full_result_count = False
    actions = ["acknowledge_alerts", "snooze_week"]
    inlines = [AlertDeliveryInline]
    fields = ("account_link", "explanation", ("score", "previous_score", "rag", "churn_risk"), "reasons",
              ("arr", "renewal_date"), ("raised_at", "held_back"), ("acknowledged_at", "acknowledged_by"),
              "snoozed_until", "review")  # fmt: skip
    readonly_fields = (
        "account_link", "explanation", "score", "previous_score", "rag", "churn_risk", "reasons", "arr",
        "renewal_date", "raised_at", "held_back", "acknowledged_at", "acknowledged_by", "snoozed_until",
        "review",
    )  # fmt: skip

    def get_queryset(self, request):
        qs = (
            super()
            .get_queryset(request)
            .select_related("account", "acknowledged_by")
            .prefetch_related("deliveries")
        )
        return qs if sees_everything(request.user) else qs.filter(account__owner=request.user)

    @admin.display(description="Review")
    def review(self, obj):
        if obj.acknowledged_at is not None:
            return format_html(
                '<span class="tend-muted">Acknowledged by {} on {}</span>',
                obj.acknowledged_by or "someone",
                date_format(timezone.localtime(obj.acknowledged_at), "j M Y H:i"),
            )
        return self.one_click_button(obj, "acknowledge", primary=True)

    @one_click("Acknowledge")
    def do_acknowledge(self, request, obj):
        if obj.acknowledged_at is not None:
            raise ActionRefused(f"Already acknowledged by {obj.acknowledged_by or 'someone'}.")
        acknowledge(obj, request.user)
        return f"Acknowledged the alert on {obj.account}."

    def changelist_view(self, request, extra_context=None):
        # A CSM's morning view: open alerts first.
        if "state" not in request.GET and not request.GET.get("_changelist_filters"):
            query = request.GET.copy()
            query["state"] = "open"
            request.GET = query
            request.META["QUERY_STRING"] = query.urlencode()
        return super().changelist_view(request, extra_context)

    def has_add_permission(self, request):
        return False

    @admin.display(description="Account", ordering="account__name")
    def account_link(self, obj):
        url = reverse("admin:csm_account_change", args=[obj.account_id])
        return format_html('<a href="{}">{}</a>', url, obj.account)

    @admin.display(description="Score")
    def change(self, obj):
        if obj.previous_score is None:
            return f"{obj.score:.1f}"
        return f"{obj.previous_score:.1f} → {obj.score:.1f}"

    @admin.display(description="RAG", ordering="rag")
    def rag_display(self, obj):
        return rag_badge(obj.rag)

    @admin.display(description="Deliveries")
    def deliveries_summary(self, obj):
        return ", ".join(f"{d.channel}: {d.status}" for d in obj.deliveries.all()) or "—"

    @admin.action(description="Acknowledge")
    def acknowledge_alerts(self, request, queryset):
        for alert in queryset:
            acknowledge(alert, request.user)
        self.message_user(request, f"Acknowledged {queryset.count()} alert(s).", messages.SUCCESS)

    @admin.action(description="Snooze for a week")
    def snooze_week(self, request, queryset):
        for alert in queryset:
            snooze(alert, 7)
        self.message_user(request, f"Snoozed {queryset.count()} alert(s) for 7 days.", messages.SUCCESS)


@admin.register(AlertDelivery)
class AlertDeliveryAdmin(OneClickActionsMixin, admin.ModelAdmin):
    list_display = ("alert", "channel", "status", "attempts", "error", "next_retry_at", "delivered_at",
                    "retry_button")  # fmt: skip
    list_filter = ("status", "channel")
    list_select_related = ("alert__account", "retried_by")
    show_full_result_count = False
    actions = ["retry"]
    readonly_fields = ("alert", "channel", "status", "attempts", "error", "external_id", "next_retry_at",
                       "delivered_at", "retried_at", "retried_by", "retry_button")  # fmt: skip

    @admin.display(description="Retry")
    def retry_button(self, obj):
        if obj is None or obj.status != AlertDelivery.Status.FAILED:
            return format_html(
                '<span class="tend-muted">{}</span>',
                f"Retried by {obj.retried_by} on {date_format(timezone.localtime(obj.retried_at), 'j M H:i')}"
                if obj and obj.retried_at
                else "—",
            )
        return self.one_click_button(obj, "retry")

    @one_click("Retry now")
    def do_retry(self, request, obj):
        if obj.status != AlertDelivery.Status.FAILED:
            raise ActionRefused(f"{obj} has not failed; only failed deliveries are retried.")
        return f"Retried {obj.get_channel_display()} for {obj.alert.account}: {retry_now(obj, request.user)}."

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        return qs if sees_everything(request.user) else qs.filter(alert__account__owner=request.user)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Retry the selected failed deliveries now")
    def retry(self, request, queryset):
        outcomes = [retry_now(d, request.user) for d in queryset.filter(status=AlertDelivery.Status.FAILED)]
        self.message_user(request, f"Retried {len(outcomes)}: {', '.join(outcomes) or 'nothing failed'}.")


@admin.register(QBRDue)
class QBRDueAdmin(admin.ModelAdmin):
    list_display = ("account", "contract_end", "due_on", "fulfilled_at")
    show_full_result_count = False
    list_filter = ("fulfilled_at",)
    date_hierarchy = "due_on"
    list_select_related = ("account",)
    readonly_fields = ("account", "contract_end", "due_on", "created_at", "fulfilled_at")

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        return qs if sees_everything(request.user) else qs.filter(account__owner=request.user)

    def has_add_permission(self, request):
        return False


@admin.register(Feature)
class FeatureAdmin(admin.ModelAdmin):
    list_display = ("name", "key", "module")
    list_filter = ("module",)
    search_fields = ("name", "key")


def trend_chart(trend: list) -> str:
    """The quarter's daily scores (as stored in the QBR: [iso day, score]) over the RAG bands."""
    if not trend:
        return "No scores in this quarter yet."
    return charts.health_trend([(date.fromisoformat(str(day)), score) for day, score in trend], height=150)


@admin.register(QBR)
class QBRAdmin(OneClickActionsMixin, admin.ModelAdmin):
    list_display = ("account", "quarter", "trigger", "status", "generated_at", "markdown_link")
    list_filter = ("quarter", "trigger", "status")
    search_fields = ("account__name", "account__external_id")
    list_select_related = ("account",)
    show_full_result_count = False
    actions = ["regenerate"]
    fields = ("account", "quarter", "trigger", "status", "generated_at",
              ("markdown_link", "regenerate_button"), "document")  # fmt: skip
    readonly_fields = ("account", "quarter", "trigger", "status", "generated_at", "markdown_link",
                       "regenerate_button", "document")  # fmt: skip

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        return qs if sees_everything(request.user) else qs.filter(account__owner=request.user)

    @admin.display(description="Write again")
    def regenerate_button(self, obj):
        return self.one_click_button(obj, "regenerate")

    @one_click("Regenerate from today's data", permission="view")
    def do_regenerate(self, request, obj):
        payload = {"account_ids": [obj.account_id], "quarter": obj.quarter, "trigger": "manual"}
        run = enqueue(
            "csm", "generate_qbr", payload, trigger=AgentRun.Trigger.ADMIN, requested_by=request.user
        )
        return f"Queued run {run.pk} to write the {obj.quarter} QBR for {obj.account} again."

    def get_urls(self):
        return [
            path(
                "<int:pk>/markdown/", self.admin_site.admin_view(self.markdown_view), name="csm_qbr_markdown"
            ),
            *super().get_urls(),
        ]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def markdown_view(self, request, pk):
        qbr = self.get_queryset(request).filter(pk=pk).select_related("account").first()
        if qbr is None:
            raise PermissionDenied
        response = HttpResponse(render_qbr_markdown(qbr), content_type="text/markdown; charset=utf-8")
        filename = f"QBR {qbr.account.name} {qbr.quarter}.md".replace('"', "")
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response

    @admin.display(description="Markdown")
    def markdown_link(self, obj):
        return format_html('<a href="{}">Download</a>', reverse("admin:csm_qbr_markdown", args=[obj.pk]))

    @admin.display(description="The review")
    def document(self, obj):
        return render_to_string(
            "admin/csm/qbr/document.html",
            {
                "qbr": obj,
                "s": obj.sections,
                "chart": trend_chart(obj.sections.get("health_summary", {}).get("trend", [])),
            },
        )

    @admin.action(description="Regenerate from today's data")
    def regenerate(self, request, queryset):
        for quarter in sorted(set(queryset.values_list("quarter", flat=True))):
            ids = list(queryset.filter(quarter=quarter).values_list("account_id", flat=True))
            enqueue(
                "csm", "generate_qbr", {"account_ids": ids, "quarter": quarter, "trigger": "manual"},
                trigger=AgentRun.Trigger.ADMIN, requested_by=request.user,
            )  # fmt: skip
        self.message_user(request, "Queued the selected QBRs to be written again.", messages.SUCCESS)


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
class RenewalOutcomeAdmin(admin.ModelAdmin):
    list_display = ("account", "renewal_date", "outcome", "arr_before", "arr_after", "lost", "source_label")
    list_filter = ("outcome", "synthetic", "source", ("renewal_date", admin.DateFieldListFilter))
    search_fields = ("account__name", "account__external_id")
    list_select_related = ("account",)
    show_full_result_count = False
    fields = ("account", "renewal_date", "outcome", "arr_before", "arr_after", "source", "synthetic")
    readonly_fields = ("source", "synthetic")

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        return qs if sees_everything(request.user) else qs.filter(account__owner=request.user)

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
