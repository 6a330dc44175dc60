"""Pull from a CRM: companies / accounts into Tend's accounts through the field mapping, their
owners matched by email, their contacts, and what was deleted or merged.

A page of records (200 at most) is applied in one transaction with the cursor it reaches, so a run
that fails resumes from the last page it finished, and a page read twice changes nothing the
second time (every field is compared with what the CRM said last time, CrmRecord.pulled). A record
with a bad value is refused with the field and the reason; the rest of the page goes through.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from agents_core.bulk import update_rows, upsert_rows
from agents_core.integrations.crm import RemoteRecord
from csm.accounts.segments import segment_for
from csm.contacts.champions import refresh_champions
from csm.crm import fields, rules
from csm.crm.models import (
    Contact,
    CrmChange,
    CrmConflict,
    CrmFieldMapping,
    CrmRecord,
    CrmSyncRun,
    CrmSyncState,
    Side,
)
from csm.crm.report import SyncReport
from csm.crm.values import crm_text, from_crm, same, to_crm
from csm.ingest.cells import CellError
from csm.ingest.writes import BulkWriteError, bulk_write_signals, clean_signals
from csm.models import Account
from csm.scoring.on_change import rescore_soon
from csm.timeline.interactions import refresh_last_interaction
from csm.timeline.models import Interaction


def active_mapping(system: str) -> list[CrmFieldMapping]:
    return list(CrmFieldMapping.objects.filter(system=system, is_active=True))


def owners_to_users(crm_owners: dict[str, str]) -> dict[str, int | None]:
    """CRM owner id -> the active Tend user with that email (None when there is none)."""
    by_email = {
        email.lower(): pk
        for pk, email in get_user_model()
        .objects.filter(is_active=True)
        .exclude(email="")
        .values_list("pk", "email")
    }
    return {owner_id: by_email.get(email) if email else None for owner_id, email in crm_owners.items()}


def pull_accounts(
    connector,
    *,
    run: CrmSyncRun,
    report: SyncReport,
    full: bool,
    now: datetime,
    dry_run: bool = False,
) -> None:
    system = connector.system
    mapping = active_mapping(system)
    # A property the CRM does not have reads as empty: never take that for a value emptied there.
    existing = connector.field_names()
    absent = sorted(m.crm_field for m in mapping if m.crm_field not in existing)
    if absent:
        report.notes.append("Mapped but not in the CRM, left out: " + ", ".join(absent) + ".")
        mapping = [m for m in mapping if m.crm_field in existing]
    owners = owners_to_users(connector.owners()) if any(m.tend_field == "owner" for m in mapping) else {}
    state, _ = CrmSyncState.objects.get_or_create(system=system)
    asked = sorted({m.crm_field for m in mapping})
    since = state.accounts_cursor
    pages = connector.all_accounts(asked) if full else connector.changed_accounts(since, asked)
    seen: set[str] = set()
    for page in pages:
        if full:
            seen.update(r.id for r in page)
        with transaction.atomic():
            reached = apply_page(page, system=system, mapping=mapping, owners=owners, run=run, report=report,
                                 now=now, dry_run=dry_run)  # fmt: skip
            if reached and not dry_run and (state.accounts_cursor is None or reached > state.accounts_cursor):
                state.accounts_cursor = reached
                state.save(update_fields=["accounts_cursor"])
    if hasattr(connector, "merged_since"):  # Salesforce: the merged-away record names its survivor
        for gone, survivor in connector.merged_since(None if full else since):
            into = CrmRecord.objects.filter(system=system, crm_id=survivor).values_list(
                "account_id", flat=True
            )
            archive(system, [gone], why="merged in the CRM", report=report, now=now, merged_into=into.first(),
                    dry_run=dry_run)  # fmt: skip
    if full:
        gone = [r.id for page in connector.all_accounts([], archived=True) for r in page]
        linked = CrmRecord.objects.filter(system=system, archived_at__isnull=True)
        missing = [crm_id for crm_id in linked.values_list("crm_id", flat=True) if crm_id not in seen]
        archive(system, sorted({*gone, *missing} - seen), why="deleted in the CRM", report=report, now=now,
                dry_run=dry_run)  # fmt: skip
        if not dry_run:
            state.last_full_at = now
            state.save(update_fields=["last_full_at"])


def apply_page(
    records: list[RemoteRecord],
    *,
    system: str,
    mapping: list[CrmFieldMapping],
    owners: dict[str, int | None],
    run: CrmSyncRun,
    report: SyncReport,
    now: datetime,
    dry_run: bool,
) -> datetime | None:
    """Apply one page of records; returns the last modified time it holds."""
    pulled = [m for m in mapping if m.owner == Side.CRM]
    by_id: dict[str, RemoteRecord] = {}
    for record in records:
        report.read += 1
        if not record.id or len(record.id) > 64 or "\x00" in record.id:
            report.refused += 1
            report.refuse(record.id[:64], "id", "not a usable record id")
            continue
        by_id[record.id] = record  # the same record twice in a page: the later one
    links = {link.crm_id: link for link in CrmRecord.objects.filter(system=system, crm_id__in=list(by_id))}
    accounts = {a.external_id: a for a in Account.objects.filter(external_id__in=list(by_id))}
    for link in links.values():  # linked before, maybe under an external id changed since
        if link.crm_id not in accounts:
            accounts[link.crm_id] = link.account
    settled = _settled_conflicts(system, [a.pk for a in accounts.values()], [m.tend_field for m in pulled])

    today = timezone.localdate(now)
    created: list[Account] = []
    changed: dict[int, tuple[Account, set[str]]] = {}
    told: list[tuple[int, str, Any, Any]] = []  # (account, field, before, after) for the timeline
    signal_rows: list[dict[str, Any]] = []
    conflicts: list[CrmConflict] = []
    link_rows: list[tuple] = []
    merges: list[tuple[str, str]] = []
    for crm_id, record in by_id.items():
        account = accounts.get(crm_id)
        link = links.get(crm_id)
        baseline = link.pulled if link else {}
        values, signals, problems, record_conflicts = {}, {}, [], []
        for m in pulled:
            text = crm_text(record.values.get(m.crm_field))
            try:
                crm_value = from_crm(m.tend_field, text, owners=owners)
            except CellError as exc:
                problems.append((m.crm_field, str(exc)))
                continue
            if crm_value is None and m.tend_field == "segment":
                continue  # no segment is no opinion: Tend keeps its own (a new account's from its ARR)
            base_value = _baseline(m, baseline, owners)
            if m.tend_field in fields.SIGNALS:
                # Inputs come from several sources (API, usage stream): Tend's side is not compared.
                if base_value is rules.MISSING or not same(m.tend_field, crm_value, base_value):
                    signals[m.tend_field] = crm_value
                continue
            if account is None:
                values[m.tend_field] = crm_value
                continue
            tend = comparable(m.tend_field, getattr(account, attr_name(m.tend_field)))
            decision = rules.on_pull(
                owner=m.owner,
                crm=comparable(m.tend_field, crm_value),
                baseline=base_value if base_value is rules.MISSING else comparable(m.tend_field, base_value),
                tend=tend,
            )
            if decision.action == rules.APPLY:
                values[m.tend_field] = crm_value
            elif decision.action == rules.CONFLICT:
                crm_shown, tend_shown = _shown(m.tend_field, crm_value), _shown(m.tend_field, tend)
                if settled.get((account.pk, m.tend_field)) != (crm_shown, tend_shown):
                    record_conflicts.append(CrmConflict(
                        system=system, account=account, tend_field=m.tend_field, crm_field=m.crm_field,
                        owner=m.owner, changed_on=decision.changed_on, crm_value=crm_shown,
                        tend_value=tend_shown, detected_at=now, run=run,
                    ))  # fmt: skip
        if signals:
            problems += [(name, why) for name, why in clean_signals(signals, today=today)[1].items()]
        if not problems:
            crm_name = {m.tend_field: m.crm_field for m in pulled}
            problems = [(crm_name.get(name, name), why) for name, why in _check(account, values, crm_id)]
        if problems:
            report.refused += 1
            for name, why in problems:
                report.refuse(crm_id, name, why)
            continue
        if account is None:
            account = _new_account(crm_id, values)
            created.append(account)
            accounts[crm_id] = account
            report.created += 1
        else:
            touched = {
                name for name, value in values.items()
                if comparable(name, getattr(account, attr_name(name))) != comparable(name, value)
            }  # fmt: skip
            for name in touched:
                told.append((account.pk, name, getattr(account, attr_name(name)), values[name]))
                setattr(account, attr_name(name), stored_value(name, values[name]))
            if account.status == Account.Status.ARCHIVED and "status" not in touched:
                account.status, account.archived_at, account.merged_into = Account.Status.ACTIVE, None, None
                touched |= {"status"}  # back in the CRM: back in the book
            if touched or signals:
                changed[account.pk] = (account, touched)
                report.updated += 1
            else:
                report.unchanged += 1
        conflicts.extend(record_conflicts)
        if signals:
            signal_rows.append({"external_id": account.external_id, **signals})
        everything = {m.crm_field: crm_text(record.values.get(m.crm_field)) for m in mapping}
        link_rows.append((crm_id, account, {**baseline, **everything}))
        merges.extend((gone, crm_id) for gone in record.merged_ids if gone != crm_id)
    report.conflicts += len(conflicts)
    reached = max((r.modified_at for r in by_id.values() if r.modified_at), default=None)
    if dry_run:
        return reached

    Account.objects.bulk_create(created, batch_size=500)
    updated = [account for account, touched in changed.values() if touched]
    if updated:
        names = sorted({n for _a, touched in changed.values() for n in touched}
                       | {"status", "archived_at", "merged_into"})  # fmt: skip
        attnames = [Account._meta.get_field(n).attname for n in names]
        update_rows(Account, [*names, "updated_at"],
                    [(*(getattr(a, c) for c in attnames), now, a.pk) for a in updated])  # fmt: skip
    if signal_rows:
        _write_signals(signal_rows, report=report, system=system, now=now, today=today)
    upsert_rows(
        CrmRecord,
        ["system", "crm_id", "account", "pulled", "pushed", "modified_at", "synced_at", "archived_at"],
        [(system, crm_id, account.pk, pulled_now, {}, by_id[crm_id].modified_at, now, None)
         for crm_id, account, pulled_now in link_rows],
        conflict=["system", "crm_id"],
        update=["account", "pulled", "modified_at", "synced_at", "archived_at"],
    )  # fmt: skip
    _record_conflicts(conflicts)
    _record_changes(told, system=system, run=run, now=now)
    if merges:
        survivors = dict(
            CrmRecord.objects.filter(system=system, crm_id__in=[s for _g, s in merges]).values_list(
                "crm_id", "account_id"
            )
        )
        for gone, survivor in merges:
            archive(system, [gone], why="merged in the CRM", report=report, now=now,
                    merged_into=survivors.get(survivor))  # fmt: skip
    touched_ids = [a.pk for a in created] + list(changed)
    report.changed_accounts.update(touched_ids)
    rescore_soon(touched_ids)
    return reached


def _write_signals(
    rows: list[dict[str, Any]], *, report: SyncReport, system: str, now: datetime, today
) -> None:
    """The inputs of the page, checked per record before; a row the write still refuses (an input
    Tend measures itself, say) is dropped with its reason and the rest written."""
    for _attempt in range(2):
        try:
            bulk_write_signals(
                rows, accounts=Account.objects.all(), source="crm", at=now, today=today, by=system
            )
            return
        except BulkWriteError as exc:
            bad = {error.get("external_id") for error in exc.errors}
            for error in exc.errors:
                report.refuse(
                    str(error.get("external_id")), str(error.get("field")), str(error.get("message"))
                )
            rows = [row for row in rows if row["external_id"] not in bad]
            if not rows:
                return


def comparable(name: str, value: Any) -> Any:
    """A value as the account's column holds it (an empty plan is "", an empty ARR 0), so that the
    CRM's, the baseline's and Tend's compare equal when they are."""
    value = stored_value(name, value)
    if name == "primary_contact_email" and isinstance(value, str):
        return value.lower()
    return value


