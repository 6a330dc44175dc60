"""Lists at any size: a very long list is not counted (its count is the database's estimate,
labelled as such, and its pages still reach every row once, the estimate low or high), and account
search has trigram indexes on PostgreSQL; a batch of the scan or the expansion check reads only its
own range of signals."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from agents_core import pagination

pytestmark = pytest.mark.django_db


def _walk(client, url):
    seen, pages = [], 0
    while url:
        body = client.get(url).json()
        seen += [row["id"] for row in body["results"]]
        url, pages = body["next"], pages + 1
        assert pages < 50
    return seen, body


def test_a_short_list_is_counted(api, api_book):
    body = api(api_book["manager"]).get("/api/v1/accounts/").json()
    assert (body["count"], body["count_is_estimate"]) == (5, False)


@pytest.mark.parametrize("guess", [2, 5, 40], ids=["estimate-low", "estimate-exact", "estimate-high"])
def test_an_estimated_list_says_so_and_its_pages_reach_every_row_once(api, api_book, make_account, settings,
                                                                      monkeypatch, guess):  # fmt: skip
    for n in range(7):
        make_account(name=f"More {n}", owner=api_book["manager"])
    settings.TEND_ESTIMATED_COUNT_FROM = 1
    monkeypatch.setattr(pagination, "planner_rows", lambda queryset: guess)
    client = api(api_book["manager"])
    first = client.get("/api/v1/accounts/", {"page_size": 5}).json()
    assert (first["count"], first["count_is_estimate"]) == (guess, True)
    seen, last = _walk(client, "/api/v1/accounts/?page_size=5")
    assert sorted(seen) == sorted(set(seen)) and len(seen) == 12
    assert last["next"] is None


def test_a_page_past_the_rows_is_a_404(api, api_book, settings, monkeypatch):
    settings.TEND_ESTIMATED_COUNT_FROM = 1
    monkeypatch.setattr(pagination, "planner_rows", lambda queryset: 1_000)
    assert api(api_book["manager"]).get("/api/v1/accounts/", {"page": 9}).status_code == 404


def test_the_schema_documents_the_label(api, api_book):
    schema = api(api_book["manager"]).get("/api/schema/", {"format": "json"}).json()
    page = schema["components"]["schemas"]["PaginatedAccountList"]
    assert page["properties"]["count_is_estimate"]["type"] == "boolean"
    assert "count_is_estimate" in page["required"]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the planner's estimate is PostgreSQL's")
def test_postgresql_estimates_from_its_statistics(api, api_book, make_account, settings):
    for n in range(40):
        make_account(name=f"Bulk {n}", owner=api_book["manager"])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE csm_account")
    settings.TEND_ESTIMATED_COUNT_FROM = 10
    body = api(api_book["manager"]).get("/api/v1/accounts/", {"page_size": 20}).json()
    assert body["count_is_estimate"] is True
    assert 30 <= body["count"] <= 60  # the planner's figure for 45 rows, not a count
    seen, _ = _walk(api(api_book["manager"]), "/api/v1/accounts/?page_size=20")
    assert len(seen) == len(set(seen)) == 45


def test_the_admin_list_says_about_when_it_shows_an_estimate(client, api_book, settings, monkeypatch):
    from django.urls import reverse

    client.force_login(api_book["manager"])
    url = reverse("admin:csm_account_changelist")
    counted = client.get(url).content.decode()
    assert "5 accounts" in counted and "about 5" not in counted
    settings.TEND_ESTIMATED_COUNT_FROM = 1
    monkeypatch.setattr(pagination, "planner_rows", lambda queryset: 4)
    page = client.get(url).content.decode()
    assert "about 4</span> accounts" in page
    assert page.count('class="action-select"') == 5  # every row is listed, whatever the estimate


@pytest.mark.skipif(connection.vendor != "postgresql", reason="pg_trgm is PostgreSQL's")
def test_account_search_has_trigram_indexes_on_postgresql():
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'csm_account'")
        found = dict(cursor.fetchall())
    for column in ("name", "external_id", "primary_contact_email"):
        definition = found[f"csm_account_{column}_trgm"]
        assert "gin" in definition and "gin_trgm_ops" in definition and "upper" in definition.lower()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="fillfactor and HOT updates are PostgreSQL's")
def test_the_scans_account_updates_stay_on_their_page():
    """The accounts table leaves half of each page free, so stamping every account of a range as
    scored in one statement, as a scan batch does, is a HOT update for each (no write to any of the
    table's indexes), though every row of each page gets its new version at once. At the fillfactor
    of 80 it had before, about a quarter of them were (75 of these 300)."""
    from agents_core.bulk import update_rows
    from csm.models import Account

    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = 'csm_account'")
        assert "fillfactor=50" in cursor.fetchone()[0]
        # Fresh pages, as a table filled and vacuumed would have: the rows earlier tests wrote and
        # rolled back still take room on the pages until a vacuum (rolled back with the test).
        cursor.execute("TRUNCATE csm_account CASCADE")
    yesterday = timezone.now() - timedelta(days=1)
    Account.objects.bulk_create(  # accounts a scan scored yesterday
        Account(
            name=f"Northwind Trading {n}", external_id=f"CRM-{n:08d}", segment="mid_market",
            primary_contact_email=f"ops.lead.{n}@northwind-trading.example", seats_purchased=40,
            health_score=72, rag="GREEN", churn_risk="low", scored_at=yesterday,
        )
        for n in range(300)
    )  # fmt: skip
    ids = list(Account.objects.order_by("pk").values_list("pk", flat=True))

    def pages() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(DISTINCT (ctid::text::point)[0]) FROM csm_account")
            return cursor.fetchone()[0]

    def hot_updates() -> tuple[int, int]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables WHERE relname = 'csm_account'"
            )
            return cursor.fetchone()

    assert pages() >= 5  # full pages, not one page with room to spare
    updates_before, hot_before = hot_updates()
    update_rows(Account, ["scored_at"], [(timezone.now(), pk) for pk in ids])
    updates, hot = hot_updates()
    assert (updates - updates_before, hot - hot_before) == (len(ids), len(ids))


@pytest.mark.skipif(connection.vendor != "postgresql", reason="reads PostgreSQL's query plans")
@pytest.mark.parametrize("mine", [False, True])
def test_the_health_score_list_reads_its_page_in_order_off_an_index(make_account, make_user, mine):
    """Newest day first, then id, as the admin lists them: no sort of a whole day's scores (a million
    rows at a million accounts), for a manager and for a CSM's own accounts."""
    from csm.models import HealthScore
    from csm.scoring.scan import scan_health

    maya = make_user("maya")
    for n in range(6):
        make_account(owner=maya if n % 2 else None)
    scan_health()
    listed = HealthScore.objects.order_by("-scored_on", "-pk")
    if mine:
        listed = HealthScore.objects.visible_to(maya).order_by("-scored_on", "-pk")
    sql, params = listed[:100].query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_sort = off")  # a plan that still sorts has no index to read instead
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "csm_healthscore_day_id" in plan and "Sort" not in plan, plan


