from __future__ import annotations

import io
from datetime import date, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from csm.adoption import rules as adoption_rules
from csm.adoption.tracking import scorecard, track_adoption
from csm.models import Account, AddOn, Feature, FeatureUsage, HealthScore
from csm.scoring.scan import scan_health

TODAY = date(2026, 11, 30)


@pytest.mark.parametrize(
    ("users", "last", "adopted"),
    [(3, TODAY, True), (1, TODAY - timedelta(days=30), True), (1, TODAY - timedelta(days=31), False),
     (0, TODAY, False), (2, None, False), (2, TODAY + timedelta(days=1), False)],
)  # fmt: skip
def test_adopted_means_used_in_the_last_30_days(users, last, adopted):
    assert adoption_rules.is_adopted(users, last, TODAY) is adopted


def test_rate_median_and_percentile():
    assert adoption_rules.adoption_rate({"a", "b", "c", "d"}, {"a", "c", "z"}) == 0.5
    assert adoption_rules.adoption_rate(set(), {"a"}) is None
    assert adoption_rules.median([0.2, 0.8, 0.5]) == 0.5 and adoption_rules.median(
        [0.2, 0.4]
    ) == pytest.approx(0.3)
    assert adoption_rules.percentile_rank(0.5, [0.2, 0.5, 0.8, 0.9]) == 50.0
    assert adoption_rules.median([]) is None and adoption_rules.percentile_rank(0.5, []) is None


@pytest.fixture
def catalogue(db):
    analytics = AddOn.objects.get(key="analytics")  # in the Growth plan
    automation = AddOn.objects.get(key="automation")  # not in Growth
    return {
        "dashboards": Feature.objects.create(key="dashboards", name="Dashboards"),
        "tasks": Feature.objects.create(key="tasks", name="Tasks"),
        "reports": Feature.objects.create(key="reports", name="Scheduled reports", module=analytics),
        "cohorts": Feature.objects.create(key="cohorts", name="Cohorts", module=analytics),
        "rules": Feature.objects.create(key="rules", name="Rules", module=automation),
    }


def use(account, feature, users=5, days_ago=2):
    FeatureUsage.objects.create(
        account=account,
        feature=feature,
        active_users=users,
        last_used_on=timezone.localdate() - timedelta(days=days_ago),
    )


@pytest.mark.django_db
def test_tracking_derives_the_rate_from_the_features_the_account_has(make_account, catalogue):
    growth = make_account(plan="Growth", segment="mid_market")  # core + analytics: 4 features
    use(growth, catalogue["dashboards"])
    use(growth, catalogue["reports"])
    use(growth, catalogue["tasks"], days_ago=45)  # stale
    use(growth, catalogue["rules"])  # not theirs: does not count
    untracked = make_account(plan="Growth")
    result = track_adoption()
    assert result == {"accounts_tracked": 1, "features": 5}
    growth.refresh_from_db()
    assert growth.tracked_adoption_rate == 0.5  # dashboards + reports of 4
    assert Account.objects.get(pk=untracked.pk).tracked_adoption_rate is None


@pytest.mark.django_db
def test_the_scan_scores_tracked_adoption_instead_of_the_typed_in_value(make_account, catalogue):
    account = make_account(plan="Starter")  # core only: dashboards, tasks; typed-in adoption 0.8
    use(account, catalogue["dashboards"])
    track_adoption()
    scan_health()
    score = HealthScore.objects.get(account=account)
    assert score.inputs["feature_adoption_rate"] == 0.5 and score.breakdown["feature_adoption_rate"] == 10


@pytest.mark.django_db
def test_the_scorecard_lists_exactly_the_features_with_adoption_and_unused_paid_ones(make_account, catalogue):
    account = make_account(plan="Growth", segment="mid_market")
    use(account, catalogue["dashboards"], users=12)
    use(account, catalogue["reports"], users=3)
    for rate_users in (1, 0):
        peer = make_account(plan="Growth", segment="mid_market")
        use(peer, catalogue["dashboards"], users=rate_users)
    track_adoption()
    account.refresh_from_db()
    card = scorecard(account)
    assert [(r["feature"], r["active_users"], r["adopted"]) for r in card.features] == [
        ("Dashboards", 12, True), ("Tasks", 0, False), ("Cohorts", 0, False), ("Scheduled reports", 3, True),
    ]  # fmt: skip
    assert card.unused_paid == ["Cohorts"]  # Rules (Automation) is not theirs to use
    assert card.rate == 0.5
    # Peers: 0.25 and 0.0; with this account: median 0.25, this one at the top.
    assert card.segment_median == 0.25 and card.segment_percentile == 100.0


@pytest.mark.django_db
def test_tracked_adoption_is_read_only_in_the_signals_api(api, api_book, catalogue):
    account = api_book["maya_accounts"][0]
    use(account, catalogue["dashboards"])
    track_adoption()
    client = api(api_book["maya"])
    data = client.get(f"/api/v1/accounts/{account.pk}/signals/").json()
    assert data["feature_adoption_tracked"] is True and data["feature_adoption_rate"] == 0.5
    response = client.put(
        f"/api/v1/accounts/{account.pk}/signals/", {"feature_adoption_rate": 0.9}, format="json"
    )
    assert response.status_code == 400 and "feature usage" in response.json()["feature_adoption_rate"][0]
    response = client.post(
        "/api/v1/signals/bulk/",
        [{"external_id": account.external_id, "feature_adoption_rate": 0.9}],
        format="json",
    )
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "feature_adoption_rate"


