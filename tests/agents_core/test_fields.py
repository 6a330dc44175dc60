"""WholeJSONField: JSON written and read whole, stored as PostgreSQL's `json`; the same values come
back through the ORM and through the bulk writer, from a `json` column or from a `jsonb` one not yet
moved (csm migration 0055)."""

from __future__ import annotations

from datetime import date

import pytest
from django.db import connection
from django.utils import timezone

from agents_core.bulk import upsert_rows
from csm.models import HealthScore, ScoringProfile

on_postgresql = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's column types")

NESTED = {"usage": 1.5, "trend": "stable", "deep": {"é": [1, None, "x"]}, "big": 2**70}


def _column_types() -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = "
            "'csm_healthscore' AND column_name IN ('breakdown', 'inputs', 'defaulted_inputs')"
        )
        return dict(cursor.fetchall())


def _score(account, **values) -> HealthScore:
    profile = ScoringProfile.objects.get(segment="", is_active=True)
    return HealthScore.objects.create(
        account=account, scored_on=date(2026, 12, 1), score=50, rag="AMBER", churn_risk="medium",
        profile=profile, profile_version=profile.version, computed_at=timezone.now(), **values,
    )  # fmt: skip


def _through_both_writers(make_account) -> dict[int, tuple]:
    """One row written by the ORM, one by the bulk writer (`COPY` on PostgreSQL); both read back."""
    by_orm, by_bulk = make_account(), make_account()
    _score(by_orm, breakdown=NESTED, inputs={"nps_score": 9}, defaulted_inputs=["nps_score"])
    profile = ScoringProfile.objects.get(segment="", is_active=True)
    upsert_rows(
        HealthScore,
        ["account", "scored_on", "score", "rag", "churn_risk", "churn_trigger", "breakdown", "inputs",
         "defaulted_inputs", "profile", "profile_version", "computed_at", "explanation"],
        [[by_bulk.pk, date(2026, 12, 1), 50, "AMBER", "medium", "", NESTED, {"nps_score": 9}, ["nps_score"],
          profile.pk, profile.version, timezone.now(), ""]],
        conflict=["account", "scored_on"],
        update=[],
    )  # fmt: skip
    rows = HealthScore.objects.values_list("account_id", "breakdown", "inputs", "defaulted_inputs")
    return {account_id: rest for account_id, *rest in rows} | {"ids": (by_orm.pk, by_bulk.pk)}


@on_postgresql
@pytest.mark.django_db
def test_the_health_scores_json_is_stored_as_json_on_postgresql():
    assert _column_types() == {"breakdown": "json", "inputs": "json", "defaulted_inputs": "json"}


@pytest.mark.django_db
def test_the_orm_and_the_bulk_writer_store_the_same_values_and_read_them_back(make_account):
    stored = _through_both_writers(make_account)
    by_orm, by_bulk = stored.pop("ids")
    expected = [NESTED, {"nps_score": 9}, ["nps_score"]]
    assert stored == {by_orm: expected, by_bulk: expected}
    assert HealthScore.objects.get(account_id=by_bulk).breakdown["deep"] == {"é": [1, None, "x"]}


@on_postgresql
@pytest.mark.django_db
def test_a_jsonb_column_not_yet_moved_reads_and_writes_the_same(make_account):
    """A large history may be moved to `json` later (migration 0055 faked): the field serves both."""
    with connection.cursor() as cursor:  # rolled back with the test's transaction
        cursor.execute(
            "ALTER TABLE csm_healthscore ALTER COLUMN breakdown TYPE jsonb USING breakdown::jsonb, "
            "ALTER COLUMN inputs TYPE jsonb USING inputs::jsonb, "
            "ALTER COLUMN defaulted_inputs TYPE jsonb USING defaulted_inputs::jsonb"
        )
    assert set(_column_types().values()) == {"jsonb"}
    stored = _through_both_writers(make_account)
    by_orm, by_bulk = stored.pop("ids")
    expected = [NESTED, {"nps_score": 9}, ["nps_score"]]
    assert stored == {by_orm: expected, by_bulk: expected}


@on_postgresql
@pytest.mark.django_db
def test_json_reaches_the_driver_as_text_as_jsonb_does(make_account):
    """Django has psycopg hand `jsonb` over as text for JSONField to parse; `json` comes the same way,
    so a key's value is parsed once, as JSON, and a raw read gets the text as stored."""
    _score(make_account(), breakdown={"trend": "123"}, inputs={"nps_score": 9})
    with connection.cursor() as cursor:
        cursor.execute("SELECT breakdown, breakdown -> 'trend' FROM csm_healthscore")
        assert cursor.fetchone() == ('{"trend": "123"}', '"123"')
    # A string that looks like a number stays a string.
    assert HealthScore.objects.get().breakdown == {"trend": "123"}
