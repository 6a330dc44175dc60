"""The admin index's context: "My book today" (config.book_today) with its pictures and buttons."""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse

from config.book_today import book_today
from csm.admin import charts
from csm.models import ChurnAlert
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


def book_today_context(request) -> dict:
    site = admin.site
    book = book_today(request.user)
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
        value_format="${:,.0f}",
    )
    links = {
        "open_alerts": reverse("admin:csm_churnalert_changelist") + "?state=open",
        "drafts": reverse("admin:sales_outreachdraft_changelist") + "?review=waiting",
        "qbrs_due": reverse("admin:csm_qbrdue_changelist") + "?fulfilled_at__isnull=True",
        "renewals": reverse("admin:csm_account_changelist") + "?renewal_within=60&health=weak",
        "red": reverse("admin:csm_account_changelist") + "?rag__exact=RED",
        "runs": reverse("admin:agents_core_agentrun_changelist"),
    }
    more = [(n, label, links[key]) for key, n, label in book.more]
    return {
        "book": book,
        "more": more,
        "rag_chart": rag_chart,
        "risk_chart": risk_chart,
        "arr_chart": arr_chart,
        "links": links,
    }
