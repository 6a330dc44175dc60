"""The account brief: what a CSM reads before a call, as Markdown. Health and why, the people, the
open tasks, and the last 90 days of the timeline. Reads only: the same few queries for one account
or for a QBR batch of them (`account_briefs`)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db.models import F, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from csm.models import Account, Contact, HealthScore, Task
from csm.money import format_money
from csm.surveys import rules as survey_rules
from csm.surveys.models import SurveyResponse
from csm.timeline.selectors import recent

DAYS = 90
MOST = 200  # items of the last 90 days in the brief at most


def _line(text: str) -> str:
    """One line of Markdown from free text: no line breaks, no headings or HTML sneaking in."""
    return " ".join(str(text).split()).replace("<", "&lt;").replace(">", "&gt;")


def _newest(rows, n: int, *order: str):
    """At most `n` rows of each account, in `order` (one query for every account)."""
    ordering = [F(o[1:]).desc() if o.startswith("-") else F(o).asc() for o in order]
    first = Window(RowNumber(), partition_by=[F("account_id")], order_by=[*ordering, F("pk").asc()])
    return rows.annotate(first=first).filter(first__lte=n).order_by("account_id", *order, "pk")


def _grouped(rows) -> dict[int, list]:
    found: dict[int, list] = defaultdict(list)
    for row in rows:
        found[row.account_id if hasattr(row, "account_id") else row["account_id"]].append(row)
    return found


def _surveys(answers: list[dict], today: date) -> list[str]:
    """The survey answers of the NPS window: the input they give, the classic NPS, the latest words."""
    if not answers:
        return [f"- No survey answers in the last {survey_rules.WINDOW_DAYS} days"]
    nps = [a for a in answers if a["kind"] == SurveyResponse.Kind.NPS]
    people = [(f"c{a['contact_id']}" if a["contact_id"] else a["email"] or f"r{a['pk']}",
               timezone.localdate(a["responded_at"]), a["score"]) for a in nps]  # fmt: skip
    lines = []
    if nps:
        value = survey_rules.nps_input(people, today=today)
        score = survey_rules.net_promoter_score(a["score"] for a in nps)
        reads = f"the score reads {value}" if value is not None else "too few people for the score to read"
        lines.append(f"- NPS: {len(nps)} answer(s), net promoter score {score:+d}; {reads}")
    csat = [a["score"] for a in answers if a["kind"] == SurveyResponse.Kind.CSAT]
    if csat:
        lines.append(f"- CSAT: {len(csat)} answer(s), average {sum(csat) / len(csat):.1f} of 5")
    for a in [a for a in answers if a["comment"]][:5]:
        who = _line(a["name"] or a["email"] or "someone")
        scale = 10 if a["kind"] == SurveyResponse.Kind.NPS else 5
        lines.append(f'- {timezone.localdate(a["responded_at"]).isoformat()} {who}, {a["score"]}/{scale}: '
                     f'"{_line(a["comment"])[:240]}"')  # fmt: skip
    return lines


def _person(person: Contact) -> str:
    who = _line(person.name or person.email)
    tags = [
        t
        for t in ("primary" if person.is_primary else "", person.get_role_display() if person.role else "")
        if t
    ]
    role = f" ({', '.join(tags).lower()})" if tags else ""
    title = f", {_line(person.title)}" if person.title else ""
    email = f" <{person.email}>" if person.email and person.name else ""
    seen = (
        f"; last in the product {timezone.localdate(person.last_active_at).isoformat()}"
        if person.last_active_at
        else ""
    )
    return f"- {who}{role}{title}{email}{seen}"


def account_brief(account: Account, *, today: date | None = None) -> str:
    return account_briefs([account], today=today)[account.pk]


def account_briefs(accounts, *, today: date | None = None) -> dict[int, str]:
    """The briefs of many accounts (a QBR batch's), in the same few queries whatever their number."""
    today = today or timezone.localdate()
    accounts = list(accounts)
    ids = [a.pk for a in accounts]
    if not ids:
        return {}
    since = today - timedelta(days=DAYS)
    latest = {
        s.account_id: s
        for s in _newest(
            HealthScore.objects.filter(account_id__in=ids, scored_on__lte=today), 1, "-scored_on"
        ).only("account_id", "score", "rag", "explanation", "scored_on")
    }
    contacts = Contact.objects.filter(account_id__in=ids)
    people = _grouped(_newest(contacts.filter(archived_at__isnull=True), 50, "-is_primary", "name"))
    champions = contacts.filter(role=Contact.Role.CHAMPION, archived_at__isnull=False)
    gone = _grouped(_newest(champions, 5, "-archived_at"))
    window = timezone.make_aware(datetime.combine(today - timedelta(days=survey_rules.WINDOW_DAYS), time.min))
    answers = _grouped(
        _newest(
            SurveyResponse.objects.filter(account_id__in=ids, responded_at__gte=window), 500, "-responded_at"
        ).values(
            "account_id", "kind", "score", "comment", "name", "email", "contact_id", "responded_at", "pk"
        )
    )
    tasks = _grouped(_newest(Task.objects.open().filter(account_id__in=ids), 50, "due_on")
                     .values("account_id", "due_on", "title", "owner__username"))  # fmt: skip
    stories = recent(ids, since=since, most=MOST)
    return {
        a.pk: _brief(a, today=today, latest=latest.get(a.pk), people=people.get(a.pk, []),
                     gone=gone.get(a.pk, []), answers=answers.get(a.pk, []), tasks=tasks.get(a.pk, []),
                     story=[i for i in stories.get(a.pk, []) if timezone.localdate(i.position.at) <= today])
        for a in accounts
    }  # fmt: skip


def _brief(account: Account, *, today, latest, people, gone, answers, tasks, story) -> str:
    owner = account.owner.get_full_name() or account.owner.get_username() if account.owner else "nobody"
    lines = [f"# {_line(account.name)}", ""]
    lines.append(
        f"- Owner: {_line(owner)}; segment {account.get_segment_display()}; plan {_line(account.plan or '—')}"
    )
    lines.append(f"- ARR {format_money(account.arr, settings.TEND_CURRENCY)}; renewal "
                 f"{account.renewal_date.isoformat() if account.renewal_date else 'not set'}")  # fmt: skip
    if latest:
        lines.append(f"- Health {latest.score:.0f} ({latest.rag}) on {latest.scored_on.isoformat()}: "
                     f"{_line(latest.explanation or 'no explanation')}")  # fmt: skip
    else:
        lines.append("- Not scored yet")
    lines += ["", "## People", ""]
    lines += [_person(p) for p in people]
    for person in gone:
        lines.append(f"- {_line(person.name or person.email)} (champion) left: removed in the CRM on "
                     f"{timezone.localdate(person.archived_at).isoformat()}")  # fmt: skip
    if lines[-1] == "":
        lines.append("- No contacts yet")
    lines += ["", "## What they said", ""]
    lines += _surveys(answers, today)
    lines += ["", "## Open tasks", ""]
    for task in tasks:
        late = " (late)" if task["due_on"] < today else ""
        lines.append(
            f"- {task['due_on'].isoformat()}{late}: {_line(task['title'])} ({task['owner__username']})"
        )
    if lines[-1] == "":
        lines.append("- None")
    lines += ["", f"## The last {DAYS} days", ""]
    for item in story:
        detail = f": {_line(item.detail)[:240]}" if item.detail else ""
        lines.append(f"- {timezone.localdate(item.position.at).isoformat()} {_line(item.title)}{detail}")
    if lines[-1] == "":
        lines.append("- Nothing happened")
    return "\n".join(lines) + "\n"
