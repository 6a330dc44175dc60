"""One account's story, newest first: health moves, alerts, tasks, interactions, QBRs, opportunities,
CRM conflicts, renewal outcomes and survey answers, merged from one bounded query per kind.

A page is read with a cursor: each item has a position (when, kind, id), a page is the items
before the cursor, and the next page starts at the last item's position. So a page costs the same
queries whatever the account's history (one per kind, each reading at most a page of rows through
the account's index), and inserts while someone reads never repeat or skip an item.

Days ("health moved", "interaction on") sit at the start of their day in TIME_ZONE.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from django.db.models import F, Q, Window
from django.db.models.functions import Abs, Lag
from django.utils import timezone

from csm.models import QBR, ChurnAlert, CrmConflict, ExpansionOpportunity, HealthScore, RenewalOutcome, Task
from csm.surveys.models import SurveyResponse
from csm.surveys.rules import category
from csm.timeline.models import Interaction

PAGE = 30
SHARP_MOVE = 10.0  # points in a day that count as a move worth telling, besides a change of band
# New kinds go at the end: a cursor names its kind's rank.
KINDS = ("health", "alert", "task", "interaction", "qbr", "opportunity", "crm", "outcome", "survey")
RANK = {kind: n for n, kind in enumerate(KINDS)}


class BadCursor(ValueError):
    pass


@dataclass(frozen=True, order=True)
class Position:
    at: datetime
    rank: int
    id: int

    def token(self) -> str:
        return f"{self.at.isoformat()}|{KINDS[self.rank]}|{self.id}"

    @classmethod
    def parse(cls, token: str) -> Position:
        try:
            when, kind, pk = token.split("|")
            at = datetime.fromisoformat(when)
            if at.tzinfo is None or kind not in RANK or not pk.isdigit():
                raise ValueError
            return cls(at, RANK[kind], int(pk))
        except ValueError:
            raise BadCursor("before: not a cursor this timeline gave (use the `next` of a page)") from None


@dataclass
class Item:
    position: Position
    kind: str
    title: str
    detail: str = ""
    object_id: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "at": self.position.at.isoformat(), "title": self.title,
                "detail": self.detail, "id": self.object_id, **self.extra}  # fmt: skip


@dataclass
class Page:
    items: list[Item]
    next: str | None


def _start_of(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def _before_datetime(name: str, rank: int, cursor: Position | None) -> Q:
    """Rows of this kind placed before the cursor, for a datetime column."""
    if cursor is None:
        return Q()
    if rank < cursor.rank:
        return Q(**{f"{name}__lte": cursor.at})
    if rank > cursor.rank:
        return Q(**{f"{name}__lt": cursor.at})
    return Q(**{f"{name}__lt": cursor.at}) | Q(**{name: cursor.at, "pk__lt": cursor.id})


def _before_date(name: str, rank: int, cursor: Position | None) -> Q:
    """The same for a date column, each day at its start."""
    if cursor is None:
        return Q()
    day = timezone.localdate(cursor.at)
    at_start = _start_of(day) == cursor.at
    if not at_start:
        return Q(**{f"{name}__lte": day})
    if rank < cursor.rank:
        return Q(**{f"{name}__lte": day})
    if rank > cursor.rank:
        return Q(**{f"{name}__lt": day})
    return Q(**{f"{name}__lt": day}) | Q(**{name: day, "pk__lt": cursor.id})


def _health(account_id: int, cursor: Position | None, n: int) -> list[Item]:
    """The days the health changed band or moved sharply, with that day's explanation."""
    rank = RANK["health"]
    scores = (
        HealthScore.objects.filter(account_id=account_id)
        .filter(_before_date("scored_on", rank, cursor))
        .annotate(
            before_rag=Window(Lag("rag"), order_by=F("scored_on").asc()),
            before_score=Window(Lag("score"), order_by=F("scored_on").asc()),
        )
        .annotate(moved=Abs(F("score") - F("before_score")))
        .filter(before_rag__isnull=False)
        .filter(~Q(rag=F("before_rag")) | Q(moved__gte=SHARP_MOVE))
    )
    rows = scores.order_by("-scored_on", "-pk").values(
        "pk", "scored_on", "score", "rag", "before_rag", "before_score", "explanation"
    )[:n]
    items = []
    for r in rows:
        if r["rag"] != r["before_rag"]:
            title = f"Health {r['before_rag']} → {r['rag']}"
        else:
            way = "fell" if r["score"] < r["before_score"] else "rose"
            title = f"Health {way} {abs(r['score'] - r['before_score']):.0f} points"
        items.append(
            Item(
                Position(_start_of(r["scored_on"]), rank, r["pk"]),
                "health",
                title,
                r["explanation"] or "",
                r["pk"],
                {"score": round(r["score"], 1), "rag": r["rag"]},
            )
        )
    return items


def _alerts(account_id, cursor, n):
    rank = RANK["alert"]
    rows = (
        ChurnAlert.objects.filter(account_id=account_id)
        .filter(_before_datetime("raised_at", rank, cursor))
        .order_by("-raised_at", "-pk")
        .values("pk", "raised_at", "reason", "explanation", "acknowledged_at")[:n]
    )
    reasons = dict(ChurnAlert.Reason.choices)
    return [
        Item(
            Position(r["raised_at"], rank, r["pk"]),
            "alert",
            f"Churn alert: {reasons.get(r['reason'], r['reason'])}",
            r["explanation"],
            r["pk"],
            {"acknowledged": r["acknowledged_at"] is not None},
        )
        for r in rows
    ]


