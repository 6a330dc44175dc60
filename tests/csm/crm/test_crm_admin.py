"""The CRM sync in the admin: a manager tries a mapping on real HubSpot records before saving it,
reads each run's report, queues a sync; a conflict is resolved with a click by whoever sees the
account; contacts show on the account page."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from agents_core.models import AgentRun
from csm.models import Account, Contact, CrmConflict, CrmFieldMapping, CrmSyncRun

pytestmark = pytest.mark.django_db


@pytest.fixture
def morgan(make_user):
    manager = make_user("morgan", view_all=True, email="morgan@example.com")
    manager.groups.add(Group.objects.get(name="Manager"))
    return manager


def test_a_mapping_is_previewed_on_crm_records_before_it_is_saved(client, hubspot, morgan):
    hubspot.add(name="Acme", arr="120000", plan="Growth", annualrevenue="5000000")
    hubspot.add(name="Globex", arr="a lot")
    arr = CrmFieldMapping.objects.get(system="hubspot", tend_field="arr")
    client.force_login(morgan)
    url = reverse("admin:csm_crmfieldmapping_change", args=[arr.pk])
    form = {"system": "hubspot", "crm_field": "annualrevenue", "tend_field": "arr", "owner": "crm",
            "is_active": "on", "notes": "", "_preview": "Preview"}  # fmt: skip
    page = client.post(url, form)
    assert page.status_code == 200
    text = page.content.decode()
    assert "Acme" in text and "5000000" in text and "Nothing has been saved" in text
    arr.refresh_from_db()
    assert arr.crm_field == "arr"  # not saved
    form["crm_field"] = "arr"
    text = client.post(url, form).content.decode()
    assert "Refused: not an amount: &#x27;a lot&#x27;" in text
    form["crm_field"] = "no_such_property"
    assert "Not in the CRM" in client.post(url, form).content.decode()
    del form["_preview"]
    form["_save"] = "Save"
    assert client.post(url, {**form, "crm_field": "annualrevenue"}).status_code == 302
    arr.refresh_from_db()
    assert arr.crm_field == "annualrevenue"


def test_a_mapping_that_would_pull_tends_health_is_refused(client, morgan):
    client.force_login(morgan)
    form = {"system": "hubspot", "crm_field": "health", "tend_field": "health_score", "owner": "crm",
            "is_active": "on", "notes": "", "_save": "Save"}  # fmt: skip
    CrmFieldMapping.objects.filter(system="hubspot", tend_field="health_score").delete()
    page = client.post(reverse("admin:csm_crmfieldmapping_add"), form)
    assert page.status_code == 200 and "Tend&#x27;s health is Tend&#x27;s" in page.content.decode()


def test_a_manager_reads_the_reports_and_queues_a_sync(client, hubspot, morgan, make_user, sync):
    hubspot.add(name="Acme", arr="lots")
    sync()
    client.force_login(morgan)
    listing = client.get(reverse("admin:csm_crmsyncrun_changelist")).content.decode()
    assert "Sync now" in listing and "Full reconcile now" in listing
    run = CrmSyncRun.objects.get(kind="pull")
    page = client.get(reverse("admin:csm_crmsyncrun_change", args=[run.pk])).content.decode()
    assert "not an amount" in page and "Refused records" in page
    assert client.post(reverse("admin:csm_crmsyncrun_sync_now")).status_code == 302
    assert AgentRun.objects.filter(task_type="sync_crm", trigger="admin").exists()
    client.force_login(make_user("maya"))
    assert client.get(reverse("admin:csm_crmsyncrun_changelist")).status_code == 403
    assert client.post(reverse("admin:csm_crmsyncrun_sync_now")).status_code == 403


def test_a_conflict_is_resolved_with_a_click_by_whoever_sees_the_account(client, hubspot, sync, make_user):
    maya, tom = make_user("maya", email="maya@example.com"), make_user("tom", email="tom@example.com")
    crm_id = hubspot.add(name="Acme", plan="Growth", hubspot_owner_id=hubspot.add_owner("maya@example.com"))
    sync(push=False)
    Account.objects.filter(external_id=crm_id).update(plan="Enterprise")
    hubspot.edit(crm_id, plan="Scale")
    sync(push=False)
    conflict = CrmConflict.objects.get()
    client.force_login(tom)
    assert "Acme" not in client.get(reverse("admin:csm_crmconflict_changelist")).content.decode()
    do = reverse("admin:csm_crmconflict_do", args=[conflict.pk, "keep-crm"])
    assert client.post(do).status_code == 404
    client.force_login(maya)
    listing = client.get(reverse("admin:csm_crmconflict_changelist")).content.decode()
    assert "Acme" in listing and "Keep the CRM&#x27;s" in listing
    assert client.post(do).status_code == 302
    assert Account.objects.get(external_id=crm_id).plan == "Scale"
    assert CrmConflict.objects.get().status == "kept_crm"


def test_contacts_show_on_the_account_page(client, hubspot, sync, morgan):
    crm_id = hubspot.add(name="Acme")
    hubspot.add("contacts", email="wile@acme.test", firstname="Wile", associatedcompanyid=crm_id)
    sync(push=False)
    account = Account.objects.get(external_id=crm_id)
    assert Contact.objects.get().account == account
    client.force_login(morgan)
    page = client.get(reverse("admin:csm_account_change", args=[account.pk])).content.decode()
    assert "wile@acme.test" in page
