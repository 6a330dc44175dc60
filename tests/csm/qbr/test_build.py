from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from agents_core.agents import InvalidPayload
from agents_core.dispatch import enqueue
from agents_core.models import AgentRun
from csm.adoption.tracking import track_adoption
from csm.models import (
    QBR,
    AddOn,
    ChurnAlert,
    ExpansionOpportunity,
    Feature,
    FeatureUsage,
    OutcomeGoal,
    QBRDue,
)
from csm.qbr import quarters
from csm.qbr.build import generate
from csm.qbr.markdown import render_qbr_markdown
from csm.scoring.scan import scan_health


def test_quarters():
    assert quarters.bounds("Q1 2026") == (date(2026, 1, 1), date(2026, 3, 31))
    assert quarters.bounds("Q4 2026") == (date(2026, 10, 1), date(2026, 12, 31))
    assert quarters.quarter_of(date(2026, 11, 30)) == "Q4 2026"
    assert quarters.previous(date(2026, 1, 1)) == "Q4 2025"
    for bad in ("Q5 2026", "q3 2026", "2026 Q3", ""):
        with pytest.raises(ValueError, match="Q3 2026"):
            quarters.bounds(bad)


@pytest.fixture
def reviewed(make_user, make_account, django_capture_on_commit_callbacks, settings):
    """An account with a quarter of history, goals, usage, an open alert and an opportunity."""
    settings.GMAIL_SERVICE_ACCOUNT_JSON = ""
    today = timezone.localdate()
    owner = make_user("maya", first_name="Maya", last_name="Okafor")
    account = make_account(
        name="Globex",
        owner=owner,
        plan="Growth",
        renewal_date=today + timedelta(days=80),
        arr=Decimal("90000"),
    )
    start, _end = quarters.bounds(quarters.quarter_of(today))
    days = [max(start, today - timedelta(days=2)), today - timedelta(days=1), today]
    scan_health(today=days[0])
    account.signals.usage_trend = "declining"
    account.signals.save()
    scan_health(today=days[1])
    account.signals.nps_score = 4
    account.signals.save()
    scan_health(today=days[2])
    OutcomeGoal.objects.create(
        account=account, name="Hours saved weekly", unit="h", baseline=0, target=40, current=30
    )
    reports = Feature.objects.create(
        key="reports", name="Scheduled reports", module=AddOn.objects.get(key="analytics")
    )
    Feature.objects.create(key="cohorts", name="Cohorts", module=AddOn.objects.get(key="analytics"))
    dashboards = Feature.objects.create(key="dashboards", name="Dashboards")
    FeatureUsage.objects.create(account=account, feature=dashboards, active_users=20, last_used_on=today)
    FeatureUsage.objects.create(account=account, feature=reports, active_users=4, last_used_on=today)
    track_adoption()
    ChurnAlert.objects.create(
        account=account, raised_on=today, raised_at=timezone.now(), reason="sharp_drop",
        explanation="It fell.",
        score=60, rag="AMBER", churn_risk="medium",
    )  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        ExpansionOpportunity.objects.create(
            account=account, kind="seats", summary="9 of 10 seats in use",
            estimated_arr_impact=Decimal("1500"),
            created_by="test",
        )  # fmt: skip
    account.refresh_from_db()
    return account, days


@pytest.mark.django_db
def test_each_section_comes_from_the_data(reviewed):
    account, _days = reviewed
    quarter = quarters.quarter_of(timezone.localdate())
    assert generate(quarter=quarter, trigger="manual") == {"quarter": quarter, "created": 1, "updated": 0}
    s = QBR.objects.get(account=account, quarter=quarter).sections
    scores = list(account.health_scores.order_by("scored_on").values_list("scored_on", "score"))

    health = s["health_summary"]
    assert health["trend"] == [
        [d.isoformat(), score] for d, score in scores if d >= quarters.bounds(quarter)[0]
    ]
    assert health["change"] == round(health["trend"][-1][1] - health["trend"][0][1], 2)
    assert [group for group, _p in health["moved"]] == ["usage_trend", "nps_score"]  # -7, then -2
    assert health["score"] == account.health_score and health["open_alerts"][0]["explanation"] == "It fell."

    roi = s["roi"]
    assert roi["goals"] == [{"name": "Hours saved weekly", "unit": "h", "baseline": "0.00", "target": "40.00",
                             "current": "30.00", "progress": 0.75}]  # fmt: skip
    assert (roi["seats_used"], roi["seats_purchased"], roi["usage_trend"]) == (9, 10, "declining")
    assert roi["active_users_across_features"] == 24

    adoption = s["feature_adoption"]
    assert [(f["feature"], f["active_users"], f["adopted"]) for f in adoption["features"]] == [
        ("Dashboards", 20, True), ("Cohorts", 0, False), ("Scheduled reports", 4, True),
    ]  # fmt: skip
    assert adoption["rate"] == pytest.approx(2 / 3, abs=1e-4) and adoption["unused_paid"] == ["Cohorts"]

    steps = s["expansion_next_steps"]
    assert steps["opportunities"][0]["summary"] == "9 of 10 seats in use"
    actions = " | ".join(a["action"] for a in steps["actions"])
    assert "enablement session on Cohorts" in actions and "renewal conversation" in actions
    assert "open churn alert" in actions and "seats expansion" in actions
    assert {a["owner"] for a in steps["actions"]} == {"Maya Okafor"}
    assert steps["renewal"]["days"] == 80

    markdown = render_qbr_markdown(QBR.objects.get(account=account))
    for heading in ("## Account Health Summary", "## ROI & Business Impact", "## Feature Adoption Scorecard",
                    "## Expansion & Next Steps"):  # fmt: skip
        assert heading in markdown
    assert "| Cohorts | Advanced Analytics | 0 | never | no |" in markdown and "&amp;" not in markdown


