"""Previews and backtests off the request: ask for one, run it as agent work, read its result.

A preview re-scores the latest stored inputs of a book with unsaved settings;
a backtest re-scores years of them. Both take long on a large book, so the
admin asks for one (`ask_preview`, `ask_backtest`), which records a
ProfileEvaluation and queues the CS agent's `evaluate_profile` task; the
worker runs `run_evaluation`, writing its progress as it goes and the result
when done. A re-run (a retry, a re-claimed run) starts the evaluation over
and replaces its result: nothing is counted twice.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from agents_core.agents import InvalidPayload, NotVisible
from agents_core.dispatch import enqueue
from agents_core.models import AgentRun
from agents_core.visibility import sees_everything
from csm.models import ProfileEvaluation, ScoringProfile
from csm.scoring import engine as scoring
from csm.trust.backtest import Report, backtest, backtests
from csm.trust.whatif import Preview, preview

PROGRESS_SECONDS = 0.5  # progress is written at most this often

TASK = ("csm", "evaluate_profile")


def clean_payload(payload: dict[str, Any]) -> dict[str, Any]:
    evaluation_id = payload.get("evaluation_id")
    if (
        set(payload) != {"evaluation_id"}
        or not isinstance(evaluation_id, int)
        or isinstance(evaluation_id, bool)
    ):
        raise InvalidPayload('the payload is {"evaluation_id": <id>}')
    return {"evaluation_id": evaluation_id}


def scope_payload(payload: dict[str, Any], user) -> dict[str, Any]:
    """A person may run their own evaluations; a manager anyone's."""
    if not ProfileEvaluation.objects.visible_to(user).filter(pk=payload["evaluation_id"]).exists():
        raise NotVisible(f"No evaluation {payload['evaluation_id']} you may run.")
    return payload


# --- asking -------------------------------------------------------------------------


def ask_preview(
    candidate: ScoringProfile,
    *,
    user,
    original: ScoringProfile | None = None,
    form_data: list[tuple[str, str]] = (),
    with_backtest: bool = False,
) -> ProfileEvaluation:
    """Queue what the unsaved `candidate` would do to today's book (and, for a manager, the backtest)."""
    current = ScoringProfile.objects.active().filter(segment=candidate.segment).first()
    evaluation = ProfileEvaluation.objects.create(
        kind=ProfileEvaluation.Kind.PREVIEW,
        segment=candidate.segment,
        candidate=candidate.to_profile().as_dict(),
        profile=original,
        compare_with=current,
        with_backtest=with_backtest,
        form_data=[[name, value] for name, value in form_data if name != "csrfmiddlewaretoken"],
        requested_by=user,
        steps=1 + with_backtest,
    )
    return queue(evaluation, user=user)


def ask_backtest(*, user, profile: ScoringProfile | None = None, horizon: int = 90) -> ProfileEvaluation:
    """Queue the backtest of `profile` re-scored (none: the stored daily scores) at `horizon` days.

    The same backtest already queued or running (a second click, a colleague) is that one: the
    book is read once.
    """
    underway = ProfileEvaluation.objects.filter(
        kind=ProfileEvaluation.Kind.BACKTEST,
        profile=profile,
        horizon=horizon,
        result__isnull=True,
        run__status__in=(AgentRun.Status.QUEUED, AgentRun.Status.RUNNING),
    ).first()
    if underway is not None:
        return underway
    evaluation = ProfileEvaluation.objects.create(
        kind=ProfileEvaluation.Kind.BACKTEST,
        segment=profile.segment if profile else "",
        profile=profile,
        horizon=horizon,
        with_backtest=True,
        requested_by=user,
    )
    return queue(evaluation, user=user)


def queue(evaluation: ProfileEvaluation, *, user) -> ProfileEvaluation:
    """Queue (or queue again, after a failure) the work of `evaluation`, started by `user` in the admin."""
    with transaction.atomic():
        run = enqueue(
            *TASK, {"evaluation_id": evaluation.pk}, trigger=AgentRun.Trigger.ADMIN, requested_by=user
        )
        ProfileEvaluation.objects.filter(pk=evaluation.pk).update(run=run)
    evaluation.run = run
    return evaluation


