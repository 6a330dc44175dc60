"""A user's calendar (ICS) of what is due: their open tasks, the renewals and the QBRs due of the
accounts they own. Google Calendar and Outlook subscribe to the feed's secret link.

All-day events with stable UIDs (a task moved to another day moves in the calendar, it does not
appear twice), at most CALENDAR_LIMIT of each kind, nearest first: a manager's feed holds what
they own, not the whole book.
"""

from __future__ import annotations

from datetime import date, timedelta

from django.conf import settings
from django.db.models import F
from django.utils import timezone
from icalendar import Calendar, Event

from csm.models import Account, QBRDue
from csm.playbooks.models import CalendarFeed, Task, hash_token

CALENDAR_LIMIT = 500
RENEWALS_AHEAD_DAYS = 365
PAST_TASKS_DAYS = 30


def feed_for(token: str) -> CalendarFeed | None:
    """The feed whose secret this is, if its user is still active."""
    if not token or len(token) > 100:
        return None
    return (
        CalendarFeed.objects.select_related("user")
        .filter(token_hash=hash_token(token), user__is_active=True)
        .first()
    )


def calendar_for(user, *, today: date | None = None, link: str = "") -> bytes:
    today = today or timezone.localdate()
    cal = Calendar()
    cal.add("prodid", "-//Tend//Customer success//EN")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", f"Tend: {user.get_full_name() or user.get_username()}")
    cal.add("x-wr-timezone", settings.TIME_ZONE)
    host = link.rstrip("/")
    tasks = (
        Task.objects.open()
        .filter(owner=user, due_on__gte=today - timedelta(days=PAST_TASKS_DAYS))
        .select_related("account")
        .order_by("due_on", "pk")[:CALENDAR_LIMIT]
    )
    for task in tasks:
        cal.add_component(_event(f"task-{task.pk}", task.due_on, f"{task.title} ({task.account.name})",
                                 task.notes, f"{host}/admin/csm/task/{task.pk}/change/"))  # fmt: skip
    owned = Account.objects.filter(owner=user, status=Account.Status.ACTIVE)
    renewals = owned.filter(
        renewal_date__gte=today, renewal_date__lte=today + timedelta(days=RENEWALS_AHEAD_DAYS)
    )
    nearest = renewals.order_by("renewal_date", "pk").only("pk", "name", "renewal_date")
    for account in nearest[:CALENDAR_LIMIT]:
        day = account.renewal_date
        url = f"{host}/admin/csm/account/{account.pk}/change/"
        cal.add_component(
            _event(f"renewal-{account.pk}-{day.isoformat()}", day, f"Renewal: {account.name}", "", url)
        )
    dues = QBRDue.objects.filter(account__in=owned, fulfilled_at__isnull=True).annotate(
        name=F("account__name")
    )
    for due in dues.order_by("due_on", "pk")[:CALENDAR_LIMIT]:
        cal.add_component(_event(f"qbr-due-{due.pk}", due.due_on, f"QBR due: {due.name}",
                                 f"The contract ends on {due.contract_end:%d %b %Y}.",
                                 f"{host}/admin/csm/qbrdue/{due.pk}/change/"))  # fmt: skip
    return cal.to_ical()


def _event(uid: str, day: date, summary: str, description: str, url: str) -> Event:
    event = Event()
    event.add("uid", f"{uid}@tend")
    event.add("dtstamp", timezone.now())
    event.add("dtstart", day)
    event.add("dtend", day + timedelta(days=1))
    event.add("summary", summary)
    event.add("transp", "TRANSPARENT")  # a reminder, not a meeting: it does not block the day
    if description:
        event.add("description", description)
    if url.startswith("http"):
        event.add("url", url)
    return event
