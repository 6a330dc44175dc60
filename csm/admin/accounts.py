"""Accounts: the book list (filters, sparklines), the account page, CSV import and re-score."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote as quote_url

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Exists, OuterRef, Q
from django.http import Http404, HttpResponse
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.text import smart_split, unescape_string_literal

from agents_core import audit
from agents_core.admin_mixins import ActionRefused, OneClickActionsMixin, VisibleToUserAdminMixin, one_click
from agents_core.agents import AgentError
from agents_core.dispatch import enqueue
from agents_core.models import AgentRun
from agents_core.visibility import sees_everything
from csm.accounts import search as account_search
from csm.accounts.validators import notion_page_id
from csm.admin import charts
from csm.admin.crm import ContactInline
from csm.admin.display import money_column, rag_badge
from csm.admin.filters import in_book_filter
from csm.admin.outcomes import OutcomeGoalInline, RenewalOutcomeInline
from csm.adoption.tracking import scorecard
from csm.contacts.champions import refresh_champions
from csm.ingest.crm_csv import import_accounts
from csm.models import Account, AccountSignals, ChurnAlert, Contact, HealthScore
from csm.scoring import engine
from csm.scoring.inputs import stamp_sources
from csm.scoring.on_change import rescore_soon
from csm.scoring.scan import score_problems
from csm.timeline.brief import account_brief
from csm.timeline.selectors import timeline as account_timeline

HISTORY_DAYS_SHOWN = 30
USAGE_WEEKS = 12
# The list's "Why" stays a few lines long; the whole line is its tooltip and on the account page.
WHY_SHOWN = 110
# Re-scoring this many accounts or fewer happens in the request, so the page can say how it went.
RESCORE_NOW_LIMIT = 50
CHART_DAYS = 180
SPARKLINE_DAYS = 30


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
            ("unscored", "Not scored (could not be, or not since the last daily scan)"),
        ]

    def queryset(self, request, queryset):
        from csm.accounts.selectors import AT_RISK, WEAK

        if self.value() == "weak":
            return queryset.filter(WEAK)
        if self.value() == "at_risk":
            return queryset.filter(AT_RISK)
        if self.value() == "unscored":
            from csm.accounts.selectors import not_scored
            from csm.scoring.scan import last_daily_scan_start

            return not_scored(queryset, now=timezone.now(), last_scan=last_daily_scan_start())
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
    """Owners among the accounts the user may see (a CSM sees only themselves).

    Asked per user ("owns a visible account?", one index probe each), not as the distinct owners
    of every visible account, which reads the whole book."""

    def field_choices(self, field, request, model_admin):
        owns = model_admin.get_queryset(request).filter(owner=OuterRef("pk"))
        ordering = self.field_admin_ordering(field, request, model_admin)
        return field.get_choices(include_blank=False, ordering=ordering, limit_choices_to=Q(Exists(owns)))


class AccountImportForm(forms.Form):
    file = forms.FileField(help_text="A CSV export from your CRM, UTF-8, with a header row.")
    dry_run = forms.BooleanField(
        required=False, initial=True, help_text="Check the file and show what would change; write nothing."
    )

    def clean_file(self):
        file = self.cleaned_data["file"]
        limit = settings.TEND_MAX_UPLOAD_BYTES
        if file.size > limit:
            raise ValidationError(
                f"The file is larger than {limit // (1024 * 1024)} MB; "
                "split it, or use manage.py import_accounts."
            )
        return file


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
class AccountAdmin(VisibleToUserAdminMixin, OneClickActionsMixin, admin.ModelAdmin):
    list_display = (
        "account",
        "owner",
        "health",
        "trend",
        "churn_risk",
        "renewal_date",
        money_column("arr", "ARR"),
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
        in_book_filter(),
    )
    search_fields = account_search.FIELDS
    list_select_related = ("owner",)
    list_per_page = 50
    # Counting every row again for the "x of y" line is expensive on a large book.
    show_full_result_count = False
    actions = ["rescore"]
    inlines = [AccountSignalsInline]

    def get_inlines(self, request, obj):
        return [AccountSignalsInline, ContactInline, OutcomeGoalInline, RenewalOutcomeInline]

    def get_search_results(self, request, queryset, search_term):
        """The admin's terms, split and unquoted as Django splits them, looked up by
        csm.accounts.search (an index of its own on SQLite)."""
        terms = [
            unescape_string_literal(term) if term[:1] in "\"'" and term[-1:] == term[:1] else term
            for term in smart_split(search_term)
        ]
        return account_search.matching(queryset, terms), False

    fieldsets = (
        (None, {"fields": ("name", "external_id", "owner", "segment", "plan", "status")}),
        (
            "Health",
            {
                "fields": (
                    ("health_score", "rag_display", "churn_risk", "churn_trigger"),
                    "score_explanation",
                    ("scored_at", "rescan_button", "qbr_button"),
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
        ("Feature adoption", {"fields": ("adoption_scorecard", "usage_chart")}),
        ("Timeline", {"fields": ("timeline_shown",)}),
        ("Daily scores", {"fields": ("health_history",), "classes": ("collapse",)}),
    )
    readonly_fields = (
        "health_score",
        "rag_display",
        "churn_risk",
        "churn_trigger",
        "scored_at",
        "rescan_button",
        "qbr_button",
        "score_explanation",
        "health_chart",
        "open_alerts",
        "score_movement",
        "health_history",
        "adoption_scorecard",
        "usage_chart",
        "timeline_shown",
    )

    def get_changelist(self, request, **kwargs):
        return SparklineChangeList

    @admin.display(description=f"Product usage (last {USAGE_WEEKS} weeks)")
    def usage_chart(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        today = timezone.localdate()
        start = today - timedelta(days=today.weekday() + 7 * (USAGE_WEEKS - 1))
        weeks: dict = {}
        for day, events, users in obj.usage_days.filter(day__gte=start).values_list(
            "day", "events", "active_users"
        ):
            week = day - timedelta(days=day.weekday())
            total = weeks.setdefault(week, [0, 0])
            total[0] += events
            total[1] = max(total[1], users)
        if not weeks:
            return "No usage events from the product yet (see Tracking sources)."
        rows = [(start + timedelta(weeks=i)) for i in range(USAGE_WEEKS)]
        return format_html(
            '{}<p class="tend-muted">Most active users in a day, by week: {}</p>',
            charts.bars(
                [(f"{week:%d %b}", weeks.get(week, [0, 0])[0], "#1a73e8") for week in rows],
                label="Events per week: "
                + ", ".join(f"{week:%d %b} {weeks.get(week, [0, 0])[0]}" for week in rows),
            ),
            ", ".join(f"{week:%d %b} {weeks.get(week, [0, 0])[1]}" for week in rows if week in weeks),
        )

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
            path("<int:pk>/brief/", self.admin_site.admin_view(self.brief_view), name="csm_account_brief"),
            *super().get_urls(),
        ]

    def brief_view(self, request, pk):
        """The account brief as a Markdown file, for whoever may see the account."""
        account = self.get_queryset(request).filter(pk=pk).first()
        if account is None:
            raise Http404("No such account, or not yours to see.")
        response = HttpResponse(account_brief(account), content_type="text/markdown; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="account-brief-{account.pk}.md"'
        return response

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
                audit.record(
                    audit.Action.IMPORT,
                    request=request,
                    target=form.cleaned_data["file"].name,
                    created=report.created,
                    updated=report.updated,
                )
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
            # A CSM cannot hand an account to someone else (and lose sight of it),
            # nor point it at a Notion page (alerts would be written there).
            fields += ["owner", "owner_name", "notion_page_id"]
        return fields

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if sees_everything(request.user):
            return fieldsets
        # Read-only, the owner would be a link to the user's admin page, which a CSM may not open.
        return [
            (
                name,
                {**options, "fields": tuple("owner_name" if f == "owner" else f for f in options["fields"])},
            )
            for name, options in fieldsets
        ]

    @admin.display(description="Owner")
    def owner_name(self, obj):
        owner = obj.owner if obj is not None else None
        if owner is None:
            return "Unassigned"
        name = owner.get_full_name() or owner.get_username()
        if owner.email:
            return format_html('{} (<a href="mailto:{}">{}</a>)', name, owner.email, owner.email)
        return name

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name == "notion_page_id" and field is not None:
            field.validators.append(notion_page_id)
        return field

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "owner":
            from django.contrib.auth import get_user_model

            kwargs["queryset"] = get_user_model().objects.filter(is_active=True, is_staff=True)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        if not change and obj.owner_id is None:
            obj.owner = request.user  # an account someone adds is theirs, else they could not see it
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        changed = not change or form.has_changed() or any(f.has_changed() for f in formsets)
        if changed:
            rescore_soon([form.instance.pk])  # scored within seconds, not at 07:00

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
        if formset.model is Contact:
            refresh_champions([form.instance.pk])

    def get_list_display(self, request):
        columns = super().get_list_display(request)
        if sees_everything(request.user):
            return columns
        return tuple(c for c in columns if c != "owner")  # a CSM's list is all theirs

    @admin.display(description="Account", ordering="name")
    def account(self, obj):
        return format_html('{}<div class="tend-muted">{}</div>', obj.name, obj.get_segment_display())

    @admin.display(description="Health", ordering="health_score")
    def health(self, obj):
        if obj.health_score is None:
            return rag_badge(obj.rag)
        return format_html(
            '{} <span class="tend-score">{}</span>', rag_badge(obj.rag), f"{obj.health_score:.1f}"
        )

    @admin.display(description="RAG", ordering="rag")
    def rag_display(self, obj):
        return rag_badge(obj.rag)

    @admin.display(description="Why")
    def why(self, obj):
        text = getattr(obj, "why", "") or "—"
        short = text if len(text) <= WHY_SHOWN else text[: WHY_SHOWN - 1].rsplit(" ", 1)[0] + "…"
        return format_html('<span class="tend-why" title="{}">{}</span>', text, short)

    @admin.display(description="Why this score")
    def score_explanation(self, obj):
        if obj is not None and obj.pk and obj.status not in (Account.Status.CHURNED, Account.Status.ARCHIVED):
            problem = score_problems([obj.pk]).get(obj.pk)
            if problem:
                return format_html(
                    '<p class="tend-problem" role="alert"><strong>Cannot be scored:</strong> {} '
                    "Correct the value and it is scored again within seconds.</p>",
                    problem,
                )
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

    @admin.display(description="QBR")
    def qbr_button(self, obj):
        if obj is None or obj.pk is None or obj.status in (Account.Status.CHURNED, Account.Status.ARCHIVED):
            return "—"
        latest = obj.qbrs.order_by("-generated_at").first()
        link = (
            format_html(
                '<a href="{}">{} QBR</a> ', reverse("admin:csm_qbr_change", args=[latest.pk]), latest.quarter
            )
            if latest
            else ""
        )
        return format_html("{}{}", link, self.one_click_button(obj, "generate_qbr"))

    @one_click("Generate QBR")
    def do_generate_qbr(self, request, obj):
        """Write (or rewrite) this quarter's QBR now, scoring the account first if it never was."""
        try:
            run = enqueue(
                "csm", "generate_qbr", {"account_ids": [obj.pk]},
                trigger=AgentRun.Trigger.ADMIN, requested_by=request.user, sync=True,
            )  # fmt: skip
        except AgentError as exc:
            raise ActionRefused(str(exc)) from exc
        run.refresh_from_db()
        if run.status != AgentRun.Status.SUCCEEDED:
            raise ActionRefused(
                f"Could not write the QBR (run {run.pk}): {run.error or run.get_status_display()}"
            )
        quarter = (run.result or {}).get("quarter", "")
        return f"Wrote the {quarter} QBR for {obj}: open it from the QBR field or the QBR list."

    @one_click("Re-score now")
    def do_rescan(self, request, obj):
        message, ok = self._rescore(request, [obj.pk])
        if not ok:
            raise ActionRefused(message)
        return message

    def _rescore(self, request, ids: list[int]) -> tuple[str, bool]:
        """Score these accounts now and say how it went; a large selection is queued instead."""
        now = len(ids) <= RESCORE_NOW_LIMIT
        try:
            run = enqueue(
                "csm", "health_scan", {"account_ids": ids},
                trigger=AgentRun.Trigger.ADMIN, requested_by=request.user, sync=True if now else None,
            )  # fmt: skip
        except AgentError as exc:
            raise ActionRefused(str(exc)) from exc
        run.refresh_from_db()
        if run.status == AgentRun.Status.FAILED:
            raise ActionRefused(f"Re-scoring failed (run {run.pk}): {run.error}")
        if run.status != AgentRun.Status.SUCCEEDED:
            return (
                f"Queued health scan run {run.pk} for {len(ids)} accounts; scores follow when it ends.",
                True,
            )
        result = run.result or {}
        return rescore_outcome(result, Account.objects.filter(pk__in=ids)), not result.get("failed")

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
    def timeline_shown(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        page = account_timeline(obj.pk)
        if not page.items:
            return "Nothing has happened yet."
        more = f"/api/v1/accounts/{obj.pk}/timeline/?before={quote_url(page.next)}" if page.next else ""
        brief = reverse("admin:csm_account_brief", args=[obj.pk])
        return render_to_string(
            "admin/csm/account/timeline.html", {"items": page.items, "more": more, "brief": brief}
        )

    timeline_shown.short_description = "Newest first"

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
            message, ok = self._rescore(request, ids)
        except ActionRefused as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        self.message_user(request, message, messages.SUCCESS if ok else messages.WARNING)


def rescore_outcome(result: dict, accounts) -> str:
    """What a finished re-score did, in a sentence: the new score (of one account), or the counts,
    and every account it could not score with the reason."""
    failures = result.get("failures") or []
    names = dict(
        accounts.filter(external_id__in=[f["external_id"] for f in failures]).values_list(
            "external_id", "name"
        )
    )
    failed = "; ".join(f"{names.get(f['external_id'], f['external_id'])}: {f['error']}" for f in failures)
    if result.get("scored", 0) == 0 and len(failures) == 1:
        return f"Could not score {failed}"
    if result.get("scored", 0) == 0 and not failures:
        return "Nothing to score: churned accounts are not scored."
    if len(accounts) == 1 and not failures:
        account = accounts[0]
        return (
            f"Scored {account}: {account.health_score:.1f} ({account.rag}), churn risk {account.churn_risk}."
        )
    text = f"Scored {result.get('scored', 0)} account(s)."
    if failures:
        text += f" Could not score {result.get('failed', len(failures))}: {failed}"
    return text
