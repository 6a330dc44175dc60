"""Salesforce through the real simple-salesforce against a loopback org over TLS: SOQL pages of
2,000 followed by nextRecordsUrl, incremental by SystemModstamp, owners by the User's email, health
pushed in sObject collections of 200 into fields the Tooling API creates, merges by MasterRecordId,
deletions by queryAll, and the org's daily allowance respected."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from csm.models import Account, CrmRecord, CrmSyncRun
from tests.csm.crm.test_hubspot_push import _score

pytestmark = pytest.mark.django_db


@pytest.fixture
def org(salesforce, make_user):
    maya = make_user("maya", email="maya@example.com")
    owner = salesforce.add_user("Maya@example.com")
    acme = salesforce.add(Name="Acme", OwnerId=owner, ARR__c=120000.0, Renewal_Date__c="2027-03-31",
                          Seats_Purchased__c=50.0, Plan__c="Growth", Segment__c="Enterprise",
                          TAM_Health__c="Green")  # fmt: skip
    return {"maya": maya, "acme": acme, "owner": owner}


def test_the_first_sync_reads_accounts_owners_and_contacts(salesforce, org, sf_sync):
    salesforce.add("Contact", AccountId=org["acme"], FirstName="Wile", LastName="Coyote",
                   Email="wile@acme.test", Title="VP Ops")  # fmt: skip
    result = sf_sync(push=False)["pull"]
    assert (result["status"], result["created"], result["contacts"]) == ("done", 1, 1)
    acme = Account.objects.get(external_id=org["acme"])
    assert (acme.name, acme.owner, acme.arr, acme.renewal_date, acme.seats_purchased) == (
        "Acme",
        org["maya"],
        Decimal("120000"),
        date(2027, 3, 31),
        50,
    )
    assert (acme.segment, acme.tam_health_rag) == ("enterprise", "GREEN")
    assert acme.contacts.get().name == "Wile Coyote"


def test_an_incremental_sync_follows_next_records_url_and_resumes_from_system_modstamp(
    salesforce, org, sf_sync
):
    for n in range(4_500):  # three SOQL batches
        salesforce.add(Name=f"Company {n}", ARR__c=float(n))
    first = sf_sync(push=False)["pull"]
    assert (first["created"], first["read"]) == (4_501, 4_501)
    assert any("/query/01g" in path for _m, path in salesforce.calls)  # nextRecordsUrl followed
    salesforce.edit(org["acme"], Plan__c="Scale")
    again = sf_sync(push=False)["pull"]
    assert (again["updated"], again["created"]) == (1, 0) and again["read"] <= 2
    assert Account.objects.get(external_id=org["acme"]).plan == "Scale"


def test_health_is_pushed_in_collections_of_200_into_fields_tend_creates(salesforce, org, sf_sync):
    for n in range(449):
        salesforce.add(Name=f"Company {n}")
    sf_sync(push=False)
    for account in Account.objects.all():
        _score(account, 61.5, "AMBER")
    result = sf_sync(pull=False)["push"]
    assert (result["status"], result["updated"]) == ("done", 450)
    assert salesforce.collection_updates == 3  # 200 + 200 + 50
    assert salesforce.fields["Account"]["Tend_Health_Score__c"] == "double"
    assert salesforce.value(org["acme"], "Tend_Health_Score__c") == 61.5  # a number, as the field wants
    assert salesforce.value(org["acme"], "Tend_Health_RAG__c") == "AMBER"
    salesforce.collection_updates = 0
    assert sf_sync(pull=False)["push"]["updated"] == 0 and salesforce.collection_updates == 0


def test_a_record_salesforce_refuses_is_reported_and_the_rest_written(salesforce, org, sf_sync):
    other = salesforce.add(Name="Globex")
    sf_sync(push=False)
    for account in Account.objects.all():
        _score(account, 50.0, "AMBER")
    salesforce.records["Account"][other]["IsDeleted"] = True  # deleted since the pull
    result = sf_sync(pull=False)["push"]
    assert (result["status"], result["updated"], result["refused"]) == ("partial", 1, 1)
    run = CrmSyncRun.objects.get(pk=result["run"])
    assert run.refusals[0]["id"] == other and "ENTITY_IS_DELETED" in run.refusals[0]["why"]


def test_a_merge_archives_the_merged_account_into_the_survivor(salesforce, org, sf_sync):
    dup = salesforce.add(Name="ACME (dup)")
    sf_sync(push=False)
    salesforce.merge(org["acme"], dup)
    assert sf_sync(push=False)["pull"]["archived"] == 1
    merged = Account.objects.get(external_id=dup)
    assert merged.status == "archived" and merged.merged_into.external_id == org["acme"]


def test_a_deletion_is_archived_by_the_full_reconcile(salesforce, org, sf_sync):
    gone = salesforce.add(Name="Initech")
    sf_sync(push=False)
    salesforce.delete(gone)
    result = sf_sync(push=False, full=True)["pull"]
    assert result["archived"] == 1 and Account.objects.get(external_id=gone).status == "archived"
    assert CrmRecord.objects.get(crm_id=gone).archived_at is not None


def test_an_unknown_field_in_the_mapping_is_left_out_not_sent_in_soql(salesforce, org, sf_sync):
    del salesforce.fields["Account"]["Plan__c"]  # SOQL would refuse the whole query
    result = sf_sync(push=False)["pull"]
    assert result["status"] == "done" and result["created"] == 1
    run = CrmSyncRun.objects.get(pk=result["run"])
    assert any("Plan__c" in note for note in run.notes)


def test_the_run_stops_when_the_orgs_allowance_is_nearly_spent(salesforce, org, sf_sync):
    salesforce.daily_remaining = salesforce.daily_max // 10  # 10% left, under the 20% kept back
    result = sf_sync()
    assert result["pull"]["status"] == "failed" and "allowance" in result["pull"]["error"]
    assert not Account.objects.exists()


def test_5xx_is_retried_and_a_bad_token_fails_with_the_reason(salesforce, org, sf_sync, sleeps, settings):
    salesforce.failures = [503]
    assert sf_sync(push=False)["pull"]["status"] == "done" and sleeps == [1.0]
    settings.SALESFORCE_ACCESS_TOKEN = "wrong"
    failed = sf_sync(push=False)["pull"]
    assert failed["status"] == "failed" and "401" in failed["error"]


def test_the_jwt_bearer_flow_of_a_connected_app_logs_in_and_syncs(salesforce, org, settings, tmp_path):
    """simple-salesforce signs the assertion and posts it to login.salesforce.com, which requests
    sends to the loopback org (a transport adapter on the session, as a mock transport would)."""
    import requests
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from requests.adapters import HTTPAdapter

    from agents_core.integrations.salesforce import salesforce_gateway
    from csm.crm.sync import sync_crm

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = tmp_path / "tend.key"
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))  # fmt: skip
    salesforce.connected_app(
        consumer_key="3MVG9-tend", certificate_key=key.public_key(), username="tend@acme.test"
    )

    class ToLoopback(HTTPAdapter):
        def send(self, request, **kwargs):
            request.url = request.url.replace("https://login.salesforce.com", salesforce.instance_url)
            return super().send(request, **kwargs)

    session = requests.Session()
    session.verify, session.trust_env = salesforce.ca_file, False
    session.mount("https://login.salesforce.com", ToLoopback())
    settings.SALESFORCE_ACCESS_TOKEN = ""
    settings.SALESFORCE_USERNAME, settings.SALESFORCE_CONSUMER_KEY = "tend@acme.test", "3MVG9-tend"
    settings.SALESFORCE_PRIVATE_KEY_FILE = str(pem)
    result = sync_crm("salesforce", connector=salesforce_gateway(session=session), push=False)
    assert result["pull"]["created"] == 1 and Account.objects.get().external_id == org["acme"]

    settings.SALESFORCE_CONSUMER_KEY = "someone-else"
    from agents_core.integrations.crm import CrmError

    with pytest.raises(CrmError, match="client identifier invalid"):
        salesforce_gateway(session=session)


def test_a_refused_jwt_login_is_a_failed_run_with_the_reason_and_the_scan_never_logs_in(
    settings, monkeypatch
):
    from agents_core.integrations import salesforce as sf_module
    from csm.crm import sync as crm_sync

    settings.SALESFORCE_ACCESS_TOKEN, settings.SALESFORCE_INSTANCE_URL = "", ""
    settings.SALESFORCE_USERNAME, settings.SALESFORCE_CONSUMER_KEY = "tend@acme.test", "3MVG9-tend"
    settings.SALESFORCE_PRIVATE_KEY = "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----"
    logins = []

    def refused(**kwargs):  # what simple-salesforce raises when the token endpoint says no
        logins.append(kwargs)
        raise sf_module.SalesforceError("https://login.salesforce.com", 400, "login", "invalid_grant")

    monkeypatch.setattr(sf_module, "Salesforce", refused)
    assert crm_sync.configured() == ["salesforce"] and logins == []  # asking logs in nobody
    result = crm_sync.sync_crm("salesforce")
    assert "refused the JWT login" in result["error"] and len(logins) == 1
    assert CrmSyncRun.objects.get().status == "failed"


def test_a_contact_deleted_in_salesforce_is_archived_on_the_next_pull(salesforce, org, sf_sync):
    from csm.models import Contact

    wile = salesforce.add("Contact", AccountId=org["acme"], LastName="Coyote", Email="wile@acme.test")
    sf_sync(push=False)
    salesforce.delete(wile, "Contact")
    sf_sync(push=False)
    assert Contact.objects.get(crm_id=wile).archived_at is not None


def test_completed_tasks_and_events_become_interactions(salesforce, org, sf_sync):
    from datetime import timedelta

    from django.utils import timezone

    from csm.models import AccountSignals, Interaction

    today = timezone.localdate()
    salesforce.add(
        "Task",
        AccountId=org["acme"],
        Subject="Discovery call",
        Description="Wants SSO",
        TaskSubtype="Call",
        Status="Completed",
        ActivityDate=(today - timedelta(days=2)).isoformat(),
    )
    salesforce.add(
        "Task",
        AccountId=org["acme"],
        Subject="Send the deck",
        TaskSubtype="Task",
        Status="Not Started",
        ActivityDate=today.isoformat(),
    )  # a to-do: not an interaction
    start = (timezone.now() - timedelta(days=4)).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    salesforce.add(
        "Event",
        AccountId=org["acme"],
        Subject="QBR",
        StartDateTime=start,
        ActivityDate=(today - timedelta(days=4)).isoformat(),
    )
    sf_sync(push=False)
    acme = Account.objects.get(external_id=org["acme"])
    got = sorted(Interaction.objects.filter(account=acme).values_list("kind", "title", "body", "source"))
    assert got == [("call", "Discovery call", "Wants SSO", "crm"), ("meeting", "QBR", "", "crm")]
    assert AccountSignals.objects.get(account=acme).last_interaction_on == today - timedelta(days=2)
    sf_sync(push=False)  # read again from the cursors: the same two
    assert Interaction.objects.filter(account=acme).count() == 2
