"""A mapping tried on real CRM records before it is saved: what each mapped field reads there and
what Tend would make of it (or why it would refuse it). Reads only."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model

from agents_core.integrations.crm import CrmError
from csm.crm.models import CrmFieldMapping, Side
from csm.crm.pull import owners_to_users
from csm.crm.values import crm_text, from_crm, to_crm
from csm.ingest.cells import CellError


@dataclass
class Preview:
    records: list[dict[str, Any]] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)
    error: str = ""


def preview(connector, mapping: list[CrmFieldMapping], *, limit: int = 5) -> Preview:
    result = Preview()
    try:
        existing = connector.field_names()
        result.absent = sorted(m.crm_field for m in mapping if m.crm_field not in existing)
        pulled = [m for m in mapping if m.owner == Side.CRM and m.crm_field in existing]
        owners = owners_to_users(connector.owners()) if any(m.tend_field == "owner" for m in pulled) else {}
        page = next(iter(connector.all_accounts(sorted({m.crm_field for m in pulled}))), [])
    except CrmError as exc:
        result.error = str(exc)
        return result
    people = dict(
        get_user_model()
        .objects.filter(pk__in=[pk for pk in owners.values() if pk])
        .values_list("pk", "username")
    )
    for record in page[:limit]:
        rows = []
        for m in pulled:
            text = crm_text(record.values.get(m.crm_field))
            try:
                value, problem = from_crm(m.tend_field, text, owners=owners), ""
            except CellError as exc:
                value, problem = None, str(exc)
            if problem:
                shown = ""
            elif value is None:
                shown = "(empty)"
            elif m.tend_field == "owner":
                shown = people.get(value, str(value))
            else:
                shown = to_crm(value)
            rows.append({"crm_field": m.crm_field, "tend_field": m.get_tend_field_display(), "crm": text,
                         "tend": shown, "problem": problem})  # fmt: skip
        result.records.append({"id": record.id, "name": record.values.get("name") or record.id, "rows": rows})
    return result
