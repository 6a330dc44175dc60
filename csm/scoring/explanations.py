"""Each score's reason in one plain line: what costs the most points, and what changed.

Pure functions; the scan writes the line on every HealthScore, and the admin,
the API and the alerts show it.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

MAX_LENGTH = 300
TOP_COSTS = 3
# A group that lost less than this is not worth naming.
MIN_COST = 0.5
# Rounded to one decimal, a loss reaches MIN_COST only from MIN_COST - 0.05 up.
_SURELY_SMALL = MIN_COST - 0.06

GROUP_WORDS = {
    "feature_adoption_rate": "feature adoption",
    "usage_trend": "usage trend",
    "login_frequency_days": "logins",
    "days_since_last_interaction": "time since last contact",
    "invoice_payment_status": "payments",
    "support": "support tickets",
    "days_to_renewal": "renewal timing",
    "seats_utilization_rate": "seat use",
    "stakeholder_engagement": "stakeholder engagement",
    "nps_score": "NPS",
    "escalation_count_90_days": "escalations",
}


def costs(breakdown: Mapping[str, float], weights: Mapping[str, float]) -> list[tuple[str, float, float]]:
    """(group, points lost, points possible), the biggest losses first; ties by group name."""
    return [(group, -minus, weight) for minus, group, weight in _losses(breakdown, weights)]


class _Tenths(dict):
    """round(shortfall, 1) of each shortfall seen, remembered: a book has few distinct ones (each
    group's points come from a table or are rounded to 2 decimals; about a thousand in 20,000
    accounts), and round() was a fifth of an explanation's cost. Looked up at C speed; only a new
    one runs Python. Bounded: emptied when full."""

    def __missing__(self, shortfall: float) -> float:
        if len(self) >= 100_000:
            self.clear()
        rounded = self[shortfall] = round(shortfall, 1)
        return rounded


_TENTHS = _Tenths()


def _losses(breakdown: Mapping[str, float], weights: Mapping[str, float]) -> list[tuple[float, str, float]]:
    """(-points lost, group, points possible), sorted: the biggest losses first, ties by group name."""
    get = breakdown.get
    tenths = _TENTHS
    # Rounding is the costly part, and most groups lose nothing: only a
    # shortfall above _SURELY_SMALL can round to MIN_COST or more.
    lost = [
        (-cost, group, weight)
        for group, weight in weights.items()
        if (short := weight - get(group, 0.0)) > _SURELY_SMALL and (cost := tenths[short]) >= MIN_COST
    ]
    lost.sort()  # as plain tuples, no key function
    return lost


@lru_cache(maxsize=8192)
def _cost_words(group: str, lost: float, possible: float) -> str:
    """One group's cost in words. Few distinct ones in a book (losses are rounded to 0.1): the scan
    formats each once, not once an account."""
    return f"{GROUP_WORDS.get(group) or group.replace('_', ' ')} -{lost:g} of {possible:g}"


def explain_score(
    breakdown: Mapping[str, float],
    weights: Mapping[str, float],
    *,
    score: float,
    rag: str,
    previous_score: float | None,
    previous_rag: str | None,
) -> str:
    top = _losses(breakdown, weights)[:TOP_COSTS]
    if top:
        parts = [
            "Costing most: " + ", ".join([_cost_words(g, -minus, possible) for minus, g, possible in top])
        ]
    else:
        parts = ["Every signal group at or near full points"]
    if previous_score is None:
        parts.append("first score")
    else:
        delta = round(score - previous_score, 1)
        change = "unchanged" if delta == 0 else f"{'up' if delta > 0 else 'down'} {abs(delta):g}"
        parts.append(f"{change} since the last score")
        if previous_rag and previous_rag != rag:
            parts[-1] += f" ({previous_rag} to {rag})"
    line = "; ".join(parts) + "."
    return line if len(line) <= MAX_LENGTH else line[: MAX_LENGTH - 1] + "…"
