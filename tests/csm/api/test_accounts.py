from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from csm.models import Account, HealthScore
from csm.scoring.scan import scan_health

pytestmark = pytest.mark.django_db

URL = "/api/v1/accounts/"


def names(response) -> set[str]:
    return {row["name"] for row in response.json()["results"]}


def test_anonymous_requests_are_refused(api, api_book):
    for url in (URL, f"{URL}{api_book['maya_accounts'][0].pk}/", "/api/v1/agents/", "/api/schema/"):
        assert api().get(url).status_code in (401, 403), url


def test_token_authentication(api_book, client):
    from agents_core.models import ApiToken

    _token, key = ApiToken.objects.create(api_book["maya"], name="test")
    response = client.get(URL, HTTP_AUTHORIZATION=f"Token {key}")
    assert response.status_code == 200
    assert names(response) == {"Maya Co 0", "Maya Co 1", "Maya Co 2"}
    assert client.get(URL, HTTP_AUTHORIZATION="Token not-a-real-token").status_code == 401


def test_each_csm_lists_only_their_accounts_and_the_manager_all(api, api_book):
    assert names(api(api_book["maya"]).get(URL)) == {"Maya Co 0", "Maya Co 1", "Maya Co 2"}
    assert names(api(api_book["tom"]).get(URL)) == {"Tom Co 0", "Tom Co 1"}
    body = api(api_book["manager"]).get(URL).json()
    assert body["count"] == 5 and set(body) >= {"count", "next", "previous", "results"}


def test_another_csms_account_is_404_for_every_method(api, api_book):
    theirs = api_book["tom_accounts"][0]
    client = api(api_book["maya"])
    for method, path in [
        ("get", f"{URL}{theirs.pk}/"),
        ("patch", f"{URL}{theirs.pk}/"),
        ("get", f"{URL}{theirs.pk}/signals/"),
        ("put", f"{URL}{theirs.pk}/signals/"),
        ("get", f"{URL}{theirs.pk}/health/"),
    ]:
        assert getattr(client, method)(path, {}, format="json").status_code == 404, (method, path)
    theirs.refresh_from_db()
    assert theirs.name == "Tom Co 0"


def test_account_fields_follow_the_contract(api, api_book):
    account = api_book["maya_accounts"][0]
    scan_health()
    data = api(api_book["maya"]).get(f"{URL}{account.pk}/").json()
    assert set(data) >= {
        "id", "external_id", "name", "owner", "segment", "plan", "arr", "seats_purchased", "seats_used",
        "contract_start", "renewal_date", "primary_contact_email", "status", "tam_health_rag",
        "health_score", "rag", "churn_risk", "churn_trigger", "scored_at",
    }  # fmt: skip
    assert data["owner"] == "maya"
    assert data["arr"] == "12000.00"  # money is a decimal string
    assert data["rag"] == "GREEN" and data["churn_trigger"] is None and data["tam_health_rag"] is None
    assert "+" in data["scored_at"] or data["scored_at"].endswith("Z")


def test_create_update_and_delete(api, api_book, admin_user):
    client = api(api_book["maya"])
    response = client.post(
        URL,
        {"external_id": "NEW-1", "name": "Newco", "arr": "5000.50", "renewal_date": "2027-03-01"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    created = Account.objects.get(external_id="NEW-1")
    assert created.owner == api_book["maya"]  # defaults to the creator
    assert str(created.arr) == "5000.50"

    response = client.patch(f"{URL}{created.pk}/", {"plan": "Growth", "seats_purchased": 20}, format="json")
    assert response.status_code == 200 and response.json()["plan"] == "Growth"

    # A CSM may not delete accounts; a superuser may.
    assert client.delete(f"{URL}{created.pk}/").status_code == 403
    assert api(admin_user).delete(f"{URL}{created.pk}/").status_code == 204
    assert not Account.objects.filter(external_id="NEW-1").exists()


def test_a_csm_cannot_give_an_account_away_but_a_manager_can(api, api_book):
    account = api_book["maya_accounts"][0]
    response = api(api_book["maya"]).patch(f"{URL}{account.pk}/", {"owner": "tom"}, format="json")
    assert response.status_code == 400 and "owner" in response.json()
    response = api(api_book["manager"]).patch(f"{URL}{account.pk}/", {"owner": "tom"}, format="json")
    assert response.status_code == 200
    account.refresh_from_db()
    assert account.owner == api_book["tom"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"external_id": "X", "name": "X", "arr": "-5"}, "arr"),
        ({"external_id": "X", "name": "X", "arr": "lots"}, "arr"),
        ({"external_id": "X", "name": "X", "segment": "galactic"}, "segment"),
        ({"external_id": "X", "name": "X", "renewal_date": "next spring"}, "renewal_date"),
        ({"external_id": "X", "name": "X", "seats_used": -1}, "seats_used"),
        ({"external_id": "X", "name": "X", "owner": "nobody-here"}, "owner"),
        ({"external_id": "X", "name": "X", "primary_contact_email": "not-an-email"}, "primary_contact_email"),
        ({"external_id": "X", "name": "X", "renewl_date": "2027-01-01"}, "renewl_date"),
        (
            {"external_id": "X", "name": "X", "contract_start": "2027-01-01", "renewal_date": "2026-01-01"},
            "renewal_date",
        ),
        ({"name": "X"}, "external_id"),
    ],
)
def test_bad_account_input_is_a_400_naming_the_field_and_writes_nothing(api, api_book, body, field):
    before = Account.objects.count()
    response = api(api_book["maya"]).post(URL, body, format="json")
    assert response.status_code == 400
    assert field in response.json(), response.json()
    assert Account.objects.count() == before


