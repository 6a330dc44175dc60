"""Previews and backtests of scoring settings, run off the request, with their progress and result.

Imported by csm.models, so this is a model of the csm app.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from agents_core.visibility import sees_everything


class ProfileEvaluationQuerySet(models.QuerySet):
    def visible_to(self, user) -> ProfileEvaluationQuerySet:
        """Managers see every preview and backtest; others the ones they asked for."""
        if sees_everything(user):
            return self
        if not user.is_active:
            return self.none()
        return self.filter(requested_by=user)


class ProfileEvaluation(models.Model):
    """One what-if preview of unsaved settings, or one backtest, as a CSM asked for it.

    Queued as the CS agent's `evaluate_profile` task: the worker re-scores the
    stored inputs in batches, writes its progress here as it goes, and keeps the
    result, so the page that shows it can be opened again later.
    """

    class Kind(models.TextChoices):
        PREVIEW = "preview", "What-if preview"
        BACKTEST = "backtest", "Backtest"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    segment = models.CharField(max_length=20, blank=True)
    # Preview: the unsaved settings (engine.Profile.as_dict()). Backtest: none.
    candidate = models.JSONField(null=True, blank=True, editable=False)
    # Preview: the version being edited (none for a new one). Backtest: the version
    # re-scored (none: the stored daily scores).
    profile = models.ForeignKey(
        "csm.ScoringProfile", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    # Preview: the version the settings would replace, backtested for comparison.
    compare_with = models.ForeignKey(
        "csm.ScoringProfile", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    horizon = models.PositiveSmallIntegerField(default=90, help_text="Days before renewal.")
    with_backtest = models.BooleanField(default=False)
    # Preview: the form as posted (name, value pairs), so the result page can save it.
    form_data = models.JSONField(default=list, blank=True, editable=False)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    run = models.ForeignKey(
        "agents_core.AgentRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    stage = models.CharField(max_length=80, blank=True)
    step = models.PositiveSmallIntegerField(default=0)
    steps = models.PositiveSmallIntegerField(default=1)
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    result = models.JSONField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = ProfileEvaluationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "preview or backtest"
        verbose_name_plural = "previews and backtests"

    def __str__(self) -> str:
        what = self.get_kind_display()
        if self.kind == self.Kind.BACKTEST:
            return f"{what} of {self.profile or 'the stored scores'}, {self.horizon} days #{self.pk}"
        return f"{what} for {self.segment or 'the default profile'} #{self.pk}"

    @property
    def finished(self) -> bool:
        return self.result is not None

    @property
    def failed(self) -> bool:
        """Stopped with an error, or its run was deleted: either way it will not finish by itself."""
        if self.finished:
            return False
        return self.run_id is None or self.run.status == self.run.Status.FAILED

    @property
    def percent(self) -> int:
        """How far along, over every step: each step an equal share."""
        if self.finished:
            return 100
        within = min(self.done / self.total, 1.0) if self.total else 0.0
        return int(100 * (max(self.step - 1, 0) + within) / max(self.steps, 1))
