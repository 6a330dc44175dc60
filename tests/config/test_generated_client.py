"""The API as its users consume it: a Python client generated from Tend's OpenAPI schema
(openapi-python-client), driven against a live server. If the schema lies about a field
(a null it says cannot be null, an error body it does not describe), the client crashes here.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from datetime import timedelta

import pytest
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator

from agents_core.models import ApiToken
from csm.models import ChurnAlert

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture(scope="module")
def tend_client(tmp_path_factory):
    """Generate the client once per run, from the schema the server serves."""
    root = tmp_path_factory.mktemp("client")
    schema = root / "schema.json"
    schema.write_text(json.dumps(SchemaGenerator().get_schema(request=None, public=True), default=str))
    config = root / "config.json"
    config.write_text(json.dumps({"post_hooks": []}))
    generated = subprocess.run(
        [sys.executable, "-m", "openapi_python_client", "generate", "--path", str(schema),
         "--output-path", str(root / "tend_api_client"), "--meta", "none", "--config", str(config)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert generated.returncode == 0, generated.stdout + generated.stderr
    assert "Warning" not in generated.stdout, generated.stdout  # every part of the schema understood
    sys.path.insert(0, str(root))
    yield importlib.import_module("tend_api_client")
    sys.path.remove(str(root))


def api(package, name):
    return importlib.import_module(f"{package.__name__}.api.v1.{name}")


def model(package, name):
    return getattr(importlib.import_module(f"{package.__name__}.models"), name)


def test_a_generated_client_lists_creates_updates_bulk_loads_and_acknowledges(
    tend_client, live_server, api_book
):
    maya = api_book["maya"]
    _token, key = ApiToken.objects.create(maya, name="generated client")
    client = tend_client.AuthenticatedClient(base_url=live_server.url, token=key, prefix="Token")

    # A list of accounts that were never scored: rag, churn risk and trigger are null.
    page = api(tend_client, "v1_accounts_list").sync(client=client)
    assert page.count == 3 and {a.name for a in page.results} == {"Maya Co 0", "Maya Co 1", "Maya Co 2"}
    assert all(a.rag is None and a.churn_trigger is None for a in page.results)

    # Create one: it comes back unscored, owned by maya.
    AccountRequest = model(tend_client, "AccountRequest")
    made = api(tend_client, "v1_accounts_create").sync(
        client=client, body=AccountRequest(external_id="GEN-1", name="Generated Co", arr="1200.00")
    )
    assert made.name == "Generated Co" and made.owner == "maya" and made.rag is None

    # Change it.
    Patched = model(tend_client, "PatchedAccountRequest")
    changed = api(tend_client, "v1_accounts_partial_update").sync(
        client=client, id=made.id, body=Patched(seats_purchased=20, seats_used=12)
    )
    assert (changed.seats_purchased, changed.seats_used) == (20, 12)

    # Bulk signals: all or nothing.
    Row = model(tend_client, "BulkSignalsRowRequest")
    loaded = api(tend_client, "v1_signals_bulk_create").sync(
        client=client,
        body=[Row(external_id="GEN-1", nps_score=9), Row(external_id="EXT-1", open_ticket_count=2)],
    )
    assert loaded.received == 2 and loaded.created + loaded.updated == 2

    # Acknowledge an alert.
    alert = ChurnAlert.objects.create(
        account=api_book["maya_accounts"][0], raised_on=timezone.localdate(), raised_at=timezone.now(),
        reason="entered_red", explanation="Fell.", score=30, rag="RED", churn_risk="high", arr=1000,
        renewal_date=timezone.localdate() + timedelta(days=30),
    )  # fmt: skip
    acknowledged = api(tend_client, "v1_alerts_acknowledge_create").sync(client=client, id=alert.pk)
    assert acknowledged.acknowledged is True and acknowledged.acknowledged_by == "maya"


def test_a_generated_client_reads_the_errors(tend_client, live_server, api_book):
    _token, key = ApiToken.objects.create(api_book["maya"], name="generated client")
    client = tend_client.AuthenticatedClient(base_url=live_server.url, token=key, prefix="Token")
    AccountRequest = model(tend_client, "AccountRequest")

    refused = api(tend_client, "v1_accounts_create").sync_detailed(
        client=client, body=AccountRequest(external_id="EXT-1", name="Duplicate")
    )
    assert refused.status_code == 400 and refused.parsed is not None
    assert "external_id" in refused.parsed.additional_properties

    missing = api(tend_client, "v1_accounts_retrieve").sync_detailed(client=client, id=987654)
    assert missing.status_code == 404 and refused.parsed is not None and missing.parsed.detail

    anonymous = tend_client.Client(base_url=live_server.url)
    denied = api(tend_client, "v1_accounts_list").sync_detailed(client=anonymous)
    assert denied.status_code == 401 and denied.parsed.detail
