"""How well the health score would have warned us: a backtest against renewal outcomes.

For every renewal with a known outcome, take the account's health as it stood
`horizon` days before the renewal date and ask how well it separated the
accounts that churned from those that stayed. The health comes either from
the stored daily scores, or from re-scoring the stored inputs with any
profile version (to compare versions on the same history).

The metric functions are pure and checked against hand-computed cases; the
loaders read in a bounded number of streamed queries.
"""

from __future__ import annotations

import bisect
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from csm import scoring
from csm.models import HealthScore, RenewalOutcome, ScoringProfile

MIN_OUTCOMES = 30
MIN_PER_CLASS = 5
LOOKBACK_DAYS = 365
# How far before the as-of day a score may be and still stand for it (history has gaps).
AS_OF_TOLERANCE_DAYS = 7
HIGH_RISK = ("high", "critical")
BANDS = ((0, 20), (20, 40), (40, 60), (60, 80), (80, 100.01))


# --- metrics (pure) -----------------------------------------------------------------


def roc_auc(risk: Sequence[float], positive: Sequence[bool]) -> float | None:
    """Probability that a random positive has a higher risk than a random negative (ties count half).

    None when either class is empty. Mann-Whitney U over average ranks: O(n log n).
    """
    n_pos = sum(1 for p in positive if p)
    n_neg = len(positive) - n_pos
    if not n_pos or not n_neg:
        return None
    order = sorted(range(len(risk)), key=lambda i: risk[i])
    ranks = [0.0] * len(risk)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and risk[order[j + 1]] == risk[order[i]]:
            j += 1
        average = (i + j) / 2 + 1
        for k in range(i, j + 1):
            ranks[order[k]] = average
        i = j + 1
    rank_sum = sum(r for r, p in zip(ranks, positive, strict=True) if p)
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def roc_curve(risk: Sequence[float], positive: Sequence[bool]) -> list[tuple[float, float]]:
    """(false positive rate, true positive rate) at every distinct threshold, from (0, 0) to (1, 1)."""
    n_pos = sum(1 for p in positive if p)
    n_neg = len(positive) - n_pos
    if not n_pos or not n_neg:
        return []
    pairs = sorted(zip(risk, positive, strict=True), key=lambda x: -x[0])
    points, tp, fp, i = [(0.0, 0.0)], 0, 0, 0
    while i < len(pairs):
        threshold = pairs[i][0]
        while i < len(pairs) and pairs[i][0] == threshold:
            tp += pairs[i][1]
            fp += not pairs[i][1]
            i += 1
        points.append((fp / n_neg, tp / n_pos))
    return points


@dataclass(frozen=True)
class Confusion:
    true_positive: int
    false_positive: int
    false_negative: int
    true_negative: int

    @property
    def precision(self) -> float | None:
        flagged = self.true_positive + self.false_positive
        return self.true_positive / flagged if flagged else None

    @property
    def recall(self) -> float | None:
        actual = self.true_positive + self.false_negative
        return self.true_positive / actual if actual else None


def confusion(flagged: Sequence[bool], positive: Sequence[bool]) -> Confusion:
    pairs = list(zip(flagged, positive, strict=True))
    return Confusion(
        true_positive=sum(1 for f, p in pairs if f and p),
        false_positive=sum(1 for f, p in pairs if f and not p),
        false_negative=sum(1 for f, p in pairs if not f and p),
        true_negative=sum(1 for f, p in pairs if not f and not p),
    )


def calibration(scores: Sequence[float], positive: Sequence[bool]) -> list[dict[str, Any]]:
    """Churn rate by score band: does a lower score really mean more churn?"""
    rows = []
    for low, high in BANDS:
        members = [p for s, p in zip(scores, positive, strict=True) if low <= s < high]
        rows.append(
            {
                "band": f"{low:g}-{min(high, 100):g}",
                "accounts": len(members),
                "churned": sum(members),
                "churn_rate": sum(members) / len(members) if members else None,
            }
        )
    return rows


# --- cases ------------------------------------------------------------------------


