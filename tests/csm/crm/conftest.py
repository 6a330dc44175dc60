"""The CRM sync's tests run the real hubspot-api-client against a loopback HubSpot
(tests/fakes/hubspot.py), which checks what HubSpot checks."""

from __future__ import annotations

import pytest
import requests

from agents_core.integrations.hubspot import hubspot_gateway
from agents_core.integrations.salesforce import salesforce_gateway
from csm.crm.sync import sync_crm
from tests.fakes import salesforce as sf
from tests.fakes.hubspot import TEND_PROPERTIES, TOKEN, HubSpot

CUSTOM = TEND_PROPERTIES


@pytest.fixture
def hubspot(settings):
    """HubSpot with the custom properties a team keeps for Tend, and Tend pointed at it."""
    fake = HubSpot()
    for name, kind in CUSTOM.items():
        fake.add_property(name, kind)
    settings.HUBSPOT_ACCESS_TOKEN = TOKEN
    settings.HUBSPOT_BASE_URL = fake.url
    yield fake
    fake.close()


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def sync(hubspot, sleeps):
    """One sync run (pull then push unless told), through a gateway that records its sleeps."""

    def run(**flags):
        gateway = hubspot_gateway(sleep=sleeps.append)
        return sync_crm("hubspot", connector=gateway, **flags)

    return run


SF_CUSTOM = {"ARR__c": "currency", "Renewal_Date__c": "date", "Contract_Start_Date__c": "date",
             "Seats_Purchased__c": "double", "Plan__c": "string", "Segment__c": "picklist",
             "TAM_Health__c": "picklist"}  # fmt: skip


@pytest.fixture
def salesforce(settings):
    """A Salesforce org with the custom fields a team keeps for Tend, over TLS on loopback."""
    fake = sf.Salesforce()
    for name, kind in SF_CUSTOM.items():
        fake.add_field(name, kind)
    settings.SALESFORCE_INSTANCE_URL = fake.instance_url
    settings.SALESFORCE_ACCESS_TOKEN = sf.TOKEN
    settings.SALESFORCE_API_VERSION = sf.VERSION
    yield fake
    fake.close()


@pytest.fixture
def sf_sync(salesforce, sleeps):
    def run(**flags):
        session = requests.Session()
        session.verify = salesforce.ca_file  # trust the stand-in's own certificate
        session.trust_env = False  # (REQUESTS_CA_BUNDLE would override it)
        return sync_crm(
            "salesforce", connector=salesforce_gateway(session=session, sleep=sleeps.append), **flags
        )

    return run
