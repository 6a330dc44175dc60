"""The admin index's context: "My book today" (config.book_today) with its pictures and buttons."""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse

from config.book_today import RENEWAL_WINDOW_DAYS, book_today
from csm.admin import charts
from csm.models import ChurnAlert, Task
from csm.templatetags.tend import money
from sales.models import OutreachDraft

RAG_BAR_COLOURS = {**charts.RAG_COLOURS, "Not scored": "#9aa0a6"}
RISK_BAR_COLOURS = {"Low": "#188038", "Medium": "#b06000", "High": "#d93025", "Critical": "#a50e0e"}


def _buttons(entry, site) -> list[str]:
    buttons = []
    if entry.alert is not None:
        buttons.append(
            site.get_model_admin(ChurnAlert).one_click_button(entry.alert, "acknowledge", primary=True)
        )
    if entry.draft is not None:
        buttons.append(site.get_model_admin(OutreachDraft).one_click_button(entry.draft, "approve"))
    return buttons


def tile_links() -> dict[str, str]:
    """Where each figure of the index leads: a list holding exactly what the figure counts."""
    accounts = reverse("admin:csm_account_changelist")
    return {
        "accounts": f"{accounts}?book=current",
        "red": f"{accounts}?book=current&rag__exact=RED",
        "renewals": f"{accounts}?status__exact=active&renewal_within={RENEWAL_WINDOW_DAYS}&health=weak",
        "overdue_renewals": f"{accounts}?status__exact=active&renewal_within=past",
        "not_scored": f"{accounts}?book=current&health=unscored",
        "arr_at_risk": f"{accounts}?book=current&health=at_risk",
        "open_alerts": reverse("admin:csm_churnalert_changelist") + "?book=current&state=open",
        "drafts": reverse("admin:sales_outreachdraft_changelist") + "?book=current&review=waiting",
        "qbrs_due": reverse("admin:csm_qbrdue_changelist") + "?book=current&due=soon",
        "runs": reverse("admin:agents_core_agentrun_changelist"),
        "tasks_due": reverse("admin:csm_task_changelist") + "?mine=yes&due=today",
    }


def _plural(n: int, one: str, many: str) -> str:
    return one if n == 1 else many


def tiles(book, links: dict[str, str]) -> list[dict]:
    """The index's tiles: key, figure, what it is, the list it opens, and whether it is money."""
    t, c = book.totals, book.counts
    rows = [
        ("tasks_due", c["tasks_due"], _plural(c["tasks_due"], "task due", "tasks due") + " (today or late)",
         False),
        ("red", t["red"], "RED", True),
        ("open_alerts", c["open_alerts"], _plural(c["open_alerts"], "open alert", "open alerts"), False),
        ("renewals", c["renewals"], _plural(c["renewals"], "renewal", "renewals")
         + f" in {RENEWAL_WINDOW_DAYS} days with weak health", False),
        ("overdue_renewals", c["overdue_renewals"],
         _plural(c["overdue_renewals"], "renewal overdue", "renewals overdue"), c["overdue_renewals"] > 0),
        ("drafts", c["drafts"], _plural(c["drafts"], "draft to review", "drafts to review"), False),
        ("qbrs_due", c["qbrs_due"], _plural(c["qbrs_due"], "QBR due", "QBRs due"), False),
    ]  # fmt: skip
    return [
        *({"key": k, "figure": n, "label": label, "url": links[k], "money": False, "alarm": alarm}
          for k, n, label, alarm in rows),
        {"key": "arr_at_risk", "figure": t["arr_at_risk"], "label": "ARR at risk (RED or high churn risk)",
         "url": links["arr_at_risk"], "money": True, "alarm": True},
    ]  # fmt: skip


def book_today_context(request) -> dict:
    site = admin.site
    book = book_today(request.user)
    for task in book.tasks:
        task.done_button = site.get_model_admin(Task).one_click_button(task, "done", primary=True)
    for entry in book.attention:
        entry.url = reverse("admin:csm_account_change", args=[entry.account.pk])
        entry.buttons = _buttons(entry, site)
        if entry.draft is not None:
            entry.draft_url = reverse("admin:sales_outreachdraft_change", args=[entry.draft.pk])
        if entry.qbr_due is not None:
            entry.qbr_due_url = reverse("admin:csm_qbrdue_change", args=[entry.qbr_due.pk])
    rag_chart = charts.bars(
        [(name, n, RAG_BAR_COLOURS[name]) for name, n in book.rag_rows],
        label="Accounts by RAG: " + ", ".join(f"{name} {n}" for name, n in book.rag_rows),
    )
    risk_chart = charts.bars(
        [(name, n, RISK_BAR_COLOURS.get(name, "#5f6368")) for name, n in book.risk_rows],
        label="Accounts by churn risk: " + ", ".join(f"{name} {n}" for name, n in book.risk_rows),
    )
    arr_chart = charts.bars(
        [
            (f"{month:%b %Y}", float(arr), charts.RAG_COLOURS["RED"])
            for month, arr in book.arr_at_risk_by_month
        ],
        label="ARR at risk by renewal month",
        value_format=money,
    )
    links = tile_links()
    more = [(n, label, links[key]) for key, n, label in book.more]
    return {
        "book": book,
        "tiles": tiles(book, links),
        "more": more,
        "rag_chart": rag_chart,
        "risk_chart": risk_chart,
        "arr_chart": arr_chart,
        "links": links,
    }