@dataclass
class Case:
    """One renewal with its outcome, and the account's health as the backtest saw it."""

    account_id: int
    renewal_date: date
    outcome: str
    arr_lost: Decimal
    score: float | None = None
    rag: str = ""
    churn_risk: str = ""
    first_warning: date | None = None

    @property
    def churned(self) -> bool:
        return self.outcome == RenewalOutcome.Outcome.CHURNED

    @property
    def high_risk(self) -> bool:
        return self.churn_risk in HIGH_RISK

    @property
    def red(self) -> bool:
        return self.rag == "RED"


@dataclass
class Report:
    horizon: int
    source: str  # "stored scores" or "profile vX re-scored"
    outcomes: int
    scored: int
    churned: int
    retained: int
    sufficient: bool
    why_not: str = ""
    high_risk: Confusion | None = None
    red: Confusion | None = None
    auc: float | None = None
    roc: list[tuple[float, float]] = field(default_factory=list)
    calibration: list[dict[str, Any]] = field(default_factory=list)
    lead_days: list[int] = field(default_factory=list)
    churned_arr: Decimal = Decimal("0")
    churned_arr_flagged: Decimal = Decimal("0")
    synthetic: int = 0

    @property
    def median_lead_days(self) -> float | None:
        return statistics.median(self.lead_days) if self.lead_days else None

    @property
    def warned(self) -> int:
        return len(self.lead_days)

    def as_dict(self) -> dict[str, Any]:
        def conf(c: Confusion | None):
            return None if c is None else {**c.__dict__, "precision": c.precision, "recall": c.recall}

        return {
            "horizon_days": self.horizon,
            "source": self.source,
            "outcomes": self.outcomes,
            "scored": self.scored,
            "churned": self.churned,
            "retained": self.retained,
            "synthetic_outcomes": self.synthetic,
            "sufficient": self.sufficient,
            "why_not": self.why_not,
            "high_or_critical_risk": conf(self.high_risk),
            "red": conf(self.red),
            "roc_auc": self.auc,
            "calibration": self.calibration,
            "churned_warned": self.warned,
            "median_lead_days": self.median_lead_days,
            "churned_arr": str(self.churned_arr),
            "churned_arr_flagged_in_time": str(self.churned_arr_flagged),
        }


def evaluate(cases: Sequence[Case], *, horizon: int, source: str, synthetic: int = 0) -> Report:
    """The figures, from cases whose health has been filled in. Pure."""
    scored = [c for c in cases if c.score is not None]
    churned = sum(c.churned for c in scored)
    report = Report(
        horizon=horizon,
        source=source,
        outcomes=len(cases),
        scored=len(scored),
        churned=churned,
        retained=len(scored) - churned,
        sufficient=False,
        synthetic=synthetic,
    )
    if len(scored) < MIN_OUTCOMES or churned < MIN_PER_CLASS or report.retained < MIN_PER_CLASS:
        report.why_not = (
            f"Too few outcomes to judge: {len(scored)} with a score {horizon} days before renewal "
            f"({churned} churned, {report.retained} retained). The backtest needs at least {MIN_OUTCOMES}, "
            f"with {MIN_PER_CLASS} of each."
        )
        return report
    report.sufficient = True
    positive = [c.churned for c in scored]
    risk = [100.0 - c.score for c in scored]
    report.high_risk = confusion([c.high_risk for c in scored], positive)
    report.red = confusion([c.red for c in scored], positive)
    report.auc = roc_auc(risk, positive)
    report.roc = roc_curve(risk, positive)
    report.calibration = calibration([c.score for c in scored], positive)
    lost = [c for c in scored if c.churned]
    report.lead_days = sorted((c.renewal_date - c.first_warning).days for c in lost if c.first_warning)
    report.churned_arr = sum((c.arr_lost for c in lost), Decimal("0"))
    report.churned_arr_flagged = sum(
        (c.arr_lost for c in lost if c.first_warning and (c.renewal_date - c.first_warning).days >= horizon),
        Decimal("0"),
    )
    return report


# --- loading ----------------------------------------------------------------------


def load_cases(*, until: date | None = None, segment: str = "") -> tuple[list[Case], int]:
    """Every known outcome (up to `until`, of `segment`'s accounts), and how many are synthetic."""
    outcomes = RenewalOutcome.objects.order_by()
    if segment:
        outcomes = outcomes.filter(account__segment=segment)
    if until is not None:
        outcomes = outcomes.filter(renewal_date__lte=until)
    cases, synthetic = [], 0
    for account_id, renewal, outcome, before, after, made_up in outcomes.values_list(
        "account_id", "renewal_date", "outcome", "arr_before", "arr_after", "synthetic"
    ):
        cases.append(Case(account_id, renewal, outcome, max(before - after, Decimal("0"))))
        synthetic += made_up
    return cases, synthetic