def _tasks(account_id, cursor, n):
    rank = RANK["task"]
    rows = (
        Task.objects.filter(account_id=account_id)
        .filter(_before_datetime("created_at", rank, cursor))
        .order_by("-created_at", "-pk")
        .values("pk", "created_at", "title", "status", "due_on", "owner__username")[:n]
    )
    return [
        Item(
            Position(r["created_at"], rank, r["pk"]),
            "task",
            f"Task: {r['title']}",
            f"{r['status']}, due {r['due_on']:%d %b %Y}, {r['owner__username']}",
            r["pk"],
            {"status": r["status"]},
        )
        for r in rows
    ]


def _interactions(account_id, cursor, n):
    rank = RANK["interaction"]
    rows = (
        Interaction.objects.filter(account_id=account_id)
        .filter(_before_date("occurred_on", rank, cursor))
        .order_by("-occurred_on", "-pk")
        .values("pk", "occurred_on", "kind", "title", "sentiment", "body")[:n]
    )
    kinds = dict(Interaction.Kind.choices)
    return [
        Item(
            Position(_start_of(r["occurred_on"]), rank, r["pk"]),
            "interaction",
            f"{kinds.get(r['kind'], r['kind'])}: {r['title']}",
            r["body"][:280],
            r["pk"],
            {"sentiment": r["sentiment"]},
        )
        for r in rows
    ]


def _qbrs(account_id, cursor, n):
    rank = RANK["qbr"]
    rows = (
        QBR.objects.filter(account_id=account_id)
        .filter(_before_datetime("generated_at", rank, cursor))
        .order_by("-generated_at", "-pk")
        .values("pk", "generated_at", "quarter", "status")[:n]
    )
    return [
        Item(Position(r["generated_at"], rank, r["pk"]), "qbr", f"QBR {r['quarter']}", r["status"], r["pk"])
        for r in rows
    ]


def _opportunities(account_id, cursor, n):
    rank = RANK["opportunity"]
    rows = (
        ExpansionOpportunity.objects.filter(account_id=account_id)
        .filter(_before_datetime("created_at", rank, cursor))
        .order_by("-created_at", "-pk")
        .values("pk", "created_at", "kind", "summary", "status", "estimated_arr_impact")[:n]
    )
    return [
        Item(
            Position(r["created_at"], rank, r["pk"]),
            "opportunity",
            f"Expansion: {r['kind']} ({r['status']})",
            r["summary"],
            r["pk"],
            {"estimated_arr_impact": str(r["estimated_arr_impact"])},
        )
        for r in rows
    ]


def _crm(account_id, cursor, n):
    rank = RANK["crm"]
    rows = (
        CrmConflict.objects.filter(account_id=account_id)
        .filter(_before_datetime("detected_at", rank, cursor))
        .order_by("-detected_at", "-pk")
        .values("pk", "detected_at", "tend_field", "crm_value", "tend_value", "status")[:n]
    )
    return [
        Item(
            Position(r["detected_at"], rank, r["pk"]),
            "crm",
            f"CRM and Tend disagree on {r['tend_field']}",
            f"CRM: {r['crm_value']}; Tend: {r['tend_value']} ({r['status']})",
            r["pk"],
        )
        for r in rows
    ]


def _outcomes(account_id, cursor, n):
    rank = RANK["outcome"]
    rows = (
        RenewalOutcome.objects.filter(account_id=account_id)
        .filter(_before_date("renewal_date", rank, cursor))
        .order_by("-renewal_date", "-pk")
        .values("pk", "renewal_date", "outcome", "arr_before", "arr_after")[:n]
    )
    return [
        Item(
            Position(_start_of(r["renewal_date"]), rank, r["pk"]),
            "outcome",
            f"Renewal: {r['outcome']}",
            f"ARR {r['arr_before']} → {r['arr_after']}",
            r["pk"],
        )
        for r in rows
    ]


def _surveys(account_id, cursor, n):
    rank = RANK["survey"]
    rows = (
        SurveyResponse.objects.filter(account_id=account_id)
        .filter(_before_datetime("responded_at", rank, cursor))
        .order_by("-responded_at", "-pk")
        .values("pk", "responded_at", "kind", "score", "comment", "name", "email", "survey")[:n]
    )
    return [
        Item(
            Position(r["responded_at"], rank, r["pk"]),
            "survey",
            f"{r['kind'].upper()} {r['score']} ({category(r['kind'], r['score'])}) from "
            f"{r['name'] or r['email'] or 'someone'}",
            r["comment"][:280],
            r["pk"],
            {"score": r["score"], "survey": r["survey"], "category": category(r["kind"], r["score"])},
        )
        for r in rows
    ]


READERS = {"health": _health, "alert": _alerts, "task": _tasks, "interaction": _interactions, "qbr": _qbrs,
           "opportunity": _opportunities, "crm": _crm, "outcome": _outcomes, "survey": _surveys}  # fmt: skip


def timeline(account_id: int, *, kinds=KINDS, before: str | None = None, page: int = PAGE) -> Page:
    """A page of the account's timeline, newest first. `before` is a page's `next`."""
    cursor = Position.parse(before) if before else None
    streams = [READERS[kind](account_id, cursor, page + 1) for kind in kinds]
    merged = heapq.merge(*streams, key=lambda item: item.position, reverse=True)
    items = [item for _, item in zip(range(page + 1), merged, strict=False)]
    more = len(items) > page
    items = items[:page]
    return Page(items, items[-1].position.token() if more and items else None)
