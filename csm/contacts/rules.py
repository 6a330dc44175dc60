"""When an account's champion has left. Plain data, no Django.

A champion is a contact whose role is "champion". One has left when they were removed in the CRM
(archived), or when the product has not seen them for more than `inactive_days` days (only for
champions the usage stream knows: one never seen in the product is not presumed gone). The
account's champion has left when it has named champions and every one of them has left; the day
is when the last of them went (the archive day, or the day their silence crossed the line).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta


def champion_left_on(
    champions: Iterable[tuple[date | None, date | None]], *, today: date, inactive_days: int
) -> date | None:
    """From (archived on, last active on) per champion: the day the last one left, or None."""
    gone = []
    for archived_on, active_on in champions:
        if archived_on is not None:
            gone.append(archived_on)
        elif active_on is not None and (today - active_on).days > inactive_days:
            gone.append(active_on + timedelta(days=inactive_days + 1))
        else:
            return None  # this one is still there
    return max(gone) if gone else None
