""" "My book today": what a CSM (or their manager) looks at first each morning.

It reads both csm (accounts, alerts, QBRs due) and sales (drafts to review),
so it lives with the composition root, not in either app.

Plain reads, a fixed number of queries whatever the size of the book: a
handful of aggregates and a few short, limited lists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal

from django.db.models import Count, Q
from django.utils import timezone

from agents_core.models import AgentRun
from agents_core.visibility import sees_everything
from csm.accounts import figures
from csm.accounts.selectors import (
    QBR_DUE_AHEAD_DAYS,
    RENEWAL_WINDOW_DAYS,
    in_book,
    not_scored,
    open_alerts,
    overdue_renewals,
    qbrs_due_soon,
    weak_renewals,
)
from csm.models import Account, ChurnAlert, ChurnRisk, QBRDue, Task
from csm.scoring.scan import last_daily_scan_start, score_problems
from sales.models import OutreachDraft

ATTENTION_LIMIT = figures.ATTENTION_LIMIT
RUNS_SHOWN = 10
__all__ = ["QBR_DUE_AHEAD_DAYS", "RENEWAL_WINDOW_DAYS", "book_today"]

# What the attention list leaves out, said per reason with a link to its list:
# (reason kind, the count it is part of, how it reads).
MORE = (
    ("alert", "open_alerts", ("open alert", "open alerts")),
    ("unscored", "not_scored", ("account not scored", "accounts not scored")),
    ("renewal", "renewals", ("weak renewal", "weak renewals")),
    ("overdue", "overdue_renewals", ("overdue renewal", "overdue renewals")),
    ("draft", "drafts", ("draft to review", "drafts to review")),
    ("qbr", "qbrs_due", ("QBR due", "QBRs due")),
)
COUNTED_AS = {"entered_red": "alert"}
# Lower comes first in the attention list.
PRIORITY = {"entered_red": 0, "alert": 1, "unscored": 2, "renewal": 3, "overdue": 4, "draft": 5, "qbr": 6}


@dataclass
class Attention:
    account: Account
    reasons: list[str] = field(default_factory=list)
    priority: int = 99
    alert: ChurnAlert | None = None
    draft: OutreachDraft | None = None
    qbr_due: QBRDue | None = None
    kinds: set[str] = field(default_factory=set)

    def add(self, kind: str, reason: str) -> None:
        self.reasons.append(reason)
        self.priority = min(self.priority, PRIORITY[kind])
        self.kinds.add(COUNTED_AS.get(kind, kind))


@dataclass
class BookToday:
    today: date
    whole_team: bool
    totals: dict
    attention: list[Attention]
    counts: dict[str, int]
    arr_at_risk_by_month: list[tuple[date, Decimal]]
    runs: list[AgentRun]
    run_counts: dict[str, int]
    team: list[dict]
    # My open tasks due today or before, soonest first (the list the "tasks due" tile opens).
    tasks: list[Task] = field(default_factory=list)
    # (count key, how many the attention list does not show, label): the "N more" links.
    more: list[tuple[str, int, str]] = field(default_factory=list)
    # When the book's figures were taken, if they are the kept ones (csm.accounts.figures), not
    # counted for this view. The lists are always read as they are.
    as_of: datetime | None = None

    @property
    def rag_rows(self) -> list[tuple[str, int]]:
        t = self.totals
        return [
            ("GREEN", t["green"]),
            ("AMBER", t["amber"]),
            ("RED", t["red"]),
            ("Not scored", t["unscored"]),
        ]

    @property
    def risk_rows(self) -> list[tuple[str, int]]:
        return [(level.label, self.totals[level.value]) for level in ChurnRisk]


def book_today(user, today: date | None = None) -> BookToday:
    today = today or timezone.localdate()
    accounts = in_book(Account.objects.visible_to(user))  # lost customers are history, not book
    whole_team = sees_everything(user)

    # One pass over the book, grouped by owner: the totals are the sum of the rows.
    # Counted here, or on a very long book as the last whole-book scan left them (as_of).
    now, last_scan = timezone.now(), last_daily_scan_start()
    as_of = None
    if kept := figures.kept_for(accounts, user, whole_team=whole_team):
        as_of, per_owner = kept[0].taken_at, kept[1]
    else:
        per_owner = figures.count_by_owner(accounts, today=today, now=now, last_scan=last_scan)
    totals = {
        name: sum((row[name] for row in per_owner), start=figures.ZERO[name]) for name in figures.FIGURE_NAMES
    }

    # Each of these is the query of the list its tile opens (csm.admin.filters).
    alerts = open_alerts(in_book(ChurnAlert.objects.visible_to(user), "account__"), today)
    unscored = not_scored(accounts, now=now, last_scan=last_scan)
    if kept:  # found again by id, not by reading the book
        unscored = figures.not_scored_now(unscored, *kept)
    renewals = weak_renewals(accounts, today)
    overdue = overdue_renewals(accounts, today)
    drafts = in_book(OutreachDraft.objects.visible_to(user), "opportunity__account__").waiting_for_review()
    qbrs_due = qbrs_due_soon(in_book(QBRDue.objects.visible_to(user), "account__"), today)
    tasks_due = Task.objects.visible_to(user).open().filter(owner=user, due_on__lte=today)

    rows: dict[int, Attention] = {}

    def row(account: Account) -> Attention:
        return rows.setdefault(account.pk, Attention(account=account))

    for alert in alerts.select_related("account__owner").order_by("-arr", "-raised_at")[:ATTENTION_LIMIT]:
        entry = row(alert.account)
        entry.alert = alert
        when = "today" if alert.raised_on == today else f"since {alert.raised_on:%d %b}"
        kind = "entered_red" if alert.reason == ChurnAlert.Reason.ENTERED_RED else "alert"
        entry.add(kind, f"{alert.get_reason_display()} ({when})")
    stuck = list(unscored.select_related("owner").order_by("-arr", "pk")[:ATTENTION_LIMIT])
    problems = score_problems([a.pk for a in stuck], today=today)
    for account in stuck:
        problem = problems.get(account.pk)
        row(account).add(
            "unscored",
            f"Cannot be scored: {problem}" if problem else "Not scored yet: re-score it from its page",
        )
    for account in renewals.select_related("owner").order_by("renewal_date", "-arr")[:ATTENTION_LIMIT]:
        days = (account.renewal_date - today).days
        when = "today" if days == 0 else "tomorrow" if days == 1 else f"in {days} days"
        row(account).add("renewal", f"Renews {when} with {account.rag or 'no'} health")
    for account in overdue.select_related("owner").order_by("-arr", "renewal_date")[:ATTENTION_LIMIT]:
        row(account).add(
            "overdue", f"Renewal date passed on {account.renewal_date:%d %b %Y}: renewed or lost? Record it"
        )
    for draft in drafts.select_related("opportunity__account__owner").order_by("-created_at")[
        :ATTENTION_LIMIT
    ]:
        entry = row(draft.opportunity.account)
        entry.draft = draft
        entry.add("draft", "Outreach draft to review")
    for due in qbrs_due.select_related("account__owner").order_by("due_on")[:ATTENTION_LIMIT]:
        entry = row(due.account)
        entry.qbr_due = due
        entry.add("qbr", f"QBR due {due.due_on:%d %b} (contract ends {due.contract_end:%d %b %Y})")
    attention = sorted(rows.values(), key=lambda a: (a.priority, -a.account.arr, a.account.name))

    counts = {
        "open_alerts": alerts.count(),
        "not_scored": totals["not_scored"],
        "renewals": totals["renewals"],
        "overdue_renewals": totals["overdue_renewals"],
        "drafts": drafts.count(),
        "qbrs_due": qbrs_due.count(),
        "tasks_due": tasks_due.count(),
    }

    by_month: dict[date, Decimal] = {}
    for row in per_owner:
        for month, arr in row["at_risk_by_month"].items():
            by_month[month] = by_month.get(month, Decimal("0")) + arr
    arr_at_risk_by_month = sorted(by_month.items())

    start = timezone.make_aware(datetime.combine(today, time.min))
    runs_today = AgentRun.objects.visible_to(user).filter(created_at__gte=start)
    runs = list(runs_today.select_related("requested_by").order_by("-created_at")[:RUNS_SHOWN])
    for run in runs:
        run.details_hidden = not run.details_visible_to(user)
    run_counts = dict(runs_today.values_list("status").annotate(n=Count("id")).order_by())

    team = _team(per_owner, today) if whole_team else []
    return BookToday(
        today=today,
        whole_team=whole_team,
        totals=totals,
        as_of=as_of,
        attention=attention[:ATTENTION_LIMIT],
        more=_not_shown(attention[:ATTENTION_LIMIT], counts),
        counts=counts,
        arr_at_risk_by_month=arr_at_risk_by_month,
        runs=runs,
        run_counts=run_counts,
        team=team,
        tasks=list(tasks_due.select_related("account").order_by("due_on", "pk")[:ATTENTION_LIMIT]),
    )


def _not_shown(shown: list[Attention], counts: dict[str, int]) -> list[tuple[str, int, str]]:
    """Per reason, how many the cut attention list leaves out (an account shows one alert)."""
    more = []
    for kind, count_key, (one, many) in MORE:
        hidden = counts[count_key] - sum(kind in entry.kinds for entry in shown)
        if hidden > 0:
            more.append((count_key, hidden, one if hidden == 1 else many))
    return more


def _team(per_owner: list[dict], today: date) -> list[dict]:
    """One line per owner: the manager's view of who carries what."""
    from django.contrib.auth import get_user_model

    owners = {
        u.pk: u.get_full_name() or u.get_username()
        for u in get_user_model().objects.filter(pk__in=[r["owner_id"] for r in per_owner if r["owner_id"]])
    }
    alerts = dict(
        open_alerts(
            ChurnAlert.objects.exclude(account__status__in=[Account.Status.CHURNED, Account.Status.ARCHIVED]),
            today,
        )
        .values_list("account__owner_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    # Tasks count for the person who does them, whoever owns the account.
    tasks = {
        owner: (n, late)
        for owner, n, late in Task.objects.open()
        .values_list("owner_id")
        .annotate(n=Count("id"), late=Count("id", filter=Q(due_on__lt=today)))
        .order_by()
    }
    team = []
    for r in per_owner:
        open_tasks, overdue_tasks = tasks.get(r["owner_id"], (0, 0))
        owner = r["owner_id"]
        team.append({**r, "name": owners.get(owner, "Unassigned"), "open_alerts": alerts.get(owner, 0),
                     "open_tasks": open_tasks, "overdue_tasks": overdue_tasks})  # fmt: skip
    return sorted(team, key=lambda r: (-r["arr_at_risk"], r["name"]))
