"""The bulk writers: the same rows on SQLite (executemany) and PostgreSQL (COPY into a staging table)."""

from __future__ import annotations

import json
import math
import uuid
from datetime import date
from decimal import Decimal

import pytest
from django.db import DataError, IntegrityError, connection, transaction
from django.db.models import TextField
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from agents_core.bulk import Staged, driver_rows, flat_json, json_text, update_rows, upsert_rows
from csm.models import Account, HealthScore, ScoringProfile

pytestmark = pytest.mark.django_db

DAY = date(2026, 11, 30)
FIELDS = ["account", "scored_on", "score", "rag", "churn_risk", "churn_trigger", "breakdown", "inputs",
          "defaulted_inputs", "profile", "profile_version", "computed_at", "explanation"]  # fmt: skip


def _row(account, score, explanation="", breakdown=None):
    profile = ScoringProfile.objects.get(segment="", is_active=True).pk
    return [account.pk, DAY, score, "GREEN", "low", "", breakdown or {"usage": 1.5}, {"seats": None}, [],
            profile, 1, timezone.now(), explanation]  # fmt: skip


def test_upsert_inserts_then_updates_and_a_repeated_key_keeps_the_last_row(make_account):
    a, b = make_account(), make_account()
    upsert_rows(
        HealthScore, FIELDS, [_row(a, 10), _row(b, 20)], conflict=["account", "scored_on"], update=FIELDS[2:]
    )
    assert dict(HealthScore.objects.values_list("account_id", "score")) == {a.pk: 10, b.pk: 20}

    rows = [_row(a, 11, "first"), _row(a, 12, "second", {"nested": {"é": [1, None]}})]
    upsert_rows(HealthScore, FIELDS, rows, conflict=["account", "scored_on"], update=FIELDS[2:])
    score = HealthScore.objects.get(account=a)
    assert (score.score, score.explanation, score.breakdown) == (12, "second", {"nested": {"é": [1, None]}})
    assert HealthScore.objects.count() == 2 and score.inputs == {"seats": None}


def test_upsert_without_update_fields_keeps_the_first_row(make_account):
    a = make_account()
    upsert_rows(HealthScore, FIELDS, [_row(a, 10)], conflict=["account", "scored_on"], update=[])
    upsert_rows(HealthScore, FIELDS, [_row(a, 30), _row(a, 40)], conflict=["account", "scored_on"], update=[])
    assert list(HealthScore.objects.values_list("score", flat=True)) == [10]


def test_update_rows_sets_each_rows_values_including_nulls_and_decimals(make_account):
    a, b = make_account(), make_account()
    update_rows(Account, ["health_score", "rag", "arr"], [(55.5, "AMBER", Decimal("1234.50"), a.pk),
                                                         (None, "", Decimal("0"), b.pk)])  # fmt: skip
    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.health_score, a.rag, a.arr) == (55.5, "AMBER", Decimal("1234.50"))
    assert (b.health_score, b.rag, b.arr) == (None, "", Decimal("0"))


FLAT = [
    {"usage": 1.5, "seats": None, "trend": "stable", "tickets": 3, "ok": True, "name": "Müller ☃"},
    {"tiny": 1e-05, "huge": 1e16, "neg": -0.1, "third": 1 / 3, "big": 2**63 - 1, "zero": 0.0},
    ["seats_utilization_rate", "nps_score"],
    {"a": None, "b": None, "c": 2.5},
    [],
    {},
]


@pytest.mark.parametrize("value", FLAT)
def test_flat_json_reads_back_as_json_dumps_would(value):
    text = flat_json(value)
    assert text is not None
    assert json.loads(text) == json.loads(json.dumps(value)) == value
    assert [type(v) for v in json.loads(text)] == [type(v) for v in value]


