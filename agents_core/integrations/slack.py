"""Slack through slack_sdk: post a message to a person (a DM from the app) or a channel, and check
that a request claiming to come from Slack does.

Switched off cleanly while SLACK_BOT_TOKEN is empty: `slack_client()` is then None. The client
retries what Slack asks it to (429 with Retry-After, connection errors) with slack_sdk's own
handlers; anything else raises SlackApiError for the caller to record and retry later.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier

TIMEOUT = 10
# Tend's messages carry this event type, with their key, in Slack message metadata.
METADATA_EVENT = "tend_message"

__all__ = [
    "SlackApiError",
    "dm_channel",
    "escape",
    "post",
    "request_is_from_slack",
    "slack_client",
    "user_email",
]


def escape(text: str) -> str:
    """Text as Slack's mrkdwn shows it literally: its three control characters escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_client() -> WebClient | None:
    if not settings.SLACK_BOT_TOKEN:
        return None
    return WebClient(
        token=settings.SLACK_BOT_TOKEN,
        base_url=settings.SLACK_API_URL,
        timeout=TIMEOUT,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=2), ConnectionErrorRetryHandler()],
    )


def dm_channel(client: WebClient, email: str) -> str:
    """The app's direct-message channel with the Slack user who has this email."""
    user = client.users_lookupByEmail(email=email)["user"]["id"]
    return client.conversations_open(users=user)["channel"]["id"]


def post(
    client: WebClient, channel: str, *, text: str, blocks: list[dict[str, Any]], key: str, retry: bool = False
) -> str:
    """Post a message once; returns its `channel:ts`, which is how Slack names a message.

    Slack's chat.postMessage has no idempotency key, so each message carries Tend's `key` in its
    metadata, and a retry (`retry`: an earlier attempt may have posted before its worker died)
    first looks for it in the channel's recent history and returns that message instead of
    posting a second one (scopes im:history, channels:history).
    """
    if retry and (found := find_posted(client, channel, key)):
        return found
    answer = client.chat_postMessage(
        channel=channel, text=text, blocks=blocks, unfurl_links=False,
        metadata={"event_type": METADATA_EVENT, "event_payload": {"key": key}},
    )  # fmt: skip
    return f"{answer['channel']}:{answer['ts']}"


def find_posted(client: WebClient, channel: str, key: str, *, look_back: int = 200) -> str | None:
    """The `channel:ts` of the message posted with `key` among the channel's latest, or None."""
    answer = client.conversations_history(channel=channel, limit=look_back, include_all_metadata=True)
    for message in answer.get("messages") or []:
        metadata = message.get("metadata") or {}
        if (
            metadata.get("event_type") == METADATA_EVENT
            and (metadata.get("event_payload") or {}).get("key") == key
        ):
            return f"{channel}:{message['ts']}"
    return None


def user_email(client: WebClient, slack_user_id: str) -> str:
    """The email address of a Slack user (the `users:read.email` scope), lower-cased; "" if none."""
    profile = client.users_info(user=slack_user_id)["user"].get("profile", {})
    return str(profile.get("email") or "").strip().lower()


def request_is_from_slack(body: bytes, timestamp: str | None, signature: str | None) -> bool:
    """Slack signed this request with our signing secret, within the last five minutes (not a replay)."""
    if not settings.SLACK_SIGNING_SECRET or not timestamp or not signature:
        return False
    if not timestamp.isdigit() or len(timestamp) > 12:  # slack_sdk would raise on a non-number
        return False
    return SignatureVerifier(settings.SLACK_SIGNING_SECRET).is_valid(body, timestamp, signature)
