"""Import renewal outcomes from a CSV: external_id, renewal_date, outcome, arr_before, arr_after.

All or nothing, like the account import: every row is checked first, and if
any is bad nothing is written and each problem is listed by line and column.
An outcome already recorded for an account and renewal date is replaced.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from agents_core.bulk import upsert_rows
from csm.ingest.cells import CellError, Problem, header_key, parse_date, parse_decimal, read_table
from csm.models import Account, RenewalOutcome

COLUMNS = ("external_id", "renewal_date", "outcome", "arr_before", "arr_after")
OUTCOMES = {header_key(value): value for value in RenewalOutcome.Outcome.values} | {
    header_key("lost"): "churned",
    header_key("renewal"): "renewed",
    header_key("downgrade"): "downgraded",
}


@dataclass
class OutcomeImport:
    rows: int = 0
    written: int = 0
    dry_run: bool = False
    problems: list[Problem] = field(default_factory=list)


def import_outcomes(content: bytes | str, *, dry_run: bool = False, accounts=None) -> OutcomeImport:
    report = OutcomeImport(dry_run=dry_run)
    try:
        table = read_table(content)
    except CellError as exc:
        report.problems.append(Problem("file", "", str(exc)))
        return report
    headers = [header_key(h or "").replace(" ", "_") for h in table.headers or []]
    missing = [c for c in COLUMNS if c not in headers]
    if missing:
        report.problems.append(Problem(1, ", ".join(missing), "missing column(s)"))
        return report
    accounts = accounts if accounts is not None else Account.objects.all()
    ids = {r[headers.index("external_id")].strip() for r in table if r[headers.index("external_id")]}
    by_external = dict(accounts.filter(external_id__in=ids).values_list("external_id", "pk"))
    outcomes: dict[tuple[int, object], RenewalOutcome] = {}
    for line, raw in enumerate(table, start=2):
        row = {h: (str(v).strip() if v is not None else "") for h, v in zip(headers, raw, strict=False)}
        report.rows += 1
        values, bad = {}, False
        for name, parse in (
            ("renewal_date", parse_date),
            ("arr_before", lambda text: parse_decimal(text, currency=settings.TEND_CURRENCY)),
            ("arr_after", lambda text: parse_decimal(text, currency=settings.TEND_CURRENCY)),
        ):
            try:
                values[name] = parse(row[name])
            except CellError as exc:
                report.problems.append(Problem(line, name, str(exc)))
                bad = True
        outcome = OUTCOMES.get(header_key(row["outcome"]))
        if outcome is None:
            report.problems.append(
                Problem(line, "outcome", f"use renewed, downgraded or churned: {row['outcome']!r}")
            )
            bad = True
        account_id = by_external.get(row["external_id"])
        if account_id is None:
            report.problems.append(Problem(line, "external_id", f"no such account: {row['external_id']!r}"))
            bad = True
        if bad:
            continue
        candidate = RenewalOutcome(
            account_id=account_id,
            outcome=outcome,
            source=RenewalOutcome.Source.CSV,
            synthetic=False,
            **values,
        )
        try:
            candidate.full_clean(exclude=["account"], validate_unique=False, validate_constraints=False)
        except ValidationError as exc:
            for column, messages in exc.message_dict.items():
                report.problems.append(Problem(line, column, "; ".join(messages)))
            continue
        key = (account_id, values["renewal_date"])
        if key in outcomes:
            report.problems.append(
                Problem(line, "renewal_date", "the same renewal appears twice in the file")
            )
            continue
        outcomes[key] = candidate
    if report.problems or dry_run:
        return report
    now = timezone.now()
    fields = [
        "account",
        "renewal_date",
        "outcome",
        "arr_before",
        "arr_after",
        "source",
        "synthetic",
        "recorded_at",
    ]
    rows = [
        (o.account_id, o.renewal_date, o.outcome, o.arr_before, o.arr_after, o.source, False, now)
        for o in outcomes.values()
    ]
    with transaction.atomic():  # one statement; a renewal already recorded is replaced
        upsert_rows(RenewalOutcome, fields, rows, conflict=["account", "renewal_date"], update=fields[2:])
    report.written = len(outcomes)
    return report
