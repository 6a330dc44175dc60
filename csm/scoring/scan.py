"""The daily health scan: score accounts in batches with bulk writes.

Per batch, whatever it holds: one read (accounts joined with their signals),
one bulk upsert of the day's HealthScore rows and the accounts' new health,
in one short transaction. On SQLite the accounts take two `executemany`
updates (the new health of those whose health changed, the time scored of
the others); on PostgreSQL one update from the scores staged for the upsert
(agents_core.bulk.Staged). The
batches fan out to any number of workers (agents_core.fanout; one process on
SQLite). Re-running a day replaces that day's rows (unique on
account + day), so the scan can be retried or re-delivered safely. One
account with bad data is reported and skipped; it never stops the scan.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from agents_core import fanout
from agents_core.batches import BatchOutcome, key_ranges
from agents_core.bulk import JSONText, Staged, driver_rows, json_text, update_rows, upsert_rows
from csm.alerts import rules as alert_rules
from csm.alerts.delivery import AlertCandidate, build_alerts, dispatch_alerts
from csm.models import Account, ChurnAlert, HealthScore
from csm.scoring import engine
from csm.scoring.explanations import explain_score
from csm.scoring.inputs import (
    ACCOUNT_FIELDS,
    SIGNAL_FIELDS,
    cap_engagement,
    champion_words,
    inputs_of,
    seats_problem,
    with_defaults,
)
from csm.scoring.profiles import ActiveProfiles, load_active_profiles, load_profiles
from csm.wording import in_words

# Failures listed in a run's result; the count covers all of them.
MAX_LISTED_FAILURES = 50

# The current health before this scan (to see what changed), what is at stake,
# and the adoption rate measured from feature usage, where it is tracked.
_PREVIOUS_FIELDS = ("health_score", "rag", "churn_risk", "churn_trigger", "arr", "tracked_adoption_rate")
_READ_FIELDS = (
    "pk",
    "external_id",
    "segment",
    *_PREVIOUS_FIELDS,
    *ACCOUNT_FIELDS,
    *(f"batch_signals__{name}" for name in SIGNAL_FIELDS),  # AccountQuerySet.between
    "batch_signals__champion_left_on",  # derived from the contacts (csm.contacts.champions)
)
_PREVIOUS_SLICE = slice(3, 3 + len(_PREVIOUS_FIELDS))
_ACCOUNT_SLICE = slice(_PREVIOUS_SLICE.stop, _PREVIOUS_SLICE.stop + len(ACCOUNT_FIELDS))
_SIGNAL_SLICE = slice(_ACCOUNT_SLICE.stop, -1)
_RENEWAL = ACCOUNT_FIELDS.index("renewal_date")
_NONE_DEFAULTED = JSONText("[]")

SCORE_UPDATE_FIELDS = [
    "score",
    "rag",
    "churn_risk",
    "churn_trigger",
    "breakdown",
    "inputs",
    "defaulted_inputs",
    "profile",
    "profile_version",
    "computed_at",
    "explanation",
]
# Order matters: score_rows builds its tuples in the order of these lists.
SCORE_FIELDS = ["account", "scored_on", *SCORE_UPDATE_FIELDS]
HEALTH_FIELDS = ["health_score", "rag", "churn_risk", "churn_trigger", "scored_at"]
# An account whose health did not change gets only its new scored_at: its
# indexed columns (score, RAG, churn risk) are left alone, which makes the
# update much cheaper (docs/performance.md), and most accounts do not change
# from one day to the next.
STAMP_FIELDS = ["scored_at"]
_ALERT_COLUMNS = [f for f in ChurnAlert._meta.concrete_fields if not f.primary_key]
ALERT_FIELDS = [f.name for f in _ALERT_COLUMNS]


def _rows(first: int, last: int, account_ids: Sequence[int] | None) -> list[tuple]:
    """Scannable accounts with ids from `first` to `last` (of `account_ids`, if given), with signals."""
    rows = Account.objects.scannable().between(first, last)
    if account_ids is not None:
        rows = rows.filter(pk__in=[pk for pk in account_ids if first <= pk <= last])
    # As the driver gives them: every column but the ARR needs no conversion (dates are dates on
    # both backends), and the ARR is made a Decimal only for the few accounts an alert is built for.
    return list(driver_rows(rows.order_by("pk").values_list(*_READ_FIELDS), chunk=2_000, bounded=True))


_ARR_PLACES = Decimal(1).scaleb(-Account._meta.get_field("arr").decimal_places)


def _money(value: Any) -> Decimal:
    """An ARR as the driver read it (a Decimal on PostgreSQL, a float on SQLite) as the ORM reads it."""
    return value if isinstance(value, Decimal) else Decimal(str(value)).quantize(_ARR_PLACES)


def _keys(account_ids: Sequence[int] | None) -> Iterable[int]:
    """The ids to scan, ascending: every scannable account, or those of `account_ids`."""
    keys = Account.objects.scannable().order_by("pk").values_list("pk", flat=True)
    if account_ids is not None:
        keys = keys.filter(pk__in=sorted(set(account_ids)))
    return keys.iterator(chunk_size=10_000)


class ScoredBatch(NamedTuple):
    """What `score_rows` makes of one batch, for `write_batch`."""

    scores: list[tuple]  # the day's HealthScore rows: values of SCORE_FIELDS
    changed: list[tuple]  # accounts whose health changed: HEALTH_FIELDS values, then the id
    unchanged: list[tuple]  # the others: STAMP_FIELDS values, then the id
    candidates: list[AlertCandidate]  # accounts whose change deserves a churn alert


class ScanTally:
    def __init__(self) -> None:
        self.scored = 0
        self.partial = 0
        self.failed = 0
        self.failures: list[dict[str, Any]] = []
        self.by_rag: Counter[str] = Counter()
        self.by_churn_risk: Counter[str] = Counter()
        self.batches = 0
        self.raised = 0

    def fail(self, account_id: int, external_id: str, error: str) -> None:
        self.failed += 1
        if len(self.failures) < MAX_LISTED_FAILURES:
            self.failures.append({"account_id": account_id, "external_id": external_id, "error": error})

    def as_dict(self) -> dict[str, Any]:
        return {
            "scored": self.scored,
            "partial": self.partial,
            "failed": self.failed,
            "failures": self.failures,
            "by_rag": {rag: self.by_rag.get(rag, 0) for rag in engine.RAGS},
            "by_churn_risk": {lvl: self.by_churn_risk.get(lvl, 0) for lvl in engine.CHURN_LEVELS},
            "raised": self.raised,
            "batches": self.batches,
        }

    def add(self, result: dict[str, Any]) -> None:
        """Sum in one batch's `as_dict()`."""
        self.scored += result["scored"]
        self.partial += result["partial"]
        self.failed += result["failed"]
        self.failures.extend(result["failures"][: MAX_LISTED_FAILURES - len(self.failures)])
        self.by_rag.update(result["by_rag"])
        self.by_churn_risk.update(result["by_churn_risk"])
        self.raised += result["raised"]
        self.batches += result["batches"]


