"""Writing the outreach draft for an opportunity, and getting it into Gmail.

Exactly one draft per opportunity, whatever happens:

* the row: `OutreachDraft.opportunity` is one-to-one, so a second writer's
  insert fails and it takes the existing row;
* the Gmail call: a worker claims the draft atomically (`claimed_at`, in one
  UPDATE that only one worker can win) before calling Gmail, so two workers
  never both create; a claim older than CLAIM_TIMEOUT belongs to a worker
  that died and may be taken again;
* the crash between Gmail and the database: the Message-ID is stored before
  Gmail is called, and the Gmail module looks for a draft with it before
  creating one, so the retry finds the draft the dead worker made.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.utils import timezone

from agents_core.integrations import gmail
from csm.models import ExpansionOpportunity
from sales.models import OutreachDraft

CLAIM_TIMEOUT = timedelta(minutes=10)
MAX_AUTO_ATTEMPTS = 6
RETRYABLE = (OutreachDraft.Status.PENDING, OutreachDraft.Status.FAILED)


def backoff(attempts: int) -> timedelta:
    """2, 4, 8, ... minutes after each failed attempt, at most 6 hours."""
    return timedelta(minutes=min(2**attempts, 360))


def message_id_for(opportunity: ExpansionOpportunity) -> str:
    owner = opportunity.account.owner
    domain = (owner.email.rsplit("@", 1)[-1] if owner and owner.email else "") or "tend.invalid"
    # Unique across installs writing to one mailbox, stable for this opportunity.
    digest = hashlib.sha256(f"{settings.SECRET_KEY}:{opportunity.pk}".encode()).hexdigest()[:16]
    return f"<tend-opportunity-{opportunity.pk}-{digest}@{domain}>"


def compose(opportunity: ExpansionOpportunity) -> dict[str, str]:
    """Subject and body for the customer, from templates/sales/outreach/. The talk
    track is the rep's guidance and never goes into the email."""
    account, owner = opportunity.account, opportunity.account.owner
    context = {
        "opportunity": opportunity,
        "account": account,
        "evidence": opportunity.evidence,
        "addon": opportunity.addon,
        "owner_name": (owner.get_full_name() or owner.get_username()) if owner else "",
        "owner_email": owner.email if owner else "",
    }
    template = f"sales/outreach/{opportunity.kind}"
    return {
        "subject": " ".join(render_to_string(f"{template}_subject.txt", context, using="text").split()),
        "body": render_to_string(f"{template}_body.txt", context, using="text").strip() + "\n",
    }


def ensure_draft(opportunity: ExpansionOpportunity, *, run=None) -> OutreachDraft:
    """The opportunity's one draft row, written now if it does not exist yet."""
    existing = OutreachDraft.objects.filter(opportunity=opportunity).first()
    if existing:
        return existing
    owner = opportunity.account.owner
    try:
        with transaction.atomic():
            return OutreachDraft.objects.create(
                opportunity=opportunity,
                to=opportunity.account.primary_contact_email,
                sender=owner.email if owner else "",
                message_id=message_id_for(opportunity),
                run=run,
                **compose(opportunity),
            )
    except IntegrityError:  # another worker wrote it first
        return OutreachDraft.objects.get(opportunity=opportunity)


def _claim(draft: OutreachDraft) -> bool:
    now = timezone.now()
    fresh = Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - CLAIM_TIMEOUT)
    return bool(
        OutreachDraft.objects.filter(fresh, pk=draft.pk, status__in=RETRYABLE).update(
            claimed_at=now, attempts=F("attempts") + 1
        )
    )


def _finish(draft: OutreachDraft, **fields: Any) -> None:
    fields.setdefault("error", "")
    OutreachDraft.objects.filter(pk=draft.pk).update(claimed_at=None, updated_at=timezone.now(), **fields)
    if fields["status"] in (OutreachDraft.Status.CREATED, OutreachDraft.Status.LOCAL):
        ExpansionOpportunity.objects.filter(
            pk=draft.opportunity_id, status=ExpansionOpportunity.Status.OPEN
        ).update(status=ExpansionOpportunity.Status.DRAFTED, updated_at=timezone.now())


def deliver(draft: OutreachDraft) -> dict[str, Any]:
    """Put the draft into the owner's Gmail (or keep it local). Safe to call any number of times."""
    if not _claim(draft):
        draft.refresh_from_db()
        return {
            "draft": draft.pk,
            "status": draft.status,
            "skipped": "done already, or another worker has it",
        }
    draft.refresh_from_db()
    if not gmail.gmail_configured():
        _finish(draft, status=OutreachDraft.Status.LOCAL, next_retry_at=None)
        return {"draft": draft.pk, "status": OutreachDraft.Status.LOCAL}
    if not draft.sender:
        _finish(
            draft,
            status=OutreachDraft.Status.FAILED,
            error="The account has no owner with an email address: set one, then retry.",
            next_retry_at=None,
        )
        return {"draft": draft.pk, "status": OutreachDraft.Status.FAILED}
    try:
        made = gmail.make_draft(
            draft.sender, to=draft.to, subject=draft.subject, body=draft.body, message_id=draft.message_id
        )
    except gmail.GmailError as exc:
        retry_at = None
        if exc.retryable and draft.attempts < MAX_AUTO_ATTEMPTS:
            retry_at = timezone.now() + backoff(draft.attempts)
        _finish(draft, status=OutreachDraft.Status.FAILED, error=str(exc), next_retry_at=retry_at)
        return {
            "draft": draft.pk,
            "status": OutreachDraft.Status.FAILED,
            "error": str(exc),
            "retry_at": str(retry_at),
        }
    _finish(
        draft,
        status=OutreachDraft.Status.CREATED,
        gmail_draft_id=made["id"],
        gmail_message_id=made["message_id"],
        next_retry_at=None,
    )
    return {"draft": draft.pk, "status": OutreachDraft.Status.CREATED, "gmail_draft_id": made["id"]}


