"""`GET /calendar/<secret>.ics`: a user's calendar feed, for Google Calendar or Outlook to subscribe to.

The secret in the link is the authentication (calendar clients send no
credentials); an unknown, replaced or deleted one is a 404, as is one whose
user was deactivated.
"""

from __future__ import annotations

from datetime import timedelta

from django.http import Http404, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from csm.playbooks.calendar import calendar_for, feed_for
from csm.playbooks.models import CalendarFeed

READ_RECORDED_EVERY = timedelta(hours=1)


@require_GET
def calendar_feed(request, token: str):
    feed = feed_for(token)
    if feed is None:
        raise Http404("No such calendar.")
    now = timezone.now()
    if feed.last_read_at is None or now - feed.last_read_at > READ_RECORDED_EVERY:
        CalendarFeed.objects.filter(pk=feed.pk).update(last_read_at=now)
    response = HttpResponse(
        calendar_for(feed.user, link=request.build_absolute_uri("/")),
        content_type="text/calendar; charset=utf-8",
    )
    response["Cache-Control"] = "private, max-age=900"
    response["Content-Disposition"] = 'inline; filename="tend.ics"'
    return response
