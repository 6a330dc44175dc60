"""`POST /slack/interactions`: the buttons on Tend's Slack messages (the app's Interactivity URL).

Every request is checked before anything is read: Slack's signature over the body with the
signing secret, made within the last five minutes (a forged or replayed request is a 401). The
clicking Slack user is then a Tend user only by the email address Slack has for them, matched to
one active Tend user; and a button acts only on what that user may see in Tend (their own
accounts, or every one with `csm.view_all_accounts`): the same rule as the admin and the API.

The answer goes back at once (Slack wants one within three seconds); the confirmation replaces
the buttons through the interaction's `response_url`, and a failure there changes nothing done.
"""

from __future__ import annotations

import json
import logging

import httpx
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.http import HttpResponse, JsonResponse, QueryDict
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from agents_core.integrations import slack as slack_api
from csm.alerts.delivery import acknowledge, snooze
from csm.models import ChurnAlert, Task
from csm.playbooks import tasks

logger = logging.getLogger(__name__)

IDENTITY_CACHE_SECONDS = 3600
REPLY_TIMEOUT = 2.0
SNOOZE_DAYS = 7


@csrf_exempt
@require_POST
def interactions(request):
    body = request.body
    if not slack_api.request_is_from_slack(
        body, request.headers.get("X-Slack-Request-Timestamp"), request.headers.get("X-Slack-Signature")
    ):
        return JsonResponse({"error": "not signed by Slack, or too old"}, status=401)
    try:
        payload = json.loads(QueryDict(body.decode("utf-8")).get("payload") or "")
    except (ValueError, UnicodeDecodeError):
        return JsonResponse({"error": "no interaction payload"}, status=400)
    if not isinstance(payload, dict) or payload.get("type") != "block_actions":
        return HttpResponse(status=200)  # nothing Tend answers to
    actions = payload.get("actions") if isinstance(payload.get("actions"), list) else []
    action = actions[0] if actions and isinstance(actions[0], dict) else {}
    if str(action.get("action_id", "")).endswith(".open"):
        return HttpResponse(status=200)  # a link button: Slack opened the link, nothing to do here
    slack_user = (payload.get("user") or {}).get("id") if isinstance(payload.get("user"), dict) else None
    user = tend_user(slack_user) if isinstance(slack_user, str) else None
    if user is None:
        said = "Tend does not know your Slack account: its email must be a Tend user's."
    else:
        said = act(user, str(action.get("action_id", "")), str(action.get("value", "")))
    _reply(payload.get("response_url"), said)
    return HttpResponse(status=200)


def tend_user(slack_user_id: str):
    """The one active Tend user with the Slack user's email, or None."""
    if not slack_user_id or len(slack_user_id) > 40:
        return None
    User = get_user_model()
    key = f"slack-user:{slack_user_id}"
    pk = cache.get(key)
    if pk is None:
        client = slack_api.slack_client()
        if client is None:
            return None
        try:
            email = slack_api.user_email(client, slack_user_id)
        except slack_api.SlackApiError:
            logger.warning("Slack could not say who %s is", slack_user_id)
            return None
        found = list(User.objects.filter(email__iexact=email, is_active=True)[:2]) if email else []
        pk = found[0].pk if len(found) == 1 else 0  # two users with one email: neither
        cache.set(key, pk, IDENTITY_CACHE_SECONDS)
    return User.objects.filter(pk=pk, is_active=True).first() if pk else None


def act(user, action_id: str, value: str) -> str:
    """Do what the button says, on what the user may see; the answer, in words."""
    if not value.isdigit():
        return "That button is not one of Tend's."
    if action_id in ("alert.acknowledge", "alert.snooze"):
        alert = ChurnAlert.objects.visible_to(user).select_related("account").filter(pk=int(value)).first()
        if alert is None or not user.has_perm("csm.change_churnalert"):
            return "You cannot act on that alert in Tend."
        if action_id == "alert.acknowledge":
            acknowledge(alert, user)
            return f"Acknowledged the alert on {alert.account.name}."
        snooze(alert, SNOOZE_DAYS)
        return f"Snoozed the alert on {alert.account.name} for {SNOOZE_DAYS} days."
    if action_id == "task.done":
        task = Task.objects.visible_to(user).filter(pk=int(value)).first()
        if task is None or not user.has_perm("csm.change_task"):
            return "You cannot act on that task in Tend."
        try:
            tasks.complete(task, by=user)
        except tasks.TaskRefused as exc:
            return str(exc)
        return f"Done: {task.title}."
    return "That button is not one of Tend's."


def _reply(response_url, text: str) -> None:
    """Replace the message's buttons with what was done (only Slack's own hooks are posted to)."""
    if not isinstance(response_url, str) or not response_url.startswith(settings.SLACK_HOOKS_URL):
        return
    try:
        httpx.post(response_url, json={"replace_original": False, "response_type": "ephemeral", "text": text},
                   timeout=REPLY_TIMEOUT)  # fmt: skip
    except httpx.HTTPError:
        logger.warning("Could not answer a Slack interaction through its response_url")