def test_duplicate_external_id_is_rejected(api, api_book):
    taken = api_book["tom_accounts"][0].external_id
    response = api(api_book["maya"]).post(URL, {"external_id": taken, "name": "Dup"}, format="json")
    assert response.status_code == 400 and "external_id" in response.json()


def test_filters_search_and_ordering(api, api_book):
    today = timezone.localdate()
    soon = api_book["tom_accounts"][1]
    soon.renewal_date = today + timedelta(days=10)
    soon.segment = "enterprise"
    soon.save()
    scan_health()
    client = api(api_book["manager"])
    assert names(client.get(URL, {"owner": "tom"})) == {"Tom Co 0", "Tom Co 1"}
    assert names(client.get(URL, {"segment": "enterprise"})) == {"Tom Co 1"}
    assert names(client.get(URL, {"renewal_before": (today + timedelta(days=30)).isoformat()})) == {
        "Tom Co 1"
    }
    assert names(client.get(URL, {"rag": "GREEN"})) == {r.name for r in Account.objects.all()}
    assert names(client.get(URL, {"churn_risk": "critical"})) == set()
    maya2 = api_book["maya_accounts"][2]
    assert names(client.get(URL, {"search": maya2.external_id})) == {"Maya Co 2"}
    assert names(client.get(URL, {"search": "tom co"})) == {"Tom Co 0", "Tom Co 1"}
    ordered = [r["name"] for r in client.get(URL, {"ordering": "-name"}).json()["results"]]
    assert ordered == sorted(ordered, reverse=True)
    bad = client.get(URL, {"rag": "PURPLE", "renewal_before": "soon"})
    assert bad.status_code == 400 and {"rag", "renewal_before"} <= set(bad.json())


def test_health_history_is_newest_first(api, api_book):
    account = api_book["maya_accounts"][0]
    today = timezone.localdate()
    for days_ago in (2, 1, 0):
        scan_health(today=today - timedelta(days=days_ago))
    body = api(api_book["maya"]).get(f"{URL}{account.pk}/health/").json()
    days = [row["scored_on"] for row in body["results"]]
    assert days == [(today - timedelta(days=d)).isoformat() for d in (0, 1, 2)]
    row = body["results"][0]
    assert set(row["breakdown"]) == set(HealthScore.objects.first().breakdown)
    assert row["profile_version"] == 2 and row["churn_trigger"] is None


@pytest.mark.parametrize("path", [URL, "/api/v1/agents/csm/runs/"])
def test_list_query_count_is_the_same_for_10_and_1000_objects(
    api, api_book, make_account, django_assert_max_num_queries, path
):
    from agents_core.models import AgentRun

    client = api(api_book["manager"])

    def grow_to(n):
        have = Account.objects.count()
        Account.objects.bulk_create(
            Account(name=f"Bulk {i}", external_id=f"BULK-{i}", owner=api_book["tom"]) for i in range(have, n)
        )
        AgentRun.objects.bulk_create(
            AgentRun(agent="csm", task_type="health_scan", trigger="api", requested_by=api_book["maya"])
            for _ in range(n - AgentRun.objects.count())
        )

    def count():
        client.get(path)  # warm the user's permission cache, as on any later request
        with django_assert_max_num_queries(12) as ctx:
            assert client.get(path).status_code == 200
        return len(ctx.captured_queries)

    grow_to(10)
    small = count()
    grow_to(1000)
    assert count() == small


@pytest.mark.parametrize("path", ["/api/v1/accounts/", "/api/v1/tasks/", "/api/v1/interactions/"])
def test_a_search_with_a_nul_character_is_a_400_naming_the_parameter(api, api_book, path):
    answer = api(api_book["maya"]).get(path + "?search=a%00b")
    assert answer.status_code == 400 and answer.json() == {"search": ["Must not contain NUL characters."]}
