"""When owned work is late enough to escalate: business days, Monday to Friday. Plain data, no Django."""

from __future__ import annotations

from datetime import date, timedelta


def add_business_days(start: date, days: int) -> date:
    """The day `days` business days after `start` (a weekend start counts from the Monday)."""
    day = start
    while day.weekday() >= 5:
        day += timedelta(days=1)
    left = days
    while left > 0:
        day += timedelta(days=1)
        if day.weekday() < 5:
            left -= 1
    return day


def escalate_on(since: date, after_business_days: int) -> date:
    """The day work that was due (or raised) on `since` is escalated if still not acted on."""
    return add_business_days(since, after_business_days)


def parse_after(text: str, defaults: dict[str, int]) -> dict[str, int]:
    """`urgent=1,high=2,normal=3,low=5` into a mapping; unknown names and bad numbers are refused."""
    after = dict(defaults)
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        name, _, value = part.partition("=")
        name = name.strip().lower()
        if name not in defaults:
            raise ValueError(f"unknown priority {name!r} (use {', '.join(defaults)})")
        if not value.strip().isdigit():
            raise ValueError(f"{name} needs a whole number of business days, got {value.strip()!r}")
        after[name] = int(value)
    return after
