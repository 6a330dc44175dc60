"""The CRM sync's tests run the real hubspot-api-client against a loopback HubSpot
(tests/fakes/hubspot.py), which checks what HubSpot checks."""

from __future__ import annotations

import pytest

from agents_core.integrations.hubspot import hubspot_gateway
from csm.crm.sync import sync_crm
from tests.fakes.hubspot import TOKEN, HubSpot

CUSTOM = {"arr": "number", "renewal_date": "date", "contract_start_date": "date", "seats_purchased": "number",
          "plan": "string", "segment": "enumeration", "tam_health": "enumeration"}  # fmt: skip


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