def _baseline(m: CrmFieldMapping, baseline: dict[str, Any], owners: dict[str, int | None]) -> Any:
    if m.crm_field not in baseline:
        return rules.MISSING
    try:
        return from_crm(m.tend_field, baseline[m.crm_field], owners=owners)
    except CellError:
        return rules.MISSING


def _settled_conflicts(system: str, account_ids: list[int], names: list[str]) -> dict[tuple, tuple]:
    """(account, field) -> the values of its open or resolved-as-Tend's conflict: the same values
    again are not a new conflict."""
    if not account_ids:
        return {}
    rows = (
        CrmConflict.objects.filter(system=system, account_id__in=account_ids, tend_field__in=names)
        .filter(Q(status=CrmConflict.Status.OPEN) | Q(status=CrmConflict.Status.KEPT_TEND))
        .order_by("detected_at", "id")
        .values_list("account_id", "tend_field", "crm_value", "tend_value")
    )
    return {(a, f): (c, t) for a, f, c, t in rows}


def _record_conflicts(conflicts: list[CrmConflict]) -> None:
    """One open conflict per field: a newer pair of values replaces the open one's."""
    for conflict in conflicts:
        CrmConflict.objects.update_or_create(
            system=conflict.system, account=conflict.account, tend_field=conflict.tend_field,
            status=CrmConflict.Status.OPEN,
            defaults={"crm_field": conflict.crm_field, "owner": conflict.owner,
                      "changed_on": conflict.changed_on,
                      "crm_value": conflict.crm_value, "tend_value": conflict.tend_value,
                      "detected_at": conflict.detected_at, "run": conflict.run},
        )  # fmt: skip


