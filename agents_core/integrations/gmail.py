"""Gmail drafts through google-api-python-client. Drafts only: Tend never sends.

A service account with domain-wide delegation impersonates the mailbox
owner, with the `gmail.compose` scope and nothing else; the only calls are
`users.drafts.list` and `users.drafts.create`.

`drafts.create` has no idempotency key, so a POST that timed out and is
retried could make two drafts. Every message therefore carries a
deterministic Message-ID chosen (and stored) before the first attempt, and
`make_draft` first looks for a draft with that Message-ID
(`rfc822msgid:` search) and returns it if it exists.

Configured from the environment: GMAIL_SERVICE_ACCOUNT_JSON (the key's
JSON) or GMAIL_SERVICE_ACCOUNT_FILE (a path to it). Without either, Gmail
is off and `gmail_configured()` says so. GMAIL_API_ENDPOINT points the
client at another root than Google's (an egress proxy; the tests' loopback
stand-in); the token endpoint is the key's own `token_uri`.
"""

from __future__ import annotations

import base64
import json
from email.message import EmailMessage
from typing import Any

from django.conf import settings
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

SCOPES = ["https://www.googleapis.com/auth/gmail.compose"]
# Quota errors come as 429 or 403 (rateLimitExceeded); 5xx are Google's.
RETRYABLE_STATUS = {403, 429, 500, 502, 503, 504}


class GmailError(Exception):
    def __init__(self, message: str, *, retryable: bool, status: int | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.status = status


def gmail_configured() -> bool:
    return bool(settings.GMAIL_SERVICE_ACCOUNT_JSON or settings.GMAIL_SERVICE_ACCOUNT_FILE)


def _credentials(owner_email: str):
    from google.oauth2 import service_account

    if settings.GMAIL_SERVICE_ACCOUNT_JSON:
        info = json.loads(settings.GMAIL_SERVICE_ACCOUNT_JSON)
    else:
        with open(settings.GMAIL_SERVICE_ACCOUNT_FILE) as key_file:
            info = json.load(key_file)
    return service_account.Credentials.from_service_account_info(info, scopes=SCOPES, subject=owner_email)


def build_service(owner_email: str):
    """A Gmail API client acting as `owner_email` (domain-wide delegation)."""
    options = {"api_endpoint": settings.GMAIL_API_ENDPOINT} if settings.GMAIL_API_ENDPOINT else None
    return build(
        "gmail",
        "v1",
        credentials=_credentials(owner_email),
        cache_discovery=False,
        static_discovery=True,
        client_options=options,
    )


def mime_message(
    *, to: str, sender: str, subject: str, body: str, message_id: str, unsent: bool = False
) -> bytes:
    """The email as MIME bytes (UTF-8, a line per header).

    `unsent` marks it as a draft for mail programs that open .eml files
    (Outlook's and Apple Mail's `X-Unsent: 1`), so it opens ready to send.
    """
    message = EmailMessage()
    if to:
        message["To"] = to
    if sender:
        message["From"] = sender
    message["Subject"] = subject
    message["Message-ID"] = message_id
    if unsent:
        message["X-Unsent"] = "1"
    message.set_content(body)
    return message.as_bytes()


def compose(*, to: str, sender: str, subject: str, body: str, message_id: str) -> str:
    """The MIME message, base64url-encoded as the Gmail API wants it."""
    raw = mime_message(to=to, sender=sender, subject=subject, body=body, message_id=message_id)
    return base64.urlsafe_b64encode(raw).decode()


def _gmail_error(exc: Exception) -> GmailError:
    if isinstance(exc, HttpError):
        status = exc.resp.status
        return GmailError(
            f"Gmail answered {status}: {exc.reason or exc}",
            retryable=status in RETRYABLE_STATUS,
            status=status,
        )
    return GmailError(f"Gmail could not be reached: {type(exc).__name__}: {exc}", retryable=True)


def find_draft(service, message_id: str) -> dict[str, Any] | None:
    query = f"rfc822msgid:{message_id.strip('<>')}"
    found = service.users().drafts().list(userId="me", q=query, maxResults=1).execute(num_retries=0)
    drafts = found.get("drafts") or []
    return drafts[0] if drafts else None


def make_draft(
    owner_email: str, *, to: str, subject: str, body: str, message_id: str, service=None
) -> dict[str, str]:
    """Create the draft in the owner's mailbox, or find the one made before. Returns its ids."""
    try:
        service = service or build_service(owner_email)
        draft = find_draft(service, message_id)
        if draft is None:
            raw = compose(to=to, sender=owner_email, subject=subject, body=body, message_id=message_id)
            draft = (
                service.users()
                .drafts()
                .create(userId="me", body={"message": {"raw": raw}})
                .execute(num_retries=0)
            )
    except GmailError:
        raise
    except Exception as exc:
        raise _gmail_error(exc) from exc
    return {"id": draft["id"], "message_id": (draft.get("message") or {}).get("id", "")}
