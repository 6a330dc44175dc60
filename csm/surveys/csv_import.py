"""Import survey answers from a CSV file: what a survey tool exports, or a team's own spreadsheet.

Columns (headers compared without case, spaces, - or _; common export names work too):

| column        | required | meaning |
| ------------- | -------- | ------- |
| `score`       | yes      | NPS 0-10, or CSAT 1-5 with `kind` csat |
| `responded_at`| yes      | the day (YYYY-MM-DD or MM/DD/YYYY) or an ISO time with its zone |
| `email`       | one of   | who answered; places the answer by a contact's or tracked user's email |
| `external_id` | the two  | the account's external id (places it whatever the email) |
| `kind`        | no       | nps (the default) or csat |
| `comment`, `name`, `survey` | no | as they say |
| `response_id` | no       | the tool's id for the answer: importing it again updates it |

All or nothing, like the other imports: every row is checked, and if any is bad nothing is written
and each problem is listed by line and column. A row no contact matches is kept unplaced (the
admin lists them to place), and says so in the report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time

from django.utils import timezone

from csm.ingest.cells import CellError, Problem, header_key, parse_date, parse_int, read_table
from csm.models import Account
from csm.surveys.formats import Answer
from csm.surveys.models import SurveyResponse
from csm.surveys.responses import ResponseRefused, check, save_answers

HEADERS = {
    "score": ["score", "nps", "nps score", "rating", "csat", "csat score", "likelihood to recommend"],
    "responded_at": ["responded at", "responded on", "date", "response date", "submitted at", "created at",
                     "submitted", "timestamp"],
    "email": ["email", "email address", "respondent email", "person email", "contact email"],
    "external_id": ["external id", "account id", "account external id"],
    "kind": ["kind", "survey type", "type"],
    "comment": ["comment", "comments", "feedback", "reason", "verbatim"],
    "name": ["name", "respondent", "person name", "contact name"],
    "survey": ["survey", "survey name", "form", "campaign"],
    "response_id": ["response id", "id", "response token", "token"],
}  # fmt: skip
COLUMN_FOR = {header_key(alias): column for column, aliases in HEADERS.items() for alias in aliases}
KINDS = {"nps": "nps", "csat": "csat", "net promoter score": "nps", "satisfaction": "csat"}


@dataclass
class SurveyImport:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unplaced: int = 0
    dry_run: bool = False
    written: bool = False
    problems: list[Problem] = field(default_factory=list)


def _responded_at(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return _on_day(parse_date(text))
    if moment.tzinfo is None:
        if len(text.strip()) <= 10:  # a bare ISO day
            return _on_day(moment.date())
        raise CellError(f"a time needs its zone (2026-11-30T14:05:00+00:00): {text!r}")
    return moment


def _on_day(day) -> datetime:
    """A bare day as a moment of it: its noon, or for today, if noon is still to come, now.

    (Today's answers imported in the morning were refused as "in the future".) A day after today
    stays its noon, which the checks refuse.
    """
    noon = timezone.make_aware(datetime.combine(day, time(12)))
    now = timezone.now()
    return min(noon, now) if day == timezone.localdate(now) else noon


def import_responses(content: bytes | str, *, dry_run: bool = False, accounts=None) -> SurveyImport:
    """`accounts` bounds which accounts a row may land on, by its external_id or its email (the
    importer's); a row whose email is only on someone else's account is kept unplaced."""
    report = SurveyImport(dry_run=dry_run)
    try:
        table = read_table(content)
    except CellError as exc:
        report.problems.append(Problem("file", "", str(exc)))
        return report
    columns = [COLUMN_FOR.get(header_key(h or "")) for h in table.headers or []]
    for needed in ("score", "responded_at"):
        if needed not in columns:
            report.problems.append(
                Problem(1, needed, f"missing column (headers read as: {', '.join(HEADERS[needed][:3])})")
            )
    if "email" not in columns and "external_id" not in columns:
        report.problems.append(Problem(1, "email", "missing column: give email or external_id"))
    if report.problems:
        return report
    rows = [
        {c: (str(v).strip() if v is not None else "") for c, v in zip(columns, raw, strict=False) if c}
        for raw in table
    ]
    accounts = accounts if accounts is not None else Account.objects.all()
    wanted = {r.get("external_id", "") for r in rows} - {""}
    by_external = {
        a.external_id: a for a in accounts.filter(external_id__in=wanted).only("pk", "external_id")
    }
    answers, places, seen = [], [], {}
    for line, row in enumerate(rows, start=2):
        report.rows += 1
        problems = len(report.problems)
        kind = KINDS.get(header_key(row.get("kind") or "nps"))
        if kind is None:
            report.problems.append(Problem(line, "kind", f"use nps or csat: {row.get('kind')!r}"))
        try:
            score = parse_int(row.get("score", ""))
        except CellError as exc:
            report.problems.append(Problem(line, "score", str(exc)))
            score = None
        try:
            responded_at = _responded_at(row.get("responded_at", ""))
        except CellError as exc:
            report.problems.append(Problem(line, "responded_at", str(exc)))
            responded_at = None
        account = None
        if row.get("external_id"):
            account = by_external.get(row["external_id"])
            if account is None:
                report.problems.append(
                    Problem(line, "external_id", f"no such account: {row['external_id']!r}")
                )
        elif not row.get("email"):
            report.problems.append(Problem(line, "email", "give the email of who answered, or the account"))
        response_id = row.get("response_id", "")[:100]
        if response_id and response_id in seen:
            report.problems.append(
                Problem(line, "response_id", f"the same answer is on line {seen[response_id]}")
            )
        if response_id:
            seen.setdefault(response_id, line)
        if len(report.problems) > problems:
            continue
        try:
            answer = check(
                Answer(external_id=response_id, kind=kind, score=score, responded_at=responded_at,
                       email=row.get("email", "")[:254], name=row.get("name", "")[:200],
                       comment=row.get("comment", ""), survey=row.get("survey", "")[:200])
            )  # fmt: skip
        except ResponseRefused as exc:
            column, _, message = str(exc).partition(": ")
            report.problems.append(Problem(line, column, message))
            continue
        answers.append(answer)
        places.append(account)
    if report.problems or dry_run:
        return report
    saved = save_answers(answers, channel=SurveyResponse.Channel.CSV, accounts=places, within=accounts)
    report.created, report.updated, report.unplaced = saved.created, saved.updated, saved.unplaced
    report.written = True
    return report
