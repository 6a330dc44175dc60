"""Recording survey responses, whatever they came by, and what follows from them.

* `save_answers` keeps answers from the API, a CSV file or a webhook: each is placed on its account
  (given, or found by the respondent's email among the contacts, then the tracked users; a response
  no one matches is kept unplaced, for a person to place in the admin), and the same tool id sent
  again updates its row instead of adding one.
* `refresh_nps` sets each account's NPS input from its recent responses (csm.surveys.rules), and
  asks for the account to be scored again.
* A detractor answer queues `survey_followup` (the one entry point): a churn alert on every channel
  and the detractor playbooks (csm.surveys.followup).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.utils import timezone

from csm.models import Account, AccountSignals, Contact, TrackedUser
from csm.scoring.inputs import stamp_sources
from csm.scoring.on_change import rescore_soon
from csm.surveys import rules
from csm.surveys.formats import Answer
from csm.surveys.models import SurveyResponse

SOURCE = "surveys"
CHUNK = 900  # values per IN (...), under SQLite's oldest limit
FOLLOW_UP_DAYS = 7  # a detractor answer older than this (an imported history) raises nothing now


def in_band(band: str) -> Q:
    """The answers of a band (promoter, passive, detractor) on either survey (rules.BANDS)."""
    found = Q(pk__in=[])
    for kind, bands in rules.BANDS.items():
        low, high = bands[band]
        found |= Q(kind=kind, score__gte=low, score__lte=high)
    return found


DETRACTORS = in_band("detractor")


class ResponseRefused(ValueError):
    pass


@dataclass(frozen=True)
class Saved:
    created: int = 0
    updated: int = 0
    unplaced: int = 0
    responses: tuple[SurveyResponse, ...] = ()


def check(answer: Answer, *, now: datetime | None = None) -> Answer:
    """The answer if it can be kept, else ResponseRefused saying why."""
    try:
        rules.check_score(answer.kind, answer.score)
    except ValueError as exc:
        raise ResponseRefused(str(exc)) from None
    now = now or timezone.now()
    if answer.responded_at.tzinfo is None:
        raise ResponseRefused("responded_at: needs its time zone")
    if answer.responded_at > now + timedelta(minutes=5):
        raise ResponseRefused("responded_at: cannot be in the future")
    if answer.responded_at.year < 2000:
        raise ResponseRefused("responded_at: that is too long ago")
    if len(answer.comment) > 10_000:
        raise ResponseRefused("comment: at most 10,000 characters")
    return replace(
        answer,
        email=_storable(answer.email).strip().lower(),
        name=_storable(answer.name),
        comment=_storable(answer.comment),
        survey=_storable(answer.survey),
    )


def _storable(text: str) -> str:
    """Text a database keeps: no NUL (PostgreSQL refuses it), no lone surrogate (not UTF-8)."""
    return text.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


def places_for(emails: set[str], *, within=None) -> dict[str, tuple[int, int | None]]:
    """email -> (account id, contact id) for the emails a contact or a tracked user has, on the
    accounts of `within` (a queryset: the importer's) or any."""
    found: dict[str, tuple[int, int | None]] = {}
    emails = sorted(emails)
    for first in range(0, len(emails), CHUNK):
        some = emails[first : first + CHUNK]
        contacts, users = Contact.objects.all(), TrackedUser.objects.all()
        if within is not None:
            contacts, users = contacts.filter(account__in=within), users.filter(account__in=within)
        for pk, account_id, email in (
            contacts.annotate(address=Lower("email"))
            .filter(address__in=some)
            .exclude(account__status=Account.Status.ARCHIVED)
            .order_by(F("archived_at").asc(nulls_first=True), "-is_primary", "pk")  # a current contact first
            .values_list("pk", "account_id", "email")
        ):
            found.setdefault(email.lower(), (account_id, pk))
        rest = [e for e in some if e not in found]
        if rest:
            for account_id, email in (
                users.annotate(address=Lower("email"))
                .filter(address__in=rest, account__isnull=False)
                .order_by("-last_seen_at", "pk")
                .values_list("account_id", "email")
            ):
                found.setdefault(email.lower(), (account_id, None))
    return found


def save_answers(
    answers: Sequence[Answer],
    *,
    channel: str,
    account: Account | None = None,
    accounts: Sequence = (),
    within=None,
) -> Saved:
    """Keep the answers (checked already); `account`, or `accounts[i]` for answer i, places them,
    else the respondent's email on an account of `within` (a queryset; None: any account).

    Two deliveries of one answer at once (a tool's "created" and "updated" racing) meet at the
    unique tool id: the one that loses reads the winner's row and updates it.
    """
    try:
        return _save(answers, channel=channel, account=account, accounts=accounts, within=within)
    except IntegrityError:
        return _save(answers, channel=channel, account=account, accounts=accounts, within=within)


def _save(answers: Sequence[Answer], *, channel: str, account, accounts: Sequence, within) -> Saved:
    given = [account or (accounts[i] if i < len(accounts) else None) for i in range(len(answers))]
    unplaced = {a.email for a, g in zip(answers, given, strict=True) if a.email and g is None}
    places = places_for(unplaced, within=within)
    # Who answered, among the contacts of the accounts given.
    contacts_by_account: dict[tuple[int, str], int] = {}
    given_ids = {g.pk for g in given if g is not None}
    wanted = sorted({a.email for a, g in zip(answers, given, strict=True) if a.email and g is not None})
    for first in range(0, len(wanted), CHUNK):
        for pk, account_id, email in (
            Contact.objects.annotate(address=Lower("email"))
            .filter(address__in=wanted[first : first + CHUNK])
            .order_by(F("archived_at").asc(nulls_first=True), "-is_primary", "pk")
            .values_list("pk", "account_id", "email")
        ):
            if account_id in given_ids:
                contacts_by_account.setdefault((account_id, email.lower()), pk)
    known: dict[str, SurveyResponse] = {}
    ids = sorted({a.external_id for a in answers if a.external_id})
    for first in range(0, len(ids), CHUNK):
        rows = SurveyResponse.objects.filter(channel=channel, external_id__in=ids[first : first + CHUNK])
        known.update({r.external_id: r for r in rows})
    new, changed, touched, kept = [], [], set(), []
    for i, answer in enumerate(answers):
        place = given[i]
        if place is not None:
            account_id, contact_id = place.pk, contacts_by_account.get((place.pk, answer.email))
        else:
            account_id, contact_id = places.get(answer.email, (None, None))
        row = known.get(answer.external_id) if answer.external_id else None
        values = {"kind": answer.kind, "score": answer.score, "comment": answer.comment,
                  "responded_at": answer.responded_at, "email": answer.email, "name": answer.name,
                  "survey": answer.survey}  # fmt: skip
        if row is None:
            row = SurveyResponse(account_id=account_id, contact_id=contact_id, channel=channel,
                                 external_id=answer.external_id, **values)  # fmt: skip
            new.append(row)
            if answer.external_id:
                known[answer.external_id] = row
        else:
            if row.account_id is None and account_id is not None:
                row.account_id, row.contact_id = account_id, contact_id
            for name, value in values.items():
                if name == "comment" and not value:
                    continue  # Delighted's "updated" may come before the comment: keep what we have
                setattr(row, name, value)
            if row.pk is not None:
                changed.append(row)
        kept.append(row)
        if row.account_id:
            touched.add(row.account_id)
    now = timezone.now()
    with transaction.atomic():
        SurveyResponse.objects.bulk_create(new, batch_size=500)
        for row in changed:
            row.updated_at = now
        SurveyResponse.objects.bulk_update(
            list({id(r): r for r in changed}.values()),
            ["account", "contact", "kind", "score", "comment", "responded_at", "email", "name", "survey",
             "updated_at"],
            batch_size=500,
        )  # fmt: skip
        refresh_nps(touched)
        if any(follow_up_due(r, now) for r in kept):
            queue_followup()
    return Saved(
        created=len(new),
        updated=len({id(r) for r in changed}),
        unplaced=sum(1 for r in kept if r.account_id is None),
        responses=tuple(kept),
    )


def follow_up_due(row: SurveyResponse, now: datetime) -> bool:
    return (
        row.account_id is not None
        and row.followed_up_at is None
        and rules.is_detractor(row.kind, row.score)
        and row.responded_at >= now - timedelta(days=FOLLOW_UP_DAYS)
    )


def queue_followup():
    from agents_core.dispatch import enqueue_once

    return enqueue_once("csm", "survey_followup")


def _start_of(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def refresh_nps(account_ids: Iterable[int], *, today: date | None = None) -> list[int]:
    """Set each account's NPS input from its responses of the window (csm.surveys.rules). A value
    typed or imported stands while the responses are too few; one the responses gave goes back
    to none. Returns the accounts whose input changed (asked to be scored again)."""
    today = today or timezone.localdate()
    ids = sorted({pk for pk in account_ids if pk})
    changed: list[int] = []
    now = timezone.now()
    for first in range(0, len(ids), 1000):
        chunk = ids[first : first + 1000]
        answers = defaultdict(list)
        for account_id, contact_id, email, pk, at, score in SurveyResponse.objects.filter(
            account_id__in=chunk, kind=SurveyResponse.Kind.NPS,
            responded_at__gte=_start_of(today - timedelta(days=rules.WINDOW_DAYS)),
        ).values_list("account_id", "contact_id", "email", "pk", "responded_at", "score"):  # fmt: skip
            person = f"c{contact_id}" if contact_id else (email or f"r{pk}")
            answers[account_id].append((person, timezone.localdate(at), score))
        current = {s.account_id: s for s in AccountSignals.objects.filter(account_id__in=chunk)}
        update, create = [], []
        for pk in chunk:
            value = rules.nps_input(answers.get(pk, ()), today=today)
            signals = current.get(pk)
            ours = (
                signals is not None
                and ((signals.sources or {}).get("nps_score") or {}).get("source") == SOURCE
            )
            if value is None and not ours:
                continue  # too few answers: whatever else gave the input stands
            if signals is not None and ours and signals.nps_score == value:
                continue
            target = signals or AccountSignals(account_id=pk)
            target.nps_score = value
            target.sources = stamp_sources(target.sources or {}, ["nps_score"], source=SOURCE, at=now)
            target.updated_at = now
            (update if signals is not None else create).append(target)
            changed.append(pk)
        AccountSignals.objects.bulk_update(update, ["nps_score", "sources", "updated_at"], batch_size=500)
        AccountSignals.objects.bulk_create(create, batch_size=500, ignore_conflicts=True)
    rescore_soon(changed)
    return changed


def refresh_aged(*, today: date | None = None) -> dict[str, int]:
    """The daily sweep: accounts one of whose answers left the window since last week."""
    today = today or timezone.localdate()
    edge = today - timedelta(days=rules.WINDOW_DAYS)
    ids = set(
        SurveyResponse.objects.filter(
            kind=SurveyResponse.Kind.NPS,
            account__isnull=False,
            responded_at__gte=_start_of(edge - timedelta(days=7)),
            responded_at__lt=_start_of(edge + timedelta(days=1)),
        ).values_list("account_id", flat=True)
    )
    return {"accounts": len(ids), "changed": len(refresh_nps(ids, today=today))}


def place(response: SurveyResponse, account: Account | None) -> None:
    """A person placed (or moved) a response: both accounts' inputs follow."""
    with transaction.atomic():
        before = SurveyResponse.objects.filter(pk=response.pk).values_list("account_id", flat=True).first()
        response.account = account
        if account is not None and response.email:
            response.contact = Contact.objects.filter(account=account, email__iexact=response.email).first()
        elif account is None:
            response.contact = None
        response.save()
        refresh_nps([pk for pk in (before, response.account_id) if pk])
        if follow_up_due(response, timezone.now()):
            queue_followup()
