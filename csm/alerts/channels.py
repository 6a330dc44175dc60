"""The channels a churn alert goes out on, beyond the admin itself.

Each channel is a function `(alert, delivery) -> external id` that raises
ChannelSkipped when it is not configured (not a failure) and any other
exception when it fails (recorded on the delivery and retried).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import httpx
from django.conf import settings
from django.template.loader import render_to_string

from agents_core import events
from agents_core.integrations import gmail
from agents_core.integrations import slack as slack_api
from agents_core.integrations.notion import NotionGateway, notion_client
from csm.models import AlertDelivery, ChurnAlert
from csm.templatetags.tend import money

CHAT_TIMEOUT = 10.0
NOTION_TEXT_LIMIT = 2000  # characters in one rich-text item

EVENT_TYPE = "csm.churn_alert"


class ChannelSkipped(Exception):
    pass


def event_bus(alert: ChurnAlert, delivery: AlertDelivery) -> str:
    account = alert.account
    return events.publish(
        EVENT_TYPE,
        {
            "alert": alert.pk,
            "account": {"id": account.pk, "external_id": account.external_id, "name": account.name},
            "owner": account.owner.get_username() if account.owner else None,
            "reason": alert.reason,
            "reasons": alert.reasons,
            "explanation": alert.explanation,
            "score": alert.score,
            "previous_score": alert.previous_score,
            "rag": alert.rag,
            "churn_risk": alert.churn_risk,
            "arr": str(alert.arr),
            "renewal_date": alert.renewal_date.isoformat() if alert.renewal_date else None,
            "raised_at": alert.raised_at.isoformat(),
        },
        # Stable per alert, so consumers can drop the repeats of a retry.
        event_id=f"churn-alert-{alert.pk}",
    )


def message_text(alert: ChurnAlert) -> dict[str, str]:
    context = {"alert": alert, "account": alert.account, "admin_url": _admin_url(alert)}
    return {
        "subject": " ".join(render_to_string("csm/alerts/subject.txt", context, using="text").split()),
        "body": render_to_string("csm/alerts/body.txt", context, using="text").strip() + "\n",
    }


def _admin_url(alert: ChurnAlert) -> str:
    base = settings.TEND_BASE_URL.rstrip("/")
    return f"{base}/admin/csm/churnalert/{alert.pk}/change/" if base else ""


def gmail_draft(alert: ChurnAlert, delivery: AlertDelivery) -> str:
    """A draft in the owner's own mailbox, addressed to them: the alert where they read mail."""
    if not gmail.gmail_configured():
        raise ChannelSkipped("Gmail is not configured (GMAIL_SERVICE_ACCOUNT_JSON or _FILE).")
    owner = alert.account.owner
    if owner is None or not owner.email:
        raise ChannelSkipped("The account has no owner with an email address.")
    digest = hashlib.sha256(f"{settings.SECRET_KEY}:alert:{alert.pk}".encode()).hexdigest()[:16]
    domain = owner.email.rsplit("@", 1)[-1]
    text = message_text(alert)
    made = gmail.make_draft(
        owner.email,
        to=owner.email,
        subject=text["subject"],
        body=text["body"],
        message_id=f"<tend-alert-{alert.pk}-{digest}@{domain}>",  # found again, not made twice, on a retry
    )
    return made["id"]


def google_chat(alert: ChurnAlert, delivery: AlertDelivery) -> str:
    """A message in the team's Google Chat space, through its incoming webhook."""
    if not settings.CHAT_WEBHOOK_URL:
        raise ChannelSkipped("Google Chat is not configured (CHAT_WEBHOOK_URL).")
    text = message_text(alert)
    # A client-assigned message id makes the post idempotent: Chat answers 409
    # ALREADY_EXISTS to a repeat, e.g. a retry after a worker died before it
    # could record the first post.
    message_id = f"client-tend-alert-{alert.pk}"
    link = _admin_url(alert)
    # The webhook URL carries its own key and token in the query: merge ours
    # into it (passing params= to httpx would replace that query, and Chat
    # would refuse the post).
    url = httpx.URL(settings.CHAT_WEBHOOK_URL).copy_merge_params(
        {
            "messageId": message_id,
            "threadKey": f"tend-alert-{alert.pk}",
            "messageReplyOption": "REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD",
        }
    )
    response = httpx.post(
        url,
        json={"text": f"*{text['subject']}*\n{alert.explanation}" + (f"\n{link}" if link else "")},
        timeout=CHAT_TIMEOUT,
    )
    if response.status_code == 409:
        return message_id
    response.raise_for_status()
    try:
        return response.json().get("name", "") or message_id
    except ValueError:
        return message_id


