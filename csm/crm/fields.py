"""The Tend fields a CRM field can be mapped to, what kind of value each holds, and which side may
own it. Pure: no Django.

Account facts and scoring inputs can be owned by either side (the CRM's are pulled, Tend's pushed);
Tend's health is Tend's own and only ever pushed.
"""

from __future__ import annotations

import re

from csm.scoring.inputs import DATED_SIGNALS, DIRECT_SIGNALS

# Account fields: name -> kind.
ACCOUNT = {
    "name": "text",
    "owner": "owner",
    "segment": "segment",
    "plan": "text",
    "arr": "decimal",
    "seats_purchased": "int",
    "seats_used": "int",
    "contract_start": "date",
    "renewal_date": "date",
    "primary_contact_email": "email",
    "status": "status",
    "tam_health_rag": "rag",
}
# Scoring inputs a team may keep in the CRM (csm.ingest.writes checks their ranges).
SIGNALS = (*DIRECT_SIGNALS, *DATED_SIGNALS)
# Tend's health, pushed to the CRM: name -> (kind, the property's label, its default CRM name).
HEALTH = {
    "health_score": ("number", "Tend health score", "tend_health_score"),
    "rag": ("text", "Tend health RAG", "tend_health_rag"),
    "churn_risk": ("text", "Tend churn risk", "tend_churn_risk"),
    "churn_trigger": ("text", "Tend churn trigger", "tend_churn_trigger"),
    "health_explanation": ("text", "Tend health explanation", "tend_health_explanation"),
    "scored_on": ("date", "Tend health scored on", "tend_health_scored_on"),
}
# Never mapped: the link itself (the CRM record's id is the account's external_id).
NOT_MAPPED = ("external_id",)

CHOICES = [
    *((name, f"Account: {name.replace('_', ' ')}") for name in ACCOUNT),
    *((name, f"Input: {name.replace('_', ' ')}") for name in SIGNALS),
    *((name, label) for name, (_kind, label, _crm) in HEALTH.items()),
]
CRM_FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,99}$")


def kind_of(tend_field: str) -> str:
    if tend_field in ACCOUNT:
        return ACCOUNT[tend_field]
    if tend_field in HEALTH:
        return HEALTH[tend_field][0]
    return "signal"


def ownership_problem(tend_field: str, owner: str) -> str | None:
    """Why `owner` ("crm" or "tend") cannot own the field, or None."""
    if tend_field in NOT_MAPPED:
        return "The CRM record's id is the account's external id; it is not mapped."
    if tend_field in HEALTH and owner != "tend":
        return "Tend's health is Tend's: it is pushed to the CRM, never pulled."
    if tend_field in SIGNALS and owner != "crm":
        return "Scoring inputs are pulled from the CRM; Tend's own inputs come from the usage stream."
    if tend_field == "owner" and owner != "crm":
        return "The account's owner comes from the CRM's owner (matched to a Tend user by email)."
    return None
