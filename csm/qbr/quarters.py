"""Calendar quarters as Tend names them: "Q3 2026". Plain functions."""

from __future__ import annotations

import re
from datetime import date, timedelta

_PATTERN = re.compile(r"^Q([1-4]) (\d{4})$")


def quarter_of(day: date) -> str:
    return f"Q{(day.month - 1) // 3 + 1} {day.year}"


def bounds(quarter: str) -> tuple[date, date]:
    """First and last day of a quarter; ValueError for anything but "Q<1-4> <year>"."""
    match = _PATTERN.match(quarter or "")
    if not match:
        raise ValueError(f'quarter must look like "Q3 2026", got {quarter!r}')
    number, year = int(match.group(1)), int(match.group(2))
    start = date(year, 3 * number - 2, 1)
    end = (date(year + 1, 1, 1) if number == 4 else date(year, 3 * number + 1, 1)) - timedelta(days=1)
    return start, end


def previous(day: date) -> str:
    return quarter_of(bounds(quarter_of(day))[0] - timedelta(days=1))