@pytest.mark.parametrize(
    "value",
    [
        {"score": math.nan},
        {"score": math.inf},
        [-math.inf],
        {"gone": None, "score": math.nan},
        # A string holding "null" cannot hide a NaN (it only makes the check cautious).
        {"note": "nullable", "score": math.nan},
        {"note": "null", "gone": None},
        {1: "an int key"},
        {"nested": {"a": 1}},
        [[1, 2]],
        {"when": DAY},
        {"amount": Decimal("1.5")},
        {"big": 2**70},
        {"surrogate": "\ud800"},
        {"uuid": uuid.UUID(int=1)},
    ],
)
def test_flat_json_leaves_anything_else_to_django(value):
    assert flat_json(value) is None


@pytest.mark.parametrize("value", [{"score": math.nan}, [math.inf]])
def test_a_nan_in_a_json_column_is_refused_as_django_refuses_it(make_account, value):
    """orjson would have written NaN as null: the bulk writer must not turn bad data into a null."""
    a = make_account()
    with pytest.raises((IntegrityError, DataError, ValueError)), transaction.atomic():
        upsert_rows(
            HealthScore,
            FIELDS,
            [_row(a, 10, breakdown=value)],
            conflict=["account", "scored_on"],
            update=FIELDS[2:],
        )
    assert not HealthScore.objects.exists()


def _key_text(key: str, column: str) -> Cast:
    """A JSON column's key as text: compared as text on both databases (`json` has no `=`)."""
    return Cast(KeyTextTransform(key, column), TextField())


def test_json_columns_written_in_bulk_read_back_unchanged(make_account):
    a, b = make_account(), make_account()
    values = [FLAT[0], {"nested": {"é": [1, None]}, "list": [1.5, "x"]}]
    upsert_rows(
        HealthScore,
        FIELDS,
        [_row(a, 10, breakdown=values[0]), _row(b, 20, breakdown=values[1])],
        conflict=["account", "scored_on"],
        update=FIELDS[2:],
    )
    stored = dict(HealthScore.objects.values_list("account_id", "breakdown"))
    assert stored == {a.pk: values[0], b.pk: values[1]}
    # And the database sees JSON, not a string holding JSON: its keys read as text.
    keyed = HealthScore.objects.annotate(
        usage=_key_text("usage", "breakdown"), trend=_key_text("trend", "breakdown")
    )
    assert keyed.filter(usage="1.5", trend="stable").get().account == a


def test_json_written_as_text_already_reads_back_as_json_and_queries_as_json(make_account):
    a, b = make_account(), make_account()
    big = {"count": 2**70, "usage": 2.5}  # past orjson's 64 bits: json.dumps writes it
    assert json_text(big).text == json.dumps(big)
    assert json_text({"usage": 1.5, "trend": None}).text == '{"usage":1.5,"trend":null}'
    rows = [_row(a, 10), _row(b, 20)]
    rows[0][6:9] = [
        json_text({"usage": 1.5, "trend": "stable"}),
        json_text({"seats": None}),
        json_text(["nps"]),
    ]
    rows[1][6] = json_text(big)
    upsert_rows(HealthScore, FIELDS, rows, conflict=["account", "scored_on"], update=FIELDS[2:])
    stored = {
        r[0]: r[1:]
        for r in HealthScore.objects.values_list("account", "breakdown", "inputs", "defaulted_inputs")
    }
    assert stored[a.pk] == ({"usage": 1.5, "trend": "stable"}, {"seats": None}, ["nps"])
    assert stored[b.pk][0] == big
    # The database holds JSON, not a string of it: its keys and items read as text.
    keyed = HealthScore.objects.annotate(
        trend=_key_text("trend", "breakdown"), first=_key_text("0", "defaulted_inputs")
    )
    assert keyed.filter(trend="stable", first="nps").get().account == a


