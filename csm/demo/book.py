"""A realistic, deterministic demo book: CSMs, accounts and their signals.

The same seed and day give the same book. Accounts come in archetypes
(thriving, steady, slipping, at risk) so the scan yields a believable mix of
GREEN, AMBER and RED, and some accounts have partial data, as real books do.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from csm.models import Account, AccountSignals, Contact, Interaction, Segment, SurveyResponse

CSM_USERS = [
    ("maya", "Maya", "Okafor"),
    ("tom", "Tom", "Lindqvist"),
    ("priya", "Priya", "Raman"),
    ("diego", "Diego", "Alvarez"),
    ("hannah", "Hannah", "Schulz"),
    ("kenji", "Kenji", "Watanabe"),
]
MANAGER = ("morgan", "Morgan", "Reyes")

_PREFIXES = [
    "North",
    "Acme",
    "Blue",
    "Bright",
    "Cedar",
    "Delta",
    "Echo",
    "Fern",
    "Granite",
    "Harbor",
    "Iron",
    "Juniper",
    "Kite",
    "Lumen",
    "Maple",
    "Nova",
    "Oak",
    "Pioneer",
    "Quartz",
    "River",
    "Summit",
    "Tidal",
    "Union",
    "Vertex",
    "Willow",
    "Zenith",
    "Atlas",
    "Beacon",
    "Cobalt",
    "Dune",
    "Ember",
    "Falcon",
    "Glacier",
    "Helix",
    "Indigo",
    "Jade",
    "Keystone",
    "Lark",
    "Meridian",
    "Nimbus",
    "Orbit",
    "Pine",
    "Quill",
    "Redwood",
    "Sierra",
    "Terra",
    "Umber",
    "Vale",
]
_SUFFIXES = [
    "Logistics",
    "Health",
    "Analytics",
    "Foods",
    "Energy",
    "Capital",
    "Robotics",
    "Media",
    "Labs",
    "Retail",
    "Bank",
    "Insurance",
    "Pharma",
    "Systems",
    "Travel",
    "Education",
    "Mobility",
    "Security",
    "Studios",
    "Networks",
    "Foundry",
    "Outfitters",
    "Partners",
    "Dynamics",
    "Software",
    "Manufacturing",
    "Telecom",
    "Clinics",
    "Agency",
    "Freight",
]

# segment: (share, ARR range, seats range, seat price, plans)
_SEGMENTS = {
    Segment.SMB: (0.55, (4_000, 30_000), (5, 60), "Starter"),
    Segment.MID_MARKET: (0.30, (30_000, 180_000), (50, 400), "Growth"),
    Segment.ENTERPRISE: (0.15, (180_000, 1_500_000), (300, 4_000), "Enterprise"),
}
# archetype: (share, usage trends, engagement, payment, sentiment, seat use, adoption)
_ARCHETYPES = {
    "thriving": (
        0.45,
        ("growing", "stable"),
        ("high", "medium"),
        0.97,
        ("positive", "neutral"),
        (0.8, 1.15),
        (0.6, 0.95),
    ),
    "steady": (
        0.30,
        ("stable", "growing", "declining"),
        ("medium", "high", "low"),
        0.9,
        ("neutral", "positive", "negative"),
        (0.55, 0.95),
        (0.4, 0.75),
    ),
    "slipping": (
        0.17,
        ("declining", "stable"),
        ("low", "medium"),
        0.75,
        ("negative", "neutral"),
        (0.35, 0.7),
        (0.2, 0.5),
    ),
    "at_risk": (
        0.08,
        ("inactive", "declining"),
        ("low",),
        0.5,
        ("critical", "negative"),
        (0.1, 0.45),
        (0.0, 0.3),
    ),
}
_OVERDUE = ("overdue_30", "overdue_60", "overdue_90_plus")


@dataclass
class DemoBook:
    users: int
    accounts: int


def _pick(rng: random.Random, table: dict) -> object:
    roll, acc = rng.random(), 0.0
    for key, spec in table.items():
        acc += spec[0]
        if roll < acc:
            return key
    return key


def ensure_demo_users(password: str | None) -> list:
    """The demo CSMs (in the CSM group) and a manager who sees every account."""
    User = get_user_model()
    csm_group = Group.objects.get(name="CSM")
    managers = Group.objects.get(name="Manager")
    users = []
    for username, first, last in [*CSM_USERS, MANAGER]:
        user, created = User.objects.get_or_create(
            username=username,
            defaults={
                "first_name": first,
                "last_name": last,
                "email": f"{username}@example.com",
                "is_staff": True,
            },
        )
        if created:
            if password:
                user.set_password(password)
            else:
                user.set_unusable_password()
            user.save()
        user.groups.add(csm_group)
        if username == MANAGER[0]:
            user.groups.add(managers)
        else:
            users.append(user)
    return users


def _account_rows(
    n: int, start: int, rng: random.Random, owners: list, today: date
) -> Iterator[tuple[Account, AccountSignals | None]]:
    for i in range(start, start + n):
        segment = _pick(rng, _SEGMENTS)
        _share, (arr_lo, arr_hi), (seats_lo, seats_hi), plan = _SEGMENTS[segment]
        archetype = _pick(rng, _ARCHETYPES)
        _s, trends, engagement, pay_ok, sentiments, (use_lo, use_hi), (ad_lo, ad_hi) = _ARCHETYPES[archetype]
        seats = rng.randint(seats_lo, seats_hi)
        renewal = today + timedelta(days=rng.randint(-20, 365))
        status = Account.Status.ACTIVE
        roll = rng.random()
        if roll < 0.02:
            status = Account.Status.CHURNED
        elif roll < 0.07:
            status = Account.Status.RENEWED
        name = f"{rng.choice(_PREFIXES)} {rng.choice(_SUFFIXES)}"
        account = Account(
            name=f"{name} {i}" if i >= len(_PREFIXES) * len(_SUFFIXES) else name,
            external_id=f"CRM-{i:07d}",
            owner=owners[i % len(owners)] if owners else None,
            segment=segment,
            plan=plan,
            arr=Decimal(rng.randrange(arr_lo, arr_hi, 100)),
            seats_purchased=seats,
            seats_used=int(seats * rng.uniform(use_lo, use_hi)),
            contract_start=renewal - timedelta(days=365 * rng.choice((1, 1, 1, 2, 3))),
            renewal_date=renewal,
            primary_contact_email=f"contact{i}@{name.split()[0].lower()}.example",
            status=status,
            tam_health_rag=rng.choice(("", "", "", "GREEN", "AMBER", "RED"))
            if segment != Segment.SMB
            else "",
        )
        if rng.random() < 0.04:
            yield account, None  # new account: never reported anything yet
            continue
        signals = AccountSignals(
            feature_adoption_rate=round(rng.uniform(ad_lo, ad_hi), 3),
            usage_trend=rng.choice(trends),
            last_login_on=today
            - timedelta(
                days=rng.choice((0, 1, 2, 5, 12, 25)) if archetype != "at_risk" else rng.randint(20, 90)
            ),
            last_interaction_on=None
            if rng.random() < 0.05
            else today - timedelta(days=rng.randint(1, 40 if archetype == "thriving" else 120)),
            stakeholder_engagement=rng.choice(engagement),
            nps_score=None
            if rng.random() < 0.3
            else rng.randint(*((7, 10) if archetype == "thriving" else (2, 8))),
            invoice_payment_status="current" if rng.random() < pay_ok else rng.choice(_OVERDUE),
            open_ticket_count=rng.choice((0, 0, 1, 2, 3, 5, 8)),
            avg_ticket_sentiment=rng.choice(sentiments),
            escalation_count_90_days=rng.choice((0, 0, 0, 1, 2)) if archetype != "thriving" else 0,
            sources={"*": {"source": "demo", "at": today.isoformat()}},
        )
        yield account, signals


# The first demo accounts also get their people and a story (contacts with roles, a logged call,
# survey answers); a benchmark's big book keeps its bulk to what the scan reads.
STORIED = 2_000
_PEOPLE = (("Alex", "Morgan", "VP Operations", Contact.Role.CHAMPION),
           ("Sam", "Rivera", "CFO", Contact.Role.DECISION_MAKER),
           ("Jo", "Chen", "Analyst", Contact.Role.USER))  # fmt: skip
_SAID = {True: "Reports save us a day every month.", False: "Exports keep timing out on big reports."}


def _story(account: Account, signals: AccountSignals | None, rng: random.Random, today: date, now):
    """The account's people, its last call and its NPS answers, in step with its signals: two
    answers at its typed NPS derive that same NPS (csm.surveys.rules)."""
    domain = account.primary_contact_email.split("@", 1)[1]
    tag = account.external_id.lower()  # demo accounts share their names' domains: one address each
    people = [
        Contact(account=account, name=f"{first} {last}", title=title, role=role, is_primary=n == 0,
                email=f"{first.lower()}.{last.lower()}.{tag}@{domain}", source=Contact.Source.MANUAL)
        for n, (first, last, title, role) in enumerate(_PEOPLE)
    ]  # fmt: skip
    calls, answers = [], []
    if signals is not None and signals.last_interaction_on is not None:
        day = signals.last_interaction_on
        body = "Went through usage and the open tickets."
        call = Interaction(account=account, kind=Interaction.Kind.CALL, occurred_on=day,
                           title="Check-in call", body=body, author=account.owner)  # fmt: skip
        calls.append(call)
    if signals is not None and signals.nps_score is not None:
        for n, person in enumerate(people[:2]):
            answers.append(SurveyResponse(
                account=account, email=person.email, name=person.name, kind=SurveyResponse.Kind.NPS,
                score=signals.nps_score, comment=_SAID[signals.nps_score >= 7] if n == 0 else "",
                responded_at=now - timedelta(days=rng.randint(10, 60)), survey="Quarterly NPS",
                channel=SurveyResponse.Channel.CSV,
            ))  # fmt: skip
    return people, calls, answers


def build_demo_book(
    accounts: int,
    *,
    seed: int = 42,
    today: date,
    password: str | None = None,
    chunk_size: int = 2000,
    progress: Callable[[int], None] | None = None,
) -> DemoBook:
    """Add `accounts` demo accounts (numbered after any existing demo ones)."""
    owners = ensure_demo_users(password)
    rng = random.Random(seed)
    start = Account.objects.filter(external_id__startswith="CRM-").count()
    rows = _account_rows(accounts, start, rng, owners, today)
    now = timezone.now()
    stories_rng = random.Random(seed + 1)  # its own draws: the accounts stay what they were
    done = 0
    while done < accounts:
        take = min(chunk_size, accounts - done)
        chunk = [next(rows) for _ in range(take)]
        with transaction.atomic():
            created = Account.objects.bulk_create([a for a, _ in chunk])
            signals = []
            for account, sig in zip(created, (s for _, s in chunk), strict=True):
                if sig is not None:
                    sig.account = account
                    signals.append(sig)
            AccountSignals.objects.bulk_create(signals)
            stories = [
                _story(account, sig, stories_rng, today, now)
                for n, (account, sig) in enumerate(zip(created, (s for _, s in chunk), strict=True))
                if start + done + n < STORIED
            ]
            Contact.objects.bulk_create([c for people, _c, _a in stories for c in people])
            Interaction.objects.bulk_create([i for _p, calls, _a in stories for i in calls])
            SurveyResponse.objects.bulk_create([r for _p, _c, answers in stories for r in answers])
        done += take
        if progress:
            progress(take)
    return DemoBook(users=len(owners) + 1, accounts=accounts)
