"""Keeping each account's "champion left" day (AccountSignals.champion_left_on) true to its contacts.

Refreshed where the contacts change: a person edits one (admin, API), the CRM pull archives one,
the usage stream sees one (csm.usage.rollup), and the daily sweep for champions whose silence
crossed TEND_CHAMPION_INACTIVE_DAYS since yesterday. The score reads the day through the profile's
"champion left" rule (csm.scoring.inputs.cap_engagement).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db.models import Max
from django.db.models.functions import Lower
from django.utils import timezone

from agents_core.bulk import update_rows
from csm.contacts import rules
from csm.models import AccountSignals, Contact, TrackedUser
from csm.scoring.on_change import rescore_soon

CHUNK = 900


def _day(moment: datetime | None) -> date | None:
    return timezone.localdate(moment) if moment is not None else None


def refresh_champions(account_ids: Iterable[int], *, today: date | None = None) -> list[int]:
    """Derive the champion-left day of these accounts again; returns the accounts it changed for
    (asked to be scored again)."""
    today = today or timezone.localdate()
    ids = sorted({pk for pk in account_ids if pk})
    changed: list[int] = []
    for first in range(0, len(ids), CHUNK):
        chunk = ids[first : first + CHUNK]
        champions = defaultdict(list)
        for account_id, archived_at, active_at in Contact.objects.filter(
            account_id__in=chunk, role=Contact.Role.CHAMPION
        ).values_list("account_id", "archived_at", "last_active_at"):
            champions[account_id].append((_day(archived_at), _day(active_at)))
        current = dict(
            AccountSignals.objects.filter(account_id__in=chunk).values_list("account_id", "champion_left_on")
        )
        updates, new = [], []
        for pk in chunk:
            value = rules.champion_left_on(
                champions.get(pk, ()), today=today, inactive_days=settings.TEND_CHAMPION_INACTIVE_DAYS
            )
            if pk in current:
                if current[pk] != value:
                    updates.append((value, pk))
            elif value is not None:
                new.append(AccountSignals(account_id=pk, champion_left_on=value))
            else:
                continue
            if pk not in current or current[pk] != value:
                changed.append(pk)
        update_rows(AccountSignals, ["champion_left_on"], updates)
        AccountSignals.objects.bulk_create(new, ignore_conflicts=True)
    rescore_soon(changed)
    return changed


def sweep_inactive(*, today: date | None = None) -> dict[str, int]:
    """The daily sweep: accounts one of whose champions crossed the inactivity line since last week."""
    today = today or timezone.localdate()
    line = today - timedelta(days=settings.TEND_CHAMPION_INACTIVE_DAYS + 1)
    start = timezone.make_aware(datetime.combine(line - timedelta(days=7), time.min))
    end = timezone.make_aware(datetime.combine(line + timedelta(days=1), time.min))
    ids = set(
        Contact.objects.filter(
            role=Contact.Role.CHAMPION,
            archived_at__isnull=True,
            last_active_at__gte=start,
            last_active_at__lt=end,
        ).values_list("account_id", flat=True)
    )
    return {"accounts": len(ids), "changed": len(refresh_champions(ids, today=today))}


def activity_from_usage(account_ids: Iterable[int], *, now: datetime | None = None) -> int:
    """Each contact's last activity from the tracked users with their email (a few queries a chunk);
    with TEND_CONTACTS_FROM_USAGE, an identified user no contact has becomes one (role user)."""
    now = now or timezone.now()
    ids = sorted(set(account_ids))
    touched = 0
    for first in range(0, len(ids), CHUNK):
        chunk = ids[first : first + CHUNK]
        seen = {
            (r["account_id"], r["address"]): r
            for r in TrackedUser.objects.filter(account_id__in=chunk, last_seen_at__isnull=False)
            .exclude(email="")
            .annotate(address=Lower("email"))
            .values("account_id", "address")
            .annotate(last=Max("last_seen_at"))
            .order_by()
        }
        if not seen:
            continue
        known = {}
        for pk, account_id, email, active in (
            Contact.objects.filter(account_id__in=chunk)
            .exclude(email="")
            .values_list("pk", "account_id", "email", "last_active_at")
        ):
            known.setdefault((account_id, email.lower()), []).append((pk, active))
        updates, new = [], []
        for key, row in seen.items():
            for pk, active in known.get(key, ()):
                if active is None or active < row["last"]:
                    updates.append((row["last"], pk))
            if key not in known and settings.TEND_CONTACTS_FROM_USAGE:
                new.append(Contact(account_id=key[0], email=key[1][:254], role=Contact.Role.USER,
                                   source=Contact.Source.USAGE, last_active_at=row["last"]))  # fmt: skip
        update_rows(Contact, ["last_active_at"], updates)
        Contact.objects.bulk_create(new, batch_size=500)
        touched += len(updates) + len(new)
    return touched
