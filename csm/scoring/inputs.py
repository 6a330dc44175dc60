"""Turn an account's stored facts and signals into the 13 scoring inputs.

Plain functions over plain values, shared by the scan, the admin and the API.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from csm.scoring import engine

# Stored signal columns that are scoring inputs under the same name.
DIRECT_SIGNALS = (
    "feature_adoption_rate",
    "usage_trend",
    "stakeholder_engagement",
    "nps_score",
    "invoice_payment_status",
    "open_ticket_count",
    "avg_ticket_sentiment",
    "escalation_count_90_days",
)
# Inputs kept as the date of the event: input name -> signal column.
DATED_SIGNALS = {
    "login_frequency_days": "last_login_on",
    "days_since_last_interaction": "last_interaction_on",
}
# Inputs that follow from account facts and are never typed in.
DERIVED_INPUTS = ("days_to_renewal", "seats_utilization_rate", "tam_health_rag")

ACCOUNT_FIELDS = ("renewal_date", "seats_purchased", "seats_used", "tam_health_rag")
SIGNAL_FIELDS = DIRECT_SIGNALS + tuple(DATED_SIGNALS.values())


def seat_utilization(seats_purchased: int | None, seats_used: int | None) -> float | None:
    """Seats used / purchased, or None when either is unknown (or none were bought)."""
    if seats_purchased is None or seats_used is None or seats_purchased == 0:
        return None
    return round(seats_used / seats_purchased, 4)


def seats_problem(seats_purchased: int | None, seats_used: int | None) -> str | None:
    """Why the score would refuse these seats (their utilisation out of its range), or None.

    Checked where the seats are entered (admin, API, imports), so an account
    is never saved in a state the daily scan then skips.
    """
    rate = seat_utilization(seats_purchased, seats_used)
    low, high = engine.INPUT_SPEC["seats_utilization_rate"][2]
    if rate is None or low <= rate <= high:
        return None
    return (
        f"{seats_used} seats used of {seats_purchased} purchased is {rate:.0%} in use; "
        f"the health score takes up to {high:.0%}. Check both numbers."
    )


def raw_inputs(account: Mapping[str, Any], signals: Mapping[str, Any], today: date) -> dict[str, Any]:
    """The 13 inputs as of `today`, None where the account never reported one.

    `account` holds ACCOUNT_FIELDS, `signals` SIGNAL_FIELDS (blank strings and
    missing keys mean "never reported"). Values are not validated here;
    `engine.score` does that and names the bad input.
    """
    return inputs_of(
        [account.get(name) for name in ACCOUNT_FIELDS], [signals.get(name) for name in SIGNAL_FIELDS], today
    )


_DATED_INPUTS = tuple(DATED_SIGNALS)
_DATED_AT = len(DIRECT_SIGNALS)


def inputs_of(account: Sequence[Any], signals: Sequence[Any], today: date) -> dict[str, Any]:
    """`raw_inputs` of values in ACCOUNT_FIELDS and SIGNAL_FIELDS order, as the scan reads them
    (no mapping built for each account)."""
    direct, dated = signals[:_DATED_AT], signals[_DATED_AT:]
    inputs = {name: None if v == "" else v for name, v in zip(DIRECT_SIGNALS, direct, strict=True)}
    for name, on in zip(_DATED_INPUTS, dated, strict=True):
        inputs[name] = None if on is None else (today - on).days
    renewal, seats_purchased, seats_used, tam_health_rag = account
    inputs["days_to_renewal"] = None if renewal is None else (renewal - today).days
    inputs["seats_utilization_rate"] = seat_utilization(seats_purchased, seats_used)
    inputs["tam_health_rag"] = tam_health_rag or None
    return inputs


def derive_inputs(
    account: Mapping[str, Any],
    signals: Mapping[str, Any],
    today: date,
    no_data_defaults: Mapping[str, Any],
) -> tuple[dict[str, Any], list[str]]:
    """The inputs to score, and the required ones that took the profile's no-data default."""
    return with_defaults(raw_inputs(account, signals, today), no_data_defaults)


def with_defaults(
    inputs: dict[str, Any], no_data_defaults: Mapping[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """`inputs` with the profile's no-data default for each required one missing, and their names."""
    defaulted = []
    for name in engine.REQUIRED_INPUTS:
        if inputs[name] is None:
            inputs[name] = no_data_defaults[name]
            defaulted.append(name)
    return inputs, defaulted


_ENGAGEMENT_RANK = {level: n for n, level in enumerate(reversed(engine.ENGAGEMENT_LEVELS))}  # low 0 .. high 2


def cap_engagement(inputs: dict[str, Any], cap: str | None, champion_left_on: date | None) -> bool:
    """The profile's "champion left" rule: while the account's champions have all left, its
    stakeholder engagement counts as at most `cap`. Returns whether it lowered the input."""
    if cap is None or champion_left_on is None:
        return False
    current = inputs.get("stakeholder_engagement")
    if current in _ENGAGEMENT_RANK and _ENGAGEMENT_RANK[current] > _ENGAGEMENT_RANK[cap]:
        inputs["stakeholder_engagement"] = cap
        return True
    return False


def champion_words(champion_left_on: date, engagement: str) -> str:
    """The score's explanation, when the champion-left rule lowered the engagement."""
    return (
        f"The account's champion left on {champion_left_on:%d %b %Y}: stakeholder engagement "
        f"counts as {engagement} until a new champion is named."
    )


# Signal column -> the scoring input it feeds (the same name, or a dated one).
INPUT_FOR_COLUMN = {
    **{name: name for name in DIRECT_SIGNALS},
    **{column: name for name, column in DATED_SIGNALS.items()},
}


def stamp_sources(
    sources: dict[str, Any], columns: Iterable[str], *, source: str, at: datetime, by: str = ""
) -> dict[str, Any]:
    """Record where and when the given signal columns got their values."""
    stamped = dict(sources or {})
    for column in columns:
        name = INPUT_FOR_COLUMN.get(column)
        if name:
            entry = {"source": source, "at": at.isoformat()}
            if by:
                entry["by"] = by
            stamped[name] = entry
    return stamped
