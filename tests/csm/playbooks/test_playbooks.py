"""Playbooks: each trigger starts its playbook once per account and occurrence (re-runs and a run
that died half-way make nothing twice), steps wait for the one before, and a run closes when its
steps are done or its cause went away."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from csm.models import (
    ChurnAlert,
    ExpansionOpportunity,
    HealthScore,
    Playbook,
    PlaybookRun,
    PlaybookStep,
    QBRDue,
    ScoringProfile,
    Task,
)
from csm.playbooks import tasks as task_service
from csm.playbooks.runner import run_playbooks

pytestmark = pytest.mark.django_db


@pytest.fixture
def maya(make_user):
    return make_user("maya")


@pytest.fixture
def only(db):
    """Keep only the named default playbooks active, so each test sees one trigger at work."""

    def keep(*names):
        Playbook.objects.exclude(name__in=names).update(is_active=False)

    return keep


def _alert(account, *, reason=ChurnAlert.Reason.ENTERED_RED, days_ago=0):
    today = timezone.localdate() - timedelta(days=days_ago)
    return ChurnAlert.objects.create(
        account=account, raised_on=today, raised_at=timezone.now(), reason=reason, reasons=[reason],
        explanation="Health fell.", score=35.0, rag="RED", churn_risk="high", arr=account.arr,
    )  # fmt: skip


def test_tend_ships_four_playbooks_a_manager_can_change(client, make_user):
    assert set(Playbook.objects.values_list("name", flat=True)) == {
        "Churn save",
        "Renewal prep",
        "Onboarding",
        "Detractor recovery",
    }
    renewal = Playbook.objects.get(name="Renewal prep")
    assert [s.due_in_days for s in renewal.steps.all()] == [0, 30, 60] and renewal.days_before_renewal == 90
    manager = make_user("morgan", view_all=True)
    manager.groups.add(Group.objects.get(name="Manager"))
    client.force_login(manager)
    assert client.get(reverse("admin:csm_playbook_change", args=[renewal.pk])).status_code == 200
    client.force_login(make_user("maya"))
    page = client.get(reverse("admin:csm_playbook_change", args=[renewal.pk]))
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()  # a CSM reads them


def test_an_alert_starts_the_churn_save_once_and_steps_wait_for_the_one_before(make_account, maya, only):
    only("Churn save")
    account = make_account(owner=maya, rag="RED")
    _alert(account)

    first = run_playbooks()
    assert (first["started"], first["tasks"]) == (1, 1)
    run = PlaybookRun.objects.get()
    task = Task.objects.get()
    assert (task.owner, task.origin, task.playbook_run, task.priority) == (maya, "playbook", run, "high")
    assert task.due_on == timezone.localdate()

    again = run_playbooks()  # the next day's run, a retry, a second worker: nothing twice
    assert (again["started"], again["tasks"]) == (0, 0)
    assert PlaybookRun.objects.count() == 1 and Task.objects.count() == 1

    task_service.complete(task, by=maya)  # closing a step makes the next one at once
    second = Task.objects.exclude(pk=task.pk).get()
    assert second.title.startswith("Call the champion") and second.due_on == timezone.localdate() + timedelta(
        days=2
    )
    task_service.skip(second, by=maya, reason="Champion left; spoke to the new one")
    third = Task.objects.exclude(pk__in=[task.pk, second.pk]).get()
    task_service.complete(third, by=maya)
    run.refresh_from_db()
    assert run.status == "done" and run.closed_at is not None


def test_a_run_that_died_before_making_its_tasks_gets_them_on_the_next(make_account, maya, only):
    only("Churn save")
    account = make_account(owner=maya, rag="RED")
    _alert(account)
    run_playbooks()
    Task.objects.all().delete()  # as if the worker was killed between the run and its tasks
    assert run_playbooks()["tasks"] == 1
    assert PlaybookRun.objects.count() == 1 and Task.objects.count() == 1


def test_the_daily_run_costs_the_same_queries_for_3_accounts_as_for_60(make_account, maya, only):
    only("Churn save", "Renewal prep")

    def queries_for(accounts: int) -> tuple[int, int]:
        PlaybookRun.objects.all().delete()
        for _ in range(accounts):
            account = make_account(
                owner=maya, rag="RED", renewal_date=timezone.localdate() + timedelta(days=60)
            )
            _alert(account)
        with CaptureQueriesContext(connection) as queries:
            played = run_playbooks()
        assert played["started"] == 2 * PlaybookRun.objects.values("account").distinct().count()
        inserts = sum('INTO "csm_task"' in q["sql"] for q in queries.captured_queries)
        # The tasks go in as few inserts as the database takes (SQLite: ~58 rows, 999 parameters).
        assert inserts <= 2 + played["tasks"] // 50
        return len(queries) - inserts, played["tasks"]

    few, many = queries_for(3), queries_for(57)
    assert (few[1], many[1]) == (3 * 4, 60 * 4)
    assert few[0] == many[0]


def test_a_run_closes_when_the_account_recovers_skipping_what_is_left(make_account, maya, only):
    only("Churn save")
    account = make_account(owner=maya, rag="RED")
    _alert(account)
    run_playbooks()
    account.rag = "GREEN"
    account.save(update_fields=["rag"])

    assert run_playbooks()["closed"] == 1
    run = PlaybookRun.objects.get()
    task = Task.objects.get()
    assert run.status == "closed" and "GREEN again" in run.close_reason
    assert task.status == "skipped" and "GREEN again" in task.skip_reason


def test_renewal_prep_starts_90_days_out_with_its_steps_due_at_90_60_and_30(make_account, maya, only):
    only("Renewal prep")
    today = timezone.localdate()
    soon = make_account(owner=maya, renewal_date=today + timedelta(days=90))
    make_account(owner=maya, renewal_date=today + timedelta(days=120))  # not yet
    run_playbooks()
    run = PlaybookRun.objects.get()
    assert run.account == soon and run.occurrence == f"renewal:{soon.renewal_date.isoformat()}"
    assert sorted(Task.objects.values_list("due_on", flat=True)) == [
        today, today + timedelta(days=30), today + timedelta(days=60)
    ]  # fmt: skip
    # The renewal is moved a year out (renewed early): the run's cause went away.
    soon.renewal_date = today + timedelta(days=455)
    soon.save(update_fields=["renewal_date"])
    run_playbooks()
    assert PlaybookRun.objects.get().status == "closed"
    assert not Task.objects.filter(status="open").exists()


def test_onboarding_starts_for_a_contract_begun_in_the_last_30_days_only(make_account, maya, only):
    only("Onboarding")
    today = timezone.localdate()
    new = make_account(owner=maya, contract_start=today - timedelta(days=5))
    make_account(owner=maya, contract_start=today - timedelta(days=200))
    run_playbooks()
    assert list(PlaybookRun.objects.values_list("account", flat=True)) == [new.pk]
    assert Task.objects.get().title.startswith("Kick-off call")


def test_qbr_due_opportunity_and_entering_a_rag_start_their_playbooks(make_account, maya, make_user, only):
    only()
    today = timezone.localdate()
    account = make_account(owner=maya, rag="AMBER")
    named = make_user("morgan", view_all=True)
    for trigger, extra in [("qbr_due", {}), ("opportunity", {}), ("entered_rag", {"rag": "AMBER"})]:
        playbook = Playbook.objects.create(name=trigger, trigger=trigger, **extra)
        PlaybookStep.objects.create(playbook=playbook, title=f"Act on {trigger}", assignee="user", user=named)
    due = QBRDue.objects.create(account=account, contract_end=today + timedelta(days=80), due_on=today)
    ExpansionOpportunity.objects.create(account=account, kind="seats", summary="Seats are full",
                                        estimated_arr_impact=Decimal("1000"))  # fmt: skip
    profile = ScoringProfile.objects.get(segment="", is_active=True)
    for day, rag in ((today - timedelta(days=1), "GREEN"), (today, "AMBER")):
        HealthScore.objects.create(account=account, scored_on=day, score=60, rag=rag, churn_risk="medium",
                                   breakdown={}, inputs={}, profile=profile, profile_version=1,
                                   computed_at=timezone.now())  # fmt: skip

    assert run_playbooks()["started"] == 3
    assert sorted(Task.objects.values_list("title", flat=True)) == [
        "Act on entered_rag", "Act on opportunity", "Act on qbr_due"
    ]  # fmt: skip
    assert set(Task.objects.values_list("owner", flat=True)) == {named.pk}  # a manager, named in the step

    QBRDue.objects.filter(pk=due.pk).update(fulfilled_at=timezone.now())  # the QBR was written
    run_playbooks()
    assert PlaybookRun.objects.get(playbook__name="qbr_due").status == "closed"


def test_a_named_user_who_cannot_see_the_account_does_not_get_its_task(make_account, maya, make_user, only):
    only()
    tom = make_user("tom")
    playbook = Playbook.objects.create(name="x", trigger="alert")
    PlaybookStep.objects.create(playbook=playbook, title="Tom's step", assignee="user", user=tom)
    account = make_account(owner=maya, rag="RED")
    _alert(account)
    run_playbooks()
    assert Task.objects.get().owner == maya  # the account's owner instead


def test_a_step_for_the_owners_manager_goes_to_them_or_else_to_the_owner(make_account, maya, make_user, only):
    from csm.models import ReportingLine

    only()
    morgan = make_user("morgan", view_all=True)
    playbook = Playbook.objects.create(name="x", trigger="alert")
    PlaybookStep.objects.create(playbook=playbook, title="Manager's step", assignee="manager")
    ReportingLine.objects.create(user=maya, manager=morgan)
    mayas = make_account(owner=maya, rag="RED")
    toms = make_account(owner=make_user("tom"), rag="RED")  # tom has no manager on record
    _alert(mayas)
    _alert(toms)
    run_playbooks()
    assert dict(Task.objects.values_list("account", "owner")) == {mayas.pk: morgan.pk, toms.pk: toms.owner_id}


def test_managers_see_follow_through_per_person_and_playbook_and_the_saves(
    client, make_account, maya, make_user, only
):
    from csm.models import RenewalOutcome

    only("Churn save")
    today = timezone.localdate()
    saved_account = make_account(owner=maya, rag="RED", renewal_date=today - timedelta(days=1))
    lost_account = make_account(owner=maya, rag="RED", renewal_date=today - timedelta(days=1))
    alert = _alert(saved_account, days_ago=5)
    ChurnAlert.objects.filter(pk=alert.pk).update(raised_at=timezone.now() - timedelta(hours=30))
    _alert(lost_account, days_ago=5)
    PlaybookRun.objects.create(playbook=Playbook.objects.get(name="Churn save"), account=saved_account,
                               occurrence="alert:x", started_at=timezone.now(),
                               started_on=today - timedelta(days=4))  # fmt: skip
    ChurnAlert.objects.filter(pk=alert.pk).update(acknowledged_at=timezone.now() - timedelta(hours=6))
    for account, outcome in ((saved_account, "renewed"), (lost_account, "churned")):
        kept = 0 if outcome == "churned" else account.arr
        RenewalOutcome.objects.create(account=account, renewal_date=account.renewal_date, outcome=outcome,
                                      arr_before=account.arr, arr_after=kept)  # fmt: skip
    late = task_service.create_task(
        account=saved_account, owner=maya, title="Late", due_on=today - timedelta(days=2)
    )
    on_time = task_service.create_task(account=saved_account, owner=maya, title="On time", due_on=today)
    task_service.complete(on_time, by=maya)

    manager = make_user("morgan", view_all=True)
    client.force_login(manager)
    assert "Follow-through" in client.get(reverse("admin:csm_playbook_changelist")).content.decode()
    page = client.get(reverse("admin:csm_playbook_follow_through"))
    report = page.context["report"]
    row = next(r for r in report.people if r["user_id"] == maya.pk)
    assert (row["alerts_acted_on"], row["median_hours_to_act"]) == (1, 24.0)
    assert (row["done"], row["on_time"], row["overdue"]) == (1, 1, 1) and late.status == "open"
    churn_save = next(r for r in report.playbooks if r["playbook"].name == "Churn save")
    assert churn_save["started"] == 1 and churn_save["open"] == 1
    assert report.save_outcomes == {"with": (1, 1), "without": (0, 1)}
    assert "With the churn-save playbook: 1 kept of 1 (100%)" in page.content.decode()

    client.force_login(maya)
    assert client.get(reverse("admin:csm_playbook_follow_through")).status_code == 403
    assert "Follow-through" not in client.get(reverse("admin:csm_playbook_changelist")).content.decode()
