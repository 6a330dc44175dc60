"""Resolving a conflict: a person picks the CRM's value or Tend's, and the sync goes on from there.

- A CRM-owned field changed in Tend: the CRM's value is written into Tend, or Tend's is kept (the
  same pair of values is not raised again; a new change on either side is).
- A Tend-owned field changed in the CRM: Tend's value goes back on the next push, or the CRM's is
  kept (it stays until Tend's value next changes).
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from csm.crm.models import CrmConflict, CrmRecord, Side
from csm.crm.pull import attr_name, stored_value
from csm.crm.values import from_crm
from csm.ingest.cells import CellError
from csm.models import Account
from csm.scoring.on_change import rescore_soon


class CannotResolve(Exception):
    pass


def resolve(conflict: CrmConflict, *, keep: str, by) -> CrmConflict:
    """`keep` is "crm" or "tend". Raises CannotResolve with a reason a person can act on."""
    if conflict.status != CrmConflict.Status.OPEN:
        raise CannotResolve("This conflict was resolved already.")
    if keep not in (Side.CRM, Side.TEND):
        raise CannotResolve("Keep the CRM's value or Tend's.")
    with transaction.atomic():
        link = (
            CrmRecord.objects.select_for_update()
            .filter(system=conflict.system, account=conflict.account)
            .first()
        )
        if conflict.owner == Side.CRM and keep == Side.CRM:
            _write_into_tend(conflict, link)
        elif conflict.owner == Side.TEND and link is not None:
            if keep == Side.TEND:  # what the CRM has is not Tend's: push Tend's again
                link.pushed.pop(conflict.crm_field, None)
            else:  # Tend wrote this; the CRM's value stands until Tend's changes
                link.pushed[conflict.crm_field] = conflict.tend_value
                link.pulled[conflict.crm_field] = conflict.crm_value
            link.save(update_fields=["pushed", "pulled"])
        conflict.status = CrmConflict.Status.KEPT_CRM if keep == Side.CRM else CrmConflict.Status.KEPT_TEND
        conflict.resolved_at, conflict.resolved_by = timezone.now(), by
        conflict.save(update_fields=["status", "resolved_at", "resolved_by"])
    return conflict


def _write_into_tend(conflict: CrmConflict, link: CrmRecord | None) -> None:
    text = link.pulled.get(conflict.crm_field) if link is not None else conflict.crm_value
    if conflict.tend_field == "owner":
        from django.contrib.auth import get_user_model

        user = get_user_model().objects.filter(is_active=True, email__iexact=conflict.crm_value or "").first()
        if conflict.crm_value and user is None:
            raise CannotResolve(f"No active Tend user has the email {conflict.crm_value}.")
        value = user.pk if user else None
    else:
        try:
            value = from_crm(conflict.tend_field, text, owners={})
        except CellError as exc:
            raise CannotResolve(f"The CRM's value cannot be used: {exc}") from exc
    account = Account.objects.get(pk=conflict.account_id)
    setattr(account, attr_name(conflict.tend_field), stored_value(conflict.tend_field, value))
    account.save(update_fields=[conflict.tend_field, "updated_at"])
    rescore_soon([account.pk])
