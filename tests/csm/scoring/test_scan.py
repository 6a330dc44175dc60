from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.db import connection

from csm.models import Account, HealthScore, ScoringProfile
from csm.scoring import engine
from csm.scoring.profiles import publish_version
from csm.scoring.scan import scan_health

TODAY = date(2026, 11, 30)
PG = connection.vendor == "postgresql"


def writes(kinds: int) -> int:
    """A batch's statements writing the scores and the accounts, given how many kinds of account
    update it has (changed health, stamped only). SQLite: the upsert, then one `executemany` per
    kind. PostgreSQL, whatever the kinds: the staging table readied for COPY (which goes by the
    driver, uncounted), the INSERT from it and one UPDATE of the accounts from it (a batch's ids are
    neighbours: the staging table needs no ANALYZE, agents_core.bulk.Staged.update)."""
    return 3 if PG else 1 + kinds


pytestmark = pytest.mark.django_db


def test_scan_scores_every_active_account_and_sets_current_health(make_account):
    healthy = make_account(today=TODAY)
    weak = make_account(
        today=TODAY,
        renewal_date=TODAY + timedelta(days=20),
        signals=dict(
            feature_adoption_rate=0.1,
            usage_trend="inactive",
            stakeholder_engagement="low",
            invoice_payment_status="overdue_60",
            open_ticket_count=4,
            avg_ticket_sentiment="negative",
            escalation_count_90_days=3,
            last_login_on=TODAY - timedelta(days=50),
        ),
    )
    result = scan_health(today=TODAY)

    assert result["scored"] == 2 and result["failed"] == 0
    assert result["scored_on"] == "2026-11-30"
    healthy.refresh_from_db()
    weak.refresh_from_db()
    assert healthy.rag == "GREEN" and healthy.churn_risk == "low" and healthy.scored_at
    assert weak.rag == "RED"
    assert (weak.churn_risk, weak.churn_trigger) == ("critical", "both")
    assert result["by_rag"] == {"GREEN": 1, "AMBER": 0, "RED": 1}
    assert result["by_churn_risk"]["critical"] == 1

    row = HealthScore.objects.get(account=weak, scored_on=TODAY)
    assert row.score == weak.health_score
    assert set(row.breakdown) == set(engine.GROUPS)
    assert row.inputs["days_to_renewal"] == 20
    assert row.inputs["login_frequency_days"] == 50
    assert row.inputs["seats_utilization_rate"] == 0.9
    assert row.profile_version == 2 and row.profile.segment == ""
    # The stored row is exactly what the engine says for the stored inputs.
    assert row.score == engine.score(row.inputs).score


def test_rescanning_the_same_day_replaces_that_days_rows(make_account):
    account = make_account(today=TODAY)
    scan_health(today=TODAY)
    first = HealthScore.objects.get(account=account)

    account.signals.usage_trend = "declining"
    account.signals.save()
    scan_health(today=TODAY)

    assert HealthScore.objects.filter(account=account).count() == 1
    second = HealthScore.objects.get(account=account)
    assert second.pk == first.pk
    assert second.score == first.score - 12
    account.refresh_from_db()
    assert account.health_score == second.score


def test_next_day_updates_changed_health_and_only_stamps_the_rest(make_account, django_assert_num_queries):
    steady = make_account(today=TODAY)
    moving = make_account(today=TODAY)
    churn_only = make_account(today=TODAY, renewal_date=TODAY + timedelta(days=200))
    scan_health(today=TODAY - timedelta(days=1))
    before = {a.pk: a for a in Account.objects.all()}

    moving.signals.usage_trend = "declining"
    moving.signals.save()
    # Same score and RAG, but the account's churn risk changes (no longer low):
    # it must count as changed, not be stamped with yesterday's risk.
    Account.objects.filter(pk=churn_only.pk).update(churn_risk="high", churn_trigger="behavioral")
    # The ids, the profiles, the read, the savepoint pair, then the writes (see `writes`).
    with django_assert_num_queries(5 + writes(kinds=2)):
        scan_health(today=TODAY)

    after = {a.pk: a for a in Account.objects.all()}
    for account in (steady, moving, churn_only):
        row = HealthScore.objects.get(account=account, scored_on=TODAY)
        now = after[account.pk]
        assert (now.health_score, now.rag, now.churn_risk, now.churn_trigger) == (
            row.score,
            row.rag,
            row.churn_risk,
            row.churn_trigger,
        )
        assert now.scored_at == row.computed_at > before[account.pk].scored_at
    assert after[moving.pk].health_score == before[moving.pk].health_score - 12
    assert after[churn_only.pk].churn_risk == "low"
    assert after[steady.pk].health_score == before[steady.pk].health_score


@pytest.mark.skipif(not PG, reason="reads PostgreSQL's table statistics")
def test_on_postgresql_an_account_whose_health_did_not_change_is_updated_on_its_page(make_account):
    """Its health is set to the values it has (the accounts are updated from the staged scores):
    PostgreSQL sees no indexed column change, and the update writes no index (HOT)."""
    for _ in range(6):
        make_account(today=TODAY)
    scan_health(today=TODAY)
    health_of = Account.objects.values_list("pk", "health_score", "rag", "churn_risk", "churn_trigger")
    health = set(health_of)

    def updates() -> tuple[int, int]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables WHERE relname = 'csm_account'"
            )
            return cursor.fetchone()

    updated, hot = updates()
    scan_health(today=TODAY)  # the same day again: no account's health changes
    assert (
        set(Account.objects.values_list("pk", "health_score", "rag", "churn_risk", "churn_trigger")) == health
    )
    assert updates() == (updated + 6, hot + 6)


