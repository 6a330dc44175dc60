"""Previews and backtests off the request: queued, their progress shown, their result kept and equal
to what working them out in the request gives."""

from __future__ import annotations

import pytest
from django.urls import reverse

from agents_core.agents import InvalidPayload, NotVisible
from agents_core.dispatch import enqueue, execute_run
from agents_core.models import AgentRun
from csm.models import ProfileEvaluation, ScoringProfile
from csm.trust import evaluations, whatif
from csm.trust.backtest import Report, backtest
from csm.trust.whatif import Preview, preview

pytestmark = pytest.mark.django_db


def stricter() -> ScoringProfile:
    """Unsaved settings for the default segment: what a manager is editing in the form."""
    candidate = ScoringProfile.objects.get(segment="", is_active=True)
    candidate.pk, candidate.green_threshold, candidate.amber_threshold = None, 90.0, 75.0
    return candidate


def test_the_queued_preview_equals_the_one_worked_out_in_the_request(
    book_with_history, make_user, django_capture_on_commit_callbacks
):
    morgan = make_user("morgan", view_all=True)
    candidate, current = stricter(), ScoringProfile.objects.get(segment="", is_active=True)
    with django_capture_on_commit_callbacks(execute=True):
        evaluation = evaluations.ask_preview(candidate, user=morgan, with_backtest=True)
    evaluation.refresh_from_db()
    assert evaluation.finished and evaluation.run.status == AgentRun.Status.SUCCEEDED
    assert evaluation.run.task_type == "evaluate_profile" and evaluation.run.requested_by == morgan
    assert evaluation.compare_with == current and evaluation.percent == 100

    engine = candidate.to_profile()
    in_request = preview(engine, "")
    assert in_request.rag_changed > 0  # the comparison below compares something
    assert evaluations.effect_of(evaluation) == in_request
    reports = evaluations.reports_of(evaluation)
    assert reports["now"] == backtest(profile=current)
    assert reports["new"] == backtest(engine=engine, segment="", label="the new settings")
    assert reports["new"].sufficient and reports["new"].roc


def test_the_queued_backtest_equals_the_one_worked_out_in_the_request(
    book_with_history, make_user, django_capture_on_commit_callbacks
):
    morgan = make_user("morgan", view_all=True)
    version = ScoringProfile.objects.get(segment="", is_active=True)
    with django_capture_on_commit_callbacks(execute=True):
        stored = evaluations.ask_backtest(user=morgan, horizon=60)
        rescored = evaluations.ask_backtest(user=morgan, profile=version, horizon=30)
    for evaluation in (stored, rescored):
        evaluation.refresh_from_db()
    assert evaluations.reports_of(stored)["report"] == backtest(horizon=60)
    assert evaluations.reports_of(rescored)["report"] == backtest(horizon=30, profile=version)


def test_a_report_and_a_preview_keep_everything_through_json(book_with_history):
    import json

    report = backtest(profile=ScoringProfile.objects.get(segment="", is_active=True))
    assert report.sufficient and report.high_risk and report.lead_days
    assert Report.from_json(json.loads(json.dumps(report.to_json()))) == report
    effect = preview(stricter().to_profile(), "")
    assert effect.changes
    assert Preview.from_json(json.loads(json.dumps(effect.to_json()))) == effect


def test_progress_is_told_as_the_work_goes(book_with_history, monkeypatch):
    monkeypatch.setattr(whatif, "PROGRESS_EVERY", 7)
    seen: list[tuple[int, int]] = []
    effect = preview(stricter().to_profile(), "", progress=lambda done, total: seen.append((done, total)))
    assert [done for done, _ in seen] == list(range(7, effect.accounts + 1, 7))
    assert {total for _, total in seen} == {effect.accounts}

    told: list[tuple[int, int]] = []
    backtest(profile=ScoringProfile.objects.get(is_active=True), progress=lambda d, t: told.append((d, t)))
    assert told and all(0 < d <= t for d, t in told)
    assert [d for d, _ in told] == sorted(d for d, _ in told)
    assert told[-1][0] == told[-1][1]  # every window read and every churned account's history judged


