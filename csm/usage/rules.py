"""The signals the scan reads, derived from an account's daily usage. Plain functions, no Django.

* **Last login**: the last day with any activity (a track, page or screen).
* **Usage trend**: events per week over the last RECENT_WEEKS against the
  BASELINE_WEEKS before them: `inactive` with no activity in the last
  INACTIVE_DAYS; `growing` at GROWING or more of the baseline (or activity
  with no baseline at all); `declining` at DECLINING or less; else
  `stable`. With less than RECENT_WEEKS of history there is no trend yet
  (None: a typed-in value, if any, stands).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta

RECENT_WEEKS = 4
BASELINE_WEEKS = 8
INACTIVE_DAYS = 14
GROWING = 1.15
DECLINING = 0.85


def last_active(events_by_day: Mapping[date, int]) -> date | None:
    days = [day for day, n in events_by_day.items() if n > 0]
    return max(days) if days else None


def usage_trend(events_by_day: Mapping[date, int], *, today: date, first_seen: date | None) -> str | None:
    """The trend of `events_by_day` (day -> events) as of `today`; None without enough history."""
    if first_seen is None or (today - first_seen).days < RECENT_WEEKS * 7:
        return None
    recent_start = today - timedelta(days=RECENT_WEEKS * 7 - 1)
    baseline_start = recent_start - timedelta(days=BASELINE_WEEKS * 7)
    quiet_since = today - timedelta(days=INACTIVE_DAYS - 1)
    recent = sum(n for day, n in events_by_day.items() if recent_start <= day <= today)
    baseline = sum(n for day, n in events_by_day.items() if baseline_start <= day < recent_start)
    if not any(n for day, n in events_by_day.items() if quiet_since <= day <= today):
        return "inactive"
    baseline_weeks = min(BASELINE_WEEKS, max(1, (recent_start - first_seen).days // 7))
    if baseline == 0:
        return "growing"
    ratio = (recent / RECENT_WEEKS) / (baseline / baseline_weeks)
    if ratio >= GROWING:
        return "growing"
    if ratio <= DECLINING:
        return "declining"
    return "stable"
