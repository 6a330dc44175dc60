"""CRM values in Tend's terms and back: the CRM's text (None when empty) parsed the way every
import parses a cell (csm.ingest.cells), Tend's value read off the account, and Tend's value
written as the CRM's text."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from django.utils import timezone

from csm.crm import fields
from csm.ingest.cells import CellError, header_key
from csm.ingest.crm_csv import ACCOUNT_PARSERS, _signal_value
from csm.ingest.writes import normalize_rag

EPOCH_MS = re.compile(r"^\d{12,14}$")
ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T")


def empty(raw: Any) -> bool:
    return raw is None or (isinstance(raw, str) and raw.strip() == "")


def crm_text(raw: Any) -> str | None:
    """A CRM value as the text Tend keeps of it: None when empty, booleans and numbers as CRMs
    write them."""
    if empty(raw):
        return None
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    return str(raw).strip()


def _date_text(text: str) -> str:
    """HubSpot writes dates as midnight-UTC epoch milliseconds or ISO datetimes; Salesforce as
    YYYY-MM-DD. The day is the same in all three."""
    if EPOCH_MS.match(text):
        return datetime.fromtimestamp(int(text) / 1000, tz=UTC).date().isoformat()
    if ISO_DATETIME.match(text):
        return text[:10]
    return text


def from_crm(tend_field: str, text: str | None, *, owners: dict[str, int | None]) -> Any:
    """The CRM's text as the Tend value (None when empty). Raises CellError with a reason."""
    if text is None:
        return None
    if "\x00" in text:
        raise CellError("contains a NUL character")
    kind = fields.kind_of(tend_field)
    if kind == "owner":
        if text not in owners:
            raise CellError(f"the CRM owner {text!r} is not known to the CRM's owners list")
        user = owners[text]
        if user is None:
            raise CellError(f"the CRM owner {text!r} has no active Tend user with their email")
        return user
    if kind == "date":
        return ACCOUNT_PARSERS["contract_start"](_date_text(text))
    if kind == "signal":
        return _signal_value(tend_field, text)
    if tend_field == "segment" or tend_field == "status":
        return ACCOUNT_PARSERS[tend_field](text)
    if kind == "decimal":
        return ACCOUNT_PARSERS["arr"](text)
    if kind == "int":
        if re.fullmatch(r"\d+\.0+", text):  # HubSpot numbers come back as "20.0"
            text = text.split(".", 1)[0]
        return ACCOUNT_PARSERS["seats_purchased"](text)
    if kind == "rag":
        return ACCOUNT_PARSERS["tam_health_rag"](text)
    if kind == "email":
        return text.strip().lower()
    return text


def tend_value(account, tend_field: str, *, explanation: str = "") -> Any:
    """Tend's current value of a mapped field on the account (its owner as a user id)."""
    if tend_field == "owner":
        return account.owner_id
    if tend_field in fields.ACCOUNT:
        value = getattr(account, tend_field)
        if tend_field in ("plan", "primary_contact_email", "tam_health_rag") and value == "":
            return None
        if tend_field == "primary_contact_email" and value:
            return value.lower()
        return value
    if tend_field == "health_score":
        return None if account.health_score is None else round(account.health_score, 1)
    if tend_field == "scored_on":
        return timezone.localdate(account.scored_at) if account.scored_at else None
    if tend_field == "health_explanation":
        return explanation or None
    if tend_field in ("rag", "churn_risk", "churn_trigger"):
        return getattr(account, tend_field) or None
    raise KeyError(tend_field)


def to_crm(value: Any) -> str | None:
    """Tend's value as the text written to the CRM (None to empty the field)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


def same(tend_field: str, left: Any, right: Any) -> bool:
    """Equal as Tend values (a RAG written 'Green' or 'GREEN' is the same)."""
    if fields.kind_of(tend_field) == "rag" and isinstance(left, str) and isinstance(right, str):
        return normalize_rag(left) == normalize_rag(right)
    if isinstance(left, str) and isinstance(right, str) and fields.kind_of(tend_field) == "signal":
        return header_key(left) == header_key(right)
    return left == right
