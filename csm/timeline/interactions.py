"""Logging what happened with a customer, and the input the score reads from it.

The score's "days since last interaction" follows from the interactions logged: the latest one's
day, or a later day another source gave (an engagement the CRM synced, a value the API wrote).
Deleting the latest interaction takes the input back to the one before, if the input came from
the interactions.
"""

from __future__ import annotations

from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from agents_core.bulk import update_rows
from csm.models import Account, AccountSignals
from csm.scoring.inputs import stamp_sources
from csm.scoring.on_change import rescore_soon
from csm.timeline.models import Interaction

SOURCE = "interactions"
CHUNK = 900
INPUT = "days_since_last_interaction"


class InteractionRefused(Exception):
    pass


def check(*, account: Account, occurred_on: date, participants=(), today: date | None = None) -> None:
    today = today or timezone.localdate()
    if occurred_on > today:
        raise InteractionRefused("It cannot have happened after today.")
    if occurred_on.year < 2000:
        raise InteractionRefused("That is too long ago to be this account's story.")
    strangers = [str(c) for c in participants if c.account_id != account.pk]
    if strangers:
        raise InteractionRefused(f"Not contacts of {account}: {', '.join(strangers)}.")


def log_interaction(
    *, account: Account, kind: str, occurred_on: date, title: str, by, body: str = "", sentiment: str = "",
    participants=(),
) -> Interaction:  # fmt: skip
    check(account=account, occurred_on=occurred_on, participants=participants)
    with transaction.atomic():
        interaction = Interaction(account=account, kind=kind, occurred_on=occurred_on, title=title, body=body,
                                  sentiment=sentiment, author=by)  # fmt: skip
        try:
            interaction.full_clean()
        except ValidationError as exc:
            raise InteractionRefused(
                "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
            ) from exc
        interaction.save()
        interaction.participants.set(participants)
        refresh_last_interaction([account.pk])
    return interaction


def refresh_last_interaction(account_ids, *, forget_later: bool = False) -> None:
    """Set each account's last-interaction input from its interactions: the latest day logged,
    unless another source gave a later one. `forget_later` (after a delete) lets the input move
    back when it came from the interactions. A few queries a thousand accounts (a person logging,
    or a CRM page of engagements)."""
    ids = sorted(set(account_ids))
    now = timezone.now()
    changed: list[int] = []
    for first in range(0, len(ids), CHUNK):
        chunk = ids[first : first + CHUNK]
        latest = dict(
            Interaction.objects.filter(account_id__in=chunk)
            .values_list("account_id")
            .annotate(day=Max("occurred_on"))
            .order_by()
        )
        current = {s.account_id: s for s in AccountSignals.objects.filter(account_id__in=chunk)}
        updates, new = [], []
        for pk in chunk:
            signals = current.get(pk) or AccountSignals(account_id=pk)
            stored, day = signals.last_interaction_on, latest.get(pk)
            ours = ((signals.sources or {}).get(INPUT) or {}).get("source") == SOURCE
            if forget_later and ours:
                pass  # the input was ours: it follows the interactions, back as well as forward
            elif day is None or (stored is not None and stored >= day):
                continue  # nothing logged, or a later (or the same) day from elsewhere stands
            if stored == day:
                continue
            sources = stamp_sources(signals.sources or {}, ["last_interaction_on"], source=SOURCE, at=now)
            if pk in current:
                updates.append((day, sources, now, pk))
            else:
                new.append(AccountSignals(account_id=pk, last_interaction_on=day, sources=sources))
            changed.append(pk)
        update_rows(AccountSignals, ["last_interaction_on", "sources", "updated_at"], updates)
        AccountSignals.objects.bulk_create(new, ignore_conflicts=True)
    rescore_soon(changed)


def delete_interaction(interaction: Interaction) -> None:
    with transaction.atomic():
        account_id = interaction.account_id
        interaction.delete()
        refresh_last_interaction([account_id], forget_later=True)
