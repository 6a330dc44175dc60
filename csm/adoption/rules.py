"""Feature adoption: plain functions over plain data. No Django.

A feature counts as adopted when someone used it within the last 30 days.
An account's adoption rate is the share of the features available to it
(the core product plus the modules it has) that it has adopted.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from datetime import date

ACTIVE_WITHIN_DAYS = 30


def is_adopted(active_users: int, last_used_on: date | None, today: date) -> bool:
    return (
        active_users > 0
        and last_used_on is not None
        and 0 <= (today - last_used_on).days <= ACTIVE_WITHIN_DAYS
    )


def adoption_rate(available: Iterable[str], adopted: Iterable[str]) -> float | None:
    """Adopted share of the available features; None when nothing is available."""
    available = set(available)
    if not available:
        return None
    return round(len(available & set(adopted)) / len(available), 4)


def median(values: Sequence[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def percentile_rank(value: float, population: Sequence[float]) -> float | None:
    """The share (0-100) of the population at or below `value`."""
    if not population:
        return None
    ordered = sorted(population)
    return round(100 * bisect.bisect_right(ordered, value) / len(ordered), 1)
