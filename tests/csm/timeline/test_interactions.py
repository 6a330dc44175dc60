"""Interactions: a CSM logs calls, meetings, emails and notes on their accounts, with the account's
contacts; the score's last-interaction input follows from them; nobody sees or writes another
CSM's accounts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from csm.models import AccountSignals, Contact, Interaction, RescoreRequest

pytestmark = pytest.mark.django_db


@pytest.fixture
def maya(make_user):
    return make_user("maya")


@pytest.fixture
def acme(make_account, maya):
    account = make_account(owner=maya)
    AccountSignals.objects.filter(account=account).update(
        last_interaction_on=timezone.localdate() - timedelta(days=40)
    )
    return account


def _post(client, **data):
    return client.post("/api/v1/interactions/", data, content_type="application/json")


def test_logging_a_call_moves_the_last_interaction_and_rescores(client, maya, acme):
    wile = Contact.objects.create(account=acme, name="Wile Coyote", email="wile@acme.test")
    client.force_login(maya)
    day = timezone.localdate() - timedelta(days=2)
    answer = _post(client, account=acme.pk, kind="call", occurred_on=day.isoformat(), title="QBR prep",
                   body="**Budget** is tight; they want the reports module.", participants=[wile.pk],
                   sentiment="negative")  # fmt: skip
    assert answer.status_code == 201, answer.content
    assert answer.json()["author"] == "maya" and answer.json()["participants"] == [wile.pk]
    signals = AccountSignals.objects.get(account=acme)
    assert signals.last_interaction_on == day
    assert signals.sources["days_since_last_interaction"]["source"] == "interactions"
    assert RescoreRequest.objects.filter(account=acme).exists()

    older = _post(client, account=acme.pk, kind="note", occurred_on=(day - timedelta(days=5)).isoformat(),
                  title="Earlier note")  # fmt: skip
    assert older.status_code == 201
    assert AccountSignals.objects.get(account=acme).last_interaction_on == day  # the latest counts

    latest = Interaction.objects.get(title="QBR prep")
    assert client.delete(f"/api/v1/interactions/{latest.pk}/").status_code == 204
    assert AccountSignals.objects.get(account=acme).last_interaction_on == day - timedelta(days=5)


def test_a_later_day_from_another_source_stands(client, maya, acme):
    later = timezone.localdate() - timedelta(days=1)
    AccountSignals.objects.filter(account=acme).update(last_interaction_on=later)
    client.force_login(maya)
    _post(
        client,
        account=acme.pk,
        kind="email",
        occurred_on=(later - timedelta(days=3)).isoformat(),
        title="Sent",
    )
    assert AccountSignals.objects.get(account=acme).last_interaction_on == later


@pytest.mark.parametrize(
    "bad, field",
    [({"occurred_on": "2999-01-01"}, "non_field_errors"), ({"kind": "fax"}, "kind"),
     ({"title": ""}, "title"), ({"sentiment": "ecstatic"}, "sentiment"), ({"body": "x" * 20_001}, "body"),
     ({"occurred_on": "yesterday"}, "occurred_on"), ({"color": "red"}, "color")],
)  # fmt: skip
def test_bad_input_is_a_clear_400(client, maya, acme, bad, field):
    client.force_login(maya)
    data = {
        "account": acme.pk,
        "kind": "call",
        "occurred_on": timezone.localdate().isoformat(),
        "title": "x",
        **bad,
    }
    answer = _post(client, **data)
    assert answer.status_code == 400 and field in answer.json(), answer.content


def test_two_csms_see_and_write_only_their_own_accounts(client, maya, acme, make_user, make_account):
    tom = make_user("tom")
    toms = make_account(owner=tom)
    toms_contact = Contact.objects.create(account=toms, name="Tom's champion")
    client.force_login(maya)
    today = timezone.localdate().isoformat()
    assert _post(client, account=toms.pk, kind="call", occurred_on=today, title="x").status_code == 400
    refused = _post(
        client, account=acme.pk, kind="call", occurred_on=today, title="x", participants=[toms_contact.pk]
    )
    assert refused.status_code == 400 and "participants" in refused.json()
    mine = _post(client, account=acme.pk, kind="call", occurred_on=today, title="Mine").json()
    client.force_login(tom)
    assert client.get("/api/v1/interactions/").json()["results"] == []
    assert client.get(f"/api/v1/interactions/{mine['id']}/").status_code == 404
    client.force_login(maya)
    listed = client.get("/api/v1/interactions/", {"account": acme.pk, "kind": "call"}).json()["results"]
    assert [i["title"] for i in listed] == ["Mine"]


def test_a_csm_logs_in_the_admin_and_cannot_rewrite_a_colleagues_entry(client, maya, acme, make_user):
    client.force_login(maya)
    day = timezone.localdate()
    page = client.post(reverse("admin:csm_interaction_add"), {
        "account": acme.pk, "kind": "meeting", "occurred_on": day.isoformat(), "title": "Onsite", "body": "",
        "sentiment": "positive",
    })  # fmt: skip
    assert page.status_code == 302, page.content.decode()[:2000]
    logged = Interaction.objects.get()
    assert logged.author == maya and AccountSignals.objects.get(account=acme).last_interaction_on == day
    manager = make_user("morgan", view_all=True)
    other = Interaction.objects.create(
        account=acme, kind="note", occurred_on=day, title="By morgan", author=manager
    )
    change = client.get(reverse("admin:csm_interaction_change", args=[other.pk])).content.decode()
    assert 'name="_save"' not in change  # read, not rewritten


def test_refreshing_the_input_costs_the_same_queries_for_3_accounts_as_for_30(make_account, maya):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from csm.timeline.interactions import refresh_last_interaction

    day = timezone.localdate() - timedelta(days=1)
    accounts = [make_account(owner=maya) for _ in range(30)]
    Interaction.objects.bulk_create(
        [Interaction(account=a, kind="call", occurred_on=day, title="Call") for a in accounts]
    )
    counts = []
    for some in (accounts[:3], accounts[3:]):
        with CaptureQueriesContext(connection) as queries:
            refresh_last_interaction([a.pk for a in some])
        counts.append(len(queries))
    assert counts[0] == counts[1], counts
    assert set(AccountSignals.objects.values_list("last_interaction_on", flat=True)) == {day}
