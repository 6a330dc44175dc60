from datetime import UTC, datetime

import pytest
from django.urls import reverse

from agents_core.models import AgentRun
from config.middleware import user_time_zone


@pytest.mark.parametrize("value", ["", "Mars/Olympus", "../../etc/passwd", "/etc/localtime", "x" * 100])
def test_unknown_or_hostile_zone_names_are_ignored(value):
    assert user_time_zone(value) is None


def test_known_zone_names_are_taken_url_encoded_or_not():
    assert str(user_time_zone("America%2FNew_York")) == "America/New_York"
    assert str(user_time_zone("Europe/Berlin")) == "Europe/Berlin"


@pytest.mark.django_db
def test_admin_times_show_in_the_browsers_time_zone(client, make_user):
    user = make_user("maya")
    run = AgentRun.objects.create(agent="csm", task_type="health_scan", trigger="admin", requested_by=user)
    AgentRun.objects.filter(pk=run.pk).update(created_at=datetime(2026, 6, 1, 13, 30, tzinfo=UTC))
    client.force_login(user)
    url = reverse("admin:agents_core_agentrun_change", args=[run.pk])

    assert "June 1, 2026, 1:30 p.m." in client.get(url).content.decode()  # the server's zone (UTC)
    client.cookies["tend_tz"] = "Asia/Tokyo"
    assert "June 1, 2026, 10:30 p.m." in client.get(url).content.decode()
    client.cookies["tend_tz"] = "Nowhere/Special"
    assert "June 1, 2026, 1:30 p.m." in client.get(url).content.decode()
