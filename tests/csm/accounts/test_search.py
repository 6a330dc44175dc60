"""Account search (csm.accounts.search): the same accounts as `icontains` on the three fields,
from an FTS5 trigram index on SQLite, kept in step with every write."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.models import Q

from csm.accounts import search
from csm.models import Account
from csm.scoring.scan import scan_health

pytestmark = pytest.mark.django_db

SQLITE = connection.vendor == "sqlite"
TERMS = ["north", "NORTH", "wind", "EXT-00", "ext-0042", "@acme", "acme.io", "son", "Zz", "o", "%", "_",
         '"', 'o"b', "ünï", "100%", "a_b", "no such thing", "nd co"]  # fmt: skip


def _icontains(terms):
    accounts = Account.objects.all()
    for term in terms:
        accounts = accounts.filter(
            Q(name__icontains=term)
            | Q(external_id__icontains=term)
            | Q(primary_contact_email__icontains=term)
        )
    return set(accounts.values_list("pk", flat=True))


def _matching(terms):
    return set(search.matching(Account.objects.all(), terms).values_list("pk", flat=True))


@pytest.fixture
def book(make_account):
    names = ["Northwind Co", "Southwind Ltd", "Johnson & Son", "Zz Top", "100% Juice", "a_b Labs", 'O"Brien',
             "Ünïcode GmbH", "Acme"]  # fmt: skip
    return [
        make_account(
            name=name, external_id=f"EXT-{n:04d}", primary_contact_email=f"cs{n}@acme.io" if n % 2 else ""
        )
        for n, name in enumerate(names, start=40)
    ]


def test_the_index_is_there_on_sqlite_after_migrate():
    assert search._indexed("default") is SQLITE


def _contains(term):
    """What a search should find: the term in any of the fields, whatever the case of any letter."""
    return {
        a.pk
        for a in Account.objects.all()
        if any(term.lower() in getattr(a, f).lower() for f in search.FIELDS)
    }


@pytest.mark.parametrize("term", TERMS)
def test_each_term_finds_what_icontains_finds(book, term):
    assert _matching([term]) == _contains(term)
    if term.isascii():  # SQLite's LIKE folds the case of ASCII letters only
        assert _matching([term]) == _icontains([term])


def test_several_terms_must_all_match(book):
    assert _matching(["wind", "co"]) == _icontains(["wind", "co"]) == {book[0].pk}
    assert _matching(["wind", "ext-0041"]) == {book[1].pk}
    assert _matching([]) == {a.pk for a in book}


def test_writes_keep_the_index_in_step(book, make_account):
    northwind = book[0]
    northwind.name = "Eastwood Co"
    northwind.save()
    assert _matching(["eastwood"]) == {northwind.pk} and _matching(["northwind"]) == set()
    Account.objects.filter(pk=book[1].pk).update(primary_contact_email="new@globex.com")
    assert _matching(["globex"]) == {book[1].pk}
    book[2].delete()
    assert _matching(["johnson"]) == set()
    fresh = make_account(name="Brand New Inc")
    assert _matching(["brand new"]) == {fresh.pk}


def test_the_daily_scan_does_not_touch_the_index(book, django_assert_max_num_queries):
    """Only writes to the three searched columns fire the index's triggers."""
    scan_health()
    assert _matching(["wind"]) == _icontains(["wind"])
    if SQLITE:
        with connection.cursor() as cursor:
            cursor.execute("SELECT sql FROM sqlite_master WHERE name = %s", [f"{search.TABLE}_update"])
            (sql,) = cursor.fetchone()
        assert "AFTER UPDATE OF name, external_id, primary_contact_email ON csm_account" in sql


@pytest.mark.skipif(not SQLITE, reason="the FTS5 index is SQLite's")
def test_lost_triggers_are_put_back_and_the_index_read_again(book):
    """As after SQLite rebuilds the accounts table (how it alters a column): the next migrate's
    ensure_index makes the triggers again and re-reads every account."""
    with connection.cursor() as cursor:
        for name in search._TRIGGERS:
            cursor.execute(f"DROP TRIGGER {name}")
    Account.objects.filter(pk=book[0].pk).update(name="Renamed While Unindexed")
    assert not search._indexed("default")
    assert _matching(["renamed"]) == {book[0].pk}  # not indexed: LIKE, still right
    assert search.ensure_index("default")
    assert search._indexed("default")
    assert _matching(["renamed"]) == {book[0].pk} and _matching(["northwind"]) == set()


def test_the_api_and_the_admin_search_the_same_way(book, api, make_user, client):
    manager = make_user("morgan", view_all=True)
    body = api(manager).get("/api/v1/accounts/?search=wind co").json()
    assert {row["id"] for row in body["results"]} == {book[0].pk}
    client.force_login(manager)
    page = client.get("/admin/csm/account/", {"q": '"johnson & son"'})
    assert page.status_code == 200
    assert list(page.context["cl"].result_list) == [book[2]]


def test_a_nul_in_a_term_finds_nothing_rather_than_failing(book, make_user, client):
    """Neither PostgreSQL nor FTS5 can compare a NUL. The API refuses one with a 400
    (agents_core.api.common.SearchFilter), the admin's search form drops the term; anything
    else asking finds no account."""
    assert _matching(["wind", "co\x00"]) == set() and _matching(["\x00\x00\x00"]) == set()
    client.force_login(make_user("morgan", view_all=True))
    assert client.get("/admin/csm/account/", {"q": "wind\x00co"}).status_code == 200
