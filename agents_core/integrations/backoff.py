"""How long to wait before retrying a call an outside service refused for now (429, 5xx): what its
Retry-After says (seconds, or an HTTP date), else exponential back-off; never more than a cap."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime


def retry_delay(retry_after: str | None, attempt: int, *, most: float = 60.0) -> float:
    if retry_after:
        try:
            return min(max(float(retry_after), 0.0), most)
        except ValueError:
            try:
                return min(max(parsedate_to_datetime(retry_after).timestamp() - time.time(), 0.0), most)
            except (TypeError, ValueError):
                pass
    return min(2.0**attempt, most)
