"""HubSpot's calls, meetings and notes become the account's interactions: on the company they are
logged on (HubSpot's v4 associations), once however often read, and the score's last-interaction
input follows them."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest
from django.utils import timezone

from csm.models import Account, AccountSignals, CrmSyncState, Interaction

pytestmark = pytest.mark.django_db


def _ms(days_ago: int) -> str:
    """A time as HubSpot answers it (ISO, UTC)."""
    return (timezone.now() - timedelta(days=days_ago)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@pytest.fixture
def companies(hubspot):
    return hubspot.add(name="Acme"), hubspot.add(name="Globex")


def test_calls_meetings_and_notes_become_interactions_on_their_accounts(hubspot, companies, sync):
    acme, globex = companies
    hubspot.add_engagement(
        "calls",
        [acme],
        hs_timestamp=_ms(3),
        hs_call_title="Renewal call",
        hs_call_body="<p>They want <b>SSO</b>.</p><p>Budget &amp; timing next.</p>",
    )
    hubspot.add_engagement(
        "meetings",
        [acme, globex],
        hs_timestamp=_ms(5),
        hs_meeting_title="Joint QBR",
        hs_meeting_start_time=_ms(5),
    )
    hubspot.add_engagement(
        "notes", [globex], hs_timestamp=_ms(1), hs_note_body="<div>Champion is leaving</div>"
    )
    hubspot.add_engagement("notes", [], hs_timestamp=_ms(1), hs_note_body="On no company")
    hubspot.add_engagement("meetings", [acme], hs_timestamp=_ms(-7), hs_meeting_title="Next week")

    result = sync(push=False)["pull"]
    assert result["status"] == "done"
    a, g = Account.objects.get(external_id=acme), Account.objects.get(external_id=globex)
    got = {(i.account_id, i.kind, i.title, i.source) for i in Interaction.objects.all()}
    assert got == {
        (a.pk, "call", "Renewal call", "crm"),
        (a.pk, "meeting", "Joint QBR", "crm"),
        (g.pk, "meeting", "Joint QBR", "crm"),
        (g.pk, "note", "Champion is leaving", "crm"),
    }
    call = Interaction.objects.get(kind="call")
    assert call.body == "They want SSO.\nBudget & timing next."
    assert call.occurred_on == timezone.localdate() - timedelta(days=3)
    # The score's input follows: the latest day logged on each account.
    assert AccountSignals.objects.get(account=a).last_interaction_on == timezone.localdate() - timedelta(
        days=3
    )
    assert AccountSignals.objects.get(account=g).last_interaction_on == timezone.localdate() - timedelta(
        days=1
    )
    # The associations were read in one call per page, not one per engagement.
    assert sum(1 for _m, path in hubspot.calls if path.startswith("/crm/v4/associations/")) == 3
    assert set(CrmSyncState.objects.get(system="hubspot").engagements_cursor) == {
        "calls",
        "meetings",
        "notes",
    }


def test_reading_again_and_an_edit_change_the_same_interaction(hubspot, companies, sync):
    acme, _ = companies
    call = hubspot.add_engagement("calls", [acme], hs_timestamp=_ms(2), hs_call_title="First title")
    sync(push=False)
    sync(push=False)
    assert Interaction.objects.count() == 1
    hubspot.edit(call, "calls", hs_call_title="Better title")
    sync(push=False)
    assert list(Interaction.objects.values_list("title", flat=True)) == ["Better title"]


def test_a_meeting_booked_ahead_comes_in_with_the_reconcile_once_it_happened(hubspot, companies, sync):
    acme, _ = companies
    meeting = hubspot.add_engagement(
        "meetings", [acme], hs_timestamp=_ms(0), hs_meeting_title="Kick-off", hs_meeting_start_time=_ms(-1)
    )
    sync(push=False)
    assert not Interaction.objects.exists()  # tomorrow's meeting has not happened
    hubspot.add_engagement(
        "meetings",
        [acme],
        hs_timestamp=_ms(0),
        hs_meeting_title="Later booking",
        hs_meeting_start_time=_ms(-9),
    )
    sync(push=False)  # the cursor moves past the first meeting
    # Time passes (here: the meeting's time moves into the past with nothing edited in HubSpot).
    hubspot.objects["meetings"][meeting]["properties"]["hs_meeting_start_time"] = _ms(1)
    sync(push=False)
    assert not Interaction.objects.exists()  # not modified: the incremental pull does not see it
    sync(push=False, full=True)  # the Sunday reconcile reads every engagement again
    assert Interaction.objects.get().title == "Kick-off"


def test_a_dry_run_writes_no_interaction(hubspot, companies, sync):
    acme, _ = companies
    hubspot.add_engagement(
        "notes",
        [acme],
        hs_timestamp=str(int(timezone.now().timestamp() * 1000) - 86_400_000),
        hs_note_body="A note",
    )  # epoch milliseconds are read too
    sync(push=False, dry_run=True)
    assert not Interaction.objects.exists()
    sync(push=False)
    assert Interaction.objects.get().occurred_on == timezone.localdate() - timedelta(days=1)
    Interaction.objects.all().delete()
    sync(push=False, dry_run=True)
    assert not Interaction.objects.exists()


def test_an_engagement_from_the_crm_is_changed_in_the_crm_not_in_tend(
    hubspot, companies, sync, make_user, api
):
    from django.urls import reverse

    from csm.models import Account

    acme, _ = companies
    hubspot.add_engagement("calls", [acme], hs_timestamp=_ms(2), hs_call_title="From HubSpot")
    sync(push=False)
    manager = make_user("morgan", view_all=True)
    Account.objects.filter(external_id=acme).update(owner=manager)
    call = Interaction.objects.get()
    answer = api(manager).patch(f"/api/v1/interactions/{call.pk}/", {"title": "Edited"}, format="json")
    assert answer.status_code == 403 and "CRM" in answer.json()["detail"]
    assert api(manager).delete(f"/api/v1/interactions/{call.pk}/").status_code == 403
    from django.test import Client

    client = Client()
    client.force_login(manager)
    page = client.get(reverse("admin:csm_interaction_change", args=[call.pk]))
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert Interaction.objects.get().title == "From HubSpot"


def test_an_engagement_time_that_is_no_time_does_not_stop_the_pull(hubspot, companies, sync):
    acme, _ = companies
    hubspot.add_engagement("notes", [acme], hs_timestamp="9" * 30, hs_note_body="Far future")
    hubspot.add_engagement("notes", [acme], hs_timestamp=_ms(1), hs_note_body="Yesterday")
    result = sync(push=False)["pull"]
    assert result["status"] == "done"
    # The one without a usable time is dated by its last change in HubSpot.
    assert set(Interaction.objects.values_list("title", flat=True)) == {"Far future", "Yesterday"}
