"""When a score change deserves a churn alert, and how to say why. Plain data, no Django.

An alert is raised on a change, not on a state: the account entered RED, its
churn risk rose to high or critical, or its score fell by the profile's
`alert_drop_points` (15 by default) since the previous score. A state that
persists raises nothing the next day.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from csm.money import format_money
from csm.wording import in_words

CHURN_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}
REASON_ORDER = ("entered_red", "churn_rising", "sharp_drop", "champion_left")
TRIGGER_WORDS = {
    "contract_proximity": "renewal inside the churn window",
    "behavioral": "declining usage",
    "both": "renewal inside the churn window and declining usage",
}


def triggers(
    *,
    previous_score: float | None,
    previous_rag: str,
    previous_churn: str,
    score: float,
    rag: str,
    churn_risk: str,
    drop_points: float,
    champion_left: bool = False,
) -> list[str]:
    """The reasons to alert, in REASON_ORDER; empty when nothing changed for the worse.
    `champion_left`: the account's champion left since the last scan (the profile counting it).

    A first score (no previous one) raises nothing: it is a state, not a
    change, and a new install's first scan would otherwise alert on every
    weak account at once. The admin shows those accounts anyway.
    """
    if previous_score is None:
        return []
    reasons = []
    if rag == "RED" and previous_rag != "RED":
        reasons.append("entered_red")
    if CHURN_RANK[churn_risk] >= CHURN_RANK["high"] and CHURN_RANK[churn_risk] > CHURN_RANK.get(
        previous_churn, -1
    ):
        reasons.append("churn_rising")
    if previous_score - score >= drop_points:
        reasons.append("sharp_drop")
    if champion_left:
        reasons.append("champion_left")
    return reasons


def _points(value: float) -> str:
    return f"{value:+.1f}"


def explain(
    *,
    reasons: Sequence[str],
    score: float,
    previous_score: float,
    churn_risk: str,
    churn_trigger: str,
    moved: Sequence[tuple[str, float]],
    renewal_date: date | None,
    today: date,
    arr: Decimal,
    currency: str = "USD",
) -> str:
    """The alert in plain words: what happened, how far it moved, why, and what is at stake."""
    what = []
    if "entered_red" in reasons:
        what.append("Entered RED")
    if "churn_rising" in reasons:
        cause = TRIGGER_WORDS.get(churn_trigger)
        what.append(f"churn risk rose to {churn_risk}" + (f" ({cause})" if cause else ""))
    if "sharp_drop" in reasons:
        what.append("the score fell sharply")
    if "champion_left" in reasons:
        what.append("the account's champion left")
    sentence = ", ".join(what)
    parts = [sentence[:1].upper() + sentence[1:] + "."]
    parts.append(f"Score {score:.1f}, {_points(score - previous_score)} from {previous_score:.1f}.")
    falling = [(group, points) for group, points in moved if points < 0]
    if falling:
        parts.append(
            "Biggest moves: "
            + ", ".join(f"{in_words(group)} {_points(points)}" for group, points in falling[:3])
            + "."
        )
    if renewal_date is not None:
        days = (renewal_date - today).days
        when = f"in {days} days" if days >= 0 else f"{-days} days ago"
        parts.append(
            f"Renewal {renewal_date.isoformat()} ({when}); ARR at stake {format_money(arr, currency)}."
        )
    else:
        parts.append(f"ARR at stake {format_money(arr, currency)}.")
    return " ".join(parts)


def explain_renewal(
    *,
    rag: str,
    score: float,
    churn_risk: str,
    renewal_date: date,
    today: date,
    arr: Decimal,
    currency: str = "USD",
) -> str:
    """The contract check's alert: a renewal inside the churn window with weak health."""
    days = (renewal_date - today).days
    return (
        f"Renewal in {days} days ({renewal_date.isoformat()}) with {rag} health: "
        f"score {score:.1f}, churn risk {churn_risk}. ARR at stake {format_money(arr, currency)}."
    )
