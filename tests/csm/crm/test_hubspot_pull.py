"""Pulling from HubSpot: the first sync creates the book (owners by email, mapped fields, contacts
with a primary), an incremental one reads only what changed since its cursor, a field emptied in
HubSpot empties in Tend, a property HubSpot does not have is left alone, and a bad record is refused
with its field and reason while the rest go through."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from csm.models import Account, Contact, CrmRecord, CrmSyncRun, CrmSyncState, RescoreRequest

pytestmark = pytest.mark.django_db


@pytest.fixture
def book(hubspot, make_user):
    maya = make_user("maya", email="maya@example.com")
    owner = hubspot.add_owner("Maya@Example.com")
    hubspot.add_owner("stranger@example.com")
    acme = hubspot.add(
        name="Acme",
        hubspot_owner_id=owner,
        arr="120000",
        renewal_date="2027-03-31",
        seats_purchased="50",
        plan="Growth",
        segment="Enterprise",
        tam_health="Green",
    )
    globex = hubspot.add(name="Globex", arr="9000.50", renewal_date="1790726400000")  # ms: 2026-09-30
    return {"maya": maya, "acme": acme, "globex": globex}


def test_the_first_sync_creates_the_book_with_owners_and_contacts(hubspot, book, sync):
    hubspot.add("contacts", email="wile@acme.test", firstname="Wile", lastname="Coyote", jobtitle="VP Ops",
                associatedcompanyid=book["acme"])  # fmt: skip
    hubspot.add("contacts", email="road@acme.test", firstname="Road", lastname="Runner",
                associatedcompanyid=book["acme"])  # fmt: skip
    hubspot.add("contacts", email="nobody@elsewhere.test", associatedcompanyid="999")  # no such company

    result = sync(push=False)["pull"]
    assert (result["status"], result["created"], result["read"], result["refused"]) == ("done", 2, 2, 0)
    acme = Account.objects.get(external_id=book["acme"])
    assert (acme.name, acme.owner, acme.arr, acme.renewal_date) == (
        "Acme",
        book["maya"],
        Decimal("120000"),
        date(2027, 3, 31),
    )
    assert (acme.seats_purchased, acme.plan, acme.segment, acme.tam_health_rag) == (
        50,
        "Growth",
        "enterprise",
        "GREEN",
    )
    globex = Account.objects.get(external_id=book["globex"])
    assert (
        globex.renewal_date == date(2026, 9, 30) and globex.owner is None and globex.arr == Decimal("9000.50")
    )
    contacts = Contact.objects.filter(account=acme).order_by("created_at", "id")
    assert [(c.name, c.email, c.title, c.source) for c in contacts] == [
        ("Wile Coyote", "wile@acme.test", "VP Ops", "crm"), ("Road Runner", "road@acme.test", "", "crm")
    ]  # fmt: skip
    assert [c.is_primary for c in contacts] == [True, False]  # the one known longest
    assert not Contact.objects.exclude(account=acme).exists()
    assert set(RescoreRequest.objects.values_list("account_id", flat=True)) == {acme.pk, globex.pk}
    run = CrmSyncRun.objects.get(kind="pull")
    assert run.api_calls == result["api_calls"] > 0 and run.contacts == 2


def test_an_incremental_sync_reads_only_what_changed_and_re_reading_changes_nothing(hubspot, book, sync):
    sync(push=False)
    cursor = CrmSyncState.objects.get(system="hubspot").accounts_cursor
    assert cursor is not None
    again = sync(push=False)["pull"]
    # Search from the cursor finds the last record again (GTE) and it is unchanged.
    assert (again["read"], again["updated"], again["created"], again["unchanged"]) == (1, 0, 0, 1)

    hubspot.edit(book["globex"], arr="11000", plan="Scale")
    RescoreRequest.objects.all().delete()
    third = sync(push=False)["pull"]
    assert (third["updated"], third["unchanged"]) == (1, 0) and third["read"] == 1
    globex = Account.objects.get(external_id=book["globex"])
    assert (globex.arr, globex.plan) == (Decimal("11000"), "Scale")
    assert list(RescoreRequest.objects.values_list("account_id", flat=True)) == [globex.pk]
    assert CrmSyncState.objects.get(system="hubspot").accounts_cursor > cursor


def test_a_field_emptied_in_hubspot_empties_in_tend_and_a_missing_property_is_left_alone(hubspot, book, sync):
    sync(push=False)
    hubspot.edit(book["acme"], renewal_date=None, plan="")
    del hubspot.properties["companies"]["seats_purchased"]  # deleted in HubSpot: not "emptied"
    result = sync(push=False)["pull"]
    acme = Account.objects.get(external_id=book["acme"])
    assert acme.renewal_date is None and acme.plan == "" and acme.seats_purchased == 50
    run = CrmSyncRun.objects.get(pk=result["run"])
    assert any("seats_purchased" in note and "not in the CRM" in note for note in run.notes)


def test_bad_records_are_refused_with_the_field_and_why_and_the_rest_go_through(hubspot, book, sync):
    hubspot.add(name="Initech", arr="lots", renewal_date="31/02/2027")
    hubspot.add(name="", arr="100")  # a new account needs a name
    hubspot.add(name="Hooli", seats_purchased="-4")
    stranger = next(i for i, e in hubspot.owners.items() if e == "stranger@example.com")
    hubspot.add(name="Umbrella", hubspot_owner_id=stranger)  # an owner who is not a Tend user
    result = sync(push=False)["pull"]
    assert (result["status"], result["created"], result["refused"]) == ("partial", 2, 4)
    run = CrmSyncRun.objects.get(pk=result["run"])
    refused = {(r["id"], r["field"]): r["why"] for r in run.refusals}
    initech, nameless, hooli, umbrella = sorted({r["id"] for r in run.refusals})
    assert refused[(initech, "arr")] == "not an amount: 'lots'"
    assert refused[(initech, "renewal_date")].startswith("not a date")
    assert refused[(nameless, "name")] == "required for a new account"
    assert refused[(hooli, "seats_purchased")] == "Ensure this value is greater than or equal to 0."
    assert "no active Tend user" in refused[(umbrella, "hubspot_owner_id")]
    assert set(Account.objects.values_list("name", flat=True)) == {"Acme", "Globex"}
    assert CrmRecord.objects.count() == 2


def test_a_contact_deleted_in_hubspot_is_archived_by_the_reconcile_and_another_becomes_primary(
    hubspot, book, sync
):
    first = hubspot.add("contacts", email="wile@acme.test", associatedcompanyid=book["acme"])
    hubspot.add("contacts", email="road@acme.test", associatedcompanyid=book["acme"])
    sync(push=False)
    assert Contact.objects.get(is_primary=True).email == "wile@acme.test"
    hubspot.delete(first, "contacts")
    sync(push=False)  # an incremental pull cannot see it
    assert Contact.objects.get(crm_id=first).archived_at is None
    result = sync(push=False, full=True)["pull"]
    gone = Contact.objects.get(crm_id=first)
    assert gone.archived_at is not None and not gone.is_primary  # kept: the champion who left
    assert Contact.objects.get(is_primary=True).email == "road@acme.test"
    assert any("1 contact(s) archived" in note for note in CrmSyncRun.objects.get(pk=result["run"]).notes)


def test_past_10000_results_the_search_starts_again_from_the_last_modified_time(hubspot, sync, monkeypatch):
    from agents_core.integrations import hubspot as gateway

    monkeypatch.setattr(gateway, "SEARCH_WINDOW", 600)  # HubSpot's 10,000, scaled down; the stand-in too
    hubspot.search_window = 600
    ids = [hubspot.add(name=f"Company {n}") for n in range(1_450)]
    result = sync(push=False)["pull"]
    # The stand-in refuses paging past its window (400): done means every query stayed inside it.
    assert (result["status"], result["created"], result["refused"]) == ("done", 1_450, 0)
    assert set(Account.objects.values_list("external_id", flat=True)) == set(ids)
    searches = [path for method, path in hubspot.calls if path.endswith("/companies/search")]
    assert len(searches) == 8  # three queries of at most 3 pages, each from the last time seen


def test_what_a_pull_changes_is_on_the_accounts_timeline_with_the_value_before(hubspot, book, sync):
    from csm.models import CrmChange
    from csm.timeline.selectors import timeline

    sync(push=False)
    assert not CrmChange.objects.exists()  # a new account is created, not changed
    hubspot.edit(book["acme"], arr="150000", plan="Scale")
    sync(push=False)
    acme = Account.objects.get(external_id=book["acme"])
    changes = {(c.tend_field, c.old_value, c.new_value) for c in CrmChange.objects.filter(account=acme)}
    assert changes == {("arr", "120000", "150000"), ("plan", "Growth", "Scale")}
    items = timeline(acme.pk, kinds=["crm_change"]).items
    assert {i.title for i in items} == {"HubSpot changed arr", "HubSpot changed plan"}
    assert {i.detail for i in items} == {"120000 → 150000", "Growth → Scale"}
    sync(push=False)  # read again, nothing changed: nothing more to tell
    assert CrmChange.objects.filter(account=acme).count() == 2