@pytest.mark.parametrize(
    "moment",
    [
        timezone.now(),
        timezone.now().replace(microsecond=0),  # str() leaves the fraction out: so does Django
        timezone.now().astimezone(timezone.get_fixed_timezone(-300)),  # an offset other than UTC
    ],
)
def test_datetimes_written_in_bulk_compare_as_the_orm_writes_them(make_account, moment):
    a, b = make_account(), make_account()
    upsert_rows(HealthScore, FIELDS, [_row(a, 1)], conflict=["account", "scored_on"], update=[])
    HealthScore.objects.filter(account=a).update(computed_at=moment)  # the ORM's own path
    row = _row(b, 2)
    row[FIELDS.index("computed_at")] = moment
    upsert_rows(HealthScore, FIELDS, [row], conflict=["account", "scored_on"], update=[])
    # The same text on SQLite (so equality and ordering in SQL agree), the same instant read back.
    assert HealthScore.objects.filter(computed_at=moment).count() == 2
    assert HealthScore.objects.get(account=b).computed_at == moment


def test_upsert_says_how_many_rows_it_wrote(make_account):
    a, b = make_account(), make_account()
    assert upsert_rows(HealthScore, FIELDS, [_row(a, 1)], conflict=["account", "scored_on"], update=[]) == 1
    rows = [_row(a, 2), _row(b, 3)]
    assert upsert_rows(HealthScore, FIELDS, rows, conflict=["account", "scored_on"], update=[]) == 1
    assert upsert_rows(HealthScore, FIELDS, rows, conflict=["account", "scored_on"], update=["score"]) == 2


def test_two_writes_in_one_transaction_each_write_only_their_own_rows(make_account):
    """On PostgreSQL both go through the same staging table: the second must not write the first's rows
    again (they would overwrite what happened in between)."""
    a, b = make_account(), make_account()
    with transaction.atomic():
        upsert_rows(HealthScore, FIELDS, [_row(a, 10)], conflict=["account", "scored_on"], update=FIELDS[2:])
        HealthScore.objects.filter(account=a).update(score=15)
        assert (
            upsert_rows(
                HealthScore, FIELDS, [_row(b, 20)], conflict=["account", "scored_on"], update=FIELDS[2:]
            )
            == 1
        )
        update_rows(Account, ["health_score"], [(1.0, a.pk)])
        update_rows(Account, ["health_score"], [(2.0, b.pk)])
        Account.objects.filter(pk=a.pk).update(health_score=3.0)
        update_rows(Account, ["health_score"], [(4.0, b.pk)])
    assert dict(HealthScore.objects.values_list("account_id", "score")) == {a.pk: 15, b.pk: 20}
    assert dict(Account.objects.filter(pk__in=[a.pk, b.pk]).values_list("pk", "health_score")) == {
        a.pk: 3.0, b.pk: 4.0,
    }  # fmt: skip


def test_text_that_copy_escapes_reads_back_unchanged(make_account):
    a = make_account()
    awkward = 'tab\there, new\nline, back\\slash, \\N, "quoted", \r, é, 😀'
    row = _row(a, 1, awkward, {"k\t": awkward})
    upsert_rows(HealthScore, FIELDS, [row], conflict=["account", "scored_on"], update=FIELDS[2:])
    score = HealthScore.objects.get(account=a)
    assert score.explanation == awkward and score.breakdown == {"k\t": awkward}
    update_rows(Account, ["name"], [(awkward, a.pk)])
    assert Account.objects.get(pk=a.pk).name == awkward


def test_driver_rows_give_what_the_orm_reads_with_dates_as_dates_and_cast_json_as_text(make_account):
    a, b = make_account(), make_account()
    upsert_rows(
        HealthScore, FIELDS, [_row(a, 10.5), _row(b, 20)], conflict=["account", "scored_on"], update=[]
    )
    rows = HealthScore.objects.order_by("account_id").values_list(
        "account_id", "scored_on", "score", "rag", Cast("inputs", TextField())
    )
    read = list(driver_rows(rows, chunk=1))  # one row a fetch: the batches join up
    assert [r[:4] for r in read] == [(a.pk, DAY, 10.5, "GREEN"), (b.pk, DAY, 20.0, "GREEN")]
    assert all(type(r[1]) is date for r in read)
    assert [json.loads(r[4]) for r in read] == [{"seats": None}] * 2
    assert list(driver_rows(rows.filter(score__gt=100))) == []
    assert list(driver_rows(rows.filter(account_id__in=[]))) == []  # no query at all, as the ORM


