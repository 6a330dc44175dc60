"""The Sales agent: outreach drafts for expansion opportunities."""

from __future__ import annotations

from typing import Any

from agents_core.agents import (
    Agent,
    InvalidPayload,
    NotVisible,
    Schedule,
    TaskType,
    for_managers_only,
    registry,
)
from csm.models import ExpansionOpportunity
from sales.drafting import deliver, due_for_retry, handle_opportunity


def clean_opportunity(payload: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(payload) - {"opportunity_id"})
    if unknown:
        raise InvalidPayload(f"unknown payload keys: {', '.join(unknown)}")
    value = payload.get("opportunity_id")
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise InvalidPayload("opportunity_id must be a positive opportunity id")
    return {"opportunity_id": value}


def visible_opportunity(payload: dict[str, Any], user) -> dict[str, Any]:
    visible = ExpansionOpportunity.objects.visible_to(user)
    if not visible.filter(pk=payload["opportunity_id"]).exists():
        raise NotVisible(f"No such opportunity: {payload['opportunity_id']}")
    return payload


def handle_expansion_opportunity(payload: dict[str, Any], run) -> dict[str, Any]:
    return handle_opportunity(payload["opportunity_id"], run=run)


def retry_drafts(payload: dict[str, Any], run) -> dict[str, Any]:
    results = [deliver(draft) for draft in due_for_retry()]
    return {"retried": len(results), "created": sum(r["status"] == "created" for r in results)}


agent = registry.register(
    Agent(
        id="sales",
        name="Sales agent",
        tasks={
            "handle_expansion_opportunity": TaskType(
                handle_expansion_opportunity,
                clean_payload=clean_opportunity,
                scope_payload=visible_opportunity,
                description="Write an opportunity's outreach email as a Gmail draft in the owner's mailbox.",
            ),
            "retry_drafts": TaskType(
                retry_drafts,
                description="Retry failed Gmail drafts whose backoff has passed (the whole book: managers).",
                scope_payload=for_managers_only,
            ),
        },
        schedules=[Schedule(name="sales.retry_drafts", task_type="retry_drafts", cron="*/5 * * * *")],
    )
)
