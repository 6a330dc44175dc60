"""What a profile change would do to today's book, before anyone saves it.

Re-scores each account's latest stored inputs with the candidate settings and
compares with its health now. Reads only; writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from django.db.models import Max, TextField
from django.db.models.functions import Cast

from agents_core.bulk import driver_rows
from csm.models import Account, HealthScore, ScoringProfile
from csm.scoring import engine as scoring
from csm.trust.backtest import validated_inputs

SHOWN = 100
PROGRESS_EVERY = 2_000  # rows between progress reports

Progress = Callable[[int, int], None]  # (done, total)


@dataclass
class Change:
    account_id: int
    name: str
    score_before: float
    score_after: float
    rag_before: str
    rag_after: str
    churn_before: str
    churn_after: str


@dataclass
class Preview:
    segment: str
    accounts: int = 0
    rag_changed: int = 0
    churn_changed: int = 0
    moves: dict[str, int] = field(default_factory=dict)  # "GREEN to AMBER" -> count
    changes: list[Change] = field(default_factory=list)
    unscorable: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Preview:
        return cls(**{**data, "changes": [Change(**c) for c in data["changes"]]})


def accounts_scored_by(segment: str):
    """The accounts a profile for `segment` scores: its segment, or (default) those without their own."""
    accounts = Account.objects.scannable()
    if segment:
        return accounts.filter(segment=segment)
    own = ScoringProfile.objects.active().exclude(segment="").values_list("segment", flat=True)
    return accounts.exclude(segment__in=list(own))


def preview(engine: scoring.Profile, segment: str, *, progress: Progress | None = None) -> Preview:
    """Re-score the latest day's stored inputs of `segment`'s accounts with `engine`, streamed.

    `progress(done, total)` hears how far it is every PROGRESS_EVERY accounts.
    """
    result = Preview(segment=segment)
    latest = HealthScore.objects.aggregate(day=Max("scored_on"))["day"]
    if latest is None:
        return result
    latest_day = HealthScore.objects.filter(scored_on=latest, account__in=accounts_scored_by(segment))
    total = latest_day.count() if progress else 0
    rows = driver_rows(
        latest_day.order_by("account_id").values_list(
            "account_id", "account__name", "score", "rag", "churn_risk", Cast("inputs", TextField())
        )
    )
    changed = []
    for account_id, name, score, rag, churn, inputs in rows:
        result.accounts += 1
        if progress and result.accounts % PROGRESS_EVERY == 0:
            progress(result.accounts, max(total, result.accounts))
        try:
            score_after, rag_after, churn_after = scoring.health(validated_inputs(inputs), engine)
        except ValueError:
            result.unscorable += 1
            continue
        rag_moved, churn_moved = rag_after != rag, churn_after != churn
        result.rag_changed += rag_moved
        result.churn_changed += churn_moved
        if rag_moved:
            key = f"{rag} to {rag_after}"
            result.moves[key] = result.moves.get(key, 0) + 1
        if rag_moved or churn_moved:
            changed.append(Change(account_id, name, score, score_after, rag, rag_after, churn, churn_after))
    changed.sort(key=lambda c: (-abs(c.score_after - c.score_before), c.name))
    result.changes = changed[:SHOWN]
    return result