def score_rows(
    rows: Iterable[tuple],
    *,
    today: date,
    now: Any,
    profiles: ActiveProfiles,
    tally: ScanTally,
    raise_alerts: bool = True,
) -> ScoredBatch:
    """Score one batch of rows read by `_rows`."""
    batch = ScoredBatch([], [], [], [])
    scores, changed, unchanged, candidates = batch
    for row in rows:
        account_id, external_id, segment = row[0], row[1], row[2]
        previous_score, previous_rag, previous_churn, previous_trigger, arr, tracked_adoption = row[
            _PREVIOUS_SLICE
        ]
        account = row[_ACCOUNT_SLICE]
        profile_pk, profile = profiles.for_segment(segment)
        champion_left_on = row[-1]
        try:
            raw = inputs_of(account, row[_SIGNAL_SLICE], today)
            if tracked_adoption is not None:  # measured from feature usage: it wins over a typed-in value
                raw["feature_adoption_rate"] = tracked_adoption
            inputs, defaulted = with_defaults(raw, profile.no_data_defaults)
            capped = cap_engagement(inputs, profile.champion_left_engagement, champion_left_on)
            result = engine.score(inputs, profile)
        except ValueError as exc:
            tally.fail(account_id, external_id, _reason(dict(zip(ACCOUNT_FIELDS, account, strict=True)), exc))
            continue
        trigger = result.churn_trigger or ""
        why = explain_score(
            result.breakdown,
            profile.weights,
            score=result.score,
            rag=result.rag,
            previous_score=previous_score,
            previous_rag=previous_rag,
        )
        if capped:
            why = f"{why} {champion_words(champion_left_on, inputs['stakeholder_engagement'])}".strip()
        scores.append(
            (
                account_id,
                today,
                result.score,
                result.rag,
                result.churn_risk,
                trigger,
                # Text already: the engine's breakdown and validated inputs are plain and finite.
                json_text(result.breakdown),
                json_text(result.inputs),
                json_text(defaulted) if defaulted else _NONE_DEFAULTED,
                profile_pk,
                result.profile_version,
                now,
                why,
            )
        )
        if (
            result.score == previous_score
            and result.rag == previous_rag
            and result.churn_risk == previous_churn
            and trigger == previous_trigger
        ):
            unchanged.append((now, account_id))
        else:
            changed.append((result.score, result.rag, result.churn_risk, trigger, now, account_id))
        reasons = raise_alerts and alert_rules.triggers(
            previous_score=previous_score,
            previous_rag=previous_rag,
            previous_churn=previous_churn,
            score=result.score,
            rag=result.rag,
            churn_risk=result.churn_risk,
            drop_points=profiles.drop_points[profile_pk],
            champion_left=bool(
                profile.champion_left_engagement
                and champion_left_on is not None
                and champion_left_on >= today - timedelta(days=1)
            ),
        )
        if reasons:
            candidates.append(
                AlertCandidate(
                    account_id, reasons, result, previous_score, _money(arr), account[_RENEWAL], why
                )
            )
        tally.scored += 1
        tally.partial += bool(defaulted)
        tally.by_rag[result.rag] += 1
        tally.by_churn_risk[result.churn_risk] += 1
    return batch