def may_retry(evaluation: ProfileEvaluation, user) -> bool:
    return evaluation.failed and (sees_everything(user) or evaluation.requested_by_id == user.pk)


# --- running ------------------------------------------------------------------------


class _Tracker:
    """Writes an evaluation's step and progress, at most every PROGRESS_SECONDS."""

    def __init__(self, evaluation: ProfileEvaluation) -> None:
        self.pk, self.written = evaluation.pk, 0.0

    def step(self, number: int, stage: str):
        ProfileEvaluation.objects.filter(pk=self.pk).update(step=number, stage=stage, done=0, total=0)
        self.written = time.monotonic()

        def progress(done: int, total: int) -> None:
            now = time.monotonic()
            if now - self.written >= PROGRESS_SECONDS:
                ProfileEvaluation.objects.filter(pk=self.pk).update(done=done, total=total)
                self.written = now

        return progress


def run_evaluation(payload: dict[str, Any], run) -> dict[str, Any]:
    """The `evaluate_profile` task: compute the evaluation from scratch and keep its result."""
    evaluation = ProfileEvaluation.objects.select_related("profile", "compare_with").get(
        pk=payload["evaluation_id"]
    )
    ProfileEvaluation.objects.filter(pk=evaluation.pk).update(result=None, finished_at=None)
    track = _Tracker(evaluation)
    if evaluation.kind == ProfileEvaluation.Kind.BACKTEST:
        report = backtest(
            horizon=evaluation.horizon,
            profile=evaluation.profile,
            progress=track.step(1, "Backtest: re-reading the health before each renewal"),
        )
        result = {"report": report.to_json()}
        summary = {"outcomes": report.outcomes, "scored": report.scored, "auc": report.auc}
    else:
        engine = scoring.Profile(**evaluation.candidate)
        effect = preview(
            engine,
            evaluation.segment,
            progress=track.step(1, "Re-scoring today's book with the new settings"),
        )
        result = {"effect": effect.to_json(), "reports": {}}
        if evaluation.with_backtest:
            # Both versions from one read of the book: the current one (if any) and the new settings.
            current = evaluation.compare_with
            versions = [(engine, "the new settings")]
            if current:
                versions.insert(0, (current.to_profile(), str(current)))
            *now, new = backtests(
                versions,
                segment=evaluation.segment,
                horizon=evaluation.horizon,
                progress=track.step(2, f"Backtest of {current} and of the new settings" if current
                                    else "Backtest of the new settings"),
            )  # fmt: skip
            result["reports"] = {"now": now[0].to_json() if now else None, "new": new.to_json()}
        summary = {"accounts": effect.accounts, "rag_changed": effect.rag_changed}
    ProfileEvaluation.objects.filter(pk=evaluation.pk).update(
        result=result, finished_at=timezone.now(), step=evaluation.steps, stage="Done"
    )
    return {"evaluation_id": evaluation.pk, **summary}


# --- reading ------------------------------------------------------------------------


def effect_of(evaluation: ProfileEvaluation) -> Preview | None:
    if not evaluation.finished or "effect" not in evaluation.result:
        return None
    return Preview.from_json(evaluation.result["effect"])


def reports_of(evaluation: ProfileEvaluation) -> dict[str, Report | None]:
    if not evaluation.finished:
        return {}
    if "report" in evaluation.result:
        return {"report": Report.from_json(evaluation.result["report"])}
    return {k: (Report.from_json(v) if v else None) for k, v in evaluation.result["reports"].items()}


# --- pruning ------------------------------------------------------------------------


def prune(*, now: datetime | None = None) -> dict[str, Any]:
    """Delete the previews and backtests asked for more than TEND_EVALUATION_RETENTION_DAYS ago,
    except one still queued or running."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.TEND_EVALUATION_RETENTION_DAYS)
    old = ProfileEvaluation.objects.filter(created_at__lt=cutoff).exclude(
        result__isnull=True, run__status__in=(AgentRun.Status.QUEUED, AgentRun.Status.RUNNING)
    )
    deleted, _ = old.delete()
    return {"deleted": deleted, "before": cutoff.isoformat()}
