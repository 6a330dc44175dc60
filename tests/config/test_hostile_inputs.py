"""Inputs a probe found ending in a 500: each now gets a clear 4xx, or is ignored, and nothing breaks.

Every route touched afterwards (the lists, the backtest, the download) is
requested again, so a value that slipped in cannot break a page later.
"""

from __future__ import annotations

import json
from datetime import date

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from csm.expansion.opportunities import check_expansion
from csm.models import QBR, Account, RenewalOutcome

HUGE = 4611686018427387904


@pytest.fixture
def maya(api_book):
    return api_book["maya"]


def test_absurd_seat_counts_are_refused_at_the_edge_and_lists_keep_working(api, api_book, maya, client):
    account = api_book["maya_accounts"][0]
    for field in ("seats_purchased", "seats_used"):
        response = api(maya).patch(f"/api/v1/accounts/{account.pk}/", {field: HUGE}, format="json")
        assert response.status_code == 400 and field in response.json(), response.content
    response = api(maya).patch(f"/api/v1/accounts/{account.pk}/", {"arr": "1e30"}, format="json")
    assert response.status_code == 400 and "arr" in response.json()

    # The largest seats the edge accepts still give an impact the field can hold.
    Account.objects.filter(pk=account.pk).update(seats_purchased=10_000_000, seats_used=10_000_000)
    check_expansion()
    for user in (maya, api_book["manager"]):
        assert api(user).get("/api/v1/opportunities/").status_code == 200
        client.force_login(user)
        assert client.get("/admin/csm/expansionopportunity/").status_code == 200


@pytest.mark.parametrize("cookie", ["America", "Europe", "..", "/etc/passwd", "Not/AZone", "x" * 500, "%00"])
def test_an_unusable_time_zone_cookie_is_ignored_and_cleared(client, maya, cookie):
    client.cookies["tend_tz"] = cookie
    assert client.get("/healthz").status_code == 200
    client.force_login(maya)
    response = client.get("/admin/")
    assert response.status_code == 200
    assert response.cookies["tend_tz"].value == ""  # told to forget it, so it does not stick


def test_a_real_time_zone_cookie_still_works(client, maya):
    client.cookies["tend_tz"] = "Europe/Paris"
    client.force_login(maya)
    response = client.get("/admin/")
    assert response.status_code == 200 and "tend_tz" not in response.cookies


@pytest.mark.parametrize("url", ["/api/v1/accounts/", "/api/v1/tasks/"])
def test_a_username_with_a_nul_character_is_a_400(api, api_book, maya, url):
    """PostgreSQL cannot compare text holding NUL: looking the owner up had answered 500."""
    body = {"owner": "maya\x00", "name": "Nul Co", "external_id": "nul-1"}
    if url.endswith("tasks/"):
        body = {"owner": "maya\x00", "title": "Call", "account": api_book["maya_accounts"][0].pk}
    response = api(api_book["manager"]).post(url, body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["owner"] == ["Must not contain NUL characters."]


def test_deeply_nested_json_is_a_400(api, maya):
    body = "[" * 20_000 + "]" * 20_000
    for url in ("/api/v1/signals/bulk/", "/api/v1/accounts/", "/api/v1/agents/csm/runs/"):
        response = api(maya).generic("POST", url, body, content_type="application/json")
        assert response.status_code == 400, (url, response.status_code)
        assert "nested" in response.json()["detail"]


def test_dates_out_of_any_sane_range_are_refused_and_the_backtest_keeps_working(api, api_book, maya, client):
    account = api_book["maya_accounts"][0]
    for bad in ("0001-01-01", "9999-12-31"):
        response = api(maya).post(
            "/api/v1/outcomes/",
            {
                "account": account.pk,
                "renewal_date": bad,
                "outcome": "renewed",
                "arr_before": "10",
                "arr_after": "10",
            },
            format="json",
        )
        assert response.status_code == 400 and "renewal_date" in response.json(), response.content
        response = api(maya).patch(f"/api/v1/accounts/{account.pk}/", {"renewal_date": bad}, format="json")
        assert response.status_code == 400 and "renewal_date" in response.json()
    # Even a row written around the edge (an old import, a shell) cannot break the backtest.
    RenewalOutcome.objects.create(
        account=account, renewal_date=date(1, 1, 1), outcome="renewed", arr_before=10, arr_after=10
    )
    admin = api_book["manager"]
    admin.is_superuser = True
    admin.save()
    client.force_login(admin)
    assert client.get("/admin/csm/scoringprofile/backtest/").status_code == 200


def test_a_huge_csv_cell_or_file_is_refused_with_a_reason(client, api_book, make_user):
    manager = api_book["manager"]
    manager.is_superuser = True
    manager.save()
    client.force_login(manager)
    cell = "external_id,name\nX-1," + "a" * 8_000_000 + "\n"
    response = client.post(
        "/admin/csm/account/import/",
        {"file": SimpleUploadedFile("big.csv", cell.encode()), "dry_run": "on"},
    )
    assert response.status_code == 200
    assert "larger than" in response.content.decode()
    assert not Account.objects.filter(external_id="X-1").exists()


def test_a_name_with_line_breaks_downloads_under_a_safe_file_name(client, api_book):
    account = api_book["maya_accounts"][0]
    Account.objects.filter(pk=account.pk).update(name="Evil\r\nSet-Cookie: x=1")
    qbr = QBR.objects.create(
        account=account, quarter="Q3 2026", trigger="quarterly", sections={}, generated_at=timezone.now()
    )
    client.force_login(api_book["maya"])
    response = client.get(f"/admin/csm/qbr/{qbr.pk}/markdown/")
    assert response.status_code == 200
    disposition = response["Content-Disposition"]
    assert "\r" not in disposition and "\n" not in disposition and "Set-Cookie" not in response.cookies


def test_no_route_answers_500_for_any_of_the_probe_inputs(api, api_book, maya, client):
    """One pass over every listed input against the routes they reach."""
    account = api_book["maya_accounts"][0]
    attempts = [
        ("PATCH", f"/api/v1/accounts/{account.pk}/", json.dumps({"seats_used": HUGE})),
        ("PATCH", f"/api/v1/accounts/{account.pk}/", json.dumps({"renewal_date": "0001-01-01"})),
        ("POST", "/api/v1/signals/bulk/", "[" * 5000),
        ("PUT", f"/api/v1/accounts/{account.pk}/signals/", json.dumps({"open_ticket_count": HUGE})),
        ("POST", "/api/v1/accounts/", json.dumps({"external_id": "A" * 5000, "name": "x"})),
    ]
    for method, url, body in attempts:
        response = api(maya).generic(method, url, body, content_type="application/json")
        assert 400 <= response.status_code < 500, (method, url, response.status_code)
    client.cookies["tend_tz"] = "America"
    client.force_login(maya)
    for url in ("/admin/", "/admin/csm/account/", f"/admin/csm/account/{account.pk}/change/", "/healthz"):
        assert client.get(url).status_code == 200, url
    assert timezone.get_current_timezone_name()  # the request did not leave a broken zone behind