@pytest.mark.django_db
def test_bulk_usage_api_is_all_or_nothing(api, api_book, catalogue):
    account = api_book["maya_accounts"][0]
    client = api(api_book["maya"])
    today = timezone.localdate().isoformat()
    good = {
        "external_id": account.external_id,
        "feature": "dashboards",
        "active_users": 7,
        "last_used_on": today,
    }
    response = client.post(
        "/api/v1/feature-usage/bulk/",
        [
            good,
            {"external_id": account.external_id, "feature": "nope"},
            {"external_id": api_book["tom_accounts"][0].external_id, "feature": "tasks"},
            {
                "external_id": account.external_id,
                "feature": "tasks",
                "active_users": -1,
                "last_used_on": "2999-01-01",
            },
        ],
        format="json",
    )
    assert response.status_code == 400
    assert {(e["index"], e["field"]) for e in response.json()["errors"]} == {
        (1, "feature"), (2, "external_id"), (3, "active_users"), (3, "last_used_on"),
    }  # fmt: skip
    assert not FeatureUsage.objects.exists()
    response = client.post("/api/v1/feature-usage/bulk/", [good], format="json")
    assert response.json() == {"received": 1, "written": 1}
    response = client.post("/api/v1/feature-usage/bulk/", [{**good, "active_users": 9}], format="json")
    usage = FeatureUsage.objects.get()
    assert (usage.active_users, usage.source) == (9, "api")


@pytest.mark.django_db
def test_usage_csv_import(make_account, catalogue, tmp_path):
    account = make_account(external_id="ACME-1")
    good = tmp_path / "usage.csv"
    good.write_text(
        "external_id,feature,active_users,events_30d,last_used_on\n"
        f"ACME-1,dashboards,4,120,{timezone.localdate().isoformat()}\nACME-1,tasks,0,0,\n"
    )
    call_command("import_feature_usage", str(good), stdout=io.StringIO())
    assert FeatureUsage.objects.filter(account=account).count() == 2
    bad = tmp_path / "bad.csv"
    bad.write_text("external_id,feature,active_users\nACME-1,dashboards,4\nNOPE,tasks,1\n")
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("import_feature_usage", str(bad), stdout=out)
    assert "line 3, external_id: no such account" in out.getvalue()
    assert FeatureUsage.objects.get(account=account, feature__key="dashboards").active_users == 4


@pytest.mark.django_db
def test_the_account_page_shows_the_scorecard(client, api_book, catalogue):
    account = api_book["maya_accounts"][0]
    use(account, catalogue["dashboards"])
    track_adoption()
    client.force_login(api_book["maya"])
    page = client.get(f"/admin/csm/account/{account.pk}/change/").content.decode()
    assert "Scorecard" in page and "Dashboards" in page and "Adoption <strong>50%</strong>" in page


@pytest.mark.django_db
def test_bulk_usage_refuses_rows_whose_ids_are_not_strings(api, api_book, catalogue):
    """Found by the fuzzer: an object as external_id or feature was a 500."""
    response = api(api_book["maya"]).post(
        "/api/v1/feature-usage/bulk/",
        [{"external_id": {"a": 1}, "feature": "tasks"},
         {"external_id": api_book["maya_accounts"][0].external_id, "feature": ["tasks"]}],
        format="json",
    )  # fmt: skip
    assert response.status_code == 400
    problems = {(e["index"], e["field"]) for e in response.json()["errors"]}
    assert problems == {(0, "external_id"), (1, "feature")}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "rates",
    [[0.5], [0.2, 0.8], [0.1, 0.4, 0.4, 0.9], [0.3, 0.3, 0.3], [0.05, 0.5, 0.25, 0.75, 1.0, 0.0, 0.6]],
)
def test_one_accounts_standing_in_its_segment_is_what_the_rules_give(make_account, rates):
    """The account page reads median and rank off the index; a run over many accounts computes them
    from every peer's rate: the two agree, for odd and even counts and for ties."""
    from csm.adoption import rules
    from csm.adoption.tracking import ScorecardContext, peer_standing
    from csm.models import Account

    accounts = [make_account(segment="smb") for _ in rates]
    for account, rate in zip(accounts, rates, strict=True):
        Account.objects.filter(pk=account.pk).update(tracked_adoption_rate=rate)
    make_account(segment="smb")  # untracked: not a peer
    make_account(segment="enterprise")
    Account.objects.filter(segment="enterprise").update(tracked_adoption_rate=0.99)  # another segment
    for probe in {*rates, 0.0, 0.45, 1.0, None}:
        expected = (
            rules.median(rates),
            None if probe is None else rules.percentile_rank(probe, rates),
        )
        assert peer_standing("smb", probe) == expected, probe
    assert peer_standing("mid_market", 0.5) == (None, None)
    account = Account.objects.get(pk=accounts[0].pk)
    in_batch = scorecard(account, context=ScorecardContext.load())
    alone = scorecard(account)
    assert (alone.segment_median, alone.segment_percentile) == (
        in_batch.segment_median,
        in_batch.segment_percentile,
    )
