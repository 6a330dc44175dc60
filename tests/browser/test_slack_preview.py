"""What a CSM sees in Slack, as a picture for the docs: the Block Kit Tend builds for an alert
(the owner's DM) and for a morning digest, drawn as Slack lays those blocks out. The blocks are
the product's own (csm.alerts.channels, csm.playbooks.notices), checked by the Slack stand-in."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from csm.alerts.channels import slack_blocks
from csm.models import ChurnAlert, Notice
from csm.playbooks.notices import message
from csm.playbooks.tasks import create_task
from tests.fakes.slack import block_problem

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

STYLE = """
body { font: 15px/1.46 -apple-system, 'Segoe UI', Roboto, sans-serif; background: #fff; color: #1d1c1d;
       margin: 0; padding: 20px; width: 720px; }
.msg { display: flex; gap: 10px; margin-bottom: 24px; }
.avatar { width: 36px; height: 36px; border-radius: 6px; background: #2f7d4f; color: #fff;
          font-weight: 700; display: grid; place-items: center; }
.who b { margin-right: 6px; } .who span { color: #616061; font-size: 12px; }
.app { background: #e8e8e8; color: #616061; font-size: 10px; padding: 0 3px; border-radius: 2px; }
.section { margin: 4px 0; } .context { color: #616061; font-size: 13px; margin: 4px 0; }
.header { font-weight: 900; font-size: 18px; margin: 4px 0 8px; }
.row { display: flex; justify-content: space-between; align-items: center; gap: 12px; }
.actions { display: flex; gap: 8px; margin-top: 8px; }
button { font: 600 14px sans-serif; border: 1px solid #bbb; background: #fff; border-radius: 4px;
         padding: 4px 12px; }
button.primary { background: #007a5a; color: #fff; border-color: #007a5a; }
"""


def _mrkdwn(text: str) -> str:
    text = html.escape(html.unescape(text))
    text = re.sub(r"&lt;(https?://[^|&]+)\|([^&]+)&gt;", r'<a href="\1">\2</a>', text)
    return re.sub(r"\*([^*]+)\*", r"<b>\1</b>", text).replace("\n", "<br>")


def _button(element: dict) -> str:
    kind = "primary" if element.get("style") == "primary" else ""
    return f'<button class="{kind}">{html.escape(element["text"]["text"])}</button>'


def _draw(blocks: list[dict]) -> str:
    out = []
    for block in blocks:
        if block["type"] == "header":
            out.append(f'<div class="header">{html.escape(block["text"]["text"])}</div>')
        elif block["type"] == "section":
            accessory = _button(block["accessory"]) if "accessory" in block else ""
            out.append(
                f'<div class="section row"><div>{_mrkdwn(block["text"]["text"])}</div>{accessory}</div>'
            )
        elif block["type"] == "context":
            out.append(
                f'<div class="context">{" ".join(_mrkdwn(e["text"]) for e in block["elements"])}</div>'
            )
        elif block["type"] == "actions":
            out.append(f'<div class="actions">{"".join(_button(e) for e in block["elements"])}</div>')
    return "".join(out)


def test_slack_messages_preview(browser, make_user, make_account, screenshot, tmp_path, settings):
    settings.TEND_BASE_URL = "https://tend.example.com"
    maya = make_user("maya", email="maya@example.com")
    account = make_account(name="Northwind Logistics", owner=maya)
    today = timezone.localdate()
    alert = ChurnAlert.objects.create(
        account=account, raised_on=today, raised_at=timezone.now(), reason="entered_red",
        reasons=["entered_red"],
        explanation="Entered RED at 38 (was 71): weekly active users fell by a third over four weeks, and "
                    "nobody has logged in since 3 Nov. Renewal in 54 days.",
        score=38.0, previous_score=71.0, rag="RED", churn_risk="high", arr=account.arr,
    )  # fmt: skip
    for days, title in ((-1, "Call the champion: what changed for them?"), (0, "Send the renewal proposal")):
        create_task(account=account, owner=maya, title=title, due_on=today + timedelta(days=days))
    digest = Notice(recipient=maya, kind=Notice.Kind.DIGEST, key="preview")
    messages = [slack_blocks(alert, shared=False), message(digest, today=today)[1]]
    assert all(block_problem(blocks) is None for blocks in messages)  # Slack would take them
    body = "".join(
        '<div class="msg"><div class="avatar">T</div><div><div class="who"><b>Tend</b>'
        f'<span class="app">APP</span> <span>08:30</span></div>{_draw(blocks)}</div></div>'
        for blocks in messages
    )
    page = tmp_path / "slack.html"
    page.write_text(f"<!doctype html><meta charset=utf-8><style>{STYLE}</style>{body}")
    browser.get(page.as_uri())
    assert screenshot("slack-preview", (760, 620)).stat().st_size > 5_000