def _history(cases: Sequence[Case], fields: Sequence[str], step: int = 1) -> Iterable[tuple]:
    """Stored scores of the cases' accounts over the lookback windows, in account and date order."""
    if not cases:
        return []
    start = min(c.renewal_date for c in cases) - timedelta(days=LOOKBACK_DAYS)
    end = max(c.renewal_date for c in cases)
    rows = HealthScore.objects.filter(
        account_id__in={c.account_id for c in cases}, scored_on__gte=start, scored_on__lte=end
    )
    if step > 1:
        # A fixed grid of days, the same for every account and version: comparable runs.
        days = [end - timedelta(days=d) for d in range(0, (end - start).days + 1, step)]
        rows = rows.filter(scored_on__in=days)
    return rows.order_by("account_id", "scored_on").values_list(*fields).iterator(chunk_size=20_000)


def _fill(cases: Sequence[Case], history: Iterable[tuple], *, horizon: int, tolerance: int) -> None:
    """Set each case's as-of health and first warning from (account, day, score, rag, risk) rows."""
    by_account: dict[int, list[Case]] = {}
    for case in cases:
        by_account.setdefault(case.account_id, []).append(case)

    def settle(account_id: int, days: list[date], values: list[tuple]) -> None:
        for case in by_account.get(account_id, ()):
            as_of = case.renewal_date - timedelta(days=horizon)
            i = bisect.bisect_right(days, as_of) - 1
            if i >= 0 and (as_of - days[i]).days <= tolerance:
                case.score, case.rag, case.churn_risk = values[i]
            window = case.renewal_date - timedelta(days=LOOKBACK_DAYS)
            for day, (_score, rag, risk) in zip(days, values, strict=True):
                if window <= day <= case.renewal_date and (rag == "RED" or risk in HIGH_RISK):
                    case.first_warning = day
                    break

    current, days, values = None, [], []
    for account_id, day, score, rag, risk in history:
        if account_id != current:
            if current is not None:
                settle(current, days, values)
            current, days, values = account_id, [], []
        days.append(day)
        values.append((score, rag, risk))
    if current is not None:
        settle(current, days, values)


def rescore(inputs: dict, profile: scoring.Profile) -> tuple[float, str, str]:
    """One stored day's inputs scored with another profile: exactly what scoring them gives."""
    result = scoring.score(inputs, profile)
    return result.score, result.rag, result.churn_risk


def backtest(
    *,
    horizon: int = 90,
    profile: ScoringProfile | None = None,
    engine: scoring.Profile | None = None,
    segment: str = "",
    label: str = "",
    step: int | None = None,
    until: date | None = None,
) -> Report:
    """The backtest over every known outcome.

    Without a profile, from the stored daily scores. With a saved `profile`
    (or an unsaved `engine` for `segment`), re-scoring the stored inputs, on
    every `step`-th day (default 7: a year of history for 10,000 accounts is
    then about half a million scorings).
    """
    if profile is not None:
        engine, segment, label = profile.to_profile(), profile.segment, str(profile)
    # A segment's version is judged on that segment's accounts; the default one on all.
    cases, synthetic = load_cases(until=until, segment=segment if engine is not None else "")
    if engine is None:
        step = step or 1
        history = _history(cases, ["account_id", "scored_on", "score", "rag", "churn_risk"], step)
        source = "stored scores"
    else:
        step = step or 7

        def rescored():
            for account_id, day, inputs in _history(cases, ["account_id", "scored_on", "inputs"], step):
                try:
                    yield (account_id, day, *rescore(inputs, engine))
                except ValueError:
                    continue  # inputs this version cannot score: the day is left out

        history = rescored()
        source = f"{label or 'these settings'} re-scored"
    _fill(cases, history, horizon=horizon, tolerance=max(AS_OF_TOLERANCE_DAYS, step))
    return evaluate(cases, horizon=horizon, source=source, synthetic=synthetic)
