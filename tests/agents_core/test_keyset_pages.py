"""Keyset pages (`?after=`): every row once, in id order, while rows are added; the count taken once."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from csm.models import Account

pytestmark = pytest.mark.django_db

URL = "/api/v1/accounts/"


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def book(api_book, make_account):
    for n in range(10):
        make_account(name=f"Mid {n:02d}", owner=api_book["manager"])
    return api_book


def walk(client, url, between=lambda page: None):
    seen, pages = [], 0
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.json()
        body = response.json()
        seen += [row["id"] for row in body["results"]]
        assert body["previous"] is None
        url, pages = body["next"], pages + 1
        between(pages)
        assert pages < 50
    return seen, body


def test_keyset_pages_never_skip_or_repeat_a_row_under_inserts(api, book, make_account):
    there = set(Account.objects.values_list("pk", flat=True))
    added = []

    def insert(page):  # names that sort before and after every row, added between pages
        added.append(make_account(name=f"AAA {page}").pk)
        added.append(make_account(name=f"zzz {page}").pk)

    seen, _ = walk(api(book["manager"]), f"{URL}?after=0&page_size=4", between=insert)
    assert len(seen) == len(set(seen))  # nothing repeated
    assert there <= set(seen)  # nothing that was there is skipped
    assert seen == sorted(seen)  # in id order; what was added during the walk comes at its end
    assert set(seen) - there <= set(added)


def test_page_numbers_under_the_same_inserts_repeat_rows(api, book, make_account):
    """Why keyset pages exist: a page-number walk by name shifts as rows sort in before it."""
    client = api(book["manager"])
    seen = []
    for page in (1, 2, 3):
        seen += [row["id"] for row in client.get(URL, {"page": page, "page_size": 4}).json()["results"]]
        make_account(name=f"AAA {page}")
    assert len(seen) != len(set(seen))


def test_the_count_is_taken_on_the_first_page_and_kept_for_the_walk(api, book, make_account):
    client = api(book["manager"])
    first = client.get(URL, {"after": 0, "page_size": 5}).json()
    assert (first["count"], first["count_is_estimate"]) == (15, False)
    make_account(name="Late")
    with CaptureQueriesContext(connection) as queries:
        second = client.get(first["next"]).json()
    assert second["count"] == 15  # as the walk began
    assert not [q for q in queries if "COUNT(" in q["sql"]]
    # A new walk counts again.
    assert client.get(URL, {"after": 0, "page_size": 5}).json()["count"] == 16


def test_the_count_is_kept_per_user_and_per_filter(api, book):
    manager, maya = api(book["manager"]), api(book["maya"])
    assert manager.get(URL, {"after": 0}).json()["count"] == 15
    assert maya.get(URL, {"after": 0}).json()["count"] == 3
    assert manager.get(URL, {"after": 0, "search": "Tom Co"}).json()["count"] == 2
    # A next page never asked for by this walk's first: counted then.
    assert maya.get(URL, {"after": book["maya_accounts"][0].pk}).json()["count"] == 3


def test_keyset_pages_keep_to_what_the_user_may_see(api, book):
    seen, last = walk(api(book["maya"]), f"{URL}?after=0&page_size=2")
    assert sorted(seen) == sorted(a.pk for a in book["maya_accounts"])
    assert last["next"] is None


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"after": -1}, "after"),
        ({"after": "abc"}, "after"),
        ({"after": "1e3"}, "after"),
        ({"after": ""}, "after"),
        ({"after": "9" * 40}, "after"),
        ({"after": 0, "page": 2}, "page"),
        ({"after": 0, "ordering": "name"}, "ordering"),
    ],
)
def test_a_bad_keyset_request_is_a_400_naming_the_parameter(api, book, params, field):
    response = api(book["manager"]).get(URL, params)
    assert response.status_code == 400
    assert field in response.json()


def test_the_schema_documents_after(api, book):
    schema = api(book["manager"]).get("/api/schema/", {"format": "json"}).json()
    parameters = {p["name"]: p for p in schema["paths"][URL]["get"]["parameters"]}
    assert parameters["after"]["schema"] == {"type": "integer", "minimum": 0, "maximum": 2**63 - 1}


def test_a_list_made_in_python_has_no_keyset_pages(api, book):
    client = api(book["manager"])
    response = client.get("/api/v1/agents/", {"after": 0})
    assert response.status_code == 400 and "after" in response.json()
    schema = client.get("/api/schema/", {"format": "json"}).json()
    assert "after" not in {p["name"] for p in schema["paths"]["/api/v1/agents/"]["get"]["parameters"]}