def _reason(account: Mapping[str, Any], exc: ValueError) -> str:
    """Why an account cannot be scored, in words a CSM can act on."""
    seats = seats_problem(account["seats_purchased"], account["seats_used"])
    if seats:
        return seats
    name, sep, rest = str(exc).partition(": ")
    return f"{in_words(name)}: {rest}" if sep and name in engine.INPUT_SPEC else str(exc)


def write_batch(batch: ScoredBatch, new_alerts: Sequence[ChurnAlert] = ()) -> None:
    """Upsert the day's scores, set each account's current health and record its alerts, atomically.

    One statement per kind of row (see agents_core.bulk): the alerts when there are any, the
    scores, and the accounts. A crash cannot leave a scored change without its alert.
    """
    if not batch.scores:
        return
    # Inside the fan-out's transaction (which also marks the batch done): no savepoint of its own.
    with transaction.atomic(savepoint=False):
        if new_alerts:
            # One statement however many; a second alert for an account today is ignored.
            upsert_rows(
                ChurnAlert,
                ALERT_FIELDS,
                [[getattr(a, f.attname) for f in _ALERT_COLUMNS] for a in new_alerts],
                conflict=["account", "raised_on"],
                update=[],
            )
        if connection.vendor == "postgresql":
            _write_scores_and_health(batch.scores)
            return
        upsert_rows(
            HealthScore,
            SCORE_FIELDS,
            batch.scores,
            conflict=["account", "scored_on"],
            update=SCORE_UPDATE_FIELDS,
        )
        # SQLite: the accounts whose health changed, then the time scored of the others, whose
        # indexed columns an update that names them would write again.
        update_rows(Account, HEALTH_FIELDS, batch.changed)
        update_rows(Account, STAMP_FIELDS, batch.unchanged)


# Each account's current health, from its score of the day.
_HEALTH_FROM_SCORE = {
    "health_score": "score",
    "rag": "rag",
    "churn_risk": "churn_risk",
    "churn_trigger": "churn_trigger",
    "scored_at": "computed_at",
}


def _write_scores_and_health(scores: list[tuple]) -> None:
    """PostgreSQL: the scores staged once, then written, and the accounts updated from them.

    One `COPY` where writing the accounts apart took two (the changed, the stamped) and half as many
    statements again. An account whose health did not change is given the same values: PostgreSQL
    compares each indexed column's old and new value, so that update stays on the row's page and
    writes no index (a HOT update), as the stamp of `scored_at` alone did (docs/performance.md).
    """
    with connection.cursor() as cursor:
        staged = Staged(cursor, HealthScore, SCORE_FIELDS, scores)
        staged.upsert(conflict=["account", "scored_on"], update=SCORE_UPDATE_FIELDS)
        staged.update(Account, _HEALTH_FROM_SCORE, key="account")


# The profile versions of the last few scans, by the scan's key (its context's "scan"): each scan's
# batches load them once per process, the scan's own process not at all.
_SCANS_KEPT = 4
_scan_profiles: dict[str, ActiveProfiles] = {}


def _keep_profiles(scan: str, profiles: ActiveProfiles) -> ActiveProfiles:
    _scan_profiles[scan] = profiles
    while len(_scan_profiles) > _SCANS_KEPT:
        del _scan_profiles[next(iter(_scan_profiles))]  # the oldest
    return profiles


