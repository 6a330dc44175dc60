"""The account brief: what a CSM reads before a call, as Markdown. Health and why, the people, the
open tasks, and the last 90 days of the timeline. Reads only; a bounded number of queries."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.utils import timezone

from csm.models import Account, Contact, HealthScore, Task
from csm.money import format_money
from csm.surveys import rules as survey_rules
from csm.surveys.models import SurveyResponse
from csm.timeline.selectors import timeline

DAYS = 90
MOST = 200  # items of the last 90 days in the brief at most


def _line(text: str) -> str:
    """One line of Markdown from free text: no line breaks, no headings or HTML sneaking in."""
    return " ".join(str(text).split()).replace("<", "&lt;").replace(">", "&gt;")


def _surveys(account: Account, today: date) -> list[str]:
    """The survey answers of the NPS window: the input they give, the classic NPS, the latest words."""
    since = timezone.make_aware(datetime.combine(today - timedelta(days=survey_rules.WINDOW_DAYS), time.min))
    answers = list(
        SurveyResponse.objects.filter(account=account, responded_at__gte=since)
        .order_by("-responded_at", "-pk")
        .values("kind", "score", "comment", "name", "email", "contact_id", "responded_at", "pk")[:500]
    )
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


def account_brief(account: Account, *, today: date | None = None) -> str:
    today = today or timezone.localdate()
    since = today - timedelta(days=DAYS)
    latest = HealthScore.objects.filter(account=account).order_by("-scored_on").only(
        "score", "rag", "explanation", "scored_on"
    ).first()  # fmt: skip
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
    people = Contact.objects.filter(account=account, archived_at__isnull=True).order_by("-is_primary", "name")
    for person in people[:50]:
        who = _line(person.name or person.email)
        tags = [
            t
            for t in (
                "primary" if person.is_primary else "",
                person.get_role_display() if person.role else "",
            )
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
        lines.append(f"- {who}{role}{title}{email}{seen}")
    gone = Contact.objects.filter(account=account, role=Contact.Role.CHAMPION, archived_at__isnull=False)
    for person in gone.order_by("-archived_at")[:5]:
        lines.append(f"- {_line(person.name or person.email)} (champion) left: removed in the CRM on "
                     f"{timezone.localdate(person.archived_at).isoformat()}")  # fmt: skip
    if lines[-1] == "":
        lines.append("- No contacts yet")
    lines += ["", "## What they said", ""]
    lines += _surveys(account, today)
    lines += ["", "## Open tasks", ""]
    tasks = Task.objects.open().filter(account=account).select_related("owner").order_by("due_on", "id")[:50]
    for task in tasks:
        late = " (late)" if task.due_on < today else ""
        lines.append(f"- {task.due_on.isoformat()}{late}: {_line(task.title)} ({task.owner.get_username()})")
    if lines[-1] == "":
        lines.append("- None")
    lines += ["", f"## The last {DAYS} days", ""]
    shown, before = 0, None
    while shown < MOST:
        page = timeline(account.pk, before=before)
        recent = [item for item in page.items if timezone.localdate(item.position.at) >= since]
        for item in recent[: MOST - shown]:
            detail = f": {_line(item.detail)[:240]}" if item.detail else ""
            lines.append(f"- {timezone.localdate(item.position.at).isoformat()} {_line(item.title)}{detail}")
            shown += 1
        if len(recent) < len(page.items) or page.next is None:
            break
        before = page.next
    if lines[-1] == "":
        lines.append("- Nothing happened")
    return "\n".join(lines) + "\n"
