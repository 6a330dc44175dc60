"""How survey answers become the score's NPS input. Plain data, no Django.

The score reads one NPS number per account, 0-10 (docs/scoring.md). From the responses:

* **Window**: NPS responses of the last WINDOW_DAYS (180) days; older ones have stopped
  speaking for the account.
* **One voice per person**: a person's latest answer in the window replaces their earlier ones.
* **Too few is none**: fewer than MIN_RESPONSES (2) people answering counts as no NPS at all
  (one voice is an anecdote, not the account's view), and the input's own "none" rule applies.
* **Detractors weigh double**: the input is the mean of the answers with each detractor's
  (0-6) counted DETRACTOR_WEIGHT (2) times, rounded half up. Three 9s and a 2 read 6, not the
  plain mean's 7: the unhappy voice is the one that churns.

CSAT responses (1-5) are kept, shown and can raise a detractor follow-up (1 or 2), but do not
enter the NPS input.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

WINDOW_DAYS = 180
MIN_RESPONSES = 2
DETRACTOR_WEIGHT = 2
SCALES = {"nps": (0, 10), "csat": (1, 5)}
# Each survey's bands, lowest score to highest: what a promoter, a passive and a detractor are.
BANDS = {
    "nps": {"detractor": (0, 6), "passive": (7, 8), "promoter": (9, 10)},
    "csat": {"detractor": (1, 2), "passive": (3, 3), "promoter": (4, 5)},
}


def check_score(kind: str, score) -> int:
    """The score as a whole number on its survey's scale, or ValueError saying what the scale is."""
    if kind not in SCALES:
        raise ValueError(f"kind: use {' or '.join(SCALES)}, got {kind!r}")
    low, high = SCALES[kind]
    if isinstance(score, bool) or not isinstance(score, int) or not low <= score <= high:
        raise ValueError(f"score: {kind.upper()} is a whole number from {low} to {high}, got {score!r}")
    return score


def category(kind: str, score: int) -> str:
    """promoter, passive or detractor: NPS 9-10 / 7-8 / 0-6; CSAT 4-5 / 3 / 1-2 (BANDS)."""
    return next(name for name, (low, high) in BANDS[kind].items() if low <= score <= high)


def is_detractor(kind: str, score: int) -> bool:
    return category(kind, score) == "detractor"


def nps_input(answers: Iterable[tuple[str, date, int]], *, today: date) -> int | None:
    """The account's NPS input from (person, day answered, score) NPS answers; None if too few."""
    since = today - timedelta(days=WINDOW_DAYS)
    latest: dict[str, tuple[date, int]] = {}
    for person, day, score in answers:
        if since < day <= today and (person not in latest or day >= latest[person][0]):
            latest[person] = (day, score)
    if len(latest) < MIN_RESPONSES:
        return None
    total = weight = 0
    for _day, score in latest.values():
        w = DETRACTOR_WEIGHT if is_detractor("nps", score) else 1
        total += w * score
        weight += w
    return int((Decimal(total) / Decimal(weight)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def net_promoter_score(scores: Iterable[int]) -> int | None:
    """The classic NPS, -100 to 100: % promoters minus % detractors (for people to read)."""
    scores = list(scores)
    if not scores:
        return None
    promoters = sum(1 for s in scores if category("nps", s) == "promoter")
    detractors = sum(1 for s in scores if category("nps", s) == "detractor")
    return round(100 * (promoters - detractors) / len(scores))