def test_a_value_shared_by_every_row_is_written_as_one_given_to_each(make_account):
    """The bulk writer prepares a column whose rows hold one object once: the rows read back as
    if each had its own copy, and a row of the wrong width is refused before anything is written."""
    a, b, c = make_account(), make_account(), make_account()
    moment = timezone.now().astimezone(timezone.get_fixed_timezone(120))
    shared = {"usage": 2.5}
    rows = [_row(account, 30) for account in (a, b, c)]
    for row in rows:
        row[FIELDS.index("breakdown")], row[FIELDS.index("computed_at")] = shared, moment
    rows[2][FIELDS.index("breakdown")] = {"usage": 2.5}  # equal, not the same object
    upsert_rows(HealthScore, FIELDS, rows, conflict=["account", "scored_on"], update=FIELDS[2:])
    stored = HealthScore.objects.order_by("account_id").values_list("breakdown", "computed_at", "scored_on")
    assert list(stored) == [(shared, moment, DAY)] * 3
    with pytest.raises(ValueError, match="a row of 12 values for the 13 fields"):
        upsert_rows(HealthScore, FIELDS, [_row(a, 1), _row(b, 2)[:-1]], conflict=["account", "scored_on"],
                    update=FIELDS[2:])  # fmt: skip
    assert list(HealthScore.objects.order_by("account_id").values_list("score", flat=True)) == [30] * 3


def test_driver_rows_stream_from_the_server_and_let_other_statements_run_between_rows(make_account):
    """A long read holds a few rows at a time (a server-side cursor on PostgreSQL, as the ORM's
    iterator), and the reader may write meanwhile on the same connection (the evaluation's
    progress does)."""
    accounts = [make_account() for _ in range(3)]
    upsert_rows(
        HealthScore, FIELDS, [_row(a, 1) for a in accounts], conflict=["account", "scored_on"], update=[]
    )
    rows = driver_rows(HealthScore.objects.order_by("account_id").values_list("account_id", "score"), chunk=1)
    first = next(rows)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_cursors")
            assert cursor.fetchone()[0] == 1
    Account.objects.filter(pk=accounts[0].pk).update(name="Written mid-read")
    assert [first, *rows] == [(a.pk, 1.0) for a in accounts]
    bounded = list(driver_rows(HealthScore.objects.values_list("score"), bounded=True))
    assert bounded == [(1.0,)] * 3