def notion_page(alert: ChurnAlert, delivery: AlertDelivery) -> str:
    """The account's Notion page gets the alert in its NOTION_ALERT_PROPERTY (a text property).

    Setting a property is idempotent, so a retry can never add a second copy.
    """
    client = notion_client()
    if client is None:
        raise ChannelSkipped("Notion is not configured (NOTION_TOKEN).")
    page_id = alert.account.notion_page_id
    if not page_id:
        raise ChannelSkipped("The account has no Notion page.")
    content = f"{alert.raised_on.isoformat()}: {alert.explanation}"[:NOTION_TEXT_LIMIT]
    NotionGateway(client).call(
        client.pages.update,
        page_id=page_id,
        properties={settings.NOTION_ALERT_PROPERTY: {"rich_text": [{"text": {"content": content}}]}},
    )
    return page_id


def slack_blocks(alert: ChurnAlert, *, shared: bool) -> list[dict]:
    """The alert in Block Kit. In a shared channel only the headline (every member sees it, and
    members may not all see the account): the details are one click away, behind Tend's login."""
    text = message_text(alert)
    blocks: list[dict] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{slack_api.escape(text['subject'])}*"}}
    ]
    if not shared:
        account = alert.account
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": slack_api.escape(alert.explanation)[:2900]},
            }
        )
        facts = [f"*Score* {alert.score:.0f} ({alert.rag})", f"*ARR* {money(alert.arr)}"]
        if account.renewal_date:
            facts.append(f"*Renewal* {account.renewal_date:%d %b %Y}")
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(facts)}]})
    buttons: list[dict] = []
    if not shared:
        buttons += [
            {"type": "button", "action_id": "alert.acknowledge", "value": str(alert.pk), "style": "primary",
             "text": {"type": "plain_text", "text": "Acknowledge"}},
            {"type": "button", "action_id": "alert.snooze", "value": str(alert.pk),
             "text": {"type": "plain_text", "text": "Snooze a week"}},
        ]  # fmt: skip
    if link := _admin_url(alert):
        buttons.append({"type": "button", "action_id": "alert.open", "url": link,
                        "text": {"type": "plain_text", "text": "Open in Tend"}})  # fmt: skip
    if buttons:
        blocks.append({"type": "actions", "block_id": f"alert-{alert.pk}", "elements": buttons})
    return blocks


def slack(alert: ChurnAlert, delivery: AlertDelivery) -> str:
    """The owner's DM from the app (everything, with buttons), or the team's channel (the headline)."""
    client = slack_api.slack_client()
    if client is None:
        raise ChannelSkipped("Slack is not configured (SLACK_BOT_TOKEN).")
    if delivery.external_id:
        return delivery.external_id  # posted before and recorded
    shared = bool(settings.SLACK_ALERT_CHANNEL)
    if shared:
        channel = settings.SLACK_ALERT_CHANNEL
    else:
        owner = alert.account.owner
        if owner is None or not owner.email:
            raise ChannelSkipped("The account has no owner with an email address to find in Slack.")
        channel = slack_api.dm_channel(client, owner.email)
    text = message_text(alert)["subject"]
    # A second attempt looks for the first one's message before posting (slack_api.post).
    return slack_api.post(client, channel, text=text, blocks=slack_blocks(alert, shared=shared),
                          key=f"alert-delivery:{delivery.pk}", retry=delivery.attempts > 1)  # fmt: skip


# Channel -> sender, besides the admin (delivered by the alert existing).
CHANNELS: dict[str, Callable[[ChurnAlert, AlertDelivery], str]] = {
    AlertDelivery.Channel.EVENT: event_bus,
    AlertDelivery.Channel.GMAIL: gmail_draft,
    AlertDelivery.Channel.CHAT: google_chat,
    AlertDelivery.Channel.NOTION: notion_page,
    AlertDelivery.Channel.SLACK: slack,
}
