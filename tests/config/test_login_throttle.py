"""Login throttling: wrong passwords lock a user or an address out; an admin unlocks; attempts are listed."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from axes.utils import reset
from django.test import RequestFactory

from agents_core.client_ip import client_ip

LOGIN = "/admin/login/?next=/admin/"
PASSWORD = "pw-123-secret"  # make_user's


def attempt(client, username, password, ip="10.0.0.1"):
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=ip)


@pytest.fixture
def limit(settings):
    return settings.AXES_FAILURE_LIMIT


def test_wrong_passwords_lock_the_user_out_even_with_the_right_one_after(client, make_user, limit):
    make_user("maya")
    for _ in range(limit - 1):
        assert attempt(client, "maya", "wrong").status_code == 200  # the login form again
    locked = attempt(client, "maya", "wrong")
    assert locked.status_code == 429
    page = locked.content.decode()
    assert "Sign-in locked" in page and f"{limit} wrong passwords" in page and "30 minutes" in page
    # The right password no longer gets in, from this address or another.
    assert attempt(client, "maya", PASSWORD).status_code == 429
    assert attempt(client, "maya", PASSWORD, ip="10.0.0.2").status_code == 429
    assert "_auth_user_id" not in client.session


def test_one_address_trying_many_users_is_locked_out(client, make_user, limit):
    for i in range(limit):
        attempt(client, f"nobody{i}", "guess", ip="10.9.9.9")
    make_user("tom")
    assert attempt(client, "tom", PASSWORD, ip="10.9.9.9").status_code == 429
    response = attempt(client, "tom", PASSWORD, ip="10.0.0.3")  # tom himself, elsewhere, is fine
    assert response.status_code == 302 and client.session["_auth_user_id"]


def test_an_admin_sees_the_attempts_and_unlocks(client, make_user, admin_user, limit):
    make_user("maya")
    for _ in range(limit):
        attempt(client, "maya", "wrong")
    assert AccessAttempt.objects.filter(username="maya").exists()
    client.force_login(admin_user)
    listing = client.get("/admin/axes/accessattempt/")
    assert listing.status_code == 200 and "maya" in listing.content.decode()
    client.logout()

    reset(username="maya")  # what the admin's delete and `axes_reset_username maya` do
    reset(ip="10.0.0.1")
    response = attempt(client, "maya", PASSWORD)
    assert response.status_code == 302 and client.session["_auth_user_id"]


def test_a_success_clears_earlier_failures(client, make_user, limit):
    make_user("maya")
    for _ in range(limit - 1):
        attempt(client, "maya", "wrong")
    assert attempt(client, "maya", PASSWORD).status_code == 302
    client.logout()
    for _ in range(limit - 1):
        attempt(client, "maya", "wrong")
    assert attempt(client, "maya", PASSWORD).status_code == 302  # the count started again


def test_a_csm_cannot_see_the_attempts(client, make_user):
    client.force_login(make_user("maya"))
    assert client.get("/admin/axes/accessattempt/").status_code == 403


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (0, "6.6.6.6", "127.0.0.1"),  # no proxy trusted: the header is the client's word, ignored
        (1, "6.6.6.6, 203.0.113.7", "203.0.113.7"),  # nginx appended the real client
        (2, "6.6.6.6, 203.0.113.7, 10.0.0.5", "203.0.113.7"),  # load balancer, then nginx
        (1, "", "127.0.0.1"),  # fewer hops than proxies: the connection's own address
    ],
)
def test_the_client_address_behind_trusted_proxies(settings, proxies, forwarded, expected):
    settings.TEND_TRUSTED_PROXIES = proxies
    request = RequestFactory().get("/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected
