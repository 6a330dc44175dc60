"""Names of signals, inputs and evidence in the words people use. Plain data, no Django.

The scoring engine, the alert rules and the expansion rules key their data by
identifiers (`feature_adoption_rate`, `seat_utilization`); nothing a person
reads should show one.
"""

from __future__ import annotations

from csm.scoring.explanations import GROUP_WORDS

WORDS = {
    **GROUP_WORDS,
    # Inputs that are not signal groups of their own
    "open_ticket_count": "open tickets",
    "avg_ticket_sentiment": "ticket sentiment",
    "tam_health_rag": "TAM health",
    # Alert reasons
    "entered_red": "entered RED",
    "churn_rising": "churn risk rising",
    "sharp_drop": "sharp drop",
    "renewal_near": "renewal near with weak health",
    # Expansion evidence
    "seats_used": "seats used",
    "seats_purchased": "seats purchased",
    "seat_utilization": "seats in use",
    "seat_price": "price per seat (what they pay)",
    "suggested_additional_seats": "more seats suggested",
    "module": "module",
    "module_price_per_seat": "module price per seat",
    "seats": "seats",
    "integration": "integration",
    "integrations_connected": "integrations connected",
}
# Values that are shares, shown as percentages.
SHARES = frozenset({"seat_utilization", "feature_adoption_rate", "seats_utilization_rate"})
# Values that are amounts of money.
PRICES = frozenset({"seat_price", "module_price_per_seat"})


def in_words(name: str) -> str:
    """What `name` is called in words; an unknown identifier loses its underscores."""
    if not isinstance(name, str):
        return str(name)
    return WORDS.get(name) or name.replace("_", " ")


def value_in_words(name: str, value) -> str:
    """A value as read: shares as percentages, identifiers in words, the rest as they are."""
    if name in SHARES and isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:.0%}"
    if isinstance(value, str) and value in WORDS:
        return WORDS[value]
    if isinstance(value, list):
        return ", ".join(in_words(v) for v in value) or "none"
    return "—" if value is None else str(value)