@pytest.mark.skipif(connection.vendor != "postgresql", reason="reads PostgreSQL's query plans")
@pytest.mark.parametrize("job", ["scan", "expansion"])
def test_a_batch_reads_only_its_own_range_of_signals(make_account, job):
    """The scan's and the expansion check's batch reads join the signals on the batch's id range:
    joined on the account id alone, the planner may hash the whole signals table once per batch
    (seen at 100,000 accounts: 25 ms a batch against 1.6 ms)."""
    from django.test.utils import CaptureQueriesContext

    from csm.expansion.opportunities import check_expansion
    from csm.scoring.scan import scan_health

    for _ in range(4):
        make_account()
    scan_health()
    with CaptureQueriesContext(connection) as queries:
        scan_health() if job == "scan" else check_expansion()
    reads = [q["sql"] for q in queries if q["sql"].startswith("SELECT") and "csm_accountsignals" in q["sql"]]
    assert reads, [q["sql"] for q in queries]
    with connection.cursor() as cursor:
        # No nested loop (whose probes are bounded anyway): a hash or merge join, as a big book gets.
        cursor.execute("SET LOCAL enable_nestloop = off")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {reads[0]}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
    signals_scan = next(line for line in plan.splitlines() if "csm_accountsignals" in line)
    below = plan.splitlines()[plan.splitlines().index(signals_scan) + 1]
    assert "account_id >=" in below and "account_id <=" in below, plan
