"""Which segment a new account belongs to when its CRM export does not say (pure, no Django).

By the company's size where the export has it (employees), else by what it
pays (ARR). The thresholds are the common SaaS ones; docs/integrations.md
lists them. An account's segment picks its scoring profile, so a $310k
account filed as SMB would be scored on the wrong profile.
"""

from __future__ import annotations

from decimal import Decimal

# (below this, segment); the last segment takes the rest.
BY_EMPLOYEES = ((200, "smb"), (1000, "mid_market"))
BY_ARR = ((Decimal("50000"), "smb"), (Decimal("250000"), "mid_market"))
LARGEST = "enterprise"


def segment_for(*, arr: Decimal | None = None, employees: int | None = None) -> str | None:
    """The segment for this size or ARR; None when neither is known."""
    if employees is not None:
        return next((segment for limit, segment in BY_EMPLOYEES if employees < limit), LARGEST)
    if arr is not None:
        return next((segment for limit, segment in BY_ARR if arr < limit), LARGEST)
    return None
