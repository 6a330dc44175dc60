"""The book's figures as the last whole-book scan left them.

Imported by csm.models, so this is a model of the csm app.
"""

from __future__ import annotations

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models


class BookFigures(models.Model):
    """What the index counts and sums over the book, per owner, taken after a whole-book scan.

    A book too long to count on every view of the index (csm.accounts.figures) shows these,
    said to be as of `taken_at`. The newest row is the one read; each new one replaces the others.
    """

    taken_at = models.DateTimeField(db_index=True)
    # The day the renewal windows were counted from.
    day = models.DateField()
    # One entry per owner (None: accounts nobody owns): csm.accounts.figures.FIGURE_NAMES,
    # "at_risk_by_month" (money as text) and "not_scored_ids", the largest of those not scored.
    owners = models.JSONField(encoder=DjangoJSONEncoder)
    # The newest account then: any added since has a higher id, and is looked at as it is.
    last_account_id = models.BigIntegerField(default=0)

    class Meta:
        verbose_name_plural = "book figures"

    def __str__(self) -> str:
        return f"Book figures of {self.taken_at:%Y-%m-%d %H:%M}"
