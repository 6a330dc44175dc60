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

import json
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

import orjson
from django.db import connection
from django.db.models import Q, TextField
from django.db.models.functions import Cast

from agents_core.bulk import driver_rows
from csm.accounts.limits import EARLIEST_DATE, LATEST_DATE
from csm.models import HealthScore, RenewalOutcome, ScoringProfile
from csm.scoring import engine as scoring

MIN_OUTCOMES = 30
MIN_PER_CLASS = 5
LOOKBACK_DAYS = 365
# How far before the as-of day a score may be and still stand for it (history has gaps).
AS_OF_TOLERANCE_DAYS = 7
HIGH_RISK = ("high", "critical")
BANDS = ((0, 20), (20, 40), (40, 60), (60, 80), (80, 100.01))

Progress = Callable[[int, int], None]  # (done, total)


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

    @property
    def unjudged(self) -> int:
        """Renewals left out: no score on record `horizon` days before their date."""
        return self.outcomes - self.scored

    def to_json(self) -> dict[str, Any]:
        """Everything, JSON-ready: `from_json` gives back an equal report (kept for the result page)."""
        data = asdict(self)
        return {
            **data,
            "churned_arr": str(self.churned_arr),
            "churned_arr_flagged": str(self.churned_arr_flagged),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Report:
        def conf(value):
            return None if value is None else Confusion(**value)

        return cls(
            **{
                **data,
                "high_risk": conf(data["high_risk"]),
                "red": conf(data["red"]),
                "roc": [tuple(point) for point in data["roc"]],
                "churned_arr": Decimal(data["churned_arr"]),
                "churned_arr_flagged": Decimal(data["churned_arr_flagged"]),
            }
        )

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
    """Every known outcome (up to `until`, of `segment`'s accounts), and how many are synthetic.

    Outcomes dated outside the sane range (a row from before the edges
    checked it) are left out: nothing can be measured a year before 0001.
    """
    outcomes = RenewalOutcome.objects.order_by().filter(renewal_date__range=(EARLIEST_DATE, LATEST_DATE))
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


AS_OF_IDS = 500  # cases per as-of query: 4 parameters each, well inside every backend's limit
FETCH_BATCH = 1_000  # rows fetched by primary key at a time


def _as_of_keys(
    cases: Sequence[Case], *, horizon: int, tolerance: int, advance: Callable[[int], None]
) -> dict[int, int]:
    """Each case's row (by index into `cases`): the latest stored score in its window, as a primary key.

    One probe of the unique (account, day) index per case, read backwards from the as-of day:
    AS_OF_IDS cases a query, given as a VALUES list (on PostgreSQL, one array a column). The heavy
    columns are fetched afterwards.
    """
    ops = connection.ops
    table = ops.quote_name(HealthScore._meta.db_table)
    pk, account, day = (
        ops.quote_name(HealthScore._meta.get_field(f).column) for f in ("id", "account", "scored_on")
    )
    chosen = {}
    for start in range(0, len(cases), AS_OF_IDS):
        chunk = cases[start : start + AS_OF_IDS]
        windows = []  # (n, account, opens, as_of)
        for index, case in enumerate(chunk, start):
            as_of = case.renewal_date - timedelta(days=horizon)
            windows.append((index, case.account_id, as_of - timedelta(days=tolerance), as_of))
        if connection.vendor == "postgresql":
            # One array a column: psycopg merges the parameters into the query text, and splits a
            # query of 2,000 placeholders anew every time (too long for its cache): 8 ms a query.
            source = "SELECT * FROM unnest(%s::integer[], %s::bigint[], %s::date[], %s::date[])"
            params = [list(column) for column in zip(*windows, strict=True)]
        else:
            source = "VALUES " + ", ".join(["(%s, %s, %s, %s)"] * len(chunk))
            adapt = ops.adapt_datefield_value
            params = [v for n, a, opens, as_of in windows for v in (n, a, adapt(opens), adapt(as_of))]
        sql = (
            f"WITH w (n, account_id, opens, as_of) AS ({source}) "
            f"SELECT w.n, (SELECT h.{pk} FROM {table} h WHERE h.{account} = w.account_id "
            f"AND h.{day} >= w.opens AND h.{day} <= w.as_of ORDER BY h.{day} DESC LIMIT 1) FROM w"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            chosen.update((n, key) for n, key in cursor.fetchall() if key is not None)
        advance(len(chunk))
    return chosen


def _columns(fields: Sequence[str]) -> list:
    """`fields` to read through the driver: the inputs as their JSON text, parsed only when judged."""
    return [Cast(name, TextField()) if name == "inputs" else name for name in fields]


def _fetch(keys: Iterable[int], fields: Sequence[str]) -> dict[int, tuple]:
    keys, rows = sorted(set(keys)), {}
    for start in range(0, len(keys), FETCH_BATCH):
        chunk = HealthScore.objects.filter(pk__in=keys[start : start + FETCH_BATCH])
        for pk, *values in driver_rows(chunk.values_list("pk", *_columns(fields)), bounded=True):
            rows[pk] = values
    return rows


def _set_as_of(
    cases: Sequence[Case],
    judge,
    *,
    horizon: int,
    tolerance: int,
    fields: Sequence[str],
    advance: Callable[[int], None] = lambda n: None,
    more: Sequence[tuple[Sequence[Case], Callable]] = (),
    prepare: Callable[[Sequence], Any] = tuple,
) -> None:
    """Each case's health: its latest stored day in the window before the as-of day, judged.

    `prepare(values)` turns the stored `fields` into what the judges take (once a row, for every
    judge), or None when no version can judge that day (the case stays unjudged); `judge(prepared)`
    gives (score, rag, churn risk). `more`: other copies of the same cases, each with its own
    judge, set from the same rows.
    """
    chosen = _as_of_keys(cases, horizon=horizon, tolerance=tolerance, advance=advance)
    rows = _fetch(chosen.values(), fields)
    for index, pk in chosen.items():
        prepared = prepare(rows[pk]) if pk in rows else None
        if prepared is None:
            continue
        for copy, judge_copy in ((cases, judge), *more):
            copy[index].score, copy[index].rag, copy[index].churn_risk = judge_copy(prepared)


def _history(cases: Sequence[Case], fields: Sequence[str], *, step: int = 1, warnings_only: bool = False):
    """Stored scores of the cases' accounts over their lookback windows, in account and date order."""
    if not cases:
        return []
    start = min(c.renewal_date for c in cases) - timedelta(days=LOOKBACK_DAYS)
    end = max(c.renewal_date for c in cases)
    rows = HealthScore.objects.filter(
        account_id__in={c.account_id for c in cases}, scored_on__gte=start, scored_on__lte=end
    )
    if warnings_only:
        rows = rows.filter(Q(rag="RED") | Q(churn_risk__in=HIGH_RISK))
    if step > 1:
        # A fixed grid of days, the same for every account and version: comparable runs.
        days = [end - timedelta(days=d) for d in range(0, (end - start).days + 1, step)]
        rows = rows.filter(scored_on__in=days)
    # The days not judged are skipped with their inputs unparsed.
    rows = rows.order_by("account_id", "scored_on").values_list("account_id", "scored_on", *_columns(fields))
    return driver_rows(rows, chunk=20_000)


def _set_first_warnings(
    cases: Sequence[Case],
    rows: Iterable[tuple],
    judge,
    advance: Callable[[int], None] = lambda n: None,
    more: Sequence[tuple[Sequence[Case], Callable]] = (),
    prepare: Callable[[Sequence], Any] = tuple,
) -> None:
    """The first RED or high-risk day in each case's lookback window. Rows in account and date order.

    A row is judged only while one of its account's cases still waits for its
    first warning inside that case's window: the rest of the history is skipped.
    `more`: other copies of the same cases, each with its own judge, from the same pass of the rows;
    `prepare` as for `_set_as_of`, at most once a row.
    """
    groups = []
    lookback = timedelta(days=LOOKBACK_DAYS)
    for copy, judge_copy in ((cases, judge), *more):
        # Each case with its window (opens, closes), worked out once, not once a row.
        by_account: dict[int, list[tuple[Case, date, date]]] = {}
        for case in copy:
            window = (case, case.renewal_date - lookback, case.renewal_date)
            by_account.setdefault(case.account_id, []).append(window)
        groups.append((by_account, judge_copy))
    current, unread = None, object()
    for account_id, day, *values in rows:
        if account_id != current:
            advance(current is not None)
            current = account_id
        prepared = unread
        for by_account, judge_copy in groups:
            waiting = [
                case
                for case, opens, closes in by_account.get(account_id, ())
                if case.first_warning is None and opens <= day <= closes
            ]
            if not waiting:
                continue
            if prepared is unread:
                prepared = prepare(values)
            if prepared is None:
                break
            _score, rag, risk = judge_copy(prepared)
            if rag != "RED" and risk not in HIGH_RISK:
                continue
            for case in waiting:
                case.first_warning = day
    advance(current is not None)


def stored_inputs(values: Sequence) -> dict[str, Any] | None:
    """One stored day's inputs (the row's one value: a dict, or its JSON text), validated; None
    when they cannot be scored (the day is left out of every re-scored version)."""
    (inputs,) = values
    try:
        return validated_inputs(inputs)
    except ValueError:
        return None


def validated_inputs(inputs: dict | str) -> dict[str, Any]:
    """Stored inputs (a dict, or their JSON text) validated for scoring; ValueError if they cannot be.

    The text goes through orjson, 4x faster than json here (the backtests and the preview parse
    tens of thousands of stored days). Where the two read a text differently (orjson makes an
    integer past 64 bits a float, and refuses NaN), the day fails orjson's reading and is read
    again by json, whose answer stands: the outcome is always json's.
    """
    if not isinstance(inputs, str):
        return scoring.validate_inputs(inputs)
    try:
        return scoring.validate_inputs(orjson.loads(inputs))
    except ValueError:  # orjson.JSONDecodeError is one
        pass
    try:
        parsed = json.loads(inputs)
    except RecursionError:  # nested past Python's limit (orjson refused it too): not inputs at all
        raise ValueError("inputs: nested too deeply to read") from None
    return scoring.validate_inputs(parsed)


def rescore(inputs: dict | str, profile: scoring.Profile) -> tuple[float, str, str]:
    """One stored day's inputs (or their JSON text) scored with another profile: exactly what scoring
    them gives. Raises ValueError naming the first bad input."""
    return scoring.health(validated_inputs(inputs), profile)


def _health_by(engine: scoring.Profile, clean: dict[str, Any]) -> tuple[float, str, str]:
    return scoring.health(clean, engine)


def backtest(
    *,
    horizon: int = 90,
    profile: ScoringProfile | None = None,
    engine: scoring.Profile | None = None,
    segment: str = "",
    label: str = "",
    step: int | None = None,
    until: date | None = None,
    progress: Progress | None = None,
) -> Report:
    """The backtest over every known outcome.

    Without a profile, from the stored daily scores. With a saved `profile`
    (or an unsaved `engine` for `segment`), re-scoring the stored inputs: the
    as-of day exactly, and the churned accounts' history (for the lead time)
    on every `step`-th day (default 7).

    Reads: the key of each case's as-of row (one index probe per case,
    AS_OF_IDS cases a query), the chosen row of each case by key, then
    the history of the churned accounts only (from stored scores: only their
    warning days), judging a day only while a case still waits for its first
    warning. `progress(done, total)` hears how far it is, in as-of windows
    read and churned accounts' histories judged.
    """
    if profile is not None:
        engine, segment, label = profile.to_profile(), profile.segment, str(profile)
    return backtests(
        [(engine, label)], horizon=horizon, segment=segment, step=step, until=until, progress=progress
    )[0]


def backtests(
    versions: Sequence[tuple[scoring.Profile | None, str]],
    *,
    segment: str = "",
    horizon: int = 90,
    step: int | None = None,
    until: date | None = None,
    progress: Progress | None = None,
) -> list[Report]:
    """The backtests of several versions of one segment's settings, (engine, label) each, from one
    read of the book: what `backtest(engine=..., segment=..., label=...)` gives for each. A single
    version with engine None is the backtest of the stored scores."""
    engines = [engine for engine, _label in versions]
    labels = [label for _engine, label in versions]
    stored = engines[0] is None
    # A segment's version is judged on that segment's accounts; the default one on all.
    cases, synthetic = load_cases(until=until, segment="" if stored else segment)
    copies = [cases] + [[replace(case) for case in cases] for _ in engines[1:]]
    total = len(cases) + len({c.account_id for c in cases if c.churned})
    done = 0

    def advance(n: int) -> None:
        nonlocal done
        done += n
        if progress and n:
            progress(done, total)

    if stored:
        fields, prepare = ["score", "rag", "churn_risk"], tuple
        judges = [tuple]
        history = _history([c for c in cases if c.churned], fields, warnings_only=True)
        sources = ["stored scores"]
    else:
        # Each row's inputs parsed and validated once, then scored by every version.
        fields, prepare = ["inputs"], stored_inputs
        judges = [partial(_health_by, engine) for engine in engines]
        history = _history([c for c in cases if c.churned], fields, step=step or 7)
        sources = [f"{label or 'these settings'} re-scored" for label in labels]
    groups = list(zip(copies, judges, strict=True))
    window = {"horizon": horizon, "tolerance": AS_OF_TOLERANCE_DAYS}
    _set_as_of(cases, judges[0], fields=fields, advance=advance, more=groups[1:], prepare=prepare, **window)
    churned = [([c for c in copy if c.churned], judge) for copy, judge in groups]
    (first, first_judge), *others = churned
    _set_first_warnings(first, history, first_judge, advance, more=others, prepare=prepare)
    return [
        evaluate(copy, horizon=horizon, source=source, synthetic=synthetic)
        for copy, source in zip(copies, sources, strict=True)
    ]
