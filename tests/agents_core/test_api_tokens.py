"""API tokens: hashed at rest, shown once, expiring, revocable, read-only or read-write, last use recorded."""

from __future__ import annotations

import importlib
import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from agents_core.models import ApiToken

pytestmark = pytest.mark.django_db
URL = "/api/v1/accounts/"


def auth(key: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Token {key}"}


def test_the_key_is_not_in_the_database_in_clear(api_book, client):
    token, key = ApiToken.objects.create(api_book["maya"], name="CRM sync")
    assert key.startswith("tend_") and len(key) > 40
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM agents_core_apitoken")
        stored = [str(value) for row in cursor.fetchall() for value in row]
    assert not any(key in value for value in stored)
    assert token.token_key == key[:15] and token.digest != key
    assert client.get(URL, **auth(key)).status_code == 200


def test_the_command_prints_a_working_key_once(api_book, client):
    out, err = io.StringIO(), io.StringIO()
    call_command("create_api_token", "maya", "--name", "reports", "--days", "30", stdout=out, stderr=err)
    key = out.getvalue().strip()
    assert client.get(URL, **auth(key)).status_code == 200
    token = ApiToken.objects.get(user=api_book["maya"])
    assert token.name == "reports" and token.expiry.date() == (timezone.now() + timedelta(days=30)).date()
    assert key not in err.getvalue() and "not shown again" in err.getvalue()


def test_expired_and_revoked_keys_stop_working(api_book, client):
    old, old_key = ApiToken.objects.create(api_book["maya"], name="old")
    ApiToken.objects.filter(pk=old.pk).update(expiry=timezone.now() - timedelta(seconds=1))
    assert client.get(URL, **auth(old_key)).status_code == 401
    revoked, revoked_key = ApiToken.objects.create(api_book["maya"], name="revoked")
    assert client.get(URL, **auth(revoked_key)).status_code == 200
    revoked.delete()
    assert client.get(URL, **auth(revoked_key)).status_code == 401


def test_a_read_only_key_reads_and_cannot_write(api_book, client):
    _token, key = ApiToken.objects.create(api_book["maya"], name="dashboard", read_only=True)
    account = api_book["maya_accounts"][0]
    assert client.get(URL, **auth(key)).status_code == 200
    response = client.patch(
        f"{URL}{account.pk}/", {"plan": "X"}, content_type="application/json", **auth(key)
    )
    assert response.status_code == 403 and "read-only" in response.json()["detail"]
    response = client.post("/api/v1/signals/bulk/", [], content_type="application/json", **auth(key))
    assert response.status_code == 403


def test_last_use_is_recorded(api_book, client):
    token, key = ApiToken.objects.create(api_book["maya"], name="sync")
    assert token.last_used_at is None
    client.get(URL, **auth(key))
    token.refresh_from_db()
    assert token.last_used_at is not None and timezone.now() - token.last_used_at < timedelta(minutes=1)


def test_the_admin_shows_a_new_key_once_and_only_the_prefix_after(api_book, client):
    maya = api_book["maya"]
    client.force_login(maya)
    add = "/admin/agents_core/apitoken/add/"
    refused = client.post(add, {"user": api_book["tom"].pk, "name": "for tom", "days": "7"})
    assert refused.status_code == 200 and not ApiToken.objects.exists()  # a CSM makes tokens for herself only
    response = client.post(add, {"user": maya.pk, "name": "my laptop", "days": "7"}, follow=True)
    assert response.status_code == 200
    token = ApiToken.objects.get(name="my laptop")
    assert token.user == maya and token.expiry.date() == (timezone.now() + timedelta(days=7)).date()
    [message] = [str(m) for m in response.context["messages"] if "Copy this API token" in str(m)]
    key = message.rsplit(" ", 1)[-1]
    assert client.get(URL, **auth(key)).status_code == 200
    listing = client.get("/admin/agents_core/apitoken/").content.decode()
    assert token.token_key in listing and key not in listing

    other, _ = ApiToken.objects.create(api_book["tom"], name="tom's")
    assert "tom&#x27;s" not in client.get("/admin/agents_core/apitoken/").content.decode()
    assert (
        client.get(f"/admin/agents_core/apitoken/{other.pk}/delete/").status_code == 302
    )  # not hers: not found


def test_old_plaintext_tokens_are_hashed_by_the_migration(api_book, client):
    migration = importlib.import_module("agents_core.migrations.0004_hash_old_tokens")
    key = "0123456789abcdef0123456789abcdef01234567"  # a key DRF's authtoken made
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, created timestamp, user_id integer)"
        )
        cursor.execute(
            "INSERT INTO authtoken_token VALUES (%s, %s, %s)", [key, timezone.now(), api_book["maya"].pk]
        )
    from types import SimpleNamespace

    from django.apps import apps

    migration.hash_existing_tokens(apps, SimpleNamespace(connection=connection))
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM authtoken_token")
        assert cursor.fetchone()[0] == 0
        cursor.execute("DROP TABLE authtoken_token")
    assert client.get(URL, **auth(key)).status_code == 200
    assert ApiToken.objects.get(user=api_book["maya"]).expiry is not None
