"""What a sync does with one field of one record, from three values: what the CRM says now, what
each side had when they last agreed (the baseline), and what Tend has now. Pure: no Django.

The owner's change wins; a change on the side that does not own the field is never overwritten
silently: it is a conflict, with both values, until a person resolves it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

APPLY = "apply"  # write the CRM's value into Tend
PUSH = "push"  # write Tend's value into the CRM
NOTHING = "nothing"
CONFLICT = "conflict"

MISSING = object()  # no baseline: the record was never synced


@dataclass(frozen=True)
class Decision:
    action: str
    changed_on: str = ""  # for a conflict: "crm" or "tend", where the non-owner changed it


def on_pull(*, owner: str, crm: Any, baseline: Any, tend: Any) -> Decision:
    """A CRM-owned field read from the CRM (values already in Tend's terms; None is empty).

    `baseline` is the CRM's value when Tend last took it (MISSING the first time).
    """
    if owner != "crm":
        return Decision(NOTHING)
    if baseline is MISSING:
        # First sight (switching sync on, or a reconcile): the CRM owns it, Tend takes it.
        return Decision(NOTHING if crm == tend else APPLY)
    if crm == tend:
        return Decision(NOTHING)
    if tend != baseline:
        # Someone changed it in Tend since the last sync: keep it until a person picks.
        return Decision(CONFLICT, changed_on="tend")
    return Decision(APPLY)


def on_push(*, owner: str, crm: Any, pushed: Any, tend: Any) -> Decision:
    """A Tend-owned field about to be pushed. `crm` is the CRM's value as last read (MISSING if not
    read), `pushed` what Tend last wrote there (MISSING if never)."""
    if owner != "tend":
        return Decision(NOTHING)
    if pushed is not MISSING and crm is not MISSING and crm != pushed and crm != tend:
        # Someone changed Tend's field in the CRM since Tend wrote it.
        return Decision(CONFLICT, changed_on="crm")
    if pushed is not MISSING and pushed == tend:
        return Decision(NOTHING)  # only what changed is pushed
    return Decision(PUSH)
