"""Finding expansion opportunities across the book, and changing their status.

`check_expansion` reads healthy accounts in batches (one query for accounts
with their inputs, one for their add-ons, one for their open opportunities),
applies the rules of csm.expansion, keeps the best few by ARR impact, and
creates those. Each creation fires post_save, which is how the Sales agent
hears about it (sales/signals.py); csm never calls sales.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone

from agents_core.batches import key_ranges
from csm.accounts.catalogue import addons_between, owned, plan_terms, terms_for
from csm.expansion.rules import (
    CALM_CHURN,
    HEALTHY_RAGS,
    AccountFacts,
    Finding,
    Offer,
    find_opportunities,
    goodness,
)
from csm.models import OPEN_STATUSES, Account, AddOn, ExpansionOpportunity

MAX_NEW_PER_RUN = 5
BATCH_SIZE = 2000
AGENT_NAME = "csm agent"

_FIELDS = (
    "pk",
    "rag",
    "churn_risk",
    "arr",
    "seats_purchased",
    "seats_used",
    "plan",
    # Joined on the batch's id range too (AccountQuerySet.between).
    "batch_signals__usage_trend",
    "batch_signals__feature_adoption_rate",
    "batch_signals__stakeholder_engagement",
)


def catalogue() -> list[Offer]:
    return [
        Offer(a.key, a.name, a.kind, a.price_per_seat, a.flat_price)
        for a in AddOn.objects.order_by("order", "key")
    ]


def _batches(account_ids: Sequence[int] | None):
    """(first id, last id, healthy accounts in between), a bounded read at any depth."""
    healthy = Account.objects.scannable().filter(rag__in=HEALTHY_RAGS, churn_risk__in=CALM_CHURN)

    def between(first: int, last: int):
        return healthy.between(first, last).order_by("pk").values_list(*_FIELDS)

    if account_ids is not None:
        ids = sorted(set(account_ids))
        for start in range(0, len(ids), BATCH_SIZE):
            chunk = ids[start : start + BATCH_SIZE]
            yield chunk[0], chunk[-1], list(between(chunk[0], chunk[-1]).filter(pk__in=chunk))
        return
    keys = Account.objects.scannable().order_by("pk").values_list("pk", flat=True).iterator(chunk_size=10_000)
    for first, last, _count in key_ranges(keys, BATCH_SIZE):
        # Bounded by the id range: with only `pk > last` and a LIMIT, SQLite
        # reads the book through the churn-risk index and sorts it, every batch.
        yield first, last, list(between(first, last))


def find_in_book(account_ids: Sequence[int] | None = None, *, limit: int) -> tuple[list[Finding], int, int]:
    """The `limit` best new findings (highest ARR impact first), accounts checked, and all candidates.

    Memory stays flat: only the best `limit` findings are kept as the book is read.
    """
    offers, plans = catalogue(), plan_terms()
    top: list[tuple] = []
    checked = candidates = 0
    for first, last, rows in _batches(account_ids):
        if not rows:
            continue
        checked += len(rows)
        # By id range, not a list of ids: the same rows that matter, without
        # the ORM preparing 2,000 parameters per query.
        bought = addons_between(first, last)
        open_pairs = set(
            ExpansionOpportunity.objects.filter(
                account_id__gte=first, account_id__lte=last, status__in=OPEN_STATUSES
            ).values_list("account_id", "kind")
        )
        for pk, rag, churn, arr, purchased, used, plan, trend, adoption, engagement in rows:
            terms = terms_for(plans, plan)
            facts = AccountFacts(
                id=pk,
                rag=rag,
                churn_risk=churn,
                arr=arr,
                seats_purchased=purchased,
                seats_used=used,
                plan_seat_price=terms.seat_price,
                usage_trend=trend or None,
                feature_adoption_rate=adoption,
                stakeholder_engagement=engagement or None,
                owned=owned(plans, plan, bought.get(pk, ())),
            )
            for finding in find_opportunities(facts, offers):
                if (pk, finding.kind) in open_pairs:
                    continue
                candidates += 1
                entry = (goodness(finding), finding)  # the heap's top is the worst kept
                if len(top) < limit:
                    heapq.heappush(top, entry)
                elif entry[0] > top[0][0]:
                    heapq.heapreplace(top, entry)
    return [finding for _g, finding in sorted(top, key=lambda e: e[0], reverse=True)], checked, candidates


def talk_track(opportunity: ExpansionOpportunity) -> str:
    """The rep's internal guidance, from templates/csm/talk_tracks/<kind>.txt."""
    return render_to_string(
        f"csm/talk_tracks/{opportunity.kind}.txt",
        {"opportunity": opportunity, "account": opportunity.account, "evidence": opportunity.evidence},
        using="text",
    ).strip()


