from datetime import date
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from csm.models import RenewalOutcome
from csm.trust.outcomes import import_outcomes

pytestmark = pytest.mark.django_db

URL = "/api/v1/outcomes/"


def test_a_csm_records_an_outcome_on_their_account_through_the_api(api, api_book):
    maya, account = api_book["maya"], api_book["maya_accounts"][0]
    response = api(maya).post(
        URL,
        {"account": account.pk, "renewal_date": "2026-06-30", "outcome": "downgraded",
         "arr_before": "12000.00", "arr_after": "9000.00"},
        format="json",
    )  # fmt: skip
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["arr_lost"] == "3000.00" and body["source"] == "api" and body["synthetic"] is False
    listed = api(maya).get(URL).json()["results"]
    assert [o["id"] for o in listed] == [body["id"]]
    assert api(api_book["tom"]).get(URL).json()["results"] == []


@pytest.mark.parametrize(
    "change, field",
    [
        ({"outcome": "churned", "arr_after": "100.00"}, "arr_after"),
        ({"outcome": "downgraded", "arr_after": "12000.00"}, "arr_after"),
        ({"outcome": "cancelled"}, "outcome"),
        ({"arr_before": "-1"}, "arr_before"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_bad_outcomes_are_refused_with_the_field_named(api, api_book, change, field):
    account = api_book["maya_accounts"][0]
    payload = {"account": account.pk, "renewal_date": "2026-06-30", "outcome": "renewed",
               "arr_before": "12000.00", "arr_after": "12000.00", **change}  # fmt: skip
    response = api(api_book["maya"]).post(URL, payload, format="json")
    assert response.status_code == 400 and field in response.json(), response.content
    assert not RenewalOutcome.objects.exists()


def test_one_outcome_per_renewal_and_not_on_others_accounts(api, api_book):
    maya = api_book["maya"]
    payload = {"account": api_book["maya_accounts"][0].pk, "renewal_date": "2026-06-30", "outcome": "churned",
               "arr_before": "5000", "arr_after": "0"}  # fmt: skip
    assert api(maya).post(URL, payload, format="json").status_code == 201
    again = api(maya).post(URL, payload, format="json")
    assert again.status_code == 400 and "renewal_date" in again.json()
    other = api(maya).post(URL, {**payload, "renewal_date": "2025-06-30"}, format="json").json()
    clash = api(maya).patch(f"{URL}{other['id']}/", {"renewal_date": "2026-06-30"}, format="json")
    assert clash.status_code == 400 and "renewal_date" in clash.json()
    toms = {**payload, "account": api_book["tom_accounts"][0].pk}
    refused = api(maya).post(URL, toms, format="json")
    assert refused.status_code == 400 and "account" in refused.json()


def test_csv_import_is_all_or_nothing_and_lists_each_problem(api_book):
    a, b = api_book["maya_accounts"][:2]
    good = (
        "external_id,renewal_date,outcome,arr_before,arr_after\n"
        f'{a.external_id},2026-03-31,Churned,"$12,000",0\n'
        f"{b.external_id},03/31/2026,renewed,8000,8000\n"
    )
    bad = good + "NOPE,2026-03-31,renewed,1,1\n" + f"{a.external_id},2026-04-01,lost,100,50\n"
    report = import_outcomes(bad)
    assert [(p.line, p.column) for p in report.problems] == [(4, "external_id"), (5, "arr_after")]
    assert not RenewalOutcome.objects.exists()

    assert import_outcomes(good, dry_run=True).problems == [] and not RenewalOutcome.objects.exists()
    report = import_outcomes(good)
    assert report.written == 2
    churned = RenewalOutcome.objects.get(account=a)
    assert churned.outcome == "churned" and churned.arr_lost == Decimal("12000") and churned.source == "csv"
    assert RenewalOutcome.objects.get(account=b).renewal_date == date(2026, 3, 31)
    # Importing again replaces, never duplicates.
    assert import_outcomes(good).written == 2 and RenewalOutcome.objects.count() == 2


def test_import_command_exits_non_zero_on_a_bad_file(tmp_path, api_book):
    path = tmp_path / "outcomes.csv"
    path.write_text("external_id,outcome\nX,renewed\n")
    with pytest.raises(CommandError, match="nothing was written"):
        call_command("import_outcomes", str(path))


def test_admin_marks_synthetic_outcomes_and_scopes_them(client, api_book):
    maya_account, tom_account = api_book["maya_accounts"][0], api_book["tom_accounts"][0]
    RenewalOutcome.objects.create(account=maya_account, renewal_date=date(2026, 1, 1), outcome="renewed",
                                  arr_before=1, arr_after=1, synthetic=True, source="demo")  # fmt: skip
    RenewalOutcome.objects.create(account=tom_account, renewal_date=date(2026, 1, 1), outcome="churned",
                                  arr_before=1, arr_after=0)  # fmt: skip
    client.force_login(api_book["maya"])
    page = client.get(reverse("admin:csm_renewaloutcome_changelist")).content.decode()
    assert "Synthetic (demo data)" in page and maya_account.name in page and tom_account.name not in page