@pytest.mark.django_db
def test_generating_twice_keeps_one_qbr_per_account_and_quarter(reviewed):
    account, _days = reviewed
    quarter = quarters.quarter_of(timezone.localdate())
    generate(quarter=quarter, trigger="quarterly")
    OutcomeGoal.objects.filter(account=account).update(current=40)
    assert generate(quarter=quarter, trigger="quarterly") == {"quarter": quarter, "created": 0, "updated": 1}
    qbr = QBR.objects.get()
    assert qbr.sections["roi"]["goals"][0]["progress"] == 1.0


@pytest.mark.django_db
def test_the_task_and_its_schedule(reviewed, django_capture_on_commit_callbacks):
    from django_q.models import Schedule

    from agents_core.schedules import ensure_schedules

    ensure_schedules()
    schedule = Schedule.objects.get(name="csm.quarterly_qbrs")
    assert schedule.cron == "0 4 1 1,4,7,10 *" and "'previous'" in schedule.args
    with django_capture_on_commit_callbacks(execute=True):
        run = enqueue(
            "csm", "generate_qbr", {"quarter": "previous", "trigger": "quarterly"}, trigger="schedule"
        )
    run.refresh_from_db()
    assert run.result["quarter"] == quarters.previous(timezone.localdate()) and run.result["created"] == 1
    with pytest.raises(InvalidPayload, match="Q3 2026"):
        enqueue("csm", "generate_qbr", {"quarter": "summer"}, trigger="api")
    with pytest.raises(InvalidPayload, match="trigger"):
        enqueue("csm", "generate_qbr", {"trigger": "whenever"}, trigger="api")


@pytest.mark.django_db
def test_the_contract_check_gets_qbrs_written_90_days_before_contract_end(
    make_account, django_capture_on_commit_callbacks
):
    from csm.alerts.contract_check import contract_check

    today = timezone.localdate()
    account = make_account(renewal_date=today + timedelta(days=85))
    with django_capture_on_commit_callbacks(execute=True):
        result = contract_check(today=today)
    assert result["qbrs_queued"] == 1
    qbr = QBR.objects.get(account=account)
    assert qbr.trigger == "contract" and qbr.quarter == quarters.quarter_of(today)
    assert QBRDue.objects.get(account=account).fulfilled_at is not None
    with django_capture_on_commit_callbacks(execute=True):
        assert contract_check(today=today)["qbrs_queued"] == 0
    assert AgentRun.objects.filter(task_type="generate_qbr").count() == 1


@pytest.mark.django_db
def test_qbrs_api_and_admin(reviewed, api, make_user, client):
    account, _days = reviewed
    quarter = quarters.quarter_of(timezone.localdate())
    generate(quarter=quarter, trigger="manual")
    qbr = QBR.objects.get()
    maya, tom = account.owner, make_user("tom")
    body = api(maya).get("/api/v1/qbrs/", {"quarter": quarter}).json()
    assert [q["id"] for q in body["results"]] == [qbr.pk]
    detail = api(maya).get(f"/api/v1/qbrs/{qbr.pk}/").json()
    assert set(detail["sections"]) == {
        "health_summary",
        "roi",
        "feature_adoption",
        "expansion_next_steps",
        "account_brief",
    }
    assert detail["sections"]["account_brief"].startswith(f"# {qbr.account.name}")
    assert api(tom).get(f"/api/v1/qbrs/{qbr.pk}/").status_code == 404

    client.force_login(maya)
    page = client.get(f"/admin/csm/qbr/{qbr.pk}/change/").content.decode()
    assert "<svg" in page and "polyline" in page and "Enablement" not in page
    assert "Feature Adoption Scorecard" in page and "Hours saved weekly" in page
    download = client.get(f"/admin/csm/qbr/{qbr.pk}/markdown/")
    assert download["Content-Type"].startswith("text/markdown")
    assert download.content.decode().startswith(f"# Globex: Quarterly Business Review, {quarter}")
    client.force_login(tom)
    assert client.get(f"/admin/csm/qbr/{qbr.pk}/markdown/").status_code == 403