def create_opportunity(
    finding: Finding, *, created_by: str = AGENT_NAME, run=None
) -> ExpansionOpportunity | None:
    """Create one opportunity, or None if an open one of the kind exists (the database says so)."""
    addon = AddOn.objects.filter(key=finding.addon_key).first() if finding.addon_key else None
    opportunity = ExpansionOpportunity(
        account_id=finding.account_id,
        kind=finding.kind,
        addon=addon,
        evidence=finding.evidence,
        summary=finding.summary,
        estimated_arr_impact=finding.impact,
        created_by=created_by,
        created_by_run=run,
    )
    opportunity.talk_track = talk_track(opportunity)
    try:
        with transaction.atomic():
            opportunity.save()
    except IntegrityError:
        return None
    return opportunity


def check_expansion(
    account_ids: Sequence[int] | None = None, *, run=None, limit: int = MAX_NEW_PER_RUN
) -> dict[str, Any]:
    findings, checked, candidates = find_in_book(account_ids, limit=limit)
    created = [o for o in (create_opportunity(f, run=run) for f in findings) if o is not None]
    return {
        "accounts_checked": checked,
        "candidates": candidates,
        "created": [o.pk for o in created],
        "created_arr_impact": str(sum((o.estimated_arr_impact for o in created), Decimal("0"))),
        "waiting": candidates - len(created),
    }


class OpenOpportunityExists(Exception):
    """The account already has an open opportunity of this kind (one at a time)."""

    def __init__(self) -> None:
        super().__init__("This account already has an open opportunity of this kind.")


def open_opportunity(opportunity: ExpansionOpportunity, *, created_by: str) -> ExpansionOpportunity:
    """Save an opportunity a person recorded (admin, API).

    One open opportunity per account and kind: the database's constraint
    decides, so two people saving at once cannot both win. Raises
    OpenOpportunityExists when it refuses.
    """
    opportunity.created_by = created_by
    try:
        with transaction.atomic():
            opportunity.save()
    except IntegrityError:
        raise OpenOpportunityExists from None
    return opportunity


# A decision can be taken back for this long (the admin's Undo).
UNDO_WINDOW = timedelta(days=1)


class CannotUndo(Exception):
    """The decision is not one this user can take back now; the message says why."""


def close(
    opportunity: ExpansionOpportunity, status: str, *, user=None, reason: str = ""
) -> ExpansionOpportunity:
    """Mark won, lost or dismissed (recording who, when and why), or reopen.

    Reopening while another open opportunity of the kind exists raises
    OpenOpportunityExists and changes nothing.
    """
    was = opportunity.status
    opportunity.status = status
    if status in OPEN_STATUSES:
        opportunity.closed_at, opportunity.closed_by = None, None
        opportunity.close_reason, opportunity.closed_from = "", ""
    else:
        opportunity.closed_at, opportunity.closed_by = timezone.now(), user
        opportunity.close_reason = " ".join(reason.split())[:500]
        if was in OPEN_STATUSES:
            opportunity.closed_from = was
    try:
        with transaction.atomic():
            opportunity.save(
                update_fields=[
                    "status",
                    "closed_at",
                    "closed_by",
                    "close_reason",
                    "closed_from",
                    "updated_at",
                ]
            )
    except IntegrityError:
        raise OpenOpportunityExists from None
    return opportunity


def can_undo(opportunity: ExpansionOpportunity, *, now=None) -> bool:
    """Closed within UNDO_WINDOW: the decision may still be taken back."""
    now = now or timezone.now()
    return (
        opportunity.status not in OPEN_STATUSES
        and opportunity.closed_at is not None
        and now - opportunity.closed_at <= UNDO_WINDOW
    )


def undo_close(opportunity: ExpansionOpportunity, *, user) -> ExpansionOpportunity:
    """Put a decision taken in the last day back: the opportunity is open (or drafted) again."""
    if not can_undo(opportunity):
        raise CannotUndo(
            f"{opportunity} was {opportunity.get_status_display().lower()} more than a day ago; "
            "record a new opportunity instead."
        )
    return close(opportunity, opportunity.closed_from or ExpansionOpportunity.Status.OPEN, user=user)
