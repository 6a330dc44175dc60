"""Quarterly business reviews, written from each account's data.

Four sections, each a dict of the numbers behind it (kept on the QBR, served
by the API, rendered in the admin and as Markdown):

* health_summary: score and RAG now, the quarter's daily trend, the groups
  that moved most from the quarter's first score to its last, churn risk and
  open alerts;
* roi: the customer's outcome goals with progress, seats, usage and support load;
* feature_adoption: the adoption scorecard against the segment, unused paid features;
* expansion_next_steps: open opportunities, recommended actions with owners
  and dates, and the renewal timeline.

Generating again for the same account and quarter updates that QBR.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from django.utils import timezone

from agents_core import fanout
from agents_core.batches import BatchOutcome, key_ranges
from agents_core.bulk import upsert_rows
from csm.adoption.tracking import ScorecardContext, scorecard
from csm.models import OPEN_STATUSES, QBR, Account, QBRDue
from csm.qbr import quarters
from csm.scoring import engine
from csm.scoring.scan import scan_health
from csm.timeline.brief import account_brief, account_briefs

BATCH_SIZE = 500
RENEWAL_HORIZON_DAYS = 120


def _health_summary(account: Account, start: date, end: date) -> dict[str, Any]:
    scores = list(
        account.health_scores.filter(scored_on__range=(start, end))
        .order_by("scored_on")
        .values("scored_on", "score", "rag", "breakdown")
    )
    first, last = (scores[0], scores[-1]) if scores else (None, None)
    alerts = account.alerts.filter(acknowledged_at__isnull=True).order_by("-raised_at")[:5]
    return {
        "score": account.health_score,
        "rag": account.rag or None,
        "churn_risk": account.churn_risk or None,
        "churn_trigger": account.churn_trigger or None,
        "trend": [[s["scored_on"].isoformat(), s["score"]] for s in scores],
        "quarter_start_score": first["score"] if first else None,
        "quarter_end_score": last["score"] if last else None,
        "change": round(last["score"] - first["score"], 2) if scores else None,
        "moved": [list(m) for m in engine.movement(first["breakdown"], last["breakdown"])[:3]]
        if scores
        else [],
        "open_alerts": [{"raised_on": a.raised_on.isoformat(), "explanation": a.explanation} for a in alerts],
    }


def _goal(goal) -> dict[str, Any]:
    return {
        "name": goal.name,
        "unit": goal.unit,
        "baseline": str(goal.baseline),
        "target": str(goal.target),
        "current": str(goal.current),
        "progress": goal.progress,
    }


def _roi(account: Account) -> dict[str, Any]:
    latest = account.health_scores.order_by("-scored_on").values("inputs").first()
    inputs = latest["inputs"] if latest else {}
    return {
        "goals": [_goal(g) for g in account.goals.all()],
        "seats_used": account.seats_used,
        "seats_purchased": account.seats_purchased,
        "seat_utilization": inputs.get("seats_utilization_rate"),
        "usage_trend": inputs.get("usage_trend"),
        "active_users_across_features": sum(u.active_users for u in account.feature_usage.all()) or None,
        "support": {
            "open_tickets": inputs.get("open_ticket_count"),
            "sentiment": inputs.get("avg_ticket_sentiment"),
            "escalations_90_days": inputs.get("escalation_count_90_days"),
        },
    }


def _feature_adoption(account: Account, today: date, context: ScorecardContext | None) -> dict[str, Any]:
    card = scorecard(account, today=today, context=context)
    return {
        "rate": card.rate,
        "segment_median": card.segment_median,
        "segment_percentile": card.segment_percentile,
        "features": [
            {**row, "last_used_on": row["last_used_on"].isoformat() if row["last_used_on"] else None}
            for row in card.features
        ],
        "unused_paid": card.unused_paid,
    }


def _next_steps(account: Account, health: dict, adoption: dict, today: date) -> dict[str, Any]:
    owner = (account.owner.get_full_name() or account.owner.get_username()) if account.owner else "unassigned"
    opportunities = [
        {
            "kind": o.kind,
            "summary": o.summary,
            "estimated_arr_impact": str(o.estimated_arr_impact),
            "status": o.status,
        }
        for o in account.opportunities.filter(status__in=OPEN_STATUSES).order_by("-estimated_arr_impact")
    ]
    actions = []

    def act(text: str, days: int) -> None:
        actions.append({"action": text, "owner": owner, "due": (today + timedelta(days=days)).isoformat()})

    if account.rag == "RED" or account.churn_risk in ("high", "critical"):
        act("Agree a recovery plan with the customer's executive sponsor.", 14)
    if health["open_alerts"]:
        act(
            f"Work through the {len(health['open_alerts'])} open churn alert(s); acknowledge them in Tend.",
            7,
        )
    if adoption["unused_paid"]:
        act(f"Run an enablement session on {', '.join(adoption['unused_paid'][:3])}.", 30)
    days_to_renewal = (account.renewal_date - today).days if account.renewal_date else None
    if days_to_renewal is not None and 0 <= days_to_renewal <= RENEWAL_HORIZON_DAYS:
        act(f"Start the renewal conversation (renewal on {account.renewal_date.isoformat()}).", 14)
    for opportunity in opportunities[:2]:
        act(f"Follow up on the {opportunity['kind']} expansion: {opportunity['summary']}", 21)
    if not actions:
        act("Keep the current cadence and review the goals again next quarter.", 90)
    return {
        "opportunities": opportunities,
        "actions": actions,
        "renewal": {
            "date": account.renewal_date.isoformat() if account.renewal_date else None,
            "days": days_to_renewal,
        },
    }


def build_sections(
    account: Account,
    quarter: str,
    *,
    today: date,
    context: ScorecardContext | None = None,
    brief: str | None = None,
) -> dict[str, Any]:
    start, end = quarters.bounds(quarter)
    health = _health_summary(account, start, min(end, today))
    adoption = _feature_adoption(account, today, context)
    return {
        "health_summary": health,
        "roi": _roi(account),
        "feature_adoption": adoption,
        "expansion_next_steps": _next_steps(account, health, adoption, today),
        # The account's story for whoever reads or presents the QBR (csm.timeline.brief).
        "account_brief": brief if brief is not None else account_brief(account, today=today),
    }


def _accounts(account_ids: list[int] | None):
    accounts = Account.objects.scannable()
    if account_ids is not None:
        accounts = accounts.filter(pk__in=account_ids)
    return accounts


def qbr_batch(context: Mapping[str, Any], first: int, last: int) -> BatchOutcome:
    """One batch of QBRs (the fan-out's handler): built here, written in the batch's transaction."""
    quarter, today = context["quarter"], date.fromisoformat(context["today"])
    accounts = list(
        _accounts(context.get("account_ids"))
        .filter(pk__gte=first, pk__lte=last)
        .select_related("owner")
        .prefetch_related("goals", "feature_usage")
        .order_by("pk")
    )
    scorecards = ScorecardContext.load()
    briefs = account_briefs(accounts, today=today)  # the batch's in a few queries, not a dozen each
    built = [
        (account, build_sections(account, quarter, today=today, context=scorecards, brief=briefs[account.pk]))
        for account in accounts
    ]
    existing = set(
        QBR.objects.filter(account__in=accounts, quarter=quarter).values_list("account_id", flat=True)
    )

    def write() -> None:
        now, new = timezone.now(), QBR.Status.GENERATED
        # New QBRs start as generated; a regenerated one keeps its status and Notion page.
        upsert_rows(
            QBR,
            ["account", "quarter", "sections", "generated_at", "generated_by_run", "trigger", "status",
             "notion_page_id", "notion_error"],
            [(a.pk, quarter, sections, now, context.get("run"), context["trigger"], new, "", "")
             for a, sections in built],
            conflict=["account", "quarter"],
            update=["sections", "generated_at", "generated_by_run", "trigger"],
        )  # fmt: skip

    return BatchOutcome({"created": len(built) - len(existing), "updated": len(existing)}, write)


def generate(
    *, quarter: str, trigger: str, account_ids: list[int] | None = None, run=None, today: date | None = None
) -> dict[str, Any]:
    """One QBR per account for the quarter: created, or updated if it exists.

    Within an agent `run` the batches fan out to the workers (agents_core.fanout).
    """
    quarters.bounds(quarter)  # ValueError for a bad quarter, before any work
    context = {
        "quarter": quarter,
        "trigger": trigger,
        "today": (today or timezone.localdate()).isoformat(),
        "run": run.pk if run is not None else None,
    }
    if account_ids is not None:
        context["account_ids"] = sorted(set(account_ids))
    # A QBR about an account nobody has scored yet (added since 07:00) would say
    # "not scored" beside signals that say otherwise: score those first.
    unscored = list(
        _accounts(account_ids).filter(scored_at__isnull=True).values_list("pk", flat=True)[:10_000]
    )
    if unscored:
        scan_health(account_ids=unscored, today=date.fromisoformat(context["today"]))
    keys = _accounts(account_ids).order_by("pk").values_list("pk", flat=True).iterator(chunk_size=10_000)
    ranges = key_ranges(keys, BATCH_SIZE)
    if run is None:
        results = fanout.run_locally(context, ranges, qbr_batch)
    else:
        results = fanout.run_batches(run, context, ranges, qbr_batch)
        context = run.context
    if context["trigger"] == QBR.Trigger.CONTRACT and context.get("account_ids"):
        QBRDue.objects.filter(account_id__in=context["account_ids"], fulfilled_at__isnull=True).update(
            fulfilled_at=timezone.now()
        )
    return {
        "quarter": context["quarter"],
        "created": sum(r["created"] for r in results),
        "updated": sum(r["updated"] for r in results),
    }