def test_the_page_shows_progress_until_the_result_is_in(client, book_with_history, make_user):
    morgan = make_user("morgan", view_all=True)
    evaluation = evaluations.ask_preview(stricter(), user=morgan)  # queued: nothing has run it yet
    page_url = reverse("admin:csm_profileevaluation_change", args=[evaluation.pk])
    client.force_login(morgan)
    html = client.get(page_url).content.decode()
    assert "waiting for a worker" in html and '<progress value="0"' in html
    assert '<meta http-equiv="refresh"' in html

    ProfileEvaluation.objects.filter(pk=evaluation.pk).update(step=1, stage="Re-scoring", done=25, total=50)
    html = client.get(page_url).content.decode()
    assert "Step 1 of 1: Re-scoring" in html and '<progress value="50"' in html and "25 of 50" in html

    execute_run(evaluation.run_id)
    done = client.get(page_url)
    assert "Nothing is saved yet" in done.content.decode()
    assert '<meta http-equiv="refresh"' not in done.content.decode()
    listed = client.get(reverse("admin:csm_profileevaluation_changelist")).content.decode()
    assert f"#{evaluation.pk}" in listed and "done" in listed


def test_a_failed_evaluation_says_why_and_can_be_tried_again(
    client, book_with_history, make_user, monkeypatch, django_capture_on_commit_callbacks
):
    morgan = make_user("morgan", view_all=True)

    def broken(*args, **kwargs):
        raise RuntimeError("the database went away")

    with monkeypatch.context() as broken_for_now, django_capture_on_commit_callbacks(execute=True):
        broken_for_now.setattr(evaluations, "preview", broken)
        evaluation = evaluations.ask_preview(stricter(), user=morgan)
    evaluation.refresh_from_db()
    assert evaluation.failed and not evaluation.finished
    page_url = reverse("admin:csm_profileevaluation_change", args=[evaluation.pk])
    client.force_login(morgan)
    html = client.get(page_url).content.decode()
    assert "the database went away" in html and 'name="_retry"' in html
    assert '<meta http-equiv="refresh"' not in html  # nothing is coming: no point refreshing

    with django_capture_on_commit_callbacks(execute=True):
        retried = client.post(page_url, {"_retry": "1"})
    assert retried.status_code == 302
    evaluation.refresh_from_db()
    assert evaluation.finished and evaluation.run.status == AgentRun.Status.SUCCEEDED
    assert AgentRun.objects.filter(task_type="evaluate_profile").count() == 2  # the failure stays on record


def test_an_evaluation_whose_run_was_deleted_does_not_wait_for_ever(
    client, book_with_history, make_user, django_capture_on_commit_callbacks
):
    morgan = make_user("morgan", view_all=True)
    evaluation = evaluations.ask_backtest(user=morgan)  # queued, never run
    AgentRun.objects.filter(pk=evaluation.run_id).delete()
    evaluation.refresh_from_db()
    assert evaluation.run is None and evaluation.failed

    page_url = reverse("admin:csm_profileevaluation_change", args=[evaluation.pk])
    client.force_login(morgan)
    html = client.get(page_url).content.decode()
    assert "the agent run doing it was deleted" in html and 'name="_retry"' in html
    assert '<meta http-equiv="refresh"' not in html
    # Not underway either: asking for the same backtest queues a new one.
    assert evaluations.ask_backtest(user=morgan).pk != evaluation.pk
    with django_capture_on_commit_callbacks(execute=True):
        client.post(page_url, {"_retry": "1"})
    evaluation.refresh_from_db()
    assert evaluation.finished


def test_running_an_evaluation_again_replaces_its_result(book_with_history, make_user):
    morgan = make_user("morgan", view_all=True)
    evaluation = evaluations.ask_preview(stricter(), user=morgan)
    execute_run(evaluation.run_id)
    first = ProfileEvaluation.objects.get(pk=evaluation.pk).result
    # A worker that dies after writing and a run claimed again: the work is done over, once.
    evaluations.run_evaluation({"evaluation_id": evaluation.pk}, run=None)
    assert ProfileEvaluation.objects.count() == 1
    assert ProfileEvaluation.objects.get(pk=evaluation.pk).result == first


