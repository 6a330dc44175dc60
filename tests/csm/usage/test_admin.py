"""Setting the usage stream up in the admin: a source's key shown once, events mapped to features."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.urls import reverse

from csm.models import Feature, TrackingSource
from csm.usage.ingest import accept, source_for
from csm.usage.models import hash_key
from csm.usage.store import store_waiting

pytestmark = pytest.mark.django_db


@pytest.fixture
def morgan(make_user):
    user = make_user("morgan")
    user.groups.add(Group.objects.get(name="Manager"))
    return user


def test_a_manager_makes_a_source_and_sees_its_key_once(client, morgan):
    client.force_login(morgan)
    response = client.post(reverse("admin:csm_trackingsource_add"), {"name": "web app"}, follow=True)
    assert response.status_code == 200
    [said] = [str(m) for m in response.context["messages"] if "Write key" in str(m)]
    key = said.rsplit(" ", 1)[1]
    source = TrackingSource.objects.get(name="web app")
    assert (
        key.startswith("tsk_")
        and source.key_hash == hash_key(key)
        and key not in source.key_hint + source.key_hash
    )
    assert source_for("", key) == source
    page = client.get(reverse("admin:csm_trackingsource_change", args=[source.pk])).content.decode()
    assert key not in page
    client.post(reverse("admin:csm_trackingsource_do", args=[source.pk, "revoke"]))
    assert source_for("", key) is None


def test_a_csm_cannot_see_the_sources(client, make_user):
    client.force_login(make_user("maya"))
    assert client.get(reverse("admin:csm_trackingsource_changelist")).status_code == 403


def test_unmapped_events_are_listed_to_be_mapped(client, morgan):
    source = TrackingSource(name="app")
    source.new_key()
    source.save()
    accept(
        source,
        [{"type": "track", "messageId": f"m{i}", "userId": "u", "event": "Chart Shared"} for i in range(3)],
    )
    store_waiting()
    client.force_login(morgan)
    page = client.get(reverse("admin:csm_eventmapping_changelist")).content.decode()
    assert "Chart Shared" in page and "Map it" in page
    feature = Feature.objects.get_or_create(key="charts", defaults={"name": "Charts"})[0]
    client.post(reverse("admin:csm_eventmapping_add"), {"event": "Chart Shared", "feature": feature.pk})
    assert (
        "Chart Shared</td>" not in client.get(reverse("admin:csm_eventmapping_changelist")).content.decode()
    )


def test_the_command_prints_the_key_once_and_refuses_a_second_source_of_the_name(capsys):
    call_command("create_tracking_source", "mobile")
    key = capsys.readouterr().out.strip().splitlines()[-1]
    assert source_for("", key).name == "mobile"
    with pytest.raises(Exception, match="exists already"):
        call_command("create_tracking_source", "mobile")