def _account_scans() -> tuple[int, int, int]:
    """This transaction's reads of the accounts table: sequential scans, index scans, rows fetched
    through an index (PostgreSQL's table statistics)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT seq_scan, coalesce(idx_scan, 0), coalesce(idx_tup_fetch, 0) "
            "FROM pg_stat_xact_user_tables WHERE relname = 'csm_account'"
        )
        return cursor.fetchone()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="reads PostgreSQL's table statistics")
def test_an_update_of_a_few_rows_probes_the_table_and_does_not_scan_it():
    """The bulk writer's UPDATE ... FROM its staging table finds each row by its key. With no
    statistics on the staging table the planner guessed 1,850 rows and hashed the whole accounts
    table to join them: a sequential scan of the book per batch of the scan (20 ms a batch at
    100,000 accounts, 2 s of a 7.4 s scan)."""
    Account.objects.bulk_create(
        Account(name=f"Account {n}", external_id=f"EXT-{n}", segment="smb", arr=Decimal("12000"))
        for n in range(3000)
    )
    some = list(Account.objects.order_by("pk").values_list("pk", flat=True)[:1000:100])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE csm_account")  # as a book in use has statistics

    update_rows(Account, ["scored_at"], [(timezone.now(), some[0])])  # the staging table made
    seq_before, idx_before, _ = _account_scans()
    stamped = timezone.now()
    update_rows(Account, ["scored_at"], [(stamped, pk) for pk in some])
    seq_after, idx_after, _ = _account_scans()
    assert seq_after == seq_before, "the accounts table was scanned whole"
    assert idx_after - idx_before >= 1
    assert Account.objects.filter(scored_at=stamped).count() == len(some)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="reads PostgreSQL's table statistics")
def test_an_update_of_a_batch_of_neighbouring_rows_reads_only_their_range():
    """A scan's batch: 1,000 accounts of neighbouring ids. Joined on the key alone, the planner
    expected too many staged rows to probe for each: it hashed the whole accounts table (19 of the
    update's 32 ms a batch at 100,000 accounts) or, here, merged the staged rows with the table's
    key from its first row (6,001 rows read for 1,000). Bounded by the least and greatest key, it
    reads only that range, and rows inside the range that were not staged are left as they were."""
    Account.objects.bulk_create(
        Account(name=f"Account {n}", external_id=f"EXT-{n}", segment="smb", arr=Decimal("12000"))
        for n in range(20_000)
    )
    pks = list(Account.objects.order_by("pk").values_list("pk", flat=True)[5_000:6_000])
    skipped = set(pks[::50])  # inside the range, not in the batch
    batch = [pk for pk in pks if pk not in skipped]
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE csm_account")  # as a book in use has statistics

    outside = Account.objects.order_by("pk").values_list("pk", flat=True)[0]
    update_rows(Account, ["scored_at"], [(timezone.now(), outside)])  # the staging table made
    seq_before, _, fetched_before = _account_scans()
    stamped = timezone.now()
    with CaptureQueriesContext(connection) as queries:
        update_rows(Account, ["scored_at"], [(stamped, pk) for pk in batch])
    seq_after, _, fetched_after = _account_scans()
    assert seq_after == seq_before, "the accounts table was scanned whole"
    assert fetched_after - fetched_before <= len(pks), "read more than the batch's range"
    assert not any(q["sql"].startswith("ANALYZE") for q in queries), "a dense range needs no count"
    assert set(Account.objects.filter(scored_at=stamped).values_list("pk", flat=True)) == set(batch)
    assert not Account.objects.filter(pk__in=skipped, scored_at__isnull=False).exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the staging table is PostgreSQL's")
def test_rows_staged_once_upsert_their_table_and_update_the_rows_they_name(make_account):
    """The scan's scores, staged once, are written and set their accounts' health: only the accounts
    they name, each from its own row."""
    a, b, untouched = make_account(), make_account(), make_account()
    before = Account.objects.get(pk=untouched.pk)
    rows = [_row(a, 61.5), _row(b, 12.0)]
    rows[1][3:6] = ["RED", "high", "usage_drop"]
    with transaction.atomic(), connection.cursor() as cursor:
        staged = Staged(cursor, HealthScore, FIELDS, rows)
        assert staged.upsert(conflict=["account", "scored_on"], update=FIELDS[2:]) == 2
        health_from_score = {f: f for f in ("rag", "churn_risk", "churn_trigger")}
        health_from_score |= {"health_score": "score", "scored_at": "computed_at"}
        staged.update(Account, health_from_score, key="account")

    health = {
        pk: rest
        for pk, *rest in Account.objects.values_list(
            "pk", "health_score", "rag", "churn_risk", "churn_trigger"
        )
    }
    assert health[a.pk] == [61.5, "GREEN", "low", ""]
    assert health[b.pk] == [12.0, "RED", "high", "usage_drop"]
    after = Account.objects.get(pk=untouched.pk)
    assert (after.health_score, after.rag, after.scored_at) == (
        before.health_score,
        before.rag,
        before.scored_at,
    )
    assert Account.objects.get(pk=a.pk).scored_at == HealthScore.objects.get(account=a).computed_at