def handle_opportunity(opportunity_id: int, *, run=None) -> dict[str, Any]:
    opportunity = ExpansionOpportunity.objects.select_related("account__owner", "addon").get(
        pk=opportunity_id
    )
    return deliver(ensure_draft(opportunity, run=run))


def due_for_retry(limit: int = 50) -> list[OutreachDraft]:
    """Failed drafts whose backoff has passed, and drafts left claimed by a dead worker."""
    now = timezone.now()
    return list(
        OutreachDraft.objects.filter(
            Q(status=OutreachDraft.Status.FAILED, next_retry_at__lte=now)
            | Q(status__in=RETRYABLE, claimed_at__lt=now - CLAIM_TIMEOUT)
        ).order_by("next_retry_at", "pk")[:limit]
    )


class NotRetryable(Exception):
    pass


class NotApprovable(Exception):
    pass


def request_retry(draft: OutreachDraft, *, trigger: str, user=None):
    """Queue another attempt now (from the admin or the API), whatever the backoff says."""
    from agents_core.dispatch import enqueue

    if draft.status not in RETRYABLE:
        raise NotRetryable(
            f"The draft is {draft.get_status_display().lower()}; only failed drafts are retried."
        )
    OutreachDraft.objects.filter(pk=draft.pk).update(next_retry_at=None)
    return enqueue(
        "sales",
        "handle_expansion_opportunity",
        {"opportunity_id": draft.opportunity_id},
        trigger=trigger,
        requested_by=user,
    )


def approve(draft: OutreachDraft, user) -> bool:
    """A person has read the draft and passes it for sending (from Gmail, by them).

    Only a written draft can be approved, and only once: the first approval
    (who and when) is the record. Returns whether this call approved it.
    """
    if draft.status not in OutreachDraft.REVIEWABLE:
        raise NotApprovable(
            f"The draft is {draft.get_status_display().lower()}; there is nothing to approve yet."
        )
    now = timezone.now()
    approved = OutreachDraft.objects.filter(
        pk=draft.pk, approved_at__isnull=True, status__in=OutreachDraft.REVIEWABLE
    ).update(approved_at=now, approved_by=user)
    if approved:
        draft.approved_at, draft.approved_by = now, user
    return bool(approved)


class NotEditable(Exception):
    """The draft's text cannot be changed here; the message says why (and where it can)."""


def edit(draft: OutreachDraft, *, subject: str, body: str, user) -> bool:
    """Change a local draft's subject and body before approval, keeping the agent's text
    (the first time) and who edited it and when. Returns whether anything changed."""
    if draft.status == OutreachDraft.Status.CREATED:
        raise NotEditable("This draft is in the owner's Gmail: edit it there, where it will be sent from.")
    if not draft.editable:
        raise NotEditable(
            "Only a draft waiting for review can be edited; this one is approved or not written."
        )
    subject, body = " ".join(subject.split()), body.replace("\r\n", "\n").strip()
    if not subject or not body:
        raise NotEditable("A draft needs a subject and a body.")
    if (subject, body) == (draft.subject, draft.body):
        return False
    now = timezone.now()
    with transaction.atomic():
        locked = OutreachDraft.objects.select_for_update().get(pk=draft.pk)
        if not locked.editable:
            raise NotEditable("The draft was approved meanwhile; it can no longer be edited.")
        if not locked.edited_at:
            locked.original_subject, locked.original_body = locked.subject, locked.body
        locked.subject, locked.body, locked.edited_at, locked.edited_by = subject, body, now, user
        locked.save(
            update_fields=["subject", "body", "edited_at", "edited_by", "original_subject", "original_body",
                           "updated_at"]
        )  # fmt: skip
    draft.refresh_from_db()
    return True


def as_eml(draft: OutreachDraft) -> bytes:
    """The draft as an .eml file a mail program opens ready to send (Tend never sends it)."""
    return gmail.mime_message(
        to=draft.to, sender=draft.sender, subject=draft.subject, body=draft.body,
        message_id=draft.message_id, unsent=True,
    )  # fmt: skip


def mailto_url(draft: OutreachDraft) -> str:
    """A mailto: link that opens the draft in the person's own mail program."""
    from urllib.parse import quote

    return f"mailto:{quote(draft.to, safe='@')}?subject={quote(draft.subject)}&body={quote(draft.body)}"