def _record_changes(told: list[tuple[int, str, Any, Any]], *, system: str, run, now: datetime) -> None:
    """What the page changed on accounts, for their timelines (one query for the owners named)."""
    if not told:
        return
    owner_ids = {v for _a, name, *pair in told if name == "owner" for v in pair if v}
    people = dict(get_user_model().objects.filter(pk__in=owner_ids).values_list("pk", "email"))

    def shown(name: str, value: Any) -> str:
        if value is None or value == "":
            return ""
        if name == "owner":
            return people.get(value) or str(value)
        return str(to_crm(value))[:500]

    CrmChange.objects.bulk_create(
        [CrmChange(account_id=pk, system=system, tend_field=name, old_value=shown(name, before),
                   new_value=shown(name, after), changed_at=now, run=run)
         for pk, name, before, after in told],
        batch_size=500,
    )  # fmt: skip


def _shown(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if name == "owner":
        user = get_user_model().objects.filter(pk=value).only("email", "username").first()
        return (user.email or user.get_username()) if user else str(value)
    return to_crm(value)


def attr_name(name: str) -> str:
    return "owner_id" if name == "owner" else name


def stored_value(name: str, value: Any) -> Any:
    """None as the account stores an empty value: NULL where the column allows it, else its
    default (an ARR of 0), else ""."""
    model_field = Account._meta.get_field(name)
    if value is None and not model_field.null:
        return model_field.get_default() if model_field.has_default() else ""
    return value


def _check(account: Account | None, values: dict[str, Any], crm_id: str) -> list[tuple[str, str]]:
    """What a record's values would break on the account (as the admin's form would say)."""
    if account is None and not values.get("name"):
        return [("name", "required for a new account")]
    if "name" in values and not values["name"]:
        return [("name", "an account needs a name: it was emptied in the CRM")]
    if "status" in values and values["status"] is None:
        return [("status", "an account needs a status: it was emptied in the CRM")]
    probe = Account(external_id=crm_id, name=values.get("name") or (account.name if account else ""))
    for name, value in values.items():
        setattr(probe, attr_name(name), stored_value(name, value))
    try:
        # The owner is a user the sync found itself: no query per record to check it exists.
        checked = set(values) - {"owner"}
        probe.full_clean(exclude=[f.name for f in Account._meta.fields if f.name not in checked],
                         validate_unique=False, validate_constraints=False)  # fmt: skip
    except ValidationError as exc:
        return [(name, "; ".join(messages)) for name, messages in exc.message_dict.items()]
    return []


def _new_account(crm_id: str, values: dict[str, Any]) -> Account:
    account = Account(external_id=crm_id)
    for name, value in values.items():
        setattr(account, attr_name(name), stored_value(name, value))
    if "segment" not in values or not values["segment"]:
        account.segment = (
            segment_for(arr=values.get("arr"), employees=None)
            or Account._meta.get_field("segment").get_default()
        )
    return account


def archive(
    system: str,
    crm_ids: Iterable[str],
    *,
    why: str,
    report: SyncReport,
    now: datetime,
    merged_into: int | None = None,
    dry_run: bool = False,
) -> None:
    """The accounts of records deleted or merged away in the CRM: archived, their history kept."""
    ids = list(crm_ids)
    if not ids:
        return
    linked = Q(crm_records__system=system, crm_records__crm_id__in=ids) | Q(external_id__in=ids)
    targets = Account.objects.filter(linked).exclude(status=Account.Status.ARCHIVED)
    if merged_into is not None:
        targets = targets.exclude(pk=merged_into)
    account_ids = list(targets.values_list("pk", flat=True).distinct())
    report.archived += len(account_ids)
    if not account_ids:
        return
    report.notes.append(f"{len(account_ids)} account(s) archived: {why}.")
    if dry_run:
        return
    Account.objects.filter(pk__in=account_ids).update(
        status=Account.Status.ARCHIVED, archived_at=now, merged_into_id=merged_into, updated_at=now
    )
    CrmRecord.objects.filter(system=system, account_id__in=account_ids).update(archived_at=now)
    report.changed_accounts.update(account_ids)


def pull_contacts(
    connector, *, report: SyncReport, now: datetime, dry_run: bool = False, full: bool = False
) -> None:
    """Contacts of the linked accounts, several per account; the primary is the account's primary
    contact email where it is one of them, else the contact known longest. A contact deleted in
    the CRM is archived (kept, no longer the primary): a champion who left."""
    system = connector.system
    state, _ = CrmSyncState.objects.get_or_create(system=system)
    since = state.contacts_cursor
    for page in connector.changed_contacts(state.contacts_cursor):
        with transaction.atomic():
            company_ids = {c for record in page for c in record.account_ids}
            accounts = dict(
                CrmRecord.objects.filter(system=system, crm_id__in=company_ids).values_list(
                    "crm_id", "account_id"
                )
            )
            rows, roles = [], {}
            for record in page:
                account_id = next((accounts[c] for c in record.account_ids if c in accounts), None)
                if account_id is None or not record.id or len(record.id) > 64:
                    continue
                values = record.values
                name = " ".join(filter(None, [values.get("firstname"), values.get("lastname")]))[:200]
                email = (values.get("email") or "").strip().lower()
                if email and ("@" not in email or len(email) > 254):
                    report.refuse(record.id, "email", f"not an email address: {email[:100]!r}")
                    email = ""
                rows.append((account_id, name, email, (values.get("jobtitle") or "")[:200], False, "",
                             Contact.Source.CRM, system, record.id, None, now, now))  # fmt: skip
                if role := crm_role(values.get("hs_buying_role")):
                    roles.setdefault(role, []).append(record.id)
            report.contacts += len(rows)
            reached = max((r.modified_at for r in page if r.modified_at), default=None)
            if dry_run:
                continue
            upsert_rows(
                Contact,
                ["account", "name", "email", "title", "is_primary", "role", "source", "crm_system", "crm_id",
                 "archived_at", "created_at", "updated_at"],
                rows,
                conflict=["crm_system", "crm_id"],
                update=["account", "name", "email", "title", "archived_at", "updated_at"],
                where="NOT (\"crm_id\" = '')",
            )  # fmt: skip
            for role, crm_ids in roles.items():  # the CRM's role where it gives one; else Tend's stands
                Contact.objects.filter(crm_system=system, crm_id__in=crm_ids).update(role=role)
            choose_primaries({row[0] for row in rows})
            refresh_champions({row[0] for row in rows})
            if reached and (state.contacts_cursor is None or reached > state.contacts_cursor):
                state.contacts_cursor = reached
                state.save(update_fields=["contacts_cursor"])
    gone = connector.deleted_contacts(since, full=full) if hasattr(connector, "deleted_contacts") else []
    left: dict[int, int] = {}
    for first in range(0, len(gone), 500):  # a reconcile may list every contact ever deleted
        leaving = Contact.objects.filter(crm_system=system, crm_id__in=gone[first : first + 500],
                                         archived_at__isnull=True)  # fmt: skip
        left.update(leaving.values_list("pk", "account_id"))
    if left:
        report.notes.append(f"{len(left)} contact(s) archived: deleted in the CRM.")
    if left and not dry_run:
        with transaction.atomic():
            Contact.objects.filter(pk__in=list(left)).update(
                archived_at=now, is_primary=False, updated_at=now
            )
            choose_primaries(set(left.values()))
            refresh_champions(set(left.values()))  # a champion deleted in the CRM has left


FALLBACK_TITLES = {"call": "Call", "meeting": "Meeting", "email": "Email", "note": "Note"}


def pull_engagements(
    connector, *, report: SyncReport, now: datetime, dry_run: bool = False, full: bool = False
) -> None:
    """The CRM's calls, meetings and notes on linked accounts, as interactions (source "crm"): the
    same engagement read again updates its interaction. The account's last-interaction input
    follows (csm.timeline.interactions). One that has not happened yet (a meeting booked for next
    week) waits: the Sunday reconcile reads every engagement again."""
    if not hasattr(connector, "changed_engagements"):
        return
    system = connector.system
    state, _ = CrmSyncState.objects.get_or_create(system=system)
    cursors = {} if full else dict(state.engagements_cursor or {})
    since = {obj: _parse_cursor(value) for obj, value in cursors.items()}
    today = timezone.localdate(now)
    fields = ["account", "kind", "occurred_on", "title", "body", "sentiment", "source", "crm_id",
              "created_at", "updated_at"]  # fmt: skip
    for obj, page in connector.changed_engagements(since):
        with transaction.atomic():
            company_ids = {c for record in page for c in record.account_ids}
            accounts = dict(
                CrmRecord.objects.filter(system=system, crm_id__in=company_ids).values_list(
                    "crm_id", "account_id"
                )
            )
            rows = []
            for record in page:
                values = record.values
                kind = values.get("kind") if values.get("kind") in FALLBACK_TITLES else "note"
                day = timezone.localdate(_parse_cursor(values.get("at")) or record.modified_at or now)
                if day > today or not record.id:
                    continue
                body = "\n".join(line.rstrip() for line in str(values.get("body") or "").splitlines())[
                    :20_000
                ]
                title = values.get("title") or (body.strip().splitlines() or [""])[0] or FALLBACK_TITLES[kind]
                crm_id = f"{system}:{obj}:{record.id}"[:64]
                for account_id in {accounts[c] for c in record.account_ids if c in accounts}:
                    rows.append((account_id, kind, day, title[:200], body, "", Interaction.Source.CRM, crm_id,
                                 now, now))  # fmt: skip
            report.engagements += len(rows)
            reached = max((r.modified_at for r in page if r.modified_at), default=None)
            if dry_run:
                continue
            upsert_rows(Interaction, fields, rows, conflict=["account", "crm_id"],
                        update=["kind", "occurred_on", "title", "body", "updated_at"],
                        where="NOT (\"crm_id\" = '')")  # fmt: skip
            refresh_last_interaction({row[0] for row in rows})
            if reached and (obj not in since or since[obj] is None or reached > since[obj]):
                since[obj] = reached
                state.engagements_cursor = {**(state.engagements_cursor or {}), obj: reached.isoformat()}
                state.save(update_fields=["engagements_cursor"])
    if report.engagements:
        report.notes.append(f"{report.engagements} call(s), meeting(s) and note(s) read as interactions.")


def _parse_cursor(value) -> datetime | None:
    """An ISO time (what HubSpot answers), or epoch milliseconds (what it also takes)."""
    if not value:
        return None
    try:
        if str(value).isdigit():
            return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        return None
    return moment if moment.tzinfo else timezone.make_aware(moment)


# HubSpot's buying roles, as Tend's: the first that applies, in this order.
BUYING_ROLES = (
    ("CHAMPION", Contact.Role.CHAMPION),
    ("DECISION_MAKER", Contact.Role.DECISION_MAKER),
    ("BUDGET_HOLDER", Contact.Role.DECISION_MAKER),
    ("EXECUTIVE_SPONSOR", Contact.Role.DECISION_MAKER),
    ("END_USER", Contact.Role.USER),
)


def crm_role(value) -> str:
    """A contact's role from the CRM's buying roles (HubSpot's `hs_buying_role`, ";"-separated)."""
    given = {part.strip().upper() for part in str(value or "").split(";")}
    return next((role for name, role in BUYING_ROLES if name in given), "")


def choose_primaries(account_ids: set[int]) -> None:
    if not account_ids:
        return
    contacts = Contact.objects.filter(account_id__in=account_ids, archived_at__isnull=True).order_by(
        "created_at", "id"
    )
    primary_email = dict(
        Account.objects.filter(pk__in=account_ids).values_list("pk", "primary_contact_email")
    )
    chosen: dict[int, int] = {}
    for pk, account_id, email in contacts.values_list("pk", "account_id", "email"):
        wanted = (primary_email.get(account_id) or "").lower()
        if account_id not in chosen or (wanted and email == wanted):
            chosen[account_id] = pk
    Contact.objects.filter(account_id__in=account_ids, is_primary=True).exclude(
        pk__in=chosen.values()
    ).update(is_primary=False)
    Contact.objects.filter(pk__in=chosen.values(), is_primary=False).update(is_primary=True)
