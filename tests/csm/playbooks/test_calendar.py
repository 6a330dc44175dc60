"""Each user's private calendar link: made in the admin and shown once, read back as ICS by the
`icalendar` library as Google Calendar would, holding only that user's tasks, renewals and QBRs due;
a replaced or deleted link, or a deactivated user, is refused."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone
from icalendar import Calendar

from csm.models import CalendarFeed, QBRDue, Task
from csm.playbooks.tasks import create_task

pytestmark = pytest.mark.django_db


def _make_link(client, user) -> str:
    client.force_login(user)
    response = client.post(reverse("admin:csm_calendarfeed_add"), {}, follow=True)
    said = " ".join(str(m) for m in get_messages(response.wsgi_request)) or response.content.decode()
    return re.search(r"http://testserver(/calendar/[\w-]+\.ics)", said).group(1)


def _events(response) -> dict[str, object]:
    assert response.status_code == 200 and response["Content-Type"].startswith("text/calendar")
    calendar = Calendar.from_ical(response.content)
    return {str(e["uid"]): e for e in calendar.walk("VEVENT")}


def test_the_feed_holds_my_tasks_renewals_and_qbrs_due_and_nothing_of_others(client, api_book):
    maya, tom = api_book["maya"], api_book["tom"]
    today = timezone.localdate()
    account = api_book["maya_accounts"][0]
    task = create_task(
        account=account, owner=maya, title="Call the champion", due_on=today + timedelta(days=2)
    )
    create_task(account=api_book["tom_accounts"][0], owner=tom, title="Tom's call", due_on=today)
    due = QBRDue.objects.create(
        account=account, contract_end=today + timedelta(days=90), due_on=today + timedelta(days=5)
    )
    link = _make_link(client, maya)
    client.logout()  # calendar clients send no cookie: the link is the key

    events = _events(client.get(link))
    assert f"task-{task.pk}@tend" in events and f"qbr-due-{due.pk}@tend" in events
    renewal = f"renewal-{account.pk}-{account.renewal_date.isoformat()}@tend"
    assert events[renewal]["summary"] == f"Renewal: {account.name}"
    assert events[f"task-{task.pk}@tend"].decoded("dtstart") == task.due_on  # an all-day event
    assert not any("Tom" in str(e["summary"]) for e in events.values())
    assert all(str(e["summary"]) != "Renewal: Tom Co 0" for e in events.values())

    # Done tasks leave the calendar; a moved one moves (same UID, new day).
    Task.objects.filter(pk=task.pk).update(due_on=today + timedelta(days=9))
    assert _events(client.get(link))[f"task-{task.pk}@tend"].decoded("dtstart") == today + timedelta(days=9)
    Task.objects.filter(pk=task.pk).update(status="done")
    assert f"task-{task.pk}@tend" not in _events(client.get(link))


def test_a_replaced_or_deleted_link_or_a_deactivated_user_is_refused(client, api_book):
    maya = api_book["maya"]
    old = _make_link(client, maya)
    feed = CalendarFeed.objects.get(user=maya)
    response = client.post(reverse("admin:csm_calendarfeed_do", args=[feed.pk, "replace"]), follow=True)
    new = re.search(
        r"(/calendar/[\w-]+\.ics)", " ".join(str(m) for m in get_messages(response.wsgi_request))
    ).group(1)
    assert client.get(old).status_code == 404 and client.get(new).status_code == 200
    assert client.get("/calendar/not-a-secret.ics").status_code == 404
    maya.is_active = False
    maya.save(update_fields=["is_active"])
    assert client.get(new).status_code == 404


def test_each_user_sees_only_their_own_feed_in_the_admin(client, api_book):
    _make_link(client, api_book["maya"])
    manager = api_book["manager"]
    client.force_login(manager)
    page = client.get(reverse("admin:csm_calendarfeed_changelist")).content.decode()
    assert "Calendar of maya" not in page
    mayas = CalendarFeed.objects.get(user=api_book["maya"])
    assert client.post(reverse("admin:csm_calendarfeed_do", args=[mayas.pk, "replace"])).status_code == 404
