"""What every CRM connector hands the sync (csm.crm), whichever CRM it talks to: records as plain
data, and the errors that stop a run. The connectors (hubspot, salesforce) are small modules
beside this one."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class RemoteRecord:
    """One company / account or contact as the CRM has it: its id, when it last changed, and the
    asked-for fields as text (None when empty)."""

    id: str
    modified_at: datetime | None
    values: dict[str, str | None]
    merged_ids: tuple[str, ...] = ()  # records merged into this one (gone from the CRM)
    account_ids: tuple[str, ...] = ()  # for a contact: the companies / accounts it belongs to


@dataclass(frozen=True)
class FieldSpec:
    """A field Tend creates in the CRM for what it pushes."""

    name: str
    label: str
    kind: str  # "number", "text", "date"
    description: str = ""


@dataclass
class PushResult:
    written: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)  # record id -> why


class CrmError(Exception):
    """The CRM refused or could not be reached after the retries; the run stops and resumes from its
    cursor next time."""


class CrmBudgetExhausted(CrmError):
    """The CRM's daily allowance is nearly spent: stop now, leave the rest to other integrations."""
