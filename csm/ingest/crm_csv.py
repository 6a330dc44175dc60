"""Import accounts and their scoring inputs from a CSV export of a CRM.

Rows match accounts by `external_id`: new ones are created, known ones
updated. Column headers are mapped from the names common CRM exports use
("Account ID", "Account Name", "Annual Recurring Revenue", "Renewal Date",
"NPS", ...); unknown columns are listed and ignored. An empty cell leaves
the stored value as it is.

The import is all-or-nothing, like the bulk signals API: every row is
checked first, and if any row is bad nothing is written and the report lists
each bad row by line, column and reason. A dry run checks and reports what
would change without writing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import tablib
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction

from agents_core.bulk import update_rows
from csm.accounts.segments import segment_for
from csm.ingest.cells import (
    CellError,
    Problem,
    choice_parser,
    header_key,
    parse_date,
    parse_decimal,
    parse_int,
    read_table,
)
from csm.ingest.writes import WRITABLE_INPUTS, bulk_write_signals, clean_signals, normalize_rag
from csm.models import Account, Segment
from csm.scoring import engine
from csm.scoring.on_change import rescore_soon

# Account fields the import writes, and the headers each may come under.
ACCOUNT_COLUMNS: dict[str, list[str]] = {
    # HubSpot's companies export says "Record ID", "Company name", "Company owner";
    # Salesforce's accounts report "Account ID", "Account Name", "Account Owner" (a full name).
    "external_id": ["external id", "account id", "id", "record id", "crm id", "company id", "salesforce id",
                    "hubspot id", "account number", "account id 18", "record id company"],
    "name": ["name", "account name", "company", "company name", "customer", "customer name"],
    "owner": ["owner", "account owner", "csm", "owner email", "owner username", "customer success manager",
              "company owner", "hubspot owner", "owner name", "account owner name", "csm owner"],
    "segment": ["segment", "tier", "customer segment"],
    "plan": ["plan", "product plan", "subscription plan", "edition"],
    "arr": ["arr", "annual recurring revenue", "annual contract value", "acv"],
    "seats_purchased": ["seats purchased", "seats", "licenses", "licences", "purchased seats",
                        "number of seats", "seat count", "licensed seats", "number of licenses"],
    "seats_used": ["seats used", "active users", "licenses used", "licences used", "used seats"],
    "contract_start": ["contract start", "contract start date", "start date"],
    "renewal_date": ["renewal date", "renewal", "contract end", "contract end date", "end date"],
    "primary_contact_email": ["primary contact email", "contact email", "primary contact", "email"],
    "status": ["status", "lifecycle status", "account status"],
    "tam_health_rag": ["tam health", "tam health rag", "health status", "technical health"],
    "notion_page_id": ["notion page id"],
}  # fmt: skip
SIGNAL_ALIASES: dict[str, list[str]] = {
    "nps_score": ["nps"],
    "open_ticket_count": ["open tickets", "open support tickets"],
    "avg_ticket_sentiment": ["ticket sentiment", "support sentiment"],
    "escalation_count_90_days": ["escalations", "escalations 90 days"],
    "login_frequency_days": ["days since last login"],
    "days_since_last_interaction": ["days since last touch", "days since last contact"],
    "feature_adoption_rate": ["adoption", "feature adoption"],
    "invoice_payment_status": ["payment status", "invoice status"],
    "stakeholder_engagement": ["engagement"],
}
# Read to place a new account in its segment (csm.accounts.segments), not stored.
HINT_COLUMNS: dict[str, list[str]] = {
    "employees": ["employees", "number of employees", "employee count", "company size", "headcount"],
}
SIGNAL_COLUMNS = [name for name in WRITABLE_INPUTS if name != "tam_health_rag"]
WRITE_FIELDS = [f for f in ACCOUNT_COLUMNS if f != "external_id"]

SEGMENT_VALUES = {
    "smb": Segment.SMB, "small business": Segment.SMB, "small": Segment.SMB,
    "mid market": Segment.MID_MARKET, "midmarket": Segment.MID_MARKET, "mid": Segment.MID_MARKET,
    "mm": Segment.MID_MARKET, "enterprise": Segment.ENTERPRISE, "ent": Segment.ENTERPRISE,
    "large": Segment.ENTERPRISE,
}  # fmt: skip
STATUS_VALUES = {
    "active": Account.Status.ACTIVE, "customer": Account.Status.ACTIVE, "live": Account.Status.ACTIVE,
    "renewed": Account.Status.RENEWED, "churned": Account.Status.CHURNED, "lost": Account.Status.CHURNED,
    "cancelled": Account.Status.CHURNED, "canceled": Account.Status.CHURNED,
}  # fmt: skip


HEADER_MAP: dict[str, str] = {}
for _field, _aliases in ACCOUNT_COLUMNS.items():
    for _alias in [_field, *_aliases]:
        HEADER_MAP[header_key(_alias)] = _field
for _name in SIGNAL_COLUMNS:
    for _alias in [_name, *SIGNAL_ALIASES.get(_name, [])]:
        HEADER_MAP[header_key(_alias)] = _name
for _name, _aliases in HINT_COLUMNS.items():
    for _alias in [_name, *_aliases]:
        HEADER_MAP[header_key(_alias)] = _name


@dataclass
class ImportReport:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    dry_run: bool = False
    written: bool = False
    mapping: dict[str, str] = field(default_factory=dict)
    ignored_columns: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    changes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _rag(text: str) -> str:
    value = normalize_rag(text)
    if value is None:
        raise CellError(f"not a RAG rating (green, amber, red): {text!r}")
    return value


ACCOUNT_PARSERS: dict[str, Callable[[str], Any]] = {
    "arr": lambda text: parse_decimal(text, currency=settings.TEND_CURRENCY),
    "seats_purchased": parse_int,
    "seats_used": parse_int,
    "contract_start": parse_date,
    "renewal_date": parse_date,
    "segment": choice_parser(SEGMENT_VALUES, "segment"),
    "status": choice_parser(STATUS_VALUES, "status"),
    "tam_health_rag": _rag,
}


def _signal_value(name: str, text: str) -> Any:
    kind = engine.INPUT_SPEC[name][0]
    if kind == "int":
        return parse_int(text)
    if kind == "float":
        cleaned = text.strip()
        try:
            return float(cleaned[:-1]) / 100 if cleaned.endswith("%") else float(cleaned)
        except ValueError:
            raise CellError(f"not a number: {text!r}") from None
    return header_key(text).replace(" ", "_")


AMBIGUOUS = object()


def _owners() -> dict[str, Any]:
    """Active users by username, email and full name (as CRMs write owners), all lower case.

    A full name two people share maps to AMBIGUOUS: the row must say which one.
    """
    users: dict[str, Any] = {}
    names: dict[str, Any] = {}
    for user in get_user_model().objects.filter(is_active=True):
        users[user.get_username().lower()] = user
        if user.email:
            users.setdefault(user.email.lower(), user)
        full = " ".join(user.get_full_name().lower().split())
        if full:
            names[full] = AMBIGUOUS if full in names else user
    for full, user in names.items():
        users.setdefault(full, user)
    return users


def _owner(owners: dict[str, Any], text: str):
    user = owners.get(" ".join(text.lower().split()))
    if user is AMBIGUOUS:
        raise CellError(f"more than one user is called {text!r}: give the username or email")
    if user is None:
        raise CellError(f"no active user with username, email or full name {text!r}")
    return user


def import_accounts(
    content: bytes | str,
    *,
    dry_run: bool = False,
    today: date,
    at: datetime,
    by: str = "",
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    report = ImportReport(dry_run=dry_run)
    try:
        table = read_table(content)
    except (CellError, tablib.InvalidDimensions, tablib.UnsupportedFormat) as exc:
        report.problems.append(Problem(0, "", str(exc)))
        return report

    columns: dict[int, str] = {}
    for index, header in enumerate(table.headers or []):
        target = HEADER_MAP.get(header_key(header or ""))
        if target is None:
            report.ignored_columns.append(header)
        elif target in columns.values():
            report.problems.append(Problem(1, header, f"a second column for {target}"))
        else:
            columns[index] = target
            report.mapping[header] = target
    if "external_id" not in columns.values():
        report.problems.append(Problem(1, "", "no external_id column (e.g. 'Account ID' or 'external_id')"))
        return report
    rows = [
        # The header is line 1.
        (
            offset + 2,
            {
                columns[i]: (str(v).strip() if v is not None else "")
                for i, v in enumerate(raw)
                if i in columns
            },
        )
        for offset, raw in enumerate(table)
    ]
    return import_rows(rows, report=report, today=today, at=at, by=by, progress=progress, source="csv")


def import_rows(
    rows: list[tuple[int | str, dict[str, str]]],
    *,
    report: ImportReport,
    today: date,
    at: datetime,
    by: str = "",
    source: str,
    skip_bad_rows: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Check and write rows of text cells keyed by field name (see HEADER_MAP's targets).

    All or nothing unless `skip_bad_rows`, which writes the good rows and
    counts the bad ones as skipped; every problem is in the report either way.
    """

    owners = _owners()
    parsed: list[tuple[int | str, str, dict[str, Any], dict[str, Any]]] = []
    seen: dict[str, int | str] = {}
    for line, row_cells in rows:
        report.rows += 1
        cells = dict(row_cells)
        external_id = cells.pop("external_id", "")
        if not external_id:
            report.problems.append(Problem(line, "external_id", "empty"))
            continue
        if "\x00" in external_id:
            report.problems.append(Problem(line, "external_id", "contains a NUL character"))
            continue
        if external_id in seen:
            report.problems.append(Problem(line, "external_id", f"also on line {seen[external_id]}"))
            continue
        seen[external_id] = line
        account_values, signal_values, hints = {}, {}, {}
        for name, text in cells.items():
            if text == "":
                continue  # empty: leave the stored value alone
            if "\x00" in text:
                report.problems.append(Problem(line, name, "contains a NUL character"))
                continue
            try:
                if name == "owner":
                    account_values["owner"] = _owner(owners, text)
                elif name in HINT_COLUMNS:
                    hints[name] = parse_int(text)
                elif name in ACCOUNT_COLUMNS:
                    account_values[name] = ACCOUNT_PARSERS.get(name, str)(text)
                else:
                    signal_values[name] = _signal_value(name, text)
            except CellError as exc:
                report.problems.append(Problem(line, name, str(exc)))
        _clean, errors = clean_signals(signal_values, today=today)
        report.problems.extend(Problem(line, name, message) for name, message in errors.items())
        if "segment" not in account_values:
            # Used only if the account is new: a known one keeps its segment.
            account_values["_segment"] = segment_for(
                arr=account_values.get("arr"), employees=hints.get("employees")
            )
        parsed.append((line, external_id, account_values, signal_values))
        if progress:
            progress(1)

    existing = {
        a.external_id: a
        for chunk in _chunks([ext for _l, ext, _a, _s in parsed], 5000)
        for a in Account.objects.filter(external_id__in=chunk)
    }
    new_accounts: list[Account] = []
    updated: list[Account] = []
    bad_lines = {p.line for p in report.problems}
    good: list[tuple[int | str, str, dict[str, Any], dict[str, Any]]] = []
    for line, external_id, values, signal_values in parsed:
        account = existing.get(external_id)
        derived_segment = values.pop("_segment", None)
        if account is None and derived_segment:
            values["segment"] = derived_segment
        if account is None:
            if "name" not in values:
                report.problems.append(Problem(line, "name", "required for a new account"))
                continue
            account = Account(external_id=external_id, **values)
            action, changed = "create", sorted(values)
        else:
            changed = sorted(k for k, v in values.items() if getattr(account, k) != v)
            for key in changed:
                setattr(account, key, values[key])
            action = "update" if changed or signal_values else "unchanged"
        try:
            account.full_clean(validate_unique=False, validate_constraints=False)
        except ValidationError as exc:
            for name, messages in exc.message_dict.items():
                report.problems.append(Problem(line, name, "; ".join(messages)))
            continue
        if line in bad_lines:  # checked in full above for the report, but not written
            continue
        good.append((line, external_id, values, signal_values))
        if action == "create":
            new_accounts.append(account)
        elif changed:
            updated.append(account)
        if action == "create":
            report.created += 1
        elif action == "update":
            report.updated += 1
        else:
            report.unchanged += 1
        if len(report.changes) < 200 and action != "unchanged":
            report.changes.append(
                {"line": line, "external_id": external_id, "action": action,
                 "fields": changed + sorted(signal_values)}
            )  # fmt: skip

    report.problems.sort(key=lambda p: (str(p.line).zfill(12), p.column))
    report.skipped = len({p.line for p in report.problems})
    if (report.problems and not skip_bad_rows) or report.dry_run:
        return report

    with transaction.atomic():
        Account.objects.bulk_create(new_accounts, batch_size=1000)
        update_rows(
            Account,
            [*WRITE_FIELDS, "updated_at"],
            [
                (*(getattr(a, Account._meta.get_field(f).attname) for f in WRITE_FIELDS), at, a.pk)
                for a in updated
            ],
        )
        signal_rows = [{"external_id": ext, **sig} for _l, ext, _a, sig in good if sig]
        if signal_rows:
            bulk_write_signals(
                signal_rows, accounts=Account.objects.all(), source=source, at=at, today=today, by=by
            )
        # Scored within seconds, not at 07:00 (the signal rows already asked for theirs).
        written = [a.external_id for a in [*new_accounts, *updated]]
        rescore_soon(
            pk
            for chunk in _chunks(written, 5000)
            for pk in Account.objects.filter(external_id__in=chunk).values_list("pk", flat=True)
        )
    report.written = True
    return report


def _chunks(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]
