"""What a pull or a push counts as it goes, for its run's report (CrmSyncRun)."""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_REFUSALS = 500  # the report keeps the first ones; the count keeps them all


@dataclass
class SyncReport:
    read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    archived: int = 0
    refused: int = 0
    conflicts: int = 0
    contacts: int = 0
    engagements: int = 0
    refusals: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    changed_accounts: set[int] = field(default_factory=set)  # for the re-score

    def refuse(self, crm_id: str, field_name: str, why: str) -> None:
        if len(self.refusals) < MAX_REFUSALS:
            self.refusals.append({"id": crm_id, "field": field_name, "why": why})
