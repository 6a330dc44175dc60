"""The hand-off from Customer Success to Sales: a new opportunity gets an outreach draft.

csm never imports sales; sales listens. The run is started only once the
transaction that saved the opportunity commits, so a rolled-back
opportunity never reaches Sales.
"""

from functools import partial

from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from agents_core.dispatch import enqueue
from agents_core.models import AgentRun
from csm.models import ExpansionOpportunity


def start_drafting(opportunity_id: int) -> None:
    enqueue(
        "sales",
        "handle_expansion_opportunity",
        {"opportunity_id": opportunity_id},
        trigger=AgentRun.Trigger.SIGNAL,
    )


@receiver(post_save, sender=ExpansionOpportunity, dispatch_uid="sales.draft_outreach_for_new_opportunity")
def draft_outreach_for_new_opportunity(sender, instance, created, raw=False, **kwargs):
    if created and not raw:  # re-saves and fixture loads make no draft
        transaction.on_commit(partial(start_drafting, instance.pk))
