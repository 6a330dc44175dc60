"""Seats the health score would refuse are refused where they are entered: API, admin and CSV import."""

from __future__ import annotations

import pytest
from django.utils import timezone

from csm.ingest.crm_csv import import_accounts
from csm.models import Account
from csm.scoring.scan import scan_health

pytestmark = pytest.mark.django_db


def test_the_api_refuses_seats_the_scan_would_skip_and_says_why(api, api_book):
    account = api_book["maya_accounts"][0]
    Account.objects.filter(pk=account.pk).update(seats_purchased=50, seats_used=40)
    response = api(api_book["maya"]).patch(
        f"/api/v1/accounts/{account.pk}/", {"seats_used": 5000}, format="json"
    )
    assert response.status_code == 400
    assert "5000 seats used of 50 purchased" in response.json()["seats_used"][0]
    # Lowering the purchase under what is used is caught the same way.
    response = api(api_book["maya"]).patch(
        f"/api/v1/accounts/{account.pk}/", {"seats_purchased": 10}, format="json"
    )
    assert response.status_code == 400 and "seats_used" in response.json()
    assert (
        api(api_book["maya"])
        .patch(f"/api/v1/accounts/{account.pk}/", {"seats_used": 100}, format="json")
        .status_code
        == 200
    )
    # What is saved, the scan scores.
    result = scan_health(account_ids=[account.pk])
    assert result["failed"] == 0 and result["scored"] == 1


def test_the_csv_import_names_the_row(api_book):
    csv = "external_id,name,seats_purchased,seats_used\nNEW-1,Over Co,10,50\n"
    report = import_accounts(csv, today=timezone.localdate(), at=timezone.now())
    assert not report.written and not Account.objects.filter(external_id="NEW-1").exists()
    [problem] = report.problems
    assert problem.line == 2 and problem.column == "seats_used" and "50 seats used of 10" in problem.message


def test_a_model_form_refuses_it_as_the_admin_does(client, api_book):
    from django.forms.models import modelform_factory

    fields = ["name", "external_id", "segment", "status", "arr", "seats_purchased", "seats_used"]
    data = {"name": "X", "external_id": "X-9", "segment": "smb", "status": "active", "arr": "0",
            "seats_purchased": 5, "seats_used": 500}  # fmt: skip
    form = modelform_factory(Account, fields=fields)(data=data)
    assert not form.is_valid() and "500 seats used of 5" in form.errors["seats_used"][0]
