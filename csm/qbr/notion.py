"""Publishing a QBR to the Notion QBR database, as a page with the four sections as blocks.

Notion takes at most 100 child blocks per request and 2,000 characters per
rich text: the blocks are appended in batches and texts are cut to fit.
Creating a page and appending blocks are writes that Notion may have done
even when it answered 5xx, so they are not retried blindly; instead every
publish converges: it finds the QBR's page (by its stored id, or by title),
erases its content and writes it again. A failure is recorded on the QBR
(status and error) for a later publish; the QBR itself is never touched.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils import timezone

from agents_core.integrations.notion import NotionGateway, NotionUnavailable, notion_client
from csm.models import QBR

MAX_CHILDREN = 100
MAX_TEXT = 2000


def _text(content: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": {"content": content[:MAX_TEXT]}}]


def _block(kind: str, content: str) -> dict[str, Any]:
    return {"object": "block", "type": kind, kind: {"rich_text": _text(content)}}


def blocks(qbr: QBR) -> list[dict[str, Any]]:
    """The QBR as Notion blocks: a heading per section, then its facts."""
    s = qbr.sections
    h, r, f, n = s["health_summary"], s["roi"], s["feature_adoption"], s["expansion_next_steps"]
    out = [_block("heading_2", "Account Health Summary")]
    score = f"{h['score']:.1f}" if h.get("score") is not None else "not scored"
    out.append(
        _block(
            "paragraph", f"Score {score} ({h.get('rag') or '-'}), churn risk {h.get('churn_risk') or '-'}."
        )
    )
    if h.get("change") is not None:
        out.append(
            _block(
                "paragraph",
                f"Over the quarter: {h['change']:+.1f} points over {len(h['trend'])} daily scores.",
            )
        )
    out += [_block("bulleted_list_item", f"Moved most: {g} {p:+.1f}") for g, p in h.get("moved", [])]
    out += [
        _block("bulleted_list_item", f"Alert {a['raised_on']}: {a['explanation']}")
        for a in h.get("open_alerts", [])
    ]

    out.append(_block("heading_2", "ROI & Business Impact"))
    out += [
        _block(
            "bulleted_list_item",
            f"{g['name']}: {g['current']}{g['unit']} (from {g['baseline']}, target {g['target']})",
        )
        for g in r.get("goals", [])
    ]
    out.append(
        _block("bulleted_list_item", f"Seats: {r.get('seats_used')} of {r.get('seats_purchased')} in use.")
    )
    support = r.get("support") or {}
    out.append(
        _block("bulleted_list_item", f"Support: {support.get('open_tickets') or 0} open tickets, "
               f"sentiment {support.get('sentiment') or '-'}.")
    )  # fmt: skip

    out.append(_block("heading_2", "Feature Adoption Scorecard"))
    if f.get("rate") is not None:
        out.append(_block("paragraph", f"Adoption {f['rate']:.0%}."))
    for row in f.get("features", []):
        state = "adopted" if row["adopted"] else "not adopted"
        line = f"{row['feature']} ({row['module']}): {state}, {row['active_users']} active users"
        out.append(_block("bulleted_list_item", line))
    if f.get("unused_paid"):
        out.append(_block("paragraph", "Paid for but not used: " + ", ".join(f["unused_paid"]) + "."))

    out.append(_block("heading_2", "Expansion & Next Steps"))
    out += [
        _block("bulleted_list_item", f"Opportunity ({o['kind']}): {o['summary']}")
        for o in n.get("opportunities", [])
    ]
    out += [_block("to_do", f"{a['action']} ({a['owner']}, by {a['due']})") for a in n.get("actions", [])]
    if n.get("renewal", {}).get("date"):
        out.append(_block("paragraph", f"Renewal {n['renewal']['date']} (in {n['renewal']['days']} days)."))
    if isinstance(s.get("account_brief"), str):
        out.append(_block("heading_2", "Account brief"))
        for line in s["account_brief"].splitlines():
            if line.startswith("## "):
                out.append(_block("heading_3", line[3:]))
            elif line.startswith("- "):
                out.append(_block("bulleted_list_item", line[2:]))
            elif line.strip() and not line.startswith("# "):
                out.append(_block("paragraph", line))
    return out


def title(qbr: QBR) -> str:
    """The page title, within Notion's text limit (the lookup must use the same text);
    the name is what gets cut, never the quarter that tells two pages apart."""
    suffix = f": QBR {qbr.quarter}"
    return qbr.account.name[: MAX_TEXT - len(suffix)] + suffix


def publish(qbr: QBR, gateway: NotionGateway | None = None) -> str:
    """Publish one QBR; returns "published", "local" (Notion off) or "failed" (recorded)."""
    client = None if gateway else notion_client()
    if gateway is None and (client is None or not settings.NOTION_QBR_DATABASE_ID):
        return "local"
    gateway = gateway or NotionGateway(client)
    client = gateway.client
    title_property = settings.NOTION_QBR_TITLE_PROPERTY
    properties = {title_property: {"title": _text(title(qbr))}}
    try:
        page_id = qbr.notion_page_id
        if not page_id:
            source = gateway.data_source_id(settings.NOTION_QBR_DATABASE_ID)
            found = gateway.call(
                client.data_sources.query,
                data_source_id=source,
                filter={"property": title_property, "title": {"equals": title(qbr)}},
                page_size=1,
            ).get("results", [])
            if found:  # made by an earlier publish that did not hear back
                page_id = found[0]["id"]
            else:
                page_id = gateway.call(
                    client.pages.create,
                    retry_server_errors=False,
                    parent={"type": "data_source_id", "data_source_id": source},
                    properties=properties,
                )["id"]
            QBR.objects.filter(pk=qbr.pk).update(notion_page_id=page_id)
        # Rewrite the content: erasing first makes every publish converge on one copy.
        gateway.call(client.pages.update, page_id=page_id, properties=properties, erase_content=True)
        content = blocks(qbr)
        for start in range(0, len(content), MAX_CHILDREN):
            gateway.call(
                client.blocks.children.append,
                retry_server_errors=False,
                block_id=page_id,
                children=content[start : start + MAX_CHILDREN],
            )
    except NotionUnavailable as exc:
        QBR.objects.filter(pk=qbr.pk).update(status=QBR.Status.PUBLISH_FAILED, notion_error=str(exc))
        return "failed"
    QBR.objects.filter(pk=qbr.pk).update(
        status=QBR.Status.PUBLISHED, notion_error="", generated_at=qbr.generated_at
    )
    return "published"


def publish_pending(qbr_ids: list[int] | None = None, limit: int = 200) -> dict[str, Any]:
    """Publish QBRs not yet in Notion (or whose last publish failed)."""
    pending = QBR.objects.filter(status__in=[QBR.Status.GENERATED, QBR.Status.PUBLISH_FAILED]).select_related(
        "account"
    )
    if qbr_ids is not None:
        pending = pending.filter(pk__in=qbr_ids)
    outcomes: dict[str, int] = {}
    client = notion_client()
    if client is None or not settings.NOTION_QBR_DATABASE_ID:
        return {
            "skipped": True,
            "reason": "Notion QBR publishing is not configured (NOTION_TOKEN, NOTION_QBR_DATABASE_ID).",
        }
    gateway = NotionGateway(client)
    for qbr in pending.order_by("pk")[:limit]:
        outcome = publish(qbr, gateway)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return {**outcomes, "requests": gateway.requests_made, "at": timezone.now().isoformat()}
