"""Push Tend's health (and any field the mapping gives Tend) into the CRM: only what changed since
Tend last wrote it (CrmRecord.pushed), in the CRM's batch calls, into fields Tend creates when they
are missing. A value someone changed in the CRM since Tend wrote it is not overwritten: it is a
conflict until a person resolves it."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import OuterRef, Subquery

from agents_core.bulk import update_rows
from agents_core.integrations.crm import FieldSpec
from csm.crm import fields, rules
from csm.crm.models import CrmConflict, CrmFieldMapping, CrmRecord, Side
from csm.crm.report import SyncReport
from csm.crm.values import crm_text, tend_value, to_crm
from csm.models import Account, HealthScore

CHUNK = 2_000
CREATED_FIELD_NOTE = "Written by Tend, the customer-success platform. Edits here are reported as conflicts."


def health_specs(mapping: list[CrmFieldMapping]) -> list[FieldSpec]:
    return [
        FieldSpec(name=m.crm_field, label=fields.HEALTH[m.tend_field][1], kind=fields.HEALTH[m.tend_field][0],
                  description=CREATED_FIELD_NOTE)
        for m in mapping if m.tend_field in fields.HEALTH
    ]  # fmt: skip


def push_health(connector, *, report: SyncReport, now: datetime, dry_run: bool = False, run=None) -> None:
    system = connector.system
    mapping = [
        m for m in CrmFieldMapping.objects.filter(system=system, is_active=True) if m.owner == Side.TEND
    ]
    if not mapping:
        report.notes.append("Nothing to push: no field of the mapping is owned by Tend.")
        return
    existing = connector.field_names()
    missing = [spec for spec in health_specs(mapping) if spec.name not in existing]
    if missing and not dry_run:
        connector.create_fields(missing)
        report.notes.append("Created in the CRM: " + ", ".join(spec.name for spec in missing) + ".")
    absent = [
        m.crm_field for m in mapping if m.tend_field not in fields.HEALTH and m.crm_field not in existing
    ]
    if missing and dry_run:
        report.notes.append("Would create in the CRM: " + ", ".join(spec.name for spec in missing) + ".")
    if absent:
        report.notes.append("Not in the CRM (create them there): " + ", ".join(absent) + ".")
        mapping = [m for m in mapping if m.crm_field not in absent]
    open_conflicts = set(
        CrmConflict.objects.filter(system=system, status=CrmConflict.Status.OPEN).values_list(
            "account_id", "tend_field"
        )
    )
    explanation = (
        HealthScore.objects.filter(account=OuterRef("account_id"))
        .order_by("-scored_on")
        .values("explanation")[:1]
    )
    links = (
        CrmRecord.objects.filter(system=system, archived_at__isnull=True)
        .select_related("account")
        .annotate(explanation=Subquery(explanation))
        .order_by("pk")
    )
    last = 0
    while chunk := list(links.filter(pk__gt=last)[:CHUNK]):
        last = chunk[-1].pk
        rows, pushed_now, conflicts = [], {}, []
        for link in chunk:
            report.read += 1
            account: Account = link.account
            values = {}
            for m in mapping:
                tend = to_crm(tend_value(account, m.tend_field, explanation=link.explanation or ""))
                pushed = link.pushed.get(m.crm_field, rules.MISSING)
                crm = crm_text(link.pulled[m.crm_field]) if m.crm_field in link.pulled else rules.MISSING
                decision = rules.on_push(owner=m.owner, crm=crm, pushed=pushed, tend=tend)
                if decision.action == rules.CONFLICT:
                    if (account.pk, m.tend_field) not in open_conflicts:
                        conflicts.append(CrmConflict(
                            system=system, account=account, tend_field=m.tend_field, crm_field=m.crm_field,
                            owner=Side.TEND, changed_on=Side.CRM, crm_value=crm, tend_value=tend,
                            detected_at=now, run=run,
                        ))  # fmt: skip
                        open_conflicts.add((account.pk, m.tend_field))
                elif decision.action == rules.PUSH and (account.pk, m.tend_field) not in open_conflicts:
                    values[m.crm_field] = tend
            if values:
                rows.append((link.crm_id, values))
                pushed_now[link.crm_id] = (link, values)
            else:
                report.unchanged += 1
        report.conflicts += len(conflicts)
        if dry_run:
            report.updated += len(rows)
            continue
        if conflicts:
            CrmConflict.objects.bulk_create(conflicts)
        result = connector.update_accounts(rows) if rows else None
        if result is None:
            continue
        report.updated += len(result.written)
        for crm_id, why in result.refused.items():
            report.refused += 1
            report.refuse(crm_id, "", why)
        with transaction.atomic():
            update_rows(
                CrmRecord,
                ["pushed", "pulled"],
                [
                    ({**link.pushed, **values}, {**link.pulled, **values}, link.pk)
                    for crm_id in result.written
                    for link, values in [pushed_now[crm_id]]
                ],
            )