def test_each_day_keeps_its_own_row(make_account):
    account = make_account(today=TODAY)
    scan_health(today=TODAY - timedelta(days=1))
    scan_health(today=TODAY)
    assert list(HealthScore.objects.filter(account=account).values_list("scored_on", flat=True)) == [
        TODAY,
        TODAY - timedelta(days=1),
    ]


def _scan_query_count(django_assert_max_num_queries, accounts: int, batch_size: int):
    batches = -(-accounts // batch_size)
    # Every account's health changes (as on a first scan): one kind of account update per batch.
    Account.objects.update(health_score=None, rag="", churn_risk="", churn_trigger="")
    # Per scan: the ids that make the batches and the active profiles. Per batch: the read, the
    # savepoint pair, then the writes (see `writes`).
    with django_assert_max_num_queries(2 + (3 + writes(kinds=1)) * batches) as ctx:
        result = scan_health(today=TODAY, batch_size=batch_size)
    assert result["batches"] == batches
    return len(ctx.captured_queries)


def test_queries_grow_with_batches_not_with_accounts(make_account, django_assert_max_num_queries):
    for _ in range(25):
        make_account(today=TODAY)
    small = _scan_query_count(django_assert_max_num_queries, 25, batch_size=25)
    assert small == 5 + writes(kinds=1), small
    for _ in range(50):
        make_account(today=TODAY)
    # Three times the accounts in one batch: the same number of queries.
    assert _scan_query_count(django_assert_max_num_queries, 75, batch_size=75) == small
    # And the same accounts in three batches: three times the per-batch queries.
    assert _scan_query_count(django_assert_max_num_queries, 75, batch_size=25) == 3 * (small - 2) + 2
    assert HealthScore.objects.count() == 75


def test_bad_data_is_reported_and_skipped_without_stopping_the_scan(make_account):
    good = make_account(today=TODAY)
    oversold = make_account(today=TODAY, external_id="BAD-SEATS", seats_purchased=10, seats_used=50)
    future_login = make_account(today=TODAY, external_id="BAD-LOGIN")
    future_login.signals.last_login_on = TODAY + timedelta(days=3)
    future_login.signals.save()
    after = make_account(today=TODAY)

    result = scan_health(today=TODAY, batch_size=2)

    assert result["scored"] == 2 and result["failed"] == 2
    failures = {f["external_id"]: f for f in result["failures"]}
    assert failures["BAD-SEATS"]["account_id"] == oversold.pk
    # Said in words a CSM can act on, naming the values to check.
    assert failures["BAD-SEATS"]["error"].startswith("50 seats used of 10 purchased is 500% in use")
    assert failures["BAD-LOGIN"]["error"].startswith("logins: ")
    assert set(HealthScore.objects.values_list("account_id", flat=True)) == {good.pk, after.pk}
    oversold.refresh_from_db()
    assert oversold.health_score is None


def test_churned_accounts_are_not_scored(make_account):
    make_account(today=TODAY, status=Account.Status.CHURNED)
    renewed = make_account(today=TODAY, status=Account.Status.RENEWED)
    result = scan_health(today=TODAY)
    assert result["scored"] == 1
    assert list(HealthScore.objects.values_list("account_id", flat=True)) == [renewed.pk]


def test_account_ids_limit_the_scan(make_account):
    a, _b, c = (make_account(today=TODAY) for _ in range(3))
    result = scan_health(today=TODAY, account_ids=[c.pk, a.pk, 999_999], batch_size=1)
    assert result["scored"] == 2 and result["batches"] == 2
    assert set(HealthScore.objects.values_list("account_id", flat=True)) == {a.pk, c.pk}


def test_accounts_with_partial_data_are_scored_on_the_profile_defaults(make_account):
    new = make_account(today=TODAY, signals=None, seats_purchased=None, seats_used=None, renewal_date=None)
    result = scan_health(today=TODAY)
    assert result["partial"] == 1
    row = HealthScore.objects.get(account=new)
    assert sorted(row.defaulted_inputs) == sorted(engine.REQUIRED_INPUTS)
    assert row.is_partial
    expected = engine.score({**engine.DEFAULT_NO_DATA}).score
    assert row.score == expected
    # seats known: utilisation is derived, not defaulted
    known_seats = make_account(today=TODAY, signals=None, seats_purchased=10, seats_used=10)
    scan_health(today=TODAY)
    row = HealthScore.objects.get(account=known_seats)
    assert "seats_utilization_rate" not in row.defaulted_inputs
    assert row.inputs["seats_utilization_rate"] == 1.0


def test_segment_profiles_score_their_segment_and_old_scores_keep_their_version(make_account):
    smb = make_account(today=TODAY, segment="smb")
    ent = make_account(today=TODAY, segment="enterprise")
    scan_health(today=TODAY - timedelta(days=1))

    default = ScoringProfile.objects.get(segment="", is_active=True)
    draft = ScoringProfile.objects.get(pk=default.pk)
    draft.segment = "enterprise"
    draft.green_threshold = 99
    enterprise_profile = publish_version(draft)
    assert enterprise_profile.version == 1 and enterprise_profile.segment == "enterprise"

    scan_health(today=TODAY)
    ent.refresh_from_db()
    smb.refresh_from_db()
    assert ent.rag == "AMBER"  # 96.x is below the enterprise profile's 99
    assert smb.rag == "GREEN"
    today_ent = HealthScore.objects.get(account=ent, scored_on=TODAY)
    assert today_ent.profile_id == enterprise_profile.pk
    yesterday_ent = HealthScore.objects.get(account=ent, scored_on=TODAY - timedelta(days=1))
    assert yesterday_ent.profile_id == default.pk and yesterday_ent.rag == "GREEN"
