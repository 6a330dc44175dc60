"""How large or how far a fact about an account may be: the bounds every edge checks (pure, no Django).

The model fields carry them as validators, so the admin, the API, the CSV
and Notion imports refuse the same values with the same reason; the rules
that compute from these facts (expansion impacts) stay inside them too.
Far beyond any real customer, well inside what storage and arithmetic hold.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

MAX_SEATS = 10_000_000
# Money columns hold 12 integer digits and 2 decimals.
MAX_MONEY = Decimal("999999999999.99")
# Contract dates, renewals, outcomes: outside this a date is a typo, and date
# arithmetic near date.min / date.max overflows.
EARLIEST_DATE = date(1900, 1, 1)
LATEST_DATE = date(2199, 12, 31)
