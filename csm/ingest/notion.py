"""Sync accounts and their inputs from a Notion accounts database.

Every page is read first (paginated, paced, retried; see
agents_core.integrations.notion). Only when the whole database has been read
are accounts upserted, through the same checks as the CSV import; a page
that fails them is skipped and listed with the reason, the others land. If
Notion cannot be read, nothing is written.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.conf import settings

from agents_core.integrations.notion import NotionGateway, plain_value
from csm.ingest.crm_csv import ImportReport, import_rows

# Tend field -> the Notion property it comes from. Override per install with
# NOTION_PROPERTY_MAP; fields whose property is missing are left alone.
DEFAULT_PROPERTY_MAP = {
    "external_id": "Account ID",
    "name": "Name",
    "owner": "CSM",
    "segment": "Segment",
    "plan": "Plan",
    "arr": "ARR",
    "seats_purchased": "Seats",
    "seats_used": "Active Users",
    "contract_start": "Contract Start",
    "renewal_date": "Renewal Date",
    "primary_contact_email": "Primary Contact",
    "status": "Status",
    "tam_health_rag": "Health Status",  # the TAM's rating
    "usage_trend": "Usage Trend",
    "nps_score": "NPS",
    "stakeholder_engagement": "Engagement",
    "invoice_payment_status": "Payment Status",
}
MAX_LISTED = 100


def property_map() -> dict[str, str]:
    return {**DEFAULT_PROPERTY_MAP, **settings.NOTION_PROPERTY_MAP}


def page_cells(page: dict[str, Any], mapping: dict[str, str]) -> dict[str, str]:
    properties = page.get("properties") or {}
    cells = {name: plain_value(properties[prop]) for name, prop in mapping.items() if prop in properties}
    cells["notion_page_id"] = page["id"]
    return cells


def sync_accounts(gateway: NotionGateway, *, database_id: str, today: date, at: datetime) -> dict[str, Any]:
    mapping = property_map()
    source = gateway.data_source_id(database_id)
    rows, archived = [], []
    for page in gateway.pages(source):  # raises NotionUnavailable: nothing written
        if page.get("archived") or page.get("in_trash"):
            archived.append(page["id"])
            continue
        rows.append((page["id"], page_cells(page, mapping)))
    report = ImportReport()
    import_rows(rows, report=report, today=today, at=at, source="notion", skip_bad_rows=True)
    skipped = [{"page": p.line, "field": p.column, "reason": p.message} for p in report.problems]
    skipped += [{"page": page_id, "field": "", "reason": "archived in Notion"} for page_id in archived]
    return {
        "pages": len(rows) + len(archived),
        "created": report.created,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "skipped": report.skipped + len(archived),
        "skipped_pages": skipped[:MAX_LISTED],
        "requests": gateway.requests_made,
    }