def test_a_csm_sees_and_runs_only_their_own(client, book_with_history, make_user):
    maya, tom = make_user("maya"), make_user("tom")
    theirs = evaluations.ProfileEvaluation.objects.create(kind="backtest", requested_by=tom)
    assert list(ProfileEvaluation.objects.visible_to(maya)) == []
    with pytest.raises(NotVisible):
        enqueue("csm", "evaluate_profile", {"evaluation_id": theirs.pk}, trigger="admin", requested_by=maya)
    client.force_login(maya)
    assert client.get(reverse("admin:csm_profileevaluation_change", args=[theirs.pk])).status_code == 404
    assert client.get(reverse("admin:csm_profileevaluation_change", args=["x"])).status_code == 404
    assert (
        client.post(
            reverse("admin:csm_profileevaluation_change", args=[theirs.pk]), {"_retry": "1"}
        ).status_code
        == 404
    )


@pytest.mark.parametrize(
    "payload", [{}, {"evaluation_id": "1"}, {"evaluation_id": True}, {"evaluation_id": 1, "x": 2}]
)
def test_the_task_takes_one_evaluation_id(payload):
    with pytest.raises(InvalidPayload):
        enqueue("csm", "evaluate_profile", payload, trigger="command")


def test_progress_counts_every_step_as_an_equal_share():
    evaluation = ProfileEvaluation(kind="preview", step=2, steps=3, done=50, total=100)
    assert evaluation.percent == 50
    assert ProfileEvaluation(kind="preview", step=0, steps=3).percent == 0
    assert ProfileEvaluation(kind="preview", step=1, steps=1, done=900, total=100).percent == 100


def test_the_same_backtest_asked_for_twice_while_underway_is_worked_out_once(make_user):
    morgan, ana = make_user("morgan", view_all=True), make_user("ana", view_all=True)
    first = evaluations.ask_backtest(user=morgan, horizon=60)  # queued, not yet run
    assert evaluations.ask_backtest(user=ana, horizon=60) == first
    assert evaluations.ask_backtest(user=ana, horizon=90) != first  # another question
    execute_run(first.run_id)
    assert evaluations.ask_backtest(user=ana, horizon=60) != first  # done: asked again, worked out again
    assert ProfileEvaluation.objects.count() == 3


def test_a_kept_backtest_can_be_run_again_on_todays_data(
    client, make_user, django_capture_on_commit_callbacks
):
    morgan = make_user("morgan", view_all=True)
    version = ScoringProfile.objects.get(segment="", is_active=True)
    with django_capture_on_commit_callbacks(execute=True):
        kept = evaluations.ask_backtest(user=morgan, profile=version, horizon=30)
    client.force_login(morgan)
    page = client.get(reverse("admin:csm_profileevaluation_change", args=[kept.pk])).content.decode()
    again_url = reverse("admin:csm_scoringprofile_backtest_version", args=[version.pk])
    assert f'action="{again_url}"' in page and 'name="horizon" value="30"' in page
    assert f'href="{again_url}?horizon=60"' in page  # the other horizons lead to the same version's
    with django_capture_on_commit_callbacks(execute=True):
        again = client.post(again_url, {"horizon": "30"})
    fresh = ProfileEvaluation.objects.exclude(pk=kept.pk).get()
    assert again["Location"].endswith(f"/{fresh.pk}/change/")
    assert (fresh.profile, fresh.horizon, fresh.finished) == (version, 30, True)  # worked out again


def test_old_evaluations_are_pruned_and_those_underway_and_recent_kept(
    book_with_history, make_user, settings
):
    from datetime import timedelta

    from django.utils import timezone

    morgan = make_user("morgan", view_all=True)
    settings.TEND_EVALUATION_RETENTION_DAYS = 90
    old_done = evaluations.ask_backtest(user=morgan)
    execute_run(old_done.run_id)
    old_underway = evaluations.ask_backtest(user=morgan, horizon=60)  # queued, not run
    recent = evaluations.ask_backtest(user=morgan, horizon=30)
    long_ago = timezone.now() - timedelta(days=91)
    ProfileEvaluation.objects.filter(pk__in=[old_done.pk, old_underway.pk]).update(created_at=long_ago)

    run = enqueue("csm", "prune_evaluations", {}, trigger=AgentRun.Trigger.SCHEDULE, sync=True)
    run.refresh_from_db()
    assert run.status == AgentRun.Status.SUCCEEDED and run.result["deleted"] == 1
    assert set(ProfileEvaluation.objects.values_list("pk", flat=True)) == {old_underway.pk, recent.pk}
