"""Deleted and merged in HubSpot: the account is archived in Tend, never its history destroyed; it
leaves the scan and the book, and comes back if the company is restored."""

from __future__ import annotations

import pytest

from csm.models import Account, CrmRecord
from tests.csm.crm.test_hubspot_push import _score

pytestmark = pytest.mark.django_db


def test_a_merged_company_is_archived_into_the_survivor_on_the_next_pull(hubspot, sync):
    keep, gone = hubspot.add(name="Acme"), hubspot.add(name="ACME Corp (duplicate)")
    sync(push=False)
    dup = Account.objects.get(external_id=gone)
    _score(dup, 40.0, "RED")
    hubspot.merge(keep, gone)
    result = sync(push=False)["pull"]
    assert result["archived"] == 1
    dup.refresh_from_db()
    assert dup.status == "archived" and dup.merged_into == Account.objects.get(external_id=keep)
    assert dup.health_scores.count() == 1  # history kept
    assert dup not in Account.objects.scannable()
    assert CrmRecord.objects.get(crm_id=gone).archived_at is not None


def test_a_deleted_company_is_archived_by_the_reconcile_and_restored_if_it_comes_back(hubspot, sync):
    ids = [hubspot.add(name=f"Company {n}") for n in range(3)]
    sync(push=False)
    hubspot.delete(ids[1])
    assert sync(push=False)["pull"]["archived"] == 0  # an incremental pull cannot see a deletion
    result = sync(push=False, full=True)["pull"]
    assert (result["archived"], result["read"], result["unchanged"]) == (1, 2, 2)
    assert Account.objects.get(external_id=ids[1]).status == "archived"
    # Pushes skip it
    assert sync(pull=False)["push"]["read"] == 2

    record = hubspot.archived["companies"].pop(ids[1])  # restored in HubSpot
    record["archived"] = False
    hubspot.objects["companies"][ids[1]] = record
    hubspot.edit(ids[1], name="Company 1 (back)")
    sync(push=False, full=True)
    back = Account.objects.get(external_id=ids[1])
    assert (back.status, back.archived_at, back.name) == ("active", None, "Company 1 (back)")
