from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from csm.models import Account, AccountSignals
from csm.scoring.scan import scan_health

pytestmark = pytest.mark.django_db

BULK = "/api/v1/signals/bulk/"


def signals_url(account):
    return f"/api/v1/accounts/{account.pk}/signals/"


def test_get_signals_gives_the_13_inputs_as_of_today(api, api_book):
    account = api_book["maya_accounts"][0]
    data = api(api_book["maya"]).get(signals_url(account)).json()
    from csm.scoring import engine

    assert set(engine.INPUT_NAMES) <= set(data)
    assert data["login_frequency_days"] == 2 and data["days_since_last_interaction"] == 10
    assert data["seats_utilization_rate"] == 0.9
    assert data["days_to_renewal"] == (account.renewal_date - timezone.localdate()).days


def test_put_sets_the_inputs_sent_and_keeps_the_rest(api, api_book):
    account = api_book["maya_accounts"][0]
    response = api(api_book["maya"]).put(
        signals_url(account),
        {
            "usage_trend": "declining",
            "login_frequency_days": 40,
            "nps_score": None,
            "tam_health_rag": "AMBER",
        },
        format="json",
    )
    assert response.status_code == 200, response.json()
    data = response.json()
    assert data["usage_trend"] == "declining" and data["login_frequency_days"] == 40
    assert data["nps_score"] is None and data["tam_health_rag"] == "AMBER"
    assert data["stakeholder_engagement"] == "high"  # untouched
    assert (
        data["sources"]["usage_trend"]["source"] == "api" and data["sources"]["usage_trend"]["by"] == "maya"
    )
    account.refresh_from_db()
    assert account.signals.last_login_on == timezone.localdate() - timedelta(days=40)
    assert account.tam_health_rag == "AMBER"
    # The next scan uses them.
    scan_health()
    account.refresh_from_db()
    assert account.health_score < 90


def test_put_creates_signals_for_an_account_without_any(api, api_book, make_account):
    account = make_account(owner=api_book["maya"], signals=None)
    response = api(api_book["maya"]).put(signals_url(account), {"open_ticket_count": 3}, format="json")
    assert response.status_code == 200
    assert AccountSignals.objects.get(account=account).open_ticket_count == 3


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"feature_adoption_rate": 1.5}, "feature_adoption_rate"),
        ({"usage_trend": "sideways"}, "usage_trend"),
        ({"nps_score": 11}, "nps_score"),
        ({"nps_score": "9"}, "nps_score"),
        ({"open_ticket_count": -2}, "open_ticket_count"),
        ({"login_frequency_days": 3.5}, "login_frequency_days"),
        ({"login_frequency_days": 10**12}, "login_frequency_days"),
        ({"open_ticket_count": 2**40}, "open_ticket_count"),
        ({"days_to_renewal": 30}, "days_to_renewal"),
        ({"seats_utilization_rate": 0.5}, "seats_utilization_rate"),
        ({"mood": "sunny"}, "mood"),
    ],
)
def test_bad_signal_values_are_400_by_field_and_write_nothing(api, api_book, body, field):
    account = api_book["maya_accounts"][0]
    before = AccountSignals.objects.get(account=account)
    response = api(api_book["maya"]).put(
        signals_url(account),
        {**body, "usage_trend": "inactive"} if field != "usage_trend" else body,
        format="json",
    )
    assert response.status_code == 400
    assert field in response.json(), response.json()
    after = AccountSignals.objects.get(account=account)
    assert (after.usage_trend, after.updated_at) == (before.usage_trend, before.updated_at)


