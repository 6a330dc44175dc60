"""Conflicts: a change on the side that does not own a field is never overwritten silently. It is
kept with both values until a person resolves it, and the sync goes on from the pick."""

from __future__ import annotations

from decimal import Decimal

import pytest

from csm.crm.conflicts import CannotResolve, resolve
from csm.models import Account, CrmConflict, CrmRecord
from tests.csm.crm.test_hubspot_push import _score

pytestmark = pytest.mark.django_db


@pytest.fixture
def acme(hubspot, sync):
    crm_id = hubspot.add(name="Acme", arr="120000", plan="Growth")
    sync(push=False)
    return crm_id, Account.objects.get(external_id=crm_id)


def test_a_crm_owned_field_changed_in_tend_is_kept_until_someone_picks(hubspot, acme, sync, make_user):
    crm_id, account = acme
    Account.objects.filter(pk=account.pk).update(arr=Decimal("150000"))  # a CSM typed it in Tend
    hubspot.edit(crm_id, arr="130000")  # and HubSpot, which owns it, changed too
    result = sync(push=False)["pull"]
    assert result["conflicts"] == 1
    account.refresh_from_db()
    assert account.arr == Decimal("150000")  # not overwritten silently
    conflict = CrmConflict.objects.get()
    assert (conflict.tend_field, conflict.crm_value, conflict.tend_value, conflict.changed_on) == (
        "arr",
        "130000",
        "150000",
        "tend",
    )
    hubspot.edit(crm_id, plan="Scale")  # another pull of the same record: still one conflict
    sync(push=False)
    assert CrmConflict.objects.count() == 1

    resolve(conflict, keep="crm", by=make_user("morgan", view_all=True))
    account.refresh_from_db()
    assert account.arr == Decimal("130000") and account.plan == "Scale"
    assert CrmConflict.objects.get().status == "kept_crm"
    with pytest.raises(CannotResolve):
        resolve(CrmConflict.objects.get(), keep="tend", by=None)


def test_keeping_tends_value_is_not_raised_again_until_a_side_changes(hubspot, acme, sync):
    crm_id, account = acme
    Account.objects.filter(pk=account.pk).update(plan="Enterprise")
    hubspot.edit(crm_id, plan="Growth+")
    sync(push=False)
    resolve(CrmConflict.objects.get(), keep="tend", by=None)
    hubspot.edit(crm_id, name="Acme Inc")  # the record changes elsewhere: the plan pair is settled
    sync(push=False)
    assert CrmConflict.objects.count() == 1
    account.refresh_from_db()
    assert account.plan == "Enterprise" and account.name == "Acme Inc"
    hubspot.edit(crm_id, plan="Growth++")  # a new value in HubSpot: a new conflict
    sync(push=False)
    assert CrmConflict.objects.filter(status="open").count() == 1


def test_tends_health_changed_in_hubspot_is_not_pushed_over_until_resolved(hubspot, acme, sync):
    crm_id, account = acme
    _score(account, 72.0, "GREEN")
    sync(pull=False)
    hubspot.edit(crm_id, tend_health_rag="RED")  # someone in sales overrode it
    sync(push=False)  # the pull reads Tend's properties too
    _score(account, 70.0, "GREEN")  # a new score: the RAG is still GREEN in Tend
    result = sync(pull=False)["push"]
    assert result["conflicts"] == 1
    assert hubspot.value(crm_id, "tend_health_rag") == "RED"  # kept until a person picks
    assert hubspot.value(crm_id, "tend_health_score") == "70"  # the score itself was not touched there
    conflict = CrmConflict.objects.get()
    assert (conflict.tend_field, conflict.crm_value, conflict.tend_value, conflict.changed_on) == (
        "rag",
        "RED",
        "GREEN",
        "crm",
    )
    resolve(conflict, keep="tend", by=None)
    sync(pull=False)
    assert hubspot.value(crm_id, "tend_health_rag") == "GREEN"
    assert CrmRecord.objects.get(crm_id=crm_id).pushed["tend_health_rag"] == "GREEN"