def _profiles(context: Mapping[str, Any]) -> ActiveProfiles:
    """The profile versions the scan started with (load_profiles)."""
    if "profiles" not in context:  # planned before scans recorded their profiles
        return load_active_profiles()
    kept = _scan_profiles.get(context["scan"])
    return kept if kept is not None else _keep_profiles(context["scan"], load_profiles(context["profiles"]))


def scan_batch(context: Mapping[str, Any], first: int, last: int) -> BatchOutcome:
    """One batch of the scan (the fan-out's handler): read and score, then the writes to commit."""
    today = date.fromisoformat(context["today"])
    now = timezone.now()
    tally = ScanTally()
    batch = score_rows(
        _rows(first, last, context.get("account_ids")),
        today=today,
        now=now,
        profiles=_profiles(context),
        tally=tally,
        raise_alerts=context["raise_alerts"],
    )
    new_alerts = build_alerts(batch.candidates, today=today, now=now) if batch.candidates else []
    tally.raised, tally.batches = len(new_alerts), 1
    return BatchOutcome(tally.as_dict(), lambda: write_batch(batch, new_alerts))


def score_problems(account_ids: Sequence[int], *, today: date | None = None) -> dict[int, str]:
    """Why the scan cannot score each of these accounts (the reason its run reports); the others are left out.

    For a page's worth of accounts (at most MAX_LISTED_FAILURES): one read, nothing written.
    """
    ids = sorted(set(account_ids))[:MAX_LISTED_FAILURES]
    if not ids:
        return {}
    tally = ScanTally()
    score_rows(
        _rows(ids[0], ids[-1], ids),
        today=today or timezone.localdate(),
        now=timezone.now(),
        profiles=load_active_profiles(),
        tally=tally,
        raise_alerts=False,
    )
    return {failure["account_id"]: failure["error"] for failure in tally.failures}


def last_daily_scan_start():
    """When the last scheduled whole-book scan that finished started (None before the first)."""
    from agents_core.models import AgentRun

    return (
        AgentRun.objects.filter(
            agent="csm", task_type="health_scan", trigger=AgentRun.Trigger.SCHEDULE,
            status=AgentRun.Status.SUCCEEDED,
        )
        .order_by("-started_at")
        .values_list("started_at", flat=True)
        .first()
    )  # fmt: skip


def scan_health(
    *,
    account_ids: Sequence[int] | None = None,
    today: date | None = None,
    batch_size: int | None = None,
    raise_alerts: bool = True,
    run=None,
    extra_context: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Score every scannable account (or those of `account_ids`) for `today`.

    Within an agent `run` the batches fan out to the workers (agents_core.fanout);
    without one they all run here. Every batch scores with the profile versions active as the scan
    starts: a version published meanwhile scores from the next scan on.
    `raise_alerts=False` only scores (the benchmark's baseline).
    `extra_context` is kept with the run's plan, for the caller to find again if the run is recovered.
    """
    started = time.monotonic()
    context: dict[str, Any] = {
        **(extra_context or {}),
        "today": (today or timezone.localdate()).isoformat(),
        "raise_alerts": raise_alerts,
    }
    # Every batch scores with the profile versions active now, loaded once per scan and process (a
    # query a batch, which waited 7 ms on a busy server; docs/performance.md).
    profiles = load_active_profiles()
    context["scan"], context["profiles"] = uuid.uuid4().hex, sorted(profiles.drop_points)
    _keep_profiles(context["scan"], profiles)
    if account_ids is not None:
        context["account_ids"] = sorted(set(account_ids))
    ranges = key_ranges(_keys(account_ids), batch_size or settings.TEND_SCAN_BATCH_SIZE)
    failed_batches = None
    if run is None:
        results = fanout.run_locally(context, ranges, scan_batch)
    else:
        try:
            results = fanout.run_batches(run, context, ranges, scan_batch)
        except fanout.BatchesFailed as exc:
            failed_batches, results = exc, exc.done
        context = run.context  # a recovered run finishes the day it started
    tally = ScanTally()
    for result in results:
        tally.add(result)
    day = date.fromisoformat(context["today"])
    # Whoever finishes the scan sends the day's alerts (once: dispatch marks them).
    dispatched = dispatch_alerts(day, cap=settings.TEND_ALERT_CAP_PER_RUN, run=run) if tally.raised else {}
    if failed_batches is not None:
        raise failed_batches
    summary = tally.as_dict()
    raised = summary.pop("raised")
    return {
        "scored_on": day.isoformat(),
        **summary,
        "alerts": {"raised": raised, **dispatched},
        "duration_seconds": round(time.monotonic() - started, 3),
    }