def test_bulk_upserts_many_accounts_in_a_handful_of_queries(
    api, api_book, make_account, django_assert_max_num_queries
):
    client = api(api_book["manager"])
    client.get(BULK)  # warm the permission cache
    accounts = [make_account(owner=api_book["tom"], signals=None if i % 2 else {}) for i in range(300)]
    rows = [
        {"external_id": a.external_id, "usage_trend": "growing", "open_ticket_count": i % 7, "nps_score": 8}
        for i, a in enumerate(accounts)
    ]
    with django_assert_max_num_queries(10):
        response = client.post(BULK, rows, format="json")
    assert response.status_code == 200, response.json()
    assert response.json() == {"received": 300, "created": 150, "updated": 150}
    assert (
        AccountSignals.objects.filter(account__in=accounts, usage_trend="growing", nps_score=8).count() == 300
    )
    sample = AccountSignals.objects.get(account=accounts[13])
    assert sample.open_ticket_count == 13 % 7 and sample.sources["nps_score"]["source"] == "api"


def test_bulk_keeps_inputs_a_row_does_not_mention(api, api_book):
    account = api_book["maya_accounts"][0]
    response = api(api_book["maya"]).post(
        BULK, [{"external_id": account.external_id, "nps_score": 3}], format="json"
    )
    assert response.status_code == 200
    signals = AccountSignals.objects.get(account=account)
    assert (
        signals.nps_score == 3 and signals.usage_trend == "growing" and signals.feature_adoption_rate == 0.8
    )


def test_bulk_is_all_or_nothing_and_names_every_bad_row(api, api_book):
    maya_account, other = api_book["maya_accounts"][0], api_book["tom_accounts"][0]
    rows = [
        {"external_id": maya_account.external_id, "nps_score": 1},  # good
        {"external_id": maya_account.external_id, "nps_score": 2},  # duplicate
        {"external_id": "NOPE-404", "nps_score": 5},  # unknown
        {"external_id": other.external_id, "nps_score": 5},  # not hers: reported as unknown
        {"external_id": api_book["maya_accounts"][1].external_id, "usage_trend": "up", "days_to_renewal": 3},
        {"nps_score": 5},  # no external_id
        "not an object",
    ]
    response = api(api_book["maya"]).post(BULK, rows, format="json")
    assert response.status_code == 400
    body = response.json()
    problems = {(e["index"], e["field"]) for e in body["errors"]}
    assert problems == {
        (1, "external_id"), (2, "external_id"), (3, "external_id"),
        (4, "usage_trend"), (4, "days_to_renewal"), (5, "external_id"), (6, None),
    }  # fmt: skip
    assert body["error_count"] == 7 and "nothing was written" in body["detail"]
    assert {e["message"] for e in body["errors"] if e["index"] == 3} == {"no such account"}
    assert AccountSignals.objects.get(account=maya_account).nps_score == 9  # untouched


@pytest.mark.parametrize("body", [{"external_id": "X"}, "rows", 42])
def test_bulk_needs_a_json_array(api, api_book, body):
    response = api(api_book["maya"]).post(BULK, body, format="json")
    assert response.status_code == 400 and "array" in json.dumps(response.json())


def test_bulk_row_limit(api, api_book, settings):
    settings.TEND_BULK_MAX_ROWS = 2
    rows = [{"external_id": a.external_id} for a in api_book["maya_accounts"]]
    response = api(api_book["maya"]).post(BULK, rows, format="json")
    assert response.status_code == 400 and "at most 2 rows" in response.json()["errors"][0]["message"]


def test_a_read_only_user_cannot_write_signals(api, api_book, django_user_model):
    from django.contrib.auth.models import Permission

    viewer = django_user_model.objects.create_user("viewer", password="x-123-secret")
    viewer.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_account", "view_all_accounts"])
    )
    account = api_book["maya_accounts"][0]
    client = api(viewer)
    assert client.get(signals_url(account)).status_code == 200
    assert client.put(signals_url(account), {"nps_score": 1}, format="json").status_code == 403
    assert (
        client.post(BULK, [{"external_id": account.external_id, "nps_score": 1}], format="json").status_code
        == 403
    )
    assert Account.objects.get(pk=account.pk).signals.nps_score == 9
