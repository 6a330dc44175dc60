"""One visibility rule for every model that hangs off an account (OwnedQuerySet.visible_to)."""

from __future__ import annotations

import pytest
from django.apps import apps

from agents_core.visibility import OwnedQuerySet
from tests.book import add_accounts

OWNED_MODELS = [
    "csm.Account",
    "csm.HealthScore",
    "csm.ExpansionOpportunity",
    "csm.ChurnAlert",
    "csm.AlertDelivery",
    "csm.QBRDue",
    "csm.QBR",
    "csm.RenewalOutcome",
    "sales.OutreachDraft",
]


def test_every_model_about_an_account_answers_visible_to():
    for label in OWNED_MODELS:
        assert isinstance(apps.get_model(label).objects.all(), OwnedQuerySet), label


@pytest.mark.django_db
@pytest.mark.parametrize("label", OWNED_MODELS)
def test_a_csm_sees_their_own_rows_a_manager_all_an_inactive_user_none(label, make_user):
    maya, tom = make_user("maya"), make_user("tom")
    manager = make_user("morgan", view_all=True)
    add_accounts(maya, 2, prefix="M")
    add_accounts(tom, 3, prefix="T")
    model = apps.get_model(label)
    path = model.objects.all().owner_path
    everything = model.objects.count()
    mine = model.objects.visible_to(maya)

    assert everything > mine.count() > 0
    assert set(mine.values_list(path, flat=True)) == {maya.pk}
    assert model.objects.visible_to(manager).count() == everything
    maya.is_active = False
    assert model.objects.visible_to(maya).count() == 0
