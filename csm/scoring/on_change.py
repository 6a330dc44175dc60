"""Score accounts again soon after they change, not at 07:00 tomorrow.

Whatever writes an account or its scoring inputs (the admin, the API, a CSV
import, the Notion sync) calls `rescore_soon(ids)`. That records one
`RescoreRequest` per account (a later change moves its time on) and, once the
transaction commits, queues the `rescore_changed` task unless one is already
waiting. So a burst of changes becomes one run (debounced), and that run
scores every account waiting when it starts, in the scan's own batches.

A request is removed only once its account has been scored after the change
(its time is not later than the run's start), so a worker that dies half-way
loses nothing: the run is recovered, or the next change queues another, and
the scan replaces the day's row rather than adding one.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from agents_core.bulk import upsert_rows
from agents_core.models import AgentRun
from csm.models import RescoreRequest

AGENT, TASK = "csm", "rescore_changed"


def rescore_soon(account_ids: Iterable[int]) -> int:
    """Ask for these accounts to be scored again within seconds. Returns how many were asked for."""
    if not settings.TEND_RESCORE_ON_CHANGE:
        return 0
    ids = sorted({int(pk) for pk in account_ids if pk})
    if not ids:
        return 0
    now = timezone.now()
    for start in range(0, len(ids), 1000):
        upsert_rows(
            RescoreRequest,
            ["account", "requested_at"],
            [(pk, now) for pk in ids[start : start + 1000]],
            conflict=["account"],
            update=["requested_at"],
        )
    transaction.on_commit(queue_rescore)
    return len(ids)


def queue_rescore(cause: AgentRun | None = None) -> AgentRun | None:
    """Queue a `rescore_changed` run, unless one is already waiting (it will take the new requests)."""
    from agents_core.dispatch import enqueue_once

    if not RescoreRequest.objects.exists():
        return None
    return enqueue_once(AGENT, TASK, cause=cause)


def rescore_pending(run=None) -> dict[str, Any]:
    """Score the accounts waiting for it (at most TEND_RESCORE_MAX_ACCOUNTS), then let their requests go.

    More than that, or changes made while this ran, are taken by a follow-up run.
    """
    from csm.scoring.scan import scan_health

    if run is not None and run.context is not None:
        # Recovered after its worker died: finish what it planned, with the cut-off it planned with.
        ids = run.context.get("account_ids") or []
        started = datetime.fromisoformat(run.context["changed_until"])
    else:
        started = timezone.now()
        ids = list(
            RescoreRequest.objects.filter(requested_at__lte=started)
            .order_by("requested_at", "account_id")
            .values_list("account_id", flat=True)[: settings.TEND_RESCORE_MAX_ACCOUNTS]
        )
    if not ids:
        return {"accounts": 0}
    result = scan_health(account_ids=ids, run=run, extra_context={"changed_until": started.isoformat()})
    # Changed again while being scored: keep the request, the next run scores the newer values.
    for start in range(0, len(ids), 1000):
        RescoreRequest.objects.filter(
            account_id__in=ids[start : start + 1000], requested_at__lte=started
        ).delete()
    result["accounts"] = len(ids)
    if run is not None and (follow := queue_rescore(run)) is not None:
        result["followed_by"] = {TASK: follow.pk}
    return result
